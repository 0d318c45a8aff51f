//! `abprop reconstruct`: Z inferred for new data with W fixed (the paper's Experiment 7), the
//! reconstructions, the originals and `errors.json`.

use crate::abp::config::SamplerArgs;
use crate::abp::reconstruct::{reconstruct, ReconstructOptions};
use crate::abp::synthesis::{self, BnMode};
use crate::abp::{Model, Observation, Sampler};
use crate::data::{self, LoadOptions};
use crate::gpu::Gpu;
use crate::model::presets::SOUND_RATE;
use crate::seed::Seed;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Start {
    Prior,
    Encoder,
}

#[derive(Args)]
pub struct ReconArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    /// Batch norms on the checkpoint's population statistics (each example's Z inferred as if
    /// alone, PyTorch's eval mode), or on each batch's (the paper's release).
    #[arg(long, value_enum, default_value_t = BnMode::Population)]
    pub bn: BnMode,
    #[arg(long)]
    pub out: PathBuf,
    /// Langevin steps (HMC transitions with --sampler hmc).
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// Langevin step size (the leapfrog step with --sampler hmc).
    #[arg(long, default_value_t = 0.05)]
    pub delta: f32,
    #[command(flatten)]
    pub sampler: SamplerArgs,
    #[arg(long = "no-noise")]
    pub no_noise: bool,
    #[arg(long)]
    pub resize: bool,
    #[arg(long)]
    pub resample: bool,
    #[arg(long)]
    pub limit: Option<usize>,
    /// Where each chain starts: Z ~ N(0, I), or the encoder's mean mu(Y) of a model trained
    /// with `--init encoder` (`--steps 0`: the encoder alone, [E]; else [E+L]).
    #[arg(long, value_enum, default_value_t = Start::Prior)]
    pub init: Start,
    /// Random seed of the initial Z and the Langevin noise (all 64 bits are used).
    #[arg(long, default_value_t = Seed(1))]
    pub seed: Seed,
}

pub fn run(a: ReconArgs) -> Result<()> {
    let mut m = Model::load(&a.model)?;
    if a.init == Start::Encoder && m.encoder.is_none() {
        anyhow::bail!(
            "{} has no encoder: --init encoder needs a model trained with --init encoder",
            a.model.display()
        );
    }
    let mut data = data::load(
        &a.data,
        &LoadOptions {
            shape: m.spec.output()?,
            resize: a.resize,
            resample: a.resample,
            rate: m.rate.unwrap_or(SOUND_RATE),
            limit: a.limit,
        },
    )?;
    let range = m.spec.range();
    range.data(&mut data.values);
    let sampler = a.sampler.resolve(Sampler::Langevin)?;
    if a.no_noise && sampler != Sampler::Langevin {
        anyhow::bail!("--no-noise is for Langevin dynamics: HMC always draws its momenta");
    }
    let gpu = Gpu::new()?;
    m.norm(&gpu, a.bn)?;
    let (spec, params, rate, sigma) = (&m.spec, &m.params, m.rate, m.hyper.sigma);
    let o = ReconstructOptions {
        steps: a.steps,
        delta: a.delta,
        sigma,
        noise: !a.no_noise,
        sampler,
        seed: a.seed,
        batch: 100,
        encoder: match a.init {
            Start::Encoder => m.encoder.as_ref(),
            Start::Prior => None,
        },
        start: None,
        norm: m.measured_norm(a.bn)?,
    };
    let r = reconstruct(&gpu, spec, params, &data, &Observation::Full, &o)?;
    let n = data.len();
    let cols = (n.min(64) as f64).sqrt().ceil() as usize;
    synthesis::write_outputs(&a.out, spec, rate, &r.outputs, &r.z, n, cols, false)?;
    let [c, h, w] = data.shape;
    if rate.is_none() {
        let originals = range.media(&data.values);
        crate::io::media::write_grid(&a.out.join("original.png"), &originals, n.min(64), c, h, w, cols)?;
    }
    r.write_errors(&a.out.join("errors.json"), &data.names, &o)?;
    println!(
        "reconstructed {n} examples: mean squared error {:.5} (values in {})",
        r.mean_mse(),
        if range == crate::model::Range::Unit {
            "[0, 1]"
        } else {
            "[-1, 1]"
        }
    );
    if let Some(acc) = r.acceptance {
        println!("HMC acceptance rate {acc:.3}");
    }
    Ok(())
}
