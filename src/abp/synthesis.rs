//! Using a learned model: synthesize (Z ~ N(0, I) or given Z), the d = 2 panel of the paper's
//! Figure 5, interpolation between inferred Z (Figure 6), and writing the results.

use crate::gpu::Gpu;
use crate::io::checkpoint::{Checkpoint, HostTensor};
use crate::io::media;
use crate::model::{Generator, HostParams, Shape, Spec};
use crate::ops::philox;
use crate::seed::{Seed, Stream};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Largest batch rendered at once.
const CHUNK: usize = 256;

/// f(Z; W) for `count` latent vectors of shape `spec.latent` (batch-norm statistics of each
/// rendered batch, as in training). Returns [count, c, h, w].
pub fn render(gpu: &Gpu, spec: &Spec, params: &HostParams, z: &[f32], count: usize) -> Result<Vec<f32>> {
    let d = spec.latent_dim();
    if z.len() != count * d {
        bail!("{} latent values given for {count} examples of {d}", z.len());
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < count {
        let b = (count - start).min(CHUNK);
        let gen = Generator::new(gpu, spec, b, params)?;
        gpu.write(gen.latent(), &z[start * d..(start + b) * d])?;
        gpu.run(&gen.forward_seq())?;
        out.extend(gpu.read::<f32>(gen.output())?);
        start += b;
    }
    Ok(out)
}

/// `count` latent vectors ~ N(0, I) of shape `latent`, from `seed` (Philox on the GPU).
pub fn sample_z(gpu: &Gpu, latent: Shape, count: usize, seed: impl Into<Seed>) -> Result<Vec<f32>> {
    let t = gpu.zeros("z", &[count, latent[0], latent[1], latent[2]])?;
    let op = philox::normal(gpu, &t, seed.into().key(Stream::Synthesize), 0)?;
    gpu.run(&op.seq())?;
    gpu.read(&t)
}

/// The n x n panel over [-r, r]^2 of a two-factor model (paper Figure 5), row by row.
pub fn panel_z(n: usize, r: f32) -> Vec<f32> {
    let at = |k: usize| {
        if n == 1 {
            0.0
        } else {
            -r + 2.0 * r * k as f32 / (n - 1) as f32
        }
    };
    (0..n).flat_map(|i| (0..n).flat_map(move |j| [at(j), -at(i)])).collect()
}

/// Spherical interpolation from a to b at t in [0, 1] (linear when they are parallel).
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let na = a.iter().map(|v| v * v).sum::<f32>().sqrt();
    let nb = b.iter().map(|v| v * v).sum::<f32>().sqrt();
    let cos = (a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (na * nb).max(1e-12)).clamp(-1.0, 1.0);
    let omega = cos.acos();
    if omega.abs() < 1e-4 {
        return lerp(a, b, t);
    }
    let (sa, sb) = (((1.0 - t) * omega).sin() / omega.sin(), (t * omega).sin() / omega.sin());
    a.iter().zip(b).map(|(x, y)| sa * x + sb * y).collect()
}

pub fn lerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| (1.0 - t) * x + t * y).collect()
}

/// The n x n four-corner panel of the paper's Figure 6: slerp along the left and right edges,
/// then along each row.
pub fn corners_z(c: [&[f32]; 4], n: usize) -> Vec<f32> {
    let t = |k: usize| if n == 1 { 0.0 } else { k as f32 / (n - 1) as f32 };
    let mut out = Vec::new();
    for i in 0..n {
        let left = slerp(c[0], c[2], t(i));
        let right = slerp(c[1], c[3], t(i));
        for j in 0..n {
            out.extend(slerp(&left, &right, t(j)));
        }
    }
    out
}

/// Writes each output (PNG or WAV), a grid (or waveform) and `latents.safetensors` (tensor `z`).
#[allow(clippy::too_many_arguments)]
pub fn write_outputs(
    dir: &Path,
    spec: &Spec,
    rate: Option<u32>,
    x: &[f32],
    z: &[f32],
    count: usize,
    cols: usize,
    each: bool,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let [c, h, w] = spec.output()?;
    let per = c * h * w;
    if let Some(rate) = rate {
        for k in 0..count {
            media::write_wav(&dir.join(format!("{k:04}.wav")), &x[k * per..(k + 1) * per], rate)?;
        }
        media::write_waveform(&dir.join("waveform.png"), &x[..per], 1000, 200)?;
    } else {
        if each {
            for k in 0..count {
                media::write_png(&dir.join(format!("{k:04}.png")), &x[k * per..(k + 1) * per], c, h, w)?;
            }
        }
        media::write_grid(&dir.join("grid.png"), x, count, c, h, w, cols)?;
    }
    let l = spec.latent;
    let mut tensors = BTreeMap::new();
    tensors.insert(
        "z".to_string(),
        HostTensor::F32(vec![count, l[0], l[1], l[2]], z.to_vec()),
    );
    Checkpoint {
        tensors,
        metadata: Default::default(),
    }
    .save(&dir.join("latents.safetensors"))
}

/// Reads the `z` of a latents file, checked against the model's latent shape.
pub fn read_latents(path: &Path, latent: Shape) -> Result<(Vec<f32>, usize)> {
    let c = Checkpoint::load(path)?;
    let t = c.get("z").with_context(|| format!("{}", path.display()))?;
    let s = t.shape();
    if s.len() != 4 || s[1..] != latent[..] {
        bail!(
            "{}: z has shape {:?} but the model takes [n, {}, {}, {}]",
            path.display(),
            s,
            latent[0],
            latent[1],
            latent[2]
        );
    }
    Ok((t.f32()?.to_vec(), s[0]))
}
