//! Latent dynamics of dynamic textures: the least-squares fit, the LDS baseline, their storage
//! in checkpoints, and a short real run on the shipped clip through the command line.
use abprop::abp::checkpoint::{dynamics_from, put_dynamics};
use abprop::abp::dynamics::{spectral_radius, Dynamics, Linear, STABLE_RADIUS};
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
    let dynamics = Dynamics {
        abp: Linear::fit(&l.project(&frames.values), d).unwrap(),
        lds: Some(l.clone()),
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

/// A short real run on the shipped clip through the command line: training fits the dynamics,
/// the synthesized sequence changes from frame to frame about as much as the clip (neither
/// frozen nor exploding), and is the same for the same seed.
#[test]
fn short_run_on_the_shipped_clip() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let clip_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tree.gif");
    let (run_s, clip_s) = (run.to_str().unwrap(), clip_path.to_str().unwrap());
    let text = abprop(&[
        "train",
        "--preset",
        "dynamic-quick",
        "--resize",
        clip_s,
        "--out",
        run_s,
        "--iterations",
        "8",
        "--langevin-steps",
        "10",
        "--snapshot-every",
        "0",
    ]);
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
    assert!(
        fa > ft / 10.0 && fa < ft * 10.0,
        "frame change: synthesized {fa}, clip {ft}"
    );
    let l = read_frames(&syn.join("lds/frames"));
    assert!(l.iter().all(|v| v.is_finite()) && frame_change(&l, per) > ft / 10.0);
    // One-step prediction on the clip: f(m + A (Z_t - m)) against Y_{t+1}.
    let (shape, z) = m.z.clone().unwrap();
    let (n, d) = (shape[0], 20);
    let z: Vec<f64> = z.iter().map(|&v| v as f64).collect();
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
    eprintln!("one-step prediction {e_abp}, from the wrong time {e_wrong}, mean frame {e_mean}");
    assert!(
        e_abp < e_wrong,
        "one-step prediction {e_abp}, from the wrong time {e_wrong}"
    );
    assert!(e_abp.is_finite() && e_mean > 0.0);
}
