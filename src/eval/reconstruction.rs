//! Experiment 7: evaluation by reconstruction. Train on n images, hold out m; infer Z of each
//! test image from N(0, I) by Langevin dynamics with W fixed and report the reconstruction
//! error next to PCA with the same d (directions from the training images). During training,
//! every k iterations, the error on training, held-out and negative (another category) images
//! is measured the same way and drawn as curves, so over- and under-fitting can be seen.

use super::metrics::{mse, recovery_error};
use super::pca::Pca;
use super::plot::{self, Series};
use super::report::{self, num, Row};
use super::source::Split;
use super::{network, recovered, train, whole_batches, Setup};
use crate::abp::reconstruct::{reconstruct, ReconstructOptions};
use crate::abp::Observation;
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::model::Norm;
use anyhow::{bail, Result};
use std::path::Path;

/// The curves' settings.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Curves {
    /// Measure every this many iterations (0: never).
    pub every: usize,
    /// Images of each kind measured.
    pub size: usize,
    /// Langevin steps of each measurement (of the setup's step size).
    pub steps: usize,
}

/// One point of the curves: recovery errors of images inferred from N(0, I).
#[derive(Clone, Debug, serde::Serialize)]
pub struct CurvePoint {
    pub iteration: usize,
    pub train: f64,
    pub test: f64,
    pub negative: Option<f64>,
}

/// One latent dimension's results (recovery errors: mean |difference| / range).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReconRow {
    pub d: usize,
    /// ABP on the training images, Z inferred from N(0, I) with W fixed as for test images.
    pub train_abp: f64,
    /// ABP on the training images with the Z_i learned with W (the persistent chains).
    pub train_abp_learned_z: f64,
    /// ABP on test images, Z inferred from N(0, I) with W fixed.
    pub test_abp: f64,
    pub negative_abp: Option<f64>,
    pub train_pca: f64,
    pub test_pca: f64,
    pub negative_pca: Option<f64>,
    /// The same as mean squared errors per pixel (values in [-1, 1]).
    pub test_abp_mse: f64,
    pub test_pca_mse: f64,
    pub train_seconds: f64,
    pub infer_seconds: f64,
    pub curves: Vec<CurvePoint>,
}

/// The PCA errors of `data` with `d` directions: (recovery error, mse, reconstructions).
fn pca_errors(p: &Pca, data: &Dataset, d: usize) -> Result<(f64, f64, Vec<f32>)> {
    let r = p.reconstruct(&data.values, d)?;
    Ok((recovery_error(&data.values, &r, None), mse(&data.values, &r), r))
}

/// Runs Experiment 7 for every latent dimension in `dims`, writing under `out`.
pub fn run(
    gpu: &Gpu,
    setup: &Setup,
    split: &Split,
    dims: &[usize],
    curves: &Curves,
    out: &Path,
) -> Result<Vec<ReconRow>> {
    let train_data = whole_batches(&split.train, setup.hyper.batch);
    let test = &split.test;
    let [c, h, w] = train_data.shape;
    let per = c * h * w;
    let max_d = dims.iter().copied().max().unwrap_or(0);
    if max_d >= train_data.len() {
        bail!(
            "PCA with d = {max_d} needs more than {max_d} training images; {} given",
            train_data.len()
        );
    }
    setup.say(&format!("PCA of {} training images of {h}x{w}", train_data.len()));
    let pca = Pca::fit(&train_data.values, per, max_d)?;
    if pca.rank() < max_d {
        bail!(
            "the training images span only {} directions, fewer than d = {max_d}",
            pca.rank()
        );
    }
    let sub = |d: &Dataset| d.slice(0..curves.size.min(d.len()));
    let (cur_train, cur_test) = (sub(&train_data), sub(test));
    let cur_neg = split.negative.as_ref().map(sub);
    let mut rows = Vec::new();
    for &d in dims {
        let spec = network(setup.net, d, setup.size)?;
        let dir = out.join(format!("d{d}"));
        setup.say(&format!(
            "d = {d}: training on {} images for {} iterations",
            train_data.len(),
            setup.hyper.iterations
        ));
        let mut points: Vec<CurvePoint> = Vec::new();
        let copts = ReconstructOptions {
            steps: curves.steps,
            ..setup.infer(setup.hyper.sigma)
        };
        let trained = train(
            gpu,
            setup,
            &spec,
            &setup.hyper,
            &train_data,
            &Observation::Full,
            &dir,
            |t| {
                if curves.every == 0 || t.iteration % curves.every != 0 {
                    return Ok(None);
                }
                let params = t.gen.read_params(gpu)?;
                let pop = t.population()?;
                let copts = ReconstructOptions {
                    norm: Norm::Population(&pop),
                    ..copts
                };
                let err = |data: &Dataset| -> Result<f64> {
                    let r = reconstruct(gpu, &spec, &params, data, &Observation::Full, &copts)?;
                    Ok(recovery_error(&data.values, &r.outputs, None))
                };
                let p = CurvePoint {
                    iteration: t.iteration,
                    train: err(&cur_train)?,
                    test: err(&cur_test)?,
                    negative: cur_neg.as_ref().map(err).transpose()?,
                };
                setup.say(&format!(
                    "  curves at iteration {}: train {:.4}, test {:.4}{}",
                    p.iteration,
                    p.train,
                    p.test,
                    p.negative.map(|e| format!(", negative {e:.4}")).unwrap_or_default()
                ));
                let v = serde_json::json!({"curve": p});
                points.push(p);
                Ok(Some(v))
            },
        )?;
        let t = &trained.trainer;
        let rec = recovered(t)?;
        let params = t.gen.read_params(gpu)?;
        let pop = t.population()?;
        let opts = ReconstructOptions {
            norm: Norm::Population(&pop),
            ..setup.infer(setup.hyper.sigma)
        };
        setup.say(&format!(
            "d = {d}: inferring Z of {} training, {} test and {} negative images ({} Langevin steps of {})",
            train_data.len(),
            test.len(),
            split.negative.as_ref().map_or(0, |n| n.len()),
            opts.steps,
            opts.delta
        ));
        let start = std::time::Instant::now();
        let rtr = reconstruct(gpu, &spec, &params, &train_data, &Observation::Full, &opts)?;
        let rt = reconstruct(gpu, &spec, &params, test, &Observation::Full, &opts)?;
        let rn = split
            .negative
            .as_ref()
            .map(|n| reconstruct(gpu, &spec, &params, n, &Observation::Full, &opts))
            .transpose()?;
        let infer_seconds = start.elapsed().as_secs_f64();
        let (pca_train, _, _) = pca_errors(&pca, &train_data, d)?;
        let (pca_test, pca_test_mse, pca_rt) = pca_errors(&pca, test, d)?;
        let pca_neg = split.negative.as_ref().map(|n| pca_errors(&pca, n, d)).transpose()?;
        let row = ReconRow {
            d,
            train_abp: recovery_error(&train_data.values, &rtr.outputs, None),
            train_abp_learned_z: recovery_error(&train_data.values, &rec, None),
            test_abp: recovery_error(&test.values, &rt.outputs, None),
            negative_abp: split
                .negative
                .as_ref()
                .zip(rn.as_ref())
                .map(|(n, r)| recovery_error(&n.values, &r.outputs, None)),
            train_pca: pca_train,
            test_pca: pca_test,
            negative_pca: pca_neg.as_ref().map(|p| p.0),
            test_abp_mse: mse(&test.values, &rt.outputs),
            test_pca_mse: pca_test_mse,
            train_seconds: trained.seconds,
            infer_seconds,
            curves: points,
        };
        if c == 1 {
            let k = setup.panel.min(test.len());
            report::panel(
                &dir.join("panel-test.png"),
                &[Row::plain(&test.values), Row::plain(&rt.outputs), Row::plain(&pca_rt)],
                k,
                h,
                w,
            )?;
            if let (Some(n), Some(r), Some(p)) = (&split.negative, &rn, &pca_neg) {
                let k = setup.panel.min(n.len());
                report::panel(
                    &dir.join("panel-negative.png"),
                    &[Row::plain(&n.values), Row::plain(&r.outputs), Row::plain(&p.2)],
                    k,
                    h,
                    w,
                )?;
            }
        }
        if !row.curves.is_empty() {
            let pick = |f: &dyn Fn(&CurvePoint) -> Option<f64>| -> Vec<(f64, f64)> {
                row.curves
                    .iter()
                    .filter_map(|p| Some((p.iteration as f64, f(p)?)))
                    .collect()
            };
            let mut series = vec![
                Series {
                    label: "train".into(),
                    color: plot::COLORS[0],
                    points: pick(&|p| Some(p.train)),
                },
                Series {
                    label: "test".into(),
                    color: plot::COLORS[1],
                    points: pick(&|p| Some(p.test)),
                },
            ];
            if split.negative.is_some() {
                series.push(Series {
                    label: "negative".into(),
                    color: plot::COLORS[2],
                    points: pick(&|p| p.negative),
                });
            }
            plot::lines(
                &dir.join("curves.png"),
                &format!("reconstruction error, d = {d}"),
                "iteration",
                "error",
                &series,
            )?;
        }
        setup.say(&format!(
            "d = {d}: recovery error test ABP {:.4}, PCA {:.4}; train ABP {:.4}, PCA {:.4}",
            row.test_abp, row.test_pca, row.train_abp, row.train_pca
        ));
        rows.push(row);
    }
    Ok(rows)
}

/// The Markdown table of Experiment 7.
pub fn table(rows: &[ReconRow]) -> String {
    let neg = rows.iter().any(|r| r.negative_abp.is_some());
    let mut header = vec!["d", "train: ABP", "train: PCA", "test: ABP", "test: PCA"];
    if neg {
        header.extend(["negative: ABP", "negative: PCA"]);
    }
    report::table(
        &header,
        &rows
            .iter()
            .map(|r| {
                let mut v = vec![
                    r.d.to_string(),
                    num(r.train_abp),
                    num(r.train_pca),
                    num(r.test_abp),
                    num(r.test_pca),
                ];
                if neg {
                    v.push(r.negative_abp.map(num).unwrap_or_default());
                    v.push(r.negative_pca.map(num).unwrap_or_default());
                }
                v
            })
            .collect::<Vec<_>>(),
    )
}
