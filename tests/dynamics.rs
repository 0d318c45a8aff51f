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
    // Noise-free states are fitted exactly.
    let exact = var1(&a, &(l.clone() * 0.0), &m, 50, 1);
    let mut start = exact.clone();
    start[..4].copy_from_slice(&[2.0, 0.0, -1.0, 3.0]);
    let mut seq = start[..4].to_vec();
    for _ in 1..50 {
        let k = seq.len() - 4;
        let p = DVector::from_row_slice(&seq[k..]) - &m;
        seq.extend((&a * p + &m).iter().copied());
    }
    let f = Linear::fit(&seq, 4).unwrap();
    assert!(f.info.residual < 1e-12, "residual {}", f.info.residual);
    // A prediction is m + A (z - m).
    let p = f.predict(&seq[..4]);
    for i in 0..4 {
        assert!((p[i] - seq[4 + i]).abs() < 1e-8);
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
