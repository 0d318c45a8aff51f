//! `abprop presets`: the built-in presets, and their model specs as JSON files.

use crate::abp::{preset, PRESET_NAMES};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct PresetsArgs {
    /// Write each preset's model spec as NAME.json into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: PresetsArgs) -> Result<()> {
    for name in PRESET_NAMES {
        let p = preset(name)?;
        let o = p.spec.output()?;
        println!(
            "{:<16} out {:?}  L={} D={} s={}  {}",
            p.name, o, p.hyper.langevin_steps, p.hyper.delta, p.hyper.sigma, p.about
        );
        if let Some(dir) = &a.out {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join(format!("{name}.json"));
            std::fs::write(&path, p.spec.to_json()).with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}
