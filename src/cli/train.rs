//! `abprop train`: learn a generator from data (a preset or a spec, or resume a run).

use crate::abp::run::{Network, Plan};
use crate::abp::{Observation, Overrides, TrainOptions, Trainer};
use crate::data::video::{self, ClipArgs};
use crate::data::{self, LoadOptions};
use crate::gpu::Gpu;
use crate::model::presets::SOUND_RATE;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    /// An image, a folder of images, an IDX file (.gz or not), a WAV file or a folder of WAVs.
    pub data: Option<PathBuf>,
    /// A built-in network with the paper's hyperparameters (see `abprop presets`).
    #[arg(long)]
    pub preset: Option<String>,
    /// A JSON model spec instead of a preset's network.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Output folder (default runs/<preset>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run whose checkpoint is in the output folder, exactly (its network and
    /// settings; --preset/--spec may be left out, and must be the run's own if given).
    #[arg(long)]
    pub resume: bool,
    /// Resize images to the model's size.
    #[arg(long)]
    pub resize: bool,
    /// Resample sound at another rate to the model's.
    #[arg(long)]
    pub resample: bool,
    /// Output channels of the network's last layer (1 gray, 3 RGB); default from the preset.
    #[arg(long)]
    pub channels: Option<usize>,
    /// At most this many training examples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Write the checkpoint every N iterations.
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: usize,
    /// Write snapshots every N iterations (0: at the end only).
    #[arg(long, default_value_t = 100)]
    pub snapshot_every: usize,
    /// Learn from occluded images only: P.5, P.7, P.9 (3x3 salt-and-pepper blocks over that
    /// fraction) or M20, M30 (one square per image); one mask per image, drawn from --seed.
    #[arg(long, value_name = "SPEC")]
    pub occlude: Option<String>,
    /// With --occlude: test images, occluded the same way, whose Z is inferred from the visible
    /// pixels after training (300 Langevin steps of 0.05) to report their recovery error (T3).
    #[arg(long, value_name = "PATH", requires = "occlude")]
    pub test_data: Option<PathBuf>,
    #[command(flatten)]
    pub clip: ClipArgs,
    #[command(flatten)]
    pub hp: Overrides,
}

pub fn run(a: TrainArgs) -> Result<()> {
    if let Some(o) = &a.occlude {
        crate::data::masks::Occlusion::parse(o)?;
    }
    let data_path = a
        .data
        .clone()
        .context("no training data given: abprop train --preset NAME PATH")?;
    let network = match (&a.preset, &a.spec) {
        (Some(p), None) => Some(Network::Preset(p.clone())),
        (None, Some(f)) => Some(Network::Spec(f.clone())),
        (Some(_), Some(_)) => bail!("give either --preset or --spec, not both"),
        (None, None) => None,
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(a.preset.as_deref().unwrap_or("custom")));
    let plan = Plan::new(&out, network.as_ref(), a.channels, a.resume, &a.hp)?;
    let hyper = &plan.hyper;
    let options = || -> Result<LoadOptions> {
        Ok(LoadOptions {
            shape: plan.spec.output()?,
            resize: a.resize,
            resample: a.resample,
            rate: plan.rate.unwrap_or(SOUND_RATE),
            limit: a.limit,
        })
    };
    let load = |path: &PathBuf, resample: bool| data::load(path, &LoadOptions { resample, ..options()? });
    // A frame sequence: a clip by its name, frames asked for, or a folder for a dynamic preset.
    let dynamic = plan.preset.as_deref().is_some_and(crate::abp::config::is_dynamic);
    let sequence = video::is_video(&data_path) || a.clip.given() || (dynamic && data_path.is_dir());
    let data = if sequence {
        video::load(&data_path, &options()?, &a.clip.select())?
    } else {
        load(&data_path, a.resample)?
    };
    let mut data = data;
    plan.spec.range().data(&mut data.values);
    let occluded = (a.occlude.as_deref())
        .map(|o| crate::data::masks::occlude_training(&data, o, hyper.seed))
        .transpose()?;
    let (seen, observation) = match &occluded {
        Some((d, m)) => (d, Observation::Mask(m.clone())),
        None => (&data, Observation::Full),
    };
    let gpu = Gpu::new()?;
    let resume = plan.resume.as_ref().map(|r| &r.checkpoint);
    let mut t = Trainer::new(&gpu, &plan.spec, hyper, seen, &observation, resume)?;
    t.preset = plan.preset.clone();
    if sequence {
        let clip = video::Clip {
            path: data_path.clone(),
            select: a.clip.select(),
            resize: a.resize,
            frames: t.n,
        };
        t.metadata.insert("sequence".into(), serde_json::to_string(&clip)?);
    }
    eprintln!(
        "abprop: training {} examples of {:?} on {} for {} iterations ({}, L={}, D={}, s={}); writing to {}",
        t.n,
        data.shape,
        gpu.info.name,
        hyper.iterations,
        match hyper.sampler {
            crate::abp::Sampler::Langevin => "Langevin".to_string(),
            crate::abp::Sampler::Hmc { leapfrog } => format!("HMC with {leapfrog} leapfrog steps"),
        },
        hyper.langevin_steps,
        hyper.delta,
        hyper.sigma,
        out.display()
    );
    t.run(&TrainOptions {
        out: out.clone(),
        checkpoint_every: a.checkpoint_every,
        snapshot_every: a.snapshot_every,
        progress: std::io::stderr().is_terminal(),
    })?;
    if let (Some((observed, m)), Some(o)) = (&occluded, &a.occlude) {
        let test = a.test_data.as_ref().map(|p| load(p, false)).transpose()?;
        crate::eval::occlusion::report_training(&gpu, &t, &data, observed, m, o, test.as_ref(), &out)?;
    }
    if sequence && dynamic {
        let ckpt = out.join(crate::abp::checkpoint::FILE);
        let states = crate::abp::dynamics::States::Inferred(Default::default());
        let d = crate::eval::dynamic::fit_checkpoint(&gpu, &ckpt, Some(&data), states, false)?;
        eprintln!("abprop: {}", super::dynamics::describe(&d));
    }
    if let Some(a) = t.last_acceptance {
        eprintln!("abprop: HMC acceptance rate of the last iteration {a:.3}");
    }
    eprintln!(
        "abprop: done; final mean squared error {:.5}; checkpoint {}",
        t.last_error.unwrap_or(f64::NAN),
        out.join(crate::abp::checkpoint::FILE).display()
    );
    Ok(())
}
