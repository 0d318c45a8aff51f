//! Experiment 5: learning from occluded images. For each setting, every training image gets
//! its own mask; the generator learns from the visible pixels only (the masked residual), and
//! is judged by (T1) its recovery of the training images' occluded pixels, (T2) its samples,
//! and (T3) its recovery of test images occluded the same way, their Z inferred from the
//! visible pixels with W fixed. The baseline fills occluded pixels with the mean image (of
//! the visible training pixels).

use super::metrics::{fill, mean_image, recovery_error};
use super::plot::{self, Series, COLORS};
use super::report::{self, num, Row};
use super::source::Split;
use super::{network, recovered, train, whole_batches, Setup};
use crate::abp::reconstruct::{reconstruct, ReconstructOptions};
use crate::abp::{Observation, Trainer};
use crate::data::masks::{self, occlude, occlude_test, Occlusion};
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::io::media;
use crate::model::Norm;
use anyhow::Result;
use std::path::Path;

#[derive(Clone, Debug, serde::Serialize)]
pub struct OcclusionRow {
    pub setting: String,
    /// Fraction of occluded pixels of the training and test images.
    pub coverage_train: f64,
    pub coverage_test: f64,
    /// T1: recovery error of the training images' occluded pixels, ABP and mean image.
    pub train_abp: f64,
    pub train_mean_fill: f64,
    /// T3: the same for test images (Z inferred from their visible pixels).
    pub test_abp: f64,
    pub test_mean_fill: f64,
    /// Training mean squared error over the visible pixels at the last iteration.
    pub final_mse: f64,
    pub train_seconds: f64,
    pub test_seconds: f64,
    /// The training error per iteration.
    #[serde(skip)]
    pub errors: Vec<f64>,
}

/// T1 after training on occluded data: the recovered training images and their error on
/// the occluded pixels (with the mean-image baseline), written as a panel in `dir`.
pub fn training_recovery(t: &Trainer, original: &Dataset, m: &[f32], dir: &Path, panel: usize) -> Result<(f64, f64)> {
    let per = original.per_example();
    let n = t.n;
    let rec = recovered(t)?;
    let orig = &original.values[..n * per];
    let m = &m[..n * per];
    let hidden = masks::hide(orig, m);
    let mean = mean_image(&hidden, Some(m), per);
    let filled = fill(&hidden, m, &mean);
    let e = recovery_error(orig, &rec, Some(m));
    let e_mean = recovery_error(orig, &filled, Some(m));
    let [_, h, w] = original.shape;
    if original.shape[0] == 1 && h > 1 {
        let k = panel.min(n);
        report::panel(
            &dir.join("panel-train.png"),
            &[
                Row::plain(orig),
                Row::masked(orig, m),
                Row::plain(&rec),
                Row::plain(&filled),
            ],
            k,
            h,
            w,
        )?;
    }
    Ok((e, e_mean))
}

/// Runs Experiment 5 for every setting, writing under `out`.
pub fn run(gpu: &Gpu, setup: &Setup, split: &Split, settings: &[Occlusion], out: &Path) -> Result<Vec<OcclusionRow>> {
    let train_data = whole_batches(&split.train, setup.hyper.batch);
    let test = &split.test;
    let [c, h, w] = train_data.shape;
    let spec = network(setup.net, setup.d, setup.size)?;
    let mut rows = Vec::new();
    for occ in settings {
        let name = occ.to_string();
        let dir = out.join(&name);
        setup.say(&format!(
            "{name}: training on {} occluded images of {h}x{w} for {} iterations",
            train_data.len(),
            setup.hyper.iterations
        ));
        let (observed, m) = occlude(&train_data, occ, setup.hyper.seed)?;
        let trained = train(
            gpu,
            setup,
            &spec,
            &setup.hyper,
            &observed,
            &Observation::Mask(m.clone()),
            &dir,
            |_| Ok(None),
        )?;
        let t = &trained.trainer;
        // T1.
        let (t1, t1_mean) = training_recovery(t, &train_data, &m, &dir, setup.panel)?;
        // T2.
        let smp = t.samples()?;
        let k = t.gen.batch.min(64);
        media::write_grid(
            &dir.join("samples.png"),
            &smp,
            k,
            c,
            h,
            w,
            (k as f64).sqrt().ceil() as usize,
        )?;
        // T3.
        let (test_obs, tm) = occlude_test(test, occ, setup.hyper.seed)?;
        let start = std::time::Instant::now();
        setup.say(&format!(
            "{name}: inferring Z of {} occluded test images ({} Langevin steps of {})",
            test.len(),
            setup.infer_steps,
            setup.infer_delta
        ));
        let o = setup.infer(setup.hyper.sigma);
        let (t3, t3_mean) = test_recovery(gpu, t, (&observed, &m), (test, &test_obs, &tm), &o, &dir, setup.panel)?;
        let test_seconds = start.elapsed().as_secs_f64();
        let row = OcclusionRow {
            setting: name.clone(),
            coverage_train: masks::coverage(&m),
            coverage_test: masks::coverage(&tm),
            train_abp: t1,
            train_mean_fill: t1_mean,
            test_abp: t3,
            test_mean_fill: t3_mean,
            final_mse: *trained.errors.last().unwrap_or(&f64::NAN),
            train_seconds: trained.seconds,
            test_seconds,
            errors: trained.errors.clone(),
        };
        setup.say(&format!(
            "{name}: recovery error train {t1:.4} (mean image {t1_mean:.4}), test {t3:.4} (mean image {t3_mean:.4})"
        ));
        rows.push(row);
    }
    let series: Vec<Series> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            label: r.setting.clone(),
            color: COLORS[i % COLORS.len()],
            points: r.errors.iter().enumerate().map(|(k, &e)| ((k + 1) as f64, e)).collect(),
        })
        .collect();
    plot::lines(
        &out.join("training.png"),
        "occlusion: training error",
        "iteration",
        "mse visible",
        &series,
    )?;
    Ok(rows)
}

/// The Markdown table of Experiment 5.
pub fn table(rows: &[OcclusionRow]) -> String {
    report::table(
        &[
            "setting",
            "occluded",
            "T1 train: ABP",
            "T1 train: mean image",
            "T3 test: ABP",
            "T3 test: mean image",
        ],
        &rows
            .iter()
            .map(|r| {
                vec![
                    r.setting.clone(),
                    format!("{:.1}%", 100.0 * r.coverage_train),
                    num(r.train_abp),
                    num(r.train_mean_fill),
                    num(r.test_abp),
                    num(r.test_mean_fill),
                ]
            })
            .collect::<Vec<_>>(),
    )
}

/// `abprop train --occlude SPEC`, after training: T1 (the recovery error of the occluded
/// pixels, next to the mean image's) and, given `test` images, T3 (the test images occluded
/// the same way, their Z inferred from the visible pixels with the learned W, and the recovery
/// error on their occluded pixels) to `recovery.json`, `panel-train.png` and `panel-test.png`
/// in `dir`, and a line on stderr.
#[allow(clippy::too_many_arguments)]
pub fn report_training(
    gpu: &Gpu,
    t: &Trainer,
    original: &Dataset,
    observed: &Dataset,
    m: &[f32],
    spec: &str,
    test: Option<&Dataset>,
    dir: &Path,
) -> Result<()> {
    let (e, e_mean) = training_recovery(t, original, m, dir, 10)?;
    let mut json = serde_json::json!({
        "occlusion": spec,
        "examples": t.n,
        "coverage": masks::coverage(&m[..t.n * original.per_example()]),
        "recovery_error": e,
        "mean_image_recovery_error": e_mean,
    });
    if let Some(test) = test {
        let (test_obs, tm) = occlude_test(test, &Occlusion::parse(spec)?, t.hyper.seed)?;
        let o = ReconstructOptions {
            sigma: t.hyper.sigma,
            sampler: t.hyper.sampler,
            ..Default::default()
        };
        let (t3, t3_mean) = test_recovery(gpu, t, (observed, m), (test, &test_obs, &tm), &o, dir, 10)?;
        json["test_examples"] = test.len().into();
        json["test_recovery_error"] = t3.into();
        json["test_mean_image_recovery_error"] = t3_mean.into();
        eprintln!(
            "abprop: {spec}: test images ({}): recovery error of the occluded pixels {t3:.4} (mean image: {t3_mean:.4}); {}",
            test.len(),
            dir.join("panel-test.png").display()
        );
    }
    crate::io::checkpoint::write_atomic(
        &dir.join("recovery.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    eprintln!(
        "abprop: {spec}: recovery error of the occluded pixels {e:.4} (filling them with the mean image: {e_mean:.4}); {}",
        dir.join("panel-train.png").display()
    );
    Ok(())
}

/// T3 of a model trained on the occluded images `train` = (observed, masks): the test images
/// `test` = (originals, occluded, masks), their Z inferred from the visible pixels with the
/// learned W (batch norms on the population statistics); the recovery error of their occluded pixels, next to the mean image's (the mean
/// of the visible training pixels); `panel-test.png` in `dir` (rows: original, occluded in red,
/// ABP recovery, mean-image fill) with `panel` examples.
fn test_recovery(
    gpu: &Gpu,
    t: &Trainer,
    train: (&Dataset, &[f32]),
    test: (&Dataset, &Dataset, &[f32]),
    o: &ReconstructOptions,
    dir: &Path,
    panel: usize,
) -> Result<(f64, f64)> {
    let ((observed, m), (test, test_obs, tm)) = (train, test);
    let [_, h, w] = test.shape;
    let per = test.per_example();
    let params = t.gen.read_params(gpu)?;
    let pop = t.population()?;
    let o = ReconstructOptions {
        norm: Norm::Population(&pop),
        ..*o
    };
    let r = reconstruct(gpu, &t.spec, &params, test_obs, &Observation::Mask(tm.to_vec()), &o)?;
    let n = t.n * per;
    let mean = mean_image(&observed.values[..n], Some(&m[..n]), per);
    let filled = fill(&test_obs.values, tm, &mean);
    let rows = [
        Row::plain(&test.values),
        Row::masked(&test.values, tm),
        Row::plain(&r.outputs),
        Row::plain(&filled),
    ];
    report::panel(&dir.join("panel-test.png"), &rows, panel.min(test.len()), h, w)?;
    Ok((
        recovery_error(&test.values, &r.outputs, Some(tm)),
        recovery_error(&test.values, &filled, Some(tm)),
    ))
}
