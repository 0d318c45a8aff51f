//! Latent dynamics of dynamic textures: the least-squares fit, the LDS baseline, their storage
//! in checkpoints, and a short real run on the shipped clip through the command line.
use abprop::abp::checkpoint::{dynamics_from, put_dynamics};
use abprop::abp::dynamics::{spectral_radius, sqrt_psd, tile_states, Dynamics, Linear, STABLE_RADIUS};
use abprop::data::{self, LoadOptions};
use abprop::eval::dynamic::{frame_change, lds};
use abprop::io::checkpoint::Checkpoint;
use abprop::seed::{Seed, Stream};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use std::path::Path;
use std::process::Command;

/// A long VAR(1) sequence z_{t+1} - m = A (z_t - m) + L e_t, [t, d].
fn var1(a: &DMatrix<f64>, l: &DMatrix<f64>, m: &DVector<f64>, t: usize, seed: u64) -> Vec<f64> {
    let d = a.nrows();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut z = DVector::zeros(d);
    let mut out = Vec::new();
    for k in 0..t + 100 {
        let e = DVector::from_fn(d, |_, _| rng.sample::<f64, _>(StandardNormal));
        z = a * z + l * e;
        if k >= 100 {
            out.extend((&z + m).iter().copied());
        }
    }
    out
}

fn max_abs(m: &DMatrix<f64>) -> f64 {
    m.iter().fold(0.0, |a, v| a.max(v.abs()))
}

#[test]
fn least_squares_recovers_a_known_var1() {
    let a = DMatrix::from_row_slice(
        4,
        4,
        &[
            0.7, 0.2, 0.0, -0.1, //
            -0.3, 0.6, 0.1, 0.0, //
            0.0, 0.1, 0.5, 0.3, //
            0.1, 0.0, -0.2, 0.4,
        ],
    );
    let l = DMatrix::from_row_slice(
        4,
        4,
        &[
            0.5, 0.0, 0.0, 0.0, //
            0.2, 0.3, 0.0, 0.0, //
            -0.1, 0.1, 0.4, 0.0, //
            0.0, 0.2, 0.1, 0.2,
        ],
    );
    let q = &l * l.transpose();
    let m = DVector::from_row_slice(&[1.0, -2.0, 0.5, 0.0]);
    let z = var1(&a, &l, &m, 40_000, 7);
    let fit = Linear::fit(&z, 4).unwrap();
    let ea = max_abs(&(&fit.a - &a));
    let eq = max_abs(&(&fit.q - &q)) / max_abs(&q);
    assert!(ea < 0.02, "A off by {ea}:\n{}", fit.a);
    assert!(eq < 0.03, "Q off by {eq} (relative):\n{}\nwant\n{q}", fit.q);
    assert!((&fit.mean - &m).amax() < 0.05, "mean {}", fit.mean);
    assert!((fit.info.radius - spectral_radius(&a)).abs() < 0.02);
    assert!(fit.info.residual > 0.05 && fit.info.residual < 1.0);
    assert!(!fit.info.stabilized && fit.warning("x").is_none());
    // A prediction is m + A (z - m).
    let p = fit.predict(&z[..4]);
    let want = &fit.a * (DVector::from_row_slice(&z[..4]) - &fit.mean) + &fit.mean;
    for i in 0..4 {
        assert!((p[i] - want[i]).abs() < 1e-12);
    }
    // Simulated sequences are reproducible for a seed and keep the fitted scale.
    let s1 = fit.simulate(2000, 15, Seed(3), Stream::Dynamics).unwrap();
    let s2 = fit.simulate(2000, 15, Seed(3), Stream::Dynamics).unwrap();
    let s3 = fit.simulate(2000, 15, Seed(4), Stream::Dynamics).unwrap();
    assert_eq!(s1, s2);
    assert_ne!(s1, s3);
    let refit = Linear::fit(&s1, 4).unwrap();
    assert!(max_abs(&(&refit.a - &a)) < 0.1 && (&refit.mean - &m).amax() < 0.3);
}

#[test]
fn stabilize_scales_an_explosive_a() {
    let a = DMatrix::from_row_slice(2, 2, &[1.05, 0.3, -0.2, 0.9]);
    let l = DMatrix::identity(2, 2) * 0.1;
    let z = var1(&a, &l, &DVector::zeros(2), 300, 2);
    let mut fit = Linear::fit(&z, 2).unwrap();
    assert!(fit.info.radius > 1.0, "radius {}", fit.info.radius);
    assert!(fit.warning("ABP").unwrap().contains("--stabilize"));
    assert!(fit.stabilize(&z));
    assert!((fit.info.radius - STABLE_RADIUS).abs() < 1e-9);
    assert!(fit.info.stabilized && fit.info.fitted_radius > 1.0);
    assert!(fit.warning("ABP").is_none());
    let s = fit.simulate(5000, 15, Seed(1), Stream::Dynamics).unwrap();
    assert!(s.iter().all(|v| v.is_finite()));
}

fn clip(n: usize, side: usize) -> data::Dataset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tree.gif");
    let opt = LoadOptions {
        shape: [3, side, side],
        resize: true,
        resample: false,
        rate: 0,
        limit: Some(n),
    };
    data::load(&path, &opt).unwrap()
}

#[test]
fn lds_matches_a_direct_cpu_computation_and_round_trips() {
    let frames = clip(20, 8);
    let (n, dim, d) = (frames.len(), frames.per_example(), 5);
    let l = lds(&frames, d).unwrap();
    // Direct: SVD of the centred frames, C = U_d, X = C^T Y_c, A = X1 X0^T (X0 X0^T)^-1.
    let y = DMatrix::<f64>::from_fn(dim, n, |j, i| frames.values[i * dim + j] as f64);
    let mean = y.column_mean();
    let yc = DMatrix::from_fn(dim, n, |j, i| y[(j, i)] - mean[j]);
    let svd = yc.clone().svd(true, false);
    let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
    order.sort_by(|&p, &q| svd.singular_values[q].total_cmp(&svd.singular_values[p]));
    let u = svd.u.unwrap();
    let c = DMatrix::from_fn(dim, d, |r, k| u[(r, order[k])]);
    let x = c.transpose() * &yc;
    let xm = x.column_mean();
    let xc = DMatrix::from_fn(d, n, |r, k| x[(r, k)] - xm[r]);
    let (x0, x1) = (xc.columns(0, n - 1).into_owned(), xc.columns(1, n - 1).into_owned());
    let a = &x1 * x0.transpose() * (&x0 * x0.transpose()).try_inverse().unwrap();
    let e = &x1 - &a * &x0;
    let q = &e * e.transpose() / (n - 1) as f64;
    // Compare what does not depend on the signs of the directions: C A C^T, C Q C^T.
    let cmp = |got: DMatrix<f64>, want: DMatrix<f64>, what: &str| {
        let err = max_abs(&(&got - &want)) / max_abs(&want);
        assert!(err < 1e-6, "{what}: relative error {err}");
    };
    cmp(
        &l.basis * &l.dynamics.a * l.basis.transpose(),
        &c * &a * c.transpose(),
        "C A C^T",
    );
    cmp(
        &l.basis * &l.dynamics.q * l.basis.transpose(),
        &c * &q * c.transpose(),
        "C Q C^T",
    );
    for j in 0..dim {
        assert!((l.frame_mean[j] - mean[j]).abs() < 1e-9);
    }
    // Rendering the projections reconstructs the frames as the direct projection does.
    let rec = l.render(&l.project(&frames.values));
    let want = &c * c.transpose() * &yc;
    for i in 0..n {
        for j in 0..dim {
            assert!((rec[i * dim + j] as f64 - want[(j, i)] - mean[j]).abs() < 1e-5);
        }
    }
    // Stored in a checkpoint and read back (f32 tensors).
    let states = l.project(&frames.values);
    let dynamics = Dynamics {
        abp: Linear::fit(&states, d).unwrap(),
        lds: Some(l.clone()),
        states,
    };
    let mut ckpt = Checkpoint::default();
    put_dynamics(&mut ckpt, &dynamics, [3, 8, 8]).unwrap();
    for name in [
        "dynamics.A",
        "dynamics.Q",
        "dynamics.mean",
        "lds.A",
        "lds.basis",
        "lds.frame_mean",
    ] {
        assert!(ckpt.tensors.contains_key(name), "{name}");
    }
    assert_eq!(ckpt.get("lds.basis").unwrap().shape(), [d, 3, 8, 8]);
    let back = Checkpoint::from_bytes(&ckpt.to_bytes().unwrap(), "test").unwrap();
    let back = dynamics_from(&back).unwrap().unwrap();
    assert_eq!(back.abp.info, dynamics.abp.info);
    assert_eq!(ckpt.get("dynamics.states").unwrap().shape(), [n, d]);
    assert!(back
        .states
        .iter()
        .zip(&dynamics.states)
        .all(|(a, b)| (a - b).abs() < 1e-5 * b.abs().max(1.0)));
    assert!(max_abs(&(&back.abp.a - &dynamics.abp.a)) < 1e-5);
    let bl = back.lds.unwrap();
    assert!(max_abs(&(&bl.basis - &l.basis)) < 1e-6);
    assert!(max_abs(&(&bl.dynamics.q - &l.dynamics.q)) < 1e-5 * max_abs(&l.dynamics.q));
}

fn abprop(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_abprop")).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed:\n{text}");
    text
}

fn read_frames(dir: &Path) -> Vec<f32> {
    let opt = LoadOptions {
        shape: [3, 32, 32],
        resize: false,
        resample: false,
        rate: 0,
        limit: None,
    };
    data::load(dir, &opt).unwrap().values
}

/// `abprop train --preset PRESET` on the shipped clip into `run`, with `extra` arguments.
fn train_on_clip(preset: &str, run: &Path, extra: &[&str]) -> String {
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tree.gif");
    let mut args = vec!["train", "--preset", preset, "--resize", clip.to_str().unwrap()];
    args.extend(["--out", run.to_str().unwrap(), "--snapshot-every", "0"]);
    args.extend(extra);
    abprop(&args)
}

/// A short real run on the shipped clip through the command line: training fits the dynamics,
/// the synthesized sequence changes from frame to frame about as much as the clip (neither
/// frozen nor exploding), and is the same for the same seed.
#[test]
fn short_run_on_the_shipped_clip() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let text = train_on_clip("dynamic-quick", &run, &["--iterations", "120"]);
    assert!(text.contains("ABP dynamics: d = 20, 52 states"), "{text}");
    let ckpt = run.join("checkpoint.safetensors");
    let m = abprop::abp::Model::load(&ckpt).unwrap();
    let dynamics = m.dynamics.as_ref().expect("train fits the dynamics of a clip");
    assert_eq!(m.sequence.as_ref().unwrap().frames, 52);
    assert_eq!(dynamics.lds.as_ref().unwrap().basis.ncols(), 20);
    abprop(&["dynamics", "fit", "--model", run_s, "--stabilize"]);
    let mut m = abprop::abp::Model::load(&ckpt).unwrap();
    let gpu = abprop::gpu::Gpu::new().unwrap();
    m.norm(&gpu, abprop::abp::synthesis::BnMode::Population).unwrap();
    let m = m;
    let dynamics = m.dynamics.as_ref().unwrap();
    assert!(dynamics.abp.info.radius <= STABLE_RADIUS + 1e-9);
    let syn = dir.path().join("syn");
    let syn_s = syn.to_str().unwrap();
    abprop(&[
        "synthesize",
        "--model",
        run_s,
        "--out",
        syn_s,
        "--frames",
        "40",
        "--compare",
        "--seed",
        "5",
    ]);
    for f in [
        "compare.png",
        "abp/sequence.gif",
        "abp/strip.png",
        "lds/latents.safetensors",
        "lds/frames/0039.png",
    ] {
        assert!(syn.join(f).exists(), "{f}");
    }
    // The same seed gives the same sequence.
    let again = dir.path().join("again");
    abprop(&[
        "synthesize",
        "--model",
        run_s,
        "--out",
        again.to_str().unwrap(),
        "--frames",
        "40",
        "--seed",
        "5",
    ]);
    let a = read_frames(&syn.join("abp/frames"));
    assert_eq!(a, read_frames(&again.join("frames")));
    let train = clip(52, 32);
    let per = train.per_example();
    let (fa, ft) = (frame_change(&a, per), frame_change(&train.values, per));

    let l = read_frames(&syn.join("lds/frames"));
    assert!(l.iter().all(|v| v.is_finite()) && frame_change(&l, per) > ft / 10.0);
    // One-step prediction on the clip: f(m + A (Z_t - m)) against Y_{t+1}, Z_t the states the
    // dynamics were fitted on (each frame's, inferred anew with W fixed).
    assert!(dynamics.abp.info.inferred.is_some());
    let (n, d) = (52, 20);
    let z = dynamics.states.clone();
    assert_eq!(z.len(), n * d);
    let pred: Vec<f32> = dynamics
        .abp
        .predict(&z[..(n - 1) * d])
        .iter()
        .map(|&v| v as f32)
        .collect();
    let norm = m.measured_norm(abprop::abp::synthesis::BnMode::Population).unwrap();
    let y = abprop::abp::synthesis::render(&gpu, &m.spec, &m.params, norm, &pred, n - 1).unwrap();
    let next = &train.values[per..];
    let mean = abprop::eval::metrics::mean_image(&train.values, None, per);
    let mean_all: Vec<f32> = (0..n - 1).flat_map(|_| mean.clone()).collect();
    let (e_abp, e_mean) = (
        abprop::eval::metrics::mse(&y, next),
        abprop::eval::metrics::mse(&mean_all, next),
    );
    // Predicted from the wrong time (the state half the clip away), the same model does worse:
    // the fitted dynamics carry the clip's time order.
    let wrong: Vec<f64> = (0..n - 1)
        .flat_map(|t| z[((t + n / 2) % n) * d..((t + n / 2) % n + 1) * d].to_vec())
        .collect();
    let pw: Vec<f32> = dynamics.abp.predict(&wrong).iter().map(|&v| v as f32).collect();
    let yw = abprop::abp::synthesis::render(&gpu, &m.spec, &m.params, norm, &pw, n - 1).unwrap();
    let e_wrong = abprop::eval::metrics::mse(&yw, next);
    let zf: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    let rec = abprop::abp::synthesis::render(&gpu, &m.spec, &m.params, norm, &zf, n).unwrap();
    let fr = frame_change(&rec, per);
    eprintln!(
        "one-step prediction {e_abp}, from the wrong time {e_wrong}, mean frame {e_mean}; frame change: synthesized {fa}, reconstructions {fr}, clip {ft}"
    );
    // Predicted from the state before, the next frame is nearer than the mean frame is, and
    // nearer than from a state of another time (the dynamics carry the clip's time order).
    assert!(e_abp < e_mean, "one-step prediction {e_abp}, mean frame {e_mean}");
    assert!(
        e_abp < e_wrong,
        "one-step prediction {e_abp}, from the wrong time {e_wrong}"
    );
    // The synthesized sequence moves about as much as the model's rendering of the clip does,
    // and within an order of magnitude of the clip itself (the quick model leaves part of the
    // foliage's flicker to the noise e): neither frozen nor exploding.
    assert!(
        fa > fr / 3.0 && fa < fr * 3.0,
        "frame change: synthesized {fa}, reconstructions {fr}"
    );
    assert!(
        fa > ft / 10.0 && fa < ft * 10.0,
        "frame change: synthesized {fa}, clip {ft}"
    );
}

#[test]
fn singular_covariances_and_tiled_sequences() {
    // A PSD square root of a rank-2 covariance; an indefinite matrix is refused by name.
    let v = DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 2.0, 1.0, 0.0, -1.0]);
    let m = &v * v.transpose();
    let l = sqrt_psd(&m, "state").unwrap();
    assert!(max_abs(&(&l * l.transpose() - &m)) < 1e-9);
    let bad = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, -1.0]);
    let e = sqrt_psd(&bad, "innovation").unwrap_err().to_string();
    assert!(e.contains("innovation") && e.contains("positive semi-definite"), "{e}");
    // Fewer states than d: the state covariance is singular and the residuals vanish (Q = 0),
    // yet sequences are drawn, and they stay in the states' span around their mean.
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let (d, t) = (6, 4);
    let z: Vec<f64> = (0..t * d).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
    let fit = Linear::fit(&z, d).unwrap();
    assert!(max_abs(&fit.q) < 1e-9, "Q = {}", fit.q);
    let s = fit.simulate(30, 5, Seed(2), Stream::Dynamics).unwrap();
    assert!(s.iter().all(|v| v.is_finite()));
    let xc = DMatrix::from_fn(d, t, |r, c| z[c * d + r] - fit.mean[r]);
    let proj = {
        let svd = xc.clone().svd(true, false);
        let u = svd.u.unwrap();
        let k = svd.singular_values.iter().filter(|&&x| x > 1e-9).count();
        let u = u.columns(0, k).into_owned();
        &u * u.transpose()
    };
    for state in s.chunks(d) {
        let c = DVector::from_fn(d, |i, _| state[i] - fit.mean[i]);
        assert!((&proj * &c - &c).amax() < 1e-6 * c.amax().max(1.0));
    }
    // Tiles: tile k is the same sequence whatever the number of tiles, tile 0 the untiled one,
    // and the tiles differ from each other.
    let a = DMatrix::from_row_slice(2, 2, &[0.8, 0.1, -0.2, 0.7]);
    let z = var1(
        &a,
        &(DMatrix::identity(2, 2) * 0.3),
        &DVector::from_row_slice(&[0.5, -0.5]),
        500,
        9,
    );
    let fit = Linear::fit(&z, 2).unwrap();
    let one = fit.simulate(12, 15, Seed(8), Stream::Dynamics).unwrap();
    let two = fit.simulate_tiles(12, 15, Seed(8), Stream::Dynamics, 2).unwrap();
    let four = fit.simulate_tiles(12, 15, Seed(8), Stream::Dynamics, 4).unwrap();
    for f in 0..12 {
        assert_eq!(one[f * 2..f * 2 + 2], four[f * 8..f * 8 + 2]);
        assert_eq!(two[f * 4..f * 4 + 4], four[f * 8..f * 8 + 4]);
        assert_ne!(four[f * 8..f * 8 + 2], four[f * 8 + 2..f * 8 + 4]);
    }
    // Laid out as a 2x2 map of 1x1x2 tiles ([c = 1, h = 1, w = 2] each): tile k at row k / 2,
    // columns 2 (k % 2)...
    let map = tile_states(&four, [1, 1, 2], [1, 2, 4]).unwrap();
    for f in 0..12 {
        for k in 0..4 {
            let (i, j) = (k / 2, k % 2);
            for x in 0..2 {
                assert_eq!(map[f * 8 + i * 4 + j * 2 + x], four[f * 8 + k * 2 + x]);
            }
        }
    }
    let e = tile_states(&four, [1, 1, 2], [1, 2, 3]).unwrap_err().to_string();
    assert!(e.contains("multiple of 1x2"), "{e}");
}

fn latents(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let c = Checkpoint::load(path).unwrap();
    let t = c.get("z").unwrap();
    (t.shape().to_vec(), t.f32().unwrap().to_vec())
}

fn abprop_err(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_abprop")).args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fully convolutional model (dynamic-conv-quick) makes larger frames than it was trained
/// on: `synthesize --frames N --latent 8x8` tiles its 4x4 latent map with four sequences of
/// the fitted dynamics, the top-left one the sequence of the training size.
#[test]
fn larger_frames_from_a_convolutional_model() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let text = train_on_clip("dynamic-conv-quick", &run, &["--frames", "20", "--iterations", "3"]);
    assert!(text.contains("ABP dynamics: d = 16, 20 states"), "{text}");
    let small = dir.path().join("small");
    let big = dir.path().join("big");
    let common = ["synthesize", "--model", run_s, "--frames", "6", "--seed", "3", "--out"];
    abprop(&[&common[..], &[small.to_str().unwrap()]].concat());
    abprop(&[&common[..], &[big.to_str().unwrap(), "--latent", "8x8"]].concat());
    let (ss, zs) = latents(&small.join("latents.safetensors"));
    let (sb, zb) = latents(&big.join("latents.safetensors"));
    assert_eq!(ss, [6, 1, 4, 4]);
    assert_eq!(sb, [6, 1, 8, 8]);
    for f in 0..6 {
        for y in 0..4 {
            assert_eq!(
                zs[f * 16 + y * 4..f * 16 + y * 4 + 4],
                zb[f * 64 + y * 8..f * 64 + y * 8 + 4]
            );
        }
        // The other tiles are sequences of their own.
        assert_ne!(zb[f * 64..f * 64 + 4], zb[f * 64 + 4..f * 64 + 8]);
    }
    let frame = image::open(big.join("frames/0005.png")).unwrap();
    assert_eq!((frame.width(), frame.height()), (64, 64));
    assert!(big.join("sequence.gif").exists() && big.join("strip.png").exists());
    // Sizes that are not whole tiles and the LDS (frames of the training size only) are
    // refused with the reason, before anything is written.
    let e = abprop_err(
        &[
            &common[..],
            &[dir.path().join("x").to_str().unwrap(), "--latent", "6x6"],
        ]
        .concat(),
    );
    assert!(e.contains("multiple of 4x4"), "{e}");
    let e = abprop_err(
        &[
            &common[..],
            &[dir.path().join("y").to_str().unwrap(), "--latent", "8x8", "--compare"],
        ]
        .concat(),
    );
    assert!(e.contains("LDS"), "{e}");
    assert!(!dir.path().join("x").exists() && !dir.path().join("y").exists());
}

/// A frame's state is inferred from the common start Z = 0 without noise: no steps leave it
/// at 0, the same frame gives the same state wherever it stands in the clip, and a given start
/// of the wrong size is refused.
#[test]
fn states_are_inferred_from_one_common_start() {
    use abprop::abp::dynamics::{infer_states, StateInference};
    use abprop::abp::reconstruct::{reconstruct, ReconstructOptions};
    let gpu = abprop::gpu::Gpu::new().unwrap();
    let spec = abprop::model::presets::dynamic_conv_quick_net();
    let params = abprop::model::init_params(&spec, 5).unwrap();
    let d = spec.latent_dim();
    let z0: Vec<f32> = (0..8 * d).map(|i| ((i * 37 % 19) as f32 - 9.0) / 9.0).collect();
    let pop = abprop::model::Population::measure(&gpu, &spec, &params, &z0, 8).unwrap();
    let hyper = abprop::abp::preset("dynamic-conv-quick").unwrap().hyper;
    let mut frames = clip(3, 32);
    // Frames 0, 1, 2, then frame 0 again.
    let per = frames.per_example();
    frames.values.extend_from_within(..per);
    frames.names.push("again".into());
    let none = infer_states(
        &gpu,
        &spec,
        &params,
        &pop,
        &hyper,
        &frames,
        StateInference { steps: 0, delta: None },
    )
    .unwrap();
    assert!(none.z.iter().all(|&v| v == 0.0));
    let s = infer_states(&gpu, &spec, &params, &pop, &hyper, &frames, StateInference::default()).unwrap();
    assert_eq!(s.z[..d], s.z[3 * d..]);
    assert_ne!(s.z[..d], s.z[d..2 * d]);
    assert!(s.z.iter().any(|&v| v != 0.0) && s.z.iter().all(|v| v.is_finite()));
    let bad = vec![0f32; d];
    let o = ReconstructOptions {
        start: Some(&bad),
        ..Default::default()
    };
    let full = abprop::abp::Observation::Full;
    let e = reconstruct(&gpu, &spec, &params, &frames, &full, &o)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("starting values"), "{e}");
}

/// `abprop eval dynamic` with tiny settings writes its report: a row per d with both models'
/// errors and fits, the sequences' statistics, strips, GIFs and the plot.
#[test]
fn eval_dynamic_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tree.gif");
    let text = abprop(&[
        "eval",
        "dynamic",
        "--data",
        clip.to_str().unwrap(),
        "--dims",
        "4,8",
        "--iterations",
        "3",
        "--infer-steps",
        "10",
        "--synth-frames",
        "12",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(text.contains("predict: ABP"), "{text}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!((r["frames"].as_u64(), r["train_frames"].as_u64()), (Some(52), Some(39)));
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, d) in rows.iter().zip([4, 8]) {
        assert_eq!(row["d"].as_u64(), Some(d));
        assert_eq!(row["abp_fit"]["inferred"]["steps"].as_u64(), Some(10));
        for k in ["predict_abp", "predict_lds", "reconstruct_abp", "reconstruct_lds"] {
            let v = row[k].as_f64().unwrap();
            assert!(v > 0.0 && v < 1.0, "{k} = {v}");
        }
        assert_eq!(row["synth_abp"]["difference_spectrum"].as_array().unwrap().len(), 4);
        for f in ["compare.png", "abp.gif", "lds.gif"] {
            assert!(out.join(format!("d{d}")).join(f).exists(), "d{d}/{f}");
        }
    }
    let mean = r["naive"]["predict_mean_frame"].as_f64().unwrap();
    assert!(mean > 0.0 && r["naive"]["predict_previous_frame"].as_f64().unwrap() < mean);
    for f in ["results.md", "prediction.png"] {
        assert!(out.join(f).exists(), "{f}");
    }
}
