//! `abprop dynamics fit`: the latent dynamics of a model trained on the frames of a clip
//! (A and Q of Z_{t+1} = A Z_t + eta on its frames' states, in time order) and the LDS baseline with
//! the same d, stored in its checkpoint.

use crate::abp::checkpoint::{spec_from, FILE};
use crate::abp::dynamics::{Dynamics, Linear};
use crate::data::video::ClipArgs;
use crate::data::{video, LoadOptions};
use crate::io::checkpoint::Checkpoint;
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DynamicsCmd {
    /// Fit A and Q on the states of a checkpoint's frames (in time order) and the LDS baseline
    /// on the frames, and store them in the checkpoint.
    Fit(FitArgs),
}

#[derive(Args)]
pub struct FitArgs {
    /// The checkpoint (or a run folder holding checkpoint.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Scale A (and the LDS's A) to spectral radius 0.99 when larger, so that synthesized
    /// sequences do not diverge (recorded in the checkpoint).
    #[arg(long)]
    pub stabilize: bool,
    /// The training frames, if not the clip recorded in the checkpoint (with --frames,
    /// --every, --start and --resize as in training).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Resize the frames given with --data to the model's size.
    #[arg(long)]
    pub resize: bool,
    #[command(flatten)]
    pub clip: ClipArgs,
    #[command(flatten)]
    pub states: crate::abp::dynamics::StateArgs,
}

/// Lines describing fitted dynamics, with the warnings of diverging ones.
pub fn describe(d: &Dynamics) -> String {
    let line = |what: &str, l: &Linear| {
        let i = &l.info;
        let mut s = format!(
            "{what}: d = {}, {} states: relative residual {:.4}, A's spectral radius {:.4}",
            i.d, i.states, i.residual, i.radius
        );
        if let Some(f) = i.inferred {
            let delta = f.delta.map_or("the model's D".to_string(), |d| d.to_string());
            s += &format!(" (states inferred by {} noiseless steps of {delta})", f.steps);
        }
        if i.stabilized {
            s += &format!(" (stabilized from {:.4})", i.fitted_radius);
        }
        if let Some(w) = l.warning(what) {
            s += &format!("\nabprop: warning: {w}");
        }
        s
    };
    let mut s = line("ABP dynamics", &d.abp);
    if let Some(l) = &d.lds {
        s += "\n";
        s += &line("LDS baseline", &l.dynamics);
    }
    s
}

pub fn run(cmd: DynamicsCmd) -> Result<()> {
    match cmd {
        DynamicsCmd::Fit(a) => {
            let path = if a.model.is_dir() {
                a.model.join(FILE)
            } else {
                a.model.clone()
            };
            let states = a.states.states()?;
            let frames = match &a.data {
                Some(p) => {
                    let (spec, _) = spec_from(&Checkpoint::load(&path)?)?;
                    let opt = LoadOptions {
                        shape: spec.output()?,
                        resize: a.resize,
                        resample: false,
                        rate: 0,
                        limit: None,
                    };
                    let mut f = video::load(p, &opt, &a.clip.select())?;
                    spec.range().data(&mut f.values);
                    Some(f)
                }
                None => None,
            };
            let gpu = crate::gpu::Gpu::new()?;
            let d = crate::eval::dynamic::fit_checkpoint(&gpu, &path, frames.as_ref(), states, a.stabilize)?;
            eprintln!("abprop: {}", describe(&d));
            eprintln!("abprop: stored in {}", path.display());
            Ok(())
        }
    }
}
