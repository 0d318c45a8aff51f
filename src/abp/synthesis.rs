//! Using a learned model: synthesize (Z ~ N(0, I) or given Z), the d = 2 panel of the paper's
//! Figure 5, interpolation between inferred Z (Figure 6), and writing the results.

use crate::gpu::Gpu;
use crate::io::checkpoint::{Checkpoint, HostTensor};
use crate::io::media;
use crate::model::{Generator, HostParams, Norm, Shape, Spec};
use crate::ops::philox;
use crate::seed::{Seed, Stream};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// How the batch norms normalize when rendering (`--bn`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BnMode {
    /// The population statistics stored in the checkpoint (eval mode): one Z, one output,
    /// whatever else is rendered with it.
    #[default]
    Population,
    /// The statistics of each rendered batch, as in training (the paper's release).
    Batch,
}

/// The most examples rendered at once.
pub const MAX_CHUNK: usize = 256;

/// Examples per rendered batch for `spec`: as many as fit in about 256 MiB of activations,
/// at most [`MAX_CHUNK`]. It depends on the model alone, so every run of a model renders in
/// the same batches.
pub fn chunk_for(spec: &Spec) -> Result<usize> {
    let floats: usize = spec.shapes()?.iter().map(|s| s.iter().product::<usize>()).sum();
    // Activations and their gradients, f32.
    Ok(((256usize << 20) / (floats * 8).max(1)).clamp(1, MAX_CHUNK))
}

/// A generator built once for rendering batches of `chunk` latents.
pub struct Renderer {
    gen: Generator,
    eval: bool,
    d: usize,
    per: usize,
}

impl Renderer {
    /// In eval mode (`Norm::Population`) a short last batch is padded with zeros, so every
    /// latent is rendered by the same kernels; with batch statistics it is rendered alone.
    pub fn new(gpu: &Gpu, spec: &Spec, params: &HostParams, norm: Norm, chunk: usize) -> Result<Renderer> {
        let gen = Generator::with_norm(gpu, spec, chunk.max(1), params, norm)?;
        // Pack the weights once: they never change while rendering.
        gpu.run(&gen.prepare_seq())?;
        let [c, h, w] = spec.output()?;
        Ok(Renderer {
            eval: matches!(norm, Norm::Population(_)),
            d: spec.latent_dim(),
            per: c * h * w,
            gen,
        })
    }

    pub fn chunk(&self) -> usize {
        self.gen.batch
    }

    /// f(Z) of at most `chunk` latents `z`, [b, c, h, w].
    pub fn render_chunk(&self, gpu: &Gpu, z: &[f32]) -> Result<Vec<f32>> {
        let b = z.len() / self.d;
        if b == 0 || b > self.chunk() || z.len() != b * self.d {
            bail!(
                "{} latent values are not 1 to {} latent vectors of {}",
                z.len(),
                self.chunk(),
                self.d
            );
        }
        if b < self.chunk() && !self.eval {
            // Batch statistics: the short batch alone, as it is.
            let gen = Generator::new(gpu, &self.gen.spec, b, &self.gen.read_params(gpu)?)?;
            gpu.write(gen.latent(), z)?;
            gpu.run(&gen.forward_seq())?;
            return gpu.read(gen.output());
        }
        let mut padded = z.to_vec();
        padded.resize(self.chunk() * self.d, 0.0);
        gpu.write(self.gen.latent(), &padded)?;
        gpu.run(&self.gen.forward_prepared_seq())?;
        let mut x: Vec<f32> = gpu.read(self.gen.output())?;
        x.truncate(b * self.per);
        Ok(x)
    }

    /// f(Z) of any number of latents, chunk by chunk, [count, c, h, w].
    pub fn render(&self, gpu: &Gpu, z: &[f32]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(z.len() / self.d * self.per);
        for part in z.chunks(self.chunk() * self.d) {
            out.extend(self.render_chunk(gpu, part)?);
        }
        Ok(out)
    }
}

/// f(Z; W) for `count` latent vectors of shape `spec.latent`, batch norms as `norm` says, in
/// batches of [`chunk_for`] (in eval mode always of that size, padded, so that the kernels,
/// which an adapter may choose by shape, are the same for every latent of every run).
/// Returns [count, c, h, w].
pub fn render(gpu: &Gpu, spec: &Spec, params: &HostParams, norm: Norm, z: &[f32], count: usize) -> Result<Vec<f32>> {
    let d = spec.latent_dim();
    if z.len() != count * d {
        bail!("{} latent values given for {count} examples of {d}", z.len());
    }
    let chunk = match norm {
        Norm::Population(_) => chunk_for(spec)?,
        Norm::Batch => chunk_for(spec)?.min(count.max(1)),
    };
    Renderer::new(gpu, spec, params, norm, chunk)?.render(gpu, z)
}

/// The latent vectors of samples `first .. first + count` of a run with `seed`, of shape
/// `latent`, ~ N(0, I) (Philox on the GPU): sample i's Z depends on (seed, i) alone.
pub fn sample_z_range(gpu: &Gpu, latent: Shape, first: usize, count: usize, seed: impl Into<Seed>) -> Result<Vec<f32>> {
    let d = latent.iter().product::<usize>();
    let t = gpu.zeros("z", &[count, latent[0], latent[1], latent[2]])?;
    let step = gpu.upload::<u32>("step", &[1], &[0])?;
    let offset = u32::try_from(first * d)
        .ok()
        .filter(|o| (*o as u64) + (count * d) as u64 + 8 <= u32::MAX as u64)
        .with_context(|| format!("samples {first} .. {}: more than 2^32 latent values", first + count))?;
    let op = philox::normal_range(gpu, &t, count * d, seed.into().key(Stream::Synthesize), &step, offset)?;
    gpu.run(&op.seq())?;
    gpu.read(&t)
}

/// `count` latent vectors ~ N(0, I) of shape `latent`, from `seed`: samples 0 .. count.
pub fn sample_z(gpu: &Gpu, latent: Shape, count: usize, seed: impl Into<Seed>) -> Result<Vec<f32>> {
    sample_z_range(gpu, latent, 0, count, seed)
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
