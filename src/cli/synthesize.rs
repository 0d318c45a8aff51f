//! `abprop synthesize`: f(Z; W) for Z ~ N(0, I), for given Z, or over the d = 2 panel.

use crate::abp::synthesis::{self, BnMode};
use crate::abp::Model;
use crate::gpu::Gpu;
use crate::model::Spec;
use crate::seed::Seed;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct SynthArgs {
    #[arg(long)]
    pub model: PathBuf,
    /// Batch norms on the checkpoint's population statistics (each output depends on its own
    /// Z alone, as PyTorch's eval mode), or on each rendered batch's (the paper's release).
    #[arg(long, value_enum, default_value_t = BnMode::Population)]
    pub bn: BnMode,
    #[arg(long)]
    pub out: PathBuf,
    /// Samples to render.
    #[arg(long, default_value_t = 16)]
    pub count: usize,
    /// Random seed of the latent factors (all 64 bits are used).
    #[arg(long, default_value_t = Seed(1))]
    pub seed: Seed,
    /// Render these latent factors (a safetensors file with tensor `z`) instead of sampling.
    #[arg(long)]
    pub latents: Option<PathBuf>,
    /// Latent size for fully convolutional models: HxW (e.g. 14x14) or a length for sound.
    #[arg(long)]
    pub latent: Option<String>,
    /// The NxN panel over [-2, 2]^2 of a two-factor model (paper Figure 5).
    #[arg(long)]
    pub grid: Option<usize>,
}

/// The latent shape `--latent` asks for: HxW for images, a length (or 1xT) for sound.
pub fn parse_latent(s: &str, spec: &Spec) -> Result<[usize; 3]> {
    let parts: Vec<usize> = s
        .split(['x', 'X'])
        .map(|p| p.trim().parse())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--latent {s:?}: expected HxW or a length"))?;
    Ok(match parts.as_slice() {
        [t] if spec.latent[1] == 1 => [spec.latent[0], 1, *t],
        [1, t] if spec.latent[1] == 1 => [spec.latent[0], 1, *t],
        [h, w] => [spec.latent[0], *h, *w],
        _ => bail!("--latent {s:?}: expected HxW (images) or a length (sound)"),
    })
}

pub fn run(a: SynthArgs) -> Result<()> {
    if a.count == 0 && a.latents.is_none() && a.grid.is_none() {
        bail!("--count 0: give the number of samples to render (1 or more)");
    }
    if a.grid == Some(0) {
        bail!("--grid 0: give the side of the panel (1 or more)");
    }
    let mut m = Model::load(&a.model)?;
    let mut spec = m.spec.clone();
    if let Some(l) = &a.latent {
        spec = spec.with_latent(parse_latent(l, &spec)?)?;
    }
    let gpu = Gpu::new()?;
    let (z, count, cols) = if let Some(f) = &a.latents {
        let (z, n) = synthesis::read_latents(f, spec.latent)?;
        (z, n, (n as f64).sqrt().ceil() as usize)
    } else if let Some(n) = a.grid {
        if spec.latent_dim() != 2 {
            bail!(
                "--grid needs a model with two latent factors; this one has {}",
                spec.latent_dim()
            );
        }
        (synthesis::panel_z(n, 2.0), n * n, n)
    } else {
        (
            synthesis::sample_z(&gpu, spec.latent, a.count, a.seed)?,
            a.count,
            (a.count as f64).sqrt().ceil() as usize,
        )
    };
    let params = m.params.clone();
    let x = synthesis::render(&gpu, &spec, &params, m.norm(&gpu, a.bn)?, &z, count)?;
    synthesis::write_outputs(&a.out, &spec, m.rate, &x, &z, count, cols, a.grid.is_none())?;
    let [c, h, w] = spec.output()?;
    eprintln!("abprop: wrote {count} outputs of {c}x{h}x{w} to {}", a.out.display());
    Ok(())
}
