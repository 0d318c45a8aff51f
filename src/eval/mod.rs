//! The paper's Experiments 5-7 as reproducible evaluations (`abprop eval`): learning from
//! occluded images (5), learning from compressed-sensing projections (6), and judging a
//! learned generator by how well it reconstructs images it never saw, next to PCA (7).
//!
//! - `sensing`: the sensing matrix, its GPU projection, the pseudo-inverse baseline and the
//!   Experiment 6 runner.
//! - `pca`: the PCA baseline (nalgebra).
//! - `metrics`: the paper's recovery error and the mean-image baseline.
//! - `source`: the data of an experiment (any source `abprop train` takes, with categories
//!   where it has them), split into training, test and negative images.
//! - `occlusion`, `reconstruction`: the Experiment 5 and 7 runners.
//! - `plot`: error curves as PNG; `report`: tables, JSON and image panels.
//! - `hiabp`: the HiABP paper's comparison of ABP, persistent ABP, IABP (and HiABP).
//! - `dynamic`: dynamic textures (Experiment 4): the LDS baseline, fitting a checkpoint's
//!   dynamics, sequence statistics.
//!
//! The command line is `cli::eval`; the masks are `data::masks`.

pub mod dynamic;
pub mod hiabp;
pub mod metrics;
pub mod occlusion;
pub mod pca;
pub mod plot;
pub mod reconstruction;
pub mod report;
pub mod sensing;
pub mod source;

use crate::abp::reconstruct::ReconstructOptions;
use crate::abp::run::Log;
use crate::abp::{Hyper, Observation, Trainer};
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::model::spec::Layer;
use crate::model::{presets, Spec};
use anyhow::{bail, Result};
use std::path::Path;

/// Which generator network an evaluation trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Net {
    /// A small network: fc d -> 4x4xC, k5 s2 transposed convolutions halving the channels
    /// down to 1, leaky ReLU (C = 64 for 32x32).
    Quick,
    /// The paper's object network (section 5.3) with one output channel, 64x64 only.
    Paper,
}

/// The network for latent dimension `d` and `size` x `size` grayscale outputs.
pub fn network(net: Net, d: usize, size: usize) -> Result<Spec> {
    match net {
        Net::Paper => {
            if d == 0 {
                bail!("the latent dimension must be positive");
            }
            if size != 64 {
                bail!("the paper network makes 64x64 images; use --size 64 (or --net quick)");
            }
            Ok(presets::object_net(d, 1))
        }
        Net::Quick => presets::object_quick_net(d, size),
    }
}

/// The network in words, e.g. "quick: fc d -> 4x4x64, k5 s2 transposed convolutions 32-16-1".
pub fn describe(net: Net, size: usize) -> String {
    let Ok(spec) = network(net, 1, size) else {
        return format!("{net:?}");
    };
    let mut head = String::new();
    let mut convs = Vec::new();
    for l in &spec.layers {
        match l {
            Layer::Reshape { shape } => head = format!("{}x{}x{}", shape[1], shape[2], shape[0]),
            Layer::ConvTranspose2d { channels, .. } => convs.push(channels.to_string()),
            _ => {}
        }
    }
    let name = match net {
        Net::Quick => "quick",
        Net::Paper => "the paper's object network",
    };
    format!(
        "{name}: fc d -> {head}, k5 s2 transposed convolutions {} to {size}x{size}, batch norm and leaky ReLU",
        convs.join("-")
    )
}

/// What every experiment shares.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Setup {
    /// Images are size x size.
    pub size: usize,
    pub net: Net,
    /// Latent dimension (Experiment 5; 6 and 7 sweep their own).
    pub d: usize,
    pub hyper: Hyper,
    /// Inference of Z for test images with W fixed (from N(0, I)).
    pub infer_steps: usize,
    pub infer_delta: f32,
    /// Examples shown in the image panels.
    pub panel: usize,
    /// Progress lines on stderr.
    #[serde(skip)]
    pub verbose: bool,
}

impl Setup {
    /// Reconstruction options for test images (the model's sigma, the setup's steps).
    pub fn infer(&self, sigma: f32) -> ReconstructOptions<'static> {
        ReconstructOptions {
            steps: self.infer_steps,
            delta: self.infer_delta,
            sigma,
            noise: true,
            sampler: self.hyper.sampler,
            seed: self.hyper.seed,
            batch: self.hyper.batch,
            norm: crate::model::Norm::Batch,
            encoder: None,
            start: None,
        }
    }

    pub fn say(&self, msg: &str) {
        if self.verbose {
            eprintln!("abprop eval: {msg}");
        }
    }
}

/// The first whole number of batches of `data` (what the trainer trains on).
pub fn whole_batches(data: &Dataset, batch: usize) -> Dataset {
    let b = batch.min(data.len()).max(1);
    data.slice(0..data.len() / b * b)
}

/// A trained model and what its training left.
pub struct Trained<'g> {
    pub trainer: Trainer<'g>,
    /// The mean squared error over observed values, per iteration.
    pub errors: Vec<f64>,
    pub seconds: f64,
}

/// Trains `hyper.iterations` iterations with the one training loop, writing `log.jsonl` in
/// `dir` (one line per iteration, with whatever `every` returns merged in), and calling `every`
/// after each iteration.
#[allow(clippy::too_many_arguments)]
pub fn train<'g>(
    gpu: &'g Gpu,
    setup: &Setup,
    spec: &Spec,
    hyper: &Hyper,
    data: &Dataset,
    observation: &Observation,
    dir: &Path,
    mut every: impl FnMut(&Trainer<'g>) -> Result<Option<serde_json::Value>>,
) -> Result<Trained<'g>> {
    let mut log = Log::open(dir, true)?;
    let mut t = Trainer::new(gpu, spec, hyper, data, observation, None)?;
    let mut errors = Vec::new();
    let mut seconds = 0.0;
    t.train(|t, step| {
        errors.push(step.mse);
        seconds = step.seconds;
        log.write(step, every(t)?)?;
        let it = step.iteration;
        if it % 10 == 0 || it == hyper.iterations {
            setup.say(&format!(
                "  iteration {it}/{}: mse {:.5} ({:.0} s)",
                hyper.iterations, step.mse, step.seconds
            ));
        }
        Ok(())
    })?;
    Ok(Trained {
        trainer: t,
        errors,
        seconds,
    })
}

/// f(Z_i; W) of every training example, [n, c, h, w].
pub fn recovered(t: &Trainer) -> Result<Vec<f32>> {
    let mut v = Vec::new();
    for b in 0..t.n / t.gen.batch {
        v.extend(t.reconstructions(b)?);
    }
    Ok(v)
}
