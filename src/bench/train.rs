//! `abprop bench train`: whole training iterations of a preset on random data of its shape,
//! run by the one training loop, with inference and learning also timed alone.

use super::kernels::random;
use crate::gpu::{Gpu, Timer};
use crate::ops::gemm;
use crate::seed::{Seed, Stream};
use anyhow::Result;
use rand::Rng;
use serde::Serialize;

/// The figures of `abprop bench train`.
#[derive(Clone, Debug, Serialize)]
pub struct TrainRow {
    pub preset: String,
    pub batch: usize,
    pub iter_s: f64,
    pub infer_s: f64,
    pub learn_s: f64,
    /// The encoder's passes alone (its forward pass and proposal, its fit and learning) per
    /// batch, for models trained with `--init encoder`, and their share of the iteration.
    pub encoder_s: Option<f64>,
    pub encoder_share: Option<f64>,
    pub gflops: f64,
    pub submits: f64,
    pub readbacks: f64,
    pub sgemm_gflops: f64,
}

/// Times `iterations` training iterations of a preset on random data of its shape (one batch),
/// after one warm-up iteration; inference and learning are also timed alone.
pub fn train(gpu: &Gpu, preset: &str, iterations: usize, batch: Option<usize>) -> Result<TrainRow> {
    use std::sync::atomic::Ordering::Relaxed;
    let p = crate::abp::preset(preset)?;
    let mut hyper = p.hyper.clone();
    if let Some(b) = batch {
        hyper.batch = b;
    }
    // One warm-up iteration, then the timed ones.
    let timed = iterations.max(1);
    hyper.iterations = 1 + timed;
    let shape = p.spec.output()?;
    let per: usize = shape.iter().product();
    let mut rng = Seed(3).rng(Stream::BenchData);
    let data = crate::data::Dataset {
        shape,
        values: (0..hyper.batch * per).map(|_| rng.random_range(-1.0..1.0)).collect(),
        names: (0..hyper.batch).map(|i| format!("random{i}")).collect(),
        rate: p.rate,
    };
    let mut t = crate::abp::Trainer::new(gpu, &p.spec, &hyper, &data, &crate::abp::Observation::Full, None)?;
    // The counters and the clock after the warm-up iteration.
    let (mut after_warm_up, mut end) = (None, 0.0);
    t.train(|_, step| {
        if step.iteration == 1 {
            after_warm_up = Some((gpu.submits.load(Relaxed), gpu.readbacks.load(Relaxed), step.seconds));
        }
        end = step.seconds;
        Ok(())
    })?;
    let (s0, r0, t0) = after_warm_up.expect("the warm-up iteration ran");
    let k = timed as f64;
    let iter_s = (end - t0) / k;
    let submits = (gpu.submits.load(Relaxed) - s0) as f64 / k;
    let readbacks = (gpu.readbacks.load(Relaxed) - r0) as f64 / k;
    let timer = Timer::new(gpu);
    let infer = t.infer_seq(0);
    let learn = t.learn_seq(0);
    let infer_s = timer.time(gpu, &infer, 1)?;
    let learn_s = timer.time(gpu, &learn, 1)?;
    let mut flops: f64 = infer.iter().chain(learn.iter()).map(|d| d.flops).sum();
    let encoder_s = match &t.encoder {
        Some(e) => {
            let (mut prop, mut fit) = (Vec::new(), Vec::new());
            e.propose_seq(0, &mut prop);
            e.learn_seq(&mut fit);
            flops += fit.iter().map(|d| d.flops).sum::<f64>();
            prop.extend(fit);
            Some(timer.time(gpu, &prop, 1)?)
        }
        None => None,
    };
    let n = 1024;
    let a = random(gpu, "a", &[n, n], &mut rng)?;
    let b = random(gpu, "b", &[n, n], &mut rng)?;
    let c = gpu.zeros("c", &[n, n])?;
    let sg = gemm::sgemm(gpu, &a, &b, &c, n, n, n)?;
    let sg_s = timer.time(gpu, &sg.seq(), 5)?;
    Ok(TrainRow {
        preset: preset.to_string(),
        batch: t.gen.batch,
        iter_s,
        infer_s,
        learn_s,
        encoder_s,
        encoder_share: encoder_s.map(|e| e / iter_s),
        gflops: flops / iter_s * 1e-9,
        submits,
        readbacks,
        sgemm_gflops: sg.flops() / sg_s * 1e-9,
    })
}
