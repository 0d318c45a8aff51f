//! `abprop interpolate`: the inferred Z of training examples interpolated (paper Figure 6).

use crate::abp::synthesis::{self, BnMode};
use crate::abp::Model;
use crate::gpu::Gpu;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct InterpArgs {
    #[arg(long)]
    pub model: PathBuf,
    /// Batch norms on the checkpoint's population statistics (each output depends on its own
    /// Z alone, as PyTorch's eval mode), or on each rendered batch's (the paper's release).
    #[arg(long, value_enum, default_value_t = BnMode::Population)]
    pub bn: BnMode,
    #[arg(long)]
    pub out: PathBuf,
    /// Training examples: four (corners of the panel, paper Figure 6) or two (a line).
    #[arg(long, value_delimiter = ',', default_values_t = vec![0usize, 1, 2, 3])]
    pub examples: Vec<usize>,
    /// Points per side.
    #[arg(long, default_value_t = 8)]
    pub steps: usize,
    /// Linear instead of spherical interpolation.
    #[arg(long)]
    pub linear: bool,
}

pub fn run(a: InterpArgs) -> Result<()> {
    let mut m = Model::load(&a.model)?;
    let zs: Vec<Vec<f32>> = a.examples.iter().map(|&i| m.example_z(i)).collect::<Result<_>>()?;
    let n = a.steps.max(2);
    let (z, count, cols) = match zs.len() {
        4 if !a.linear => (synthesis::corners_z([&zs[0], &zs[1], &zs[2], &zs[3]], n), n * n, n),
        2 => {
            let f = if a.linear { synthesis::lerp } else { synthesis::slerp };
            let t = |k: usize| k as f32 / (n - 1) as f32;
            ((0..n).flat_map(|k| f(&zs[0], &zs[1], t(k))).collect(), n, n)
        }
        _ => bail!("--examples takes four examples (a spherical panel) or two (a line)"),
    };
    let gpu = Gpu::new()?;
    m.norm(&gpu, a.bn)?;
    let x = synthesis::render(&gpu, &m.spec, &m.params, m.measured_norm(a.bn)?, &z, count)?;
    synthesis::write_outputs(&a.out, &m.spec, m.rate, &x, &z, count, cols, false)?;
    eprintln!(
        "abprop: wrote the interpolation of examples {:?} to {}",
        a.examples,
        a.out.display()
    );
    Ok(())
}
