//! `abprop eval hiabp`: the HiABP paper's comparison (Sun, Liu and Zhou 2021, Table 1, Table 3
//! and Figure 1) on any image source `train` takes: with one budget (same data, same
//! iterations, same T), ABP with fresh chains, ABP with persistent chains, IABP (an encoder
//! proposes each chain's start) and, for hierarchical models, HiABP with L levels; the test
//! reconstruction MSE of each (data in [0, 1], the paper's convention), with the encoder alone
//! ([E]) and the encoder then T Langevin steps ([E+L]) for the encoder models, and the MSE
//! against T for ABP and IABP.
//!
//! Test Z: ABP's from N(0, I) by T Langevin steps with W fixed (the inference its training
//! used); the encoder models' from the encoder's mean mu(Y) ([E]), then T Langevin steps
//! ([E+L]). The steps are noiseless here (gradient ascent on the log-posterior, so an
//! evaluation does not depend on the noise draw) and batch norms, if any, use population
//! statistics.

use super::report::{self, Row};
use super::{plot, train, Setup};
use crate::abp::config::Chains;
use crate::abp::reconstruct::{reconstruct, ReconstructOptions};
use crate::abp::Observation;
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::model::{Norm, Spec};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

/// One trained method.
#[derive(Clone, Debug, Serialize)]
pub struct MethodRow {
    pub method: String,
    /// Latent levels (1 for ABP and IABP).
    pub levels: usize,
    /// Langevin steps per iteration in training and for test inference.
    pub t: usize,
    /// Test MSE per pixel in [0, 1]: [E+L] for encoder models, Langevin from N(0, I) for ABP.
    pub test_mse: f64,
    /// Test MSE with the encoder alone ([E]), for encoder models.
    pub test_mse_encoder: Option<f64>,
    /// The training error of the last iteration (at the chains' Z_T).
    pub train_mse: f64,
    pub seconds: f64,
}

/// A method of the comparison: its name, network and chains.
pub struct Method {
    pub name: String,
    /// Its folder's name.
    pub slug: String,
    pub levels: usize,
    pub spec: Spec,
    pub chains: Chains,
}

/// Trains `m` with T = `t` Langevin steps on `train_data` and measures it on `test` (both in
/// the model's range); writes `log.jsonl`, `reconstructions.png` (rows: original, [E] for
/// encoder models, the method's test reconstruction) and `samples.png` in `dir`.
pub fn run_method(
    gpu: &Gpu,
    setup: &Setup,
    m: &Method,
    t: usize,
    train_data: &Dataset,
    test: &Dataset,
    dir: &Path,
) -> Result<MethodRow> {
    let mut hyper = setup.hyper.clone();
    hyper.langevin_steps = t;
    hyper.chains = m.chains;
    let spec = match m.chains {
        Chains::Encoder => m.spec.clone(),
        _ => Spec {
            encoder: None,
            ..m.spec.clone()
        },
    };
    setup.say(&format!(
        "{} (T = {t}): training on {} images",
        m.name,
        train_data.len()
    ));
    let trained = train(gpu, setup, &spec, &hyper, train_data, &Observation::Full, dir, |_| {
        Ok(None)
    })?;
    let tr = &trained.trainer;
    let params = tr.gen.read_params(gpu)?;
    let pop = tr.population()?;
    let enc = match &tr.encoder {
        Some(e) => Some(e.net.read_params(gpu)?),
        None => None,
    };
    let opts = |steps: usize, encoder| ReconstructOptions {
        steps,
        delta: hyper.delta,
        sigma: hyper.sigma,
        noise: false,
        sampler: hyper.sampler,
        seed: hyper.seed,
        batch: hyper.batch.min(test.len()).max(1),
        norm: Norm::Population(&pop),
        encoder,
        start: None,
    };
    let full = reconstruct(gpu, &spec, &params, test, &Observation::Full, &opts(t, enc.as_ref()))?;
    let alone = match &enc {
        Some(e) => Some(reconstruct(
            gpu,
            &spec,
            &params,
            test,
            &Observation::Full,
            &opts(0, Some(e)),
        )?),
        None => None,
    };
    let [_, h, w] = test.shape;
    let k = setup.panel.min(test.len());
    let range = spec.range();
    let original = range.media(&test.values);
    let mut rows_v = vec![original.into_owned()];
    if let Some(a) = &alone {
        rows_v.push(range.media(&a.outputs).into_owned());
    }
    rows_v.push(range.media(&full.outputs).into_owned());
    let rows: Vec<Row> = rows_v.iter().map(|v| Row::plain(v)).collect();
    report::panel(&dir.join("reconstructions.png"), &rows, k, h, w)?;
    let samples = range.media(&tr.samples()?).into_owned();
    let ks = tr.gen.batch.min(setup.panel * 2);
    report::panel(&dir.join("samples.png"), &[Row::plain(&samples)], ks, h, w)?;
    let row = MethodRow {
        method: m.name.clone(),
        levels: m.levels,
        t,
        test_mse: full.mean_mse(),
        test_mse_encoder: alone.as_ref().map(|a| a.mean_mse()),
        train_mse: tr.last_error.unwrap_or(f64::NAN),
        seconds: trained.seconds,
    };
    setup.say(&format!(
        "{} (T = {t}): test mse {}{}, train {}",
        m.name,
        report::num(row.test_mse),
        row.test_mse_encoder
            .map(|e| format!(" ([E] {})", report::num(e)))
            .unwrap_or_default(),
        report::num(row.train_mse)
    ));
    Ok(row)
}

/// The paper's Table 1 as Markdown: one row per method.
pub fn table(rows: &[MethodRow]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.method.clone(),
                r.levels.to_string(),
                r.t.to_string(),
                r.test_mse_encoder.map(report::num).unwrap_or_else(|| "-".into()),
                report::num(r.test_mse),
                report::num(r.train_mse),
                format!("{:.0}", r.seconds),
            ]
        })
        .collect();
    report::table(
        &[
            "method",
            "levels",
            "T",
            "test MSE [E]",
            "test MSE ([E+L] / Langevin)",
            "train MSE",
            "seconds",
        ],
        &body,
    )
}

/// The MSE against T (the paper's Table 3) as Markdown: one column per T.
pub fn t_table(rows: &[MethodRow], ts: &[usize]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.method.as_str()) {
            names.push(&r.method);
        }
    }
    let header: Vec<String> = std::iter::once("method".to_string())
        .chain(ts.iter().map(|t| format!("T = {t}")))
        .collect();
    let body: Vec<Vec<String>> = names
        .iter()
        .map(|n| {
            std::iter::once(n.to_string())
                .chain(ts.iter().map(|&t| {
                    rows.iter()
                        .find(|r| r.method == *n && r.t == t)
                        .map(|r| report::num(r.test_mse))
                        .unwrap_or_else(|| "-".into())
                }))
                .collect()
        })
        .collect();
    let h: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
    report::table(&h, &body)
}

/// The paper's Figure 1: test MSE against T, one curve per method.
pub fn t_plot(path: &Path, rows: &[MethodRow]) -> Result<()> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.method.as_str()) {
            names.push(&r.method);
        }
    }
    let series: Vec<plot::Series> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.method == *n)
                .map(|r| (r.t as f64, r.test_mse))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            plot::Series {
                label: n.to_string(),
                color: plot::COLORS[i % plot::COLORS.len()],
                points,
            }
        })
        .collect();
    plot::lines(path, "test MSE against T", "Langevin steps T", "test MSE", &series)
}
