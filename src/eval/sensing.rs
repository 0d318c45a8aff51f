//! Compressed sensing (the paper's Experiment 6): K white-noise images with pixels from
//! N(0, 0.5^2) form a sensing matrix S [K, D]; each image Y is observed only as S Y. The
//! projection runs on the GPU with the dense-layer kernel (S as the weight, zero bias); the
//! CPU twin and the pseudo-inverse baseline S^+ S Y run on the CPU.

use crate::abp::reconstruct::ReconstructOptions;
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::model::Norm;
use crate::ops::dense::{self, DenseShape};
use crate::seed::{Seed, Stream};
use anyhow::{bail, Context, Result};
use nalgebra::DMatrix;
use rand_distr::{Distribution, Normal};

/// Standard deviation of the white-noise pixels.
pub const NOISE_STD: f32 = 0.5;

/// S: `k` white-noise images of `d` pixels, [k, d] row-major, drawn from `seed`.
pub fn matrix(k: usize, d: usize, seed: impl Into<Seed>) -> Vec<f32> {
    let mut rng = seed.into().rng(Stream::Sensing);
    let normal = Normal::new(0.0, NOISE_STD).unwrap();
    (0..k * d).map(|_| normal.sample(&mut rng)).collect()
}

/// Examples per GPU batch of the projection.
const CHUNK: usize = 256;

/// S Y for every example of `data` on the GPU, as a data set of shape [k, 1, 1] (what the
/// trainer and reconstruction take with `Observation::Sensing`).
pub fn project(gpu: &Gpu, k: usize, s: &[f32], data: &Dataset) -> Result<Dataset> {
    let d = data.per_example();
    if s.len() != k * d {
        bail!("the sensing matrix holds {} values, not {k} x {d}", s.len());
    }
    let w = gpu.upload("sensing matrix", &[k, d], s)?;
    let b = gpu.zeros("sensing bias", &[k])?;
    let mut values = Vec::with_capacity(data.len() * k);
    let mut start = 0;
    while start < data.len() {
        let n = (data.len() - start).min(CHUNK);
        let shape = DenseShape {
            batch: n,
            d_in: d,
            d_out: k,
        };
        let x = gpu.upload("images", &[n, d], &data.values[start * d..(start + n) * d])?;
        let y = gpu.zeros("projections", &[n, k])?;
        let op = dense::forward(gpu, &shape, &x, &w, &b, &y).context("projecting on the sensing matrix")?;
        gpu.run(&op.seq())?;
        values.extend(gpu.read::<f32>(&y)?);
        start += n;
    }
    Ok(Dataset {
        shape: [k, 1, 1],
        values,
        names: data.names.clone(),
        rate: None,
    })
}

/// The CPU twin of [`project`]: S Y of every example, [n, k].
pub fn project_cpu(k: usize, s: &[f32], data: &Dataset) -> Vec<f32> {
    let d = data.per_example();
    let shape = DenseShape {
        batch: data.len(),
        d_in: d,
        d_out: k,
    };
    dense::cpu::forward(&shape, &data.values, s, &vec![0.0; k])
}

/// The noise standard deviation in the projected space that gives the posterior of Z the same
/// largest curvature as `sigma` on fully observed pixels: the largest singular value of S is
/// about 0.5 (sqrt(D) + sqrt(K)), so s_S = s * 0.5 (sqrt(D) + sqrt(K)) keeps the Langevin and
/// learning steps of the full-observation settings stable.
pub fn sigma(sigma: f32, k: usize, d: usize) -> f32 {
    sigma * NOISE_STD * ((d as f32).sqrt() + (k as f32).sqrt())
}

/// The baseline S^+ (S Y) for every example: the minimum-norm images consistent with the
/// projections ([n, d]), with S^+ from nalgebra (S^T (S S^T)^-1 by Cholesky when K <= D,
/// otherwise the SVD pseudo-inverse).
pub fn pseudo_inverse_recovery(k: usize, s: &[f32], projections: &[f32], d: usize) -> Result<Vec<f32>> {
    if s.len() != k * d || !projections.len().is_multiple_of(k) {
        bail!("pseudo-inverse: S is not {k} x {d} or the projections are not [n, {k}]");
    }
    let n = projections.len() / k;
    let sm = DMatrix::<f64>::from_row_iterator(k, d, s.iter().map(|&v| v as f64));
    // Columns are examples.
    let p = DMatrix::<f64>::from_column_slice(k, n, &projections.iter().map(|&v| v as f64).collect::<Vec<_>>());
    let y = if k <= d {
        let g = &sm * sm.transpose();
        let chol = g
            .cholesky()
            .context("S S^T is not positive definite (the sensing images are linearly dependent)")?;
        sm.transpose() * chol.solve(&p)
    } else {
        let pinv = sm
            .pseudo_inverse(1e-9)
            .map_err(|e| anyhow::anyhow!("pseudo-inverse of S: {e}"))?;
        pinv * p
    };
    // y is [d, n] column-major, i.e. [n, d] row-major.
    Ok(y.as_slice().iter().map(|&v| v as f32).collect())
}

/// One latent dimension's results of Experiment 6.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SensingRow {
    pub d: usize,
    /// T1: recovery error of f(Z_i) against the training images (all pixels).
    pub train_abp: f64,
    /// T3: recovery error of test images recovered from their projections.
    pub test_abp: f64,
    /// Mean squared error of the projections at the last iteration.
    pub final_mse: f64,
    pub train_seconds: f64,
    pub test_seconds: f64,
}

/// The pseudo-inverse baseline's errors (the same for every d).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Baseline {
    pub train: f64,
    pub test: f64,
}

/// Runs Experiment 6 for every latent dimension in `dims`, with `k` white-noise images,
/// writing under `out`.
pub fn run(
    gpu: &Gpu,
    setup: &super::Setup,
    split: &super::source::Split,
    k: usize,
    dims: &[usize],
    out: &std::path::Path,
) -> Result<(Vec<SensingRow>, Baseline)> {
    use super::metrics::recovery_error;
    use super::report::{self, Row};
    use crate::abp::{reconstruct::reconstruct, Observation};
    let train_data = super::whole_batches(&split.train, setup.hyper.batch);
    let test = &split.test;
    let [c, h, w] = train_data.shape;
    let d_px = c * h * w;
    if k == 0 {
        bail!("the number of sensing images K must be positive");
    }
    let s = matrix(k, d_px, setup.hyper.seed);
    let y_train = project(gpu, k, &s, &train_data)?;
    let y_test = project(gpu, k, &s, test)?;
    let pinv_train = pseudo_inverse_recovery(k, &s, &y_train.values, d_px)?;
    let pinv_test = pseudo_inverse_recovery(k, &s, &y_test.values, d_px)?;
    let base = Baseline {
        train: recovery_error(&train_data.values, &pinv_train, None),
        test: recovery_error(&test.values, &pinv_test, None),
    };
    setup.say(&format!(
        "sensing: {k} white-noise images of {h}x{w}; pseudo-inverse recovery error train {:.4}, test {:.4}",
        base.train, base.test
    ));
    let observation = Observation::Sensing { k, matrix: s };
    let mut hyper = setup.hyper.clone();
    hyper.sigma = sigma(setup.hyper.sigma, k, d_px);
    let mut rows = Vec::new();
    for &d in dims {
        let spec = super::network(setup.net, d, setup.size)?;
        let dir = out.join(format!("d{d}"));
        setup.say(&format!(
            "d = {d}: training on the projections of {} images for {} iterations (s = {:.3} on the projections)",
            train_data.len(),
            hyper.iterations,
            hyper.sigma
        ));
        let trained = super::train(gpu, setup, &spec, &hyper, &y_train, &observation, &dir, |_| Ok(None))?;
        let t = &trained.trainer;
        let rec = super::recovered(t)?;
        let t1 = recovery_error(&train_data.values, &rec, None);
        let smp = t.samples()?;
        let kk = t.gen.batch.min(64);
        crate::io::media::write_grid(
            &dir.join("samples.png"),
            &smp,
            kk,
            c,
            h,
            w,
            (kk as f64).sqrt().ceil() as usize,
        )?;
        let params = t.gen.read_params(gpu)?;
        let start = std::time::Instant::now();
        setup.say(&format!(
            "d = {d}: inferring Z of {} test images from their projections ({} Langevin steps of {})",
            test.len(),
            setup.infer_steps,
            setup.infer_delta
        ));
        let pop = t.population()?;
        let o = ReconstructOptions {
            norm: Norm::Population(&pop),
            ..setup.infer(hyper.sigma)
        };
        let r = reconstruct(gpu, &spec, &params, &y_test, &observation, &o)?;
        let test_seconds = start.elapsed().as_secs_f64();
        let t3 = recovery_error(&test.values, &r.outputs, None);
        if c == 1 {
            let kp = setup.panel.min(train_data.len());
            report::panel(
                &dir.join("panel-train.png"),
                &[
                    Row::plain(&train_data.values),
                    Row::plain(&pinv_train),
                    Row::plain(&rec),
                ],
                kp,
                h,
                w,
            )?;
            let kp = setup.panel.min(test.len());
            report::panel(
                &dir.join("panel-test.png"),
                &[Row::plain(&test.values), Row::plain(&pinv_test), Row::plain(&r.outputs)],
                kp,
                h,
                w,
            )?;
        }
        setup.say(&format!(
            "d = {d}: recovery error train {t1:.4}, test {t3:.4} (pseudo-inverse {:.4}, {:.4})",
            base.train, base.test
        ));
        rows.push(SensingRow {
            d,
            train_abp: t1,
            test_abp: t3,
            final_mse: *trained.errors.last().unwrap_or(&f64::NAN),
            train_seconds: trained.seconds,
            test_seconds,
        });
    }
    Ok((rows, base))
}

/// The Markdown table of Experiment 6.
pub fn table(rows: &[SensingRow], base: &Baseline) -> String {
    use super::report::{self, num};
    let mut r: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![format!("ABP, d = {}", r.d), num(r.train_abp), num(r.test_abp)])
        .collect();
    r.push(vec!["pseudo-inverse S^+ S Y".into(), num(base.train), num(base.test)]);
    report::table(&["method", "T1 train recovery", "T3 test recovery"], &r)
}
