//! Using a learned model: synthesize (Z ~ N(0, I) or given Z), the d = 2 panel of the paper's
//! Figure 5, interpolation between inferred Z (Figure 6), and writing the results.

use crate::gpu::Gpu;
use crate::io::checkpoint::{Checkpoint, HostTensor};
use crate::io::media;
use crate::io::samples::Layout;
use crate::model::{Generator, HostParams, Norm, Shape, Spec};
use crate::ops::philox;
use crate::seed::{Seed, Stream};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    let x = &spec.range().media(x)[..];
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

/// `--shard K/N`: the K-th of N contiguous slices of a run, cut at chunk boundaries so that the
/// shards' files together are exactly one run's. `index` counts from 0 (K - 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Shard> {
        if s.trim() == "auto" {
            return Shard::from_slurm(|k| std::env::var(k).ok());
        }
        let (k, n) = s
            .split_once('/')
            .with_context(|| format!("--shard {s:?}: expected K/N (e.g. 2/8) or auto"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .with_context(|| format!("--shard {s:?}: {v:?} is not a whole number"))
        };
        let (k, n) = (parse(k)?, parse(n)?);
        if n == 0 || k == 0 || k > n {
            bail!("--shard {s}: K must be 1 to N (shard {k} of {n} does not exist)");
        }
        Ok(Shard { index: k - 1, count: n })
    }
}

impl Shard {
    /// The whole run.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// A Slurm job array's task: SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of
    /// SLURM_ARRAY_TASK_COUNT (`--array=0-7` and `--array=1-8` both give shards 1/8 .. 8/8).
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Shard> {
        let get = |k: &str| -> Result<usize> {
            let v = var(k).with_context(|| format!("--shard auto: {k} is not set (not a Slurm job array task?)"))?;
            v.trim()
                .parse()
                .with_context(|| format!("--shard auto: {k}={v:?} is not a whole number"))
        };
        let (id, count) = (get("SLURM_ARRAY_TASK_ID")?, get("SLURM_ARRAY_TASK_COUNT")?);
        let min = if var("SLURM_ARRAY_TASK_MIN").is_some() {
            get("SLURM_ARRAY_TASK_MIN")?
        } else {
            0
        };
        if count == 0 || id < min || id - min >= count {
            bail!("--shard auto: task {id} (first {min}) is not one of {count} tasks");
        }
        Ok(Shard { index: id - min, count })
    }

    /// This shard's samples of a run of `total` rendered in chunks of `chunk`.
    pub fn range(self, total: usize, chunk: usize) -> std::ops::Range<usize> {
        let chunks = total.div_ceil(chunk.max(1));
        let cut = |k: usize| (k * chunks / self.count * chunk).min(total);
        cut(self.index)..cut(self.index + 1)
    }

    fn is_all(self) -> bool {
        self.count == 1
    }
}

/// A synthesis run: samples `range` of a run of `total` with `seed`, written as `layout` says
/// into `out`.
pub struct Job {
    pub out: PathBuf,
    pub total: usize,
    pub shard: Shard,
    pub seed: Seed,
    pub layout: Layout,
    /// Skip chunks whose files are all there already.
    pub resume: bool,
    /// A grid of the first samples (images only).
    pub grid: bool,
    pub progress: bool,
}

/// What a run did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct JobStats {
    pub samples: usize,
    /// Samples already written (skipped by `--resume`).
    pub skipped: usize,
    pub seconds: f64,
    /// Drawing Z and rendering, with the read-back.
    pub render_seconds: f64,
    /// Encoding and writing the files (on a thread of its own, beside the rendering).
    pub write_seconds: f64,
    pub bytes: u64,
}

/// Samples in the grid of a run.
const GRID: usize = 64;

/// Renders and writes a run chunk by chunk: chunk k + 1 is rendered while chunk k is written
/// (one chunk in flight, so memory stays bounded for any count).
pub fn run_job(gpu: &Gpu, renderer: &Renderer, job: &Job) -> Result<JobStats> {
    let t0 = std::time::Instant::now();
    std::fs::create_dir_all(&job.out).with_context(|| format!("cannot create {}", job.out.display()))?;
    if job.resume {
        // A killed run may have left the temporary files of its atomic writes.
        for e in std::fs::read_dir(&job.out)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let chunk = renderer.chunk();
    let range = job.shard.range(job.total, chunk);
    let layout = &job.layout;
    let per: usize = layout.shape.iter().product();
    let bar = if job.progress {
        let b = indicatif::ProgressBar::new(range.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} samples, {per_sec}, {elapsed} elapsed, {eta} left",
            )
            .expect("a valid progress template"),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut stats = JobStats::default();
    let mut listed = Vec::new();
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<f32>, Vec<f32>)>(1);
    let written = std::thread::scope(|s| -> Result<(f64, u64, Vec<f32>)> {
        let writer = s.spawn(move || -> Result<(f64, u64, Vec<f32>)> {
            let (mut secs, mut bytes, mut grid) = (0.0, 0u64, Vec::new());
            for (first, x, z) in rx {
                let t = std::time::Instant::now();
                bytes += layout.write(&job.out, first, &x, &z)?;
                secs += t.elapsed().as_secs_f64();
                let room = (GRID * per).saturating_sub(grid.len());
                if job.grid && first < GRID {
                    grid.extend_from_slice(&x[..room.min(x.len())]);
                }
            }
            Ok((secs, bytes, grid))
        });
        let mut first = range.start;
        while first < range.end {
            let n = (range.end - first).min(chunk);
            listed.push((first, n));
            if job.resume && layout.files(&job.out, first, n).iter().all(|f| f.exists()) {
                stats.skipped += n;
            } else {
                let t = std::time::Instant::now();
                let z = sample_z_range(gpu, layout.latent, first, n, job.seed)?;
                let x = renderer.render_chunk(gpu, &z)?;
                stats.render_seconds += t.elapsed().as_secs_f64();
                if tx.send((first, x, z)).is_err() {
                    break; // the writer stopped: its error is below.
                }
                stats.samples += n;
            }
            bar.inc(n as u64);
            first += n;
        }
        drop(tx);
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?
    })?;
    bar.finish_and_clear();
    let (write_seconds, bytes, grid) = written;
    stats.write_seconds = write_seconds;
    stats.bytes = bytes;
    if job.grid && !grid.is_empty() && layout.rate.is_none() {
        let [c, h, w] = layout.shape;
        let n = grid.len() / per;
        let grid: Vec<f32> = if layout.unit_range {
            grid.iter().map(|v| 2.0 * v - 1.0).collect()
        } else {
            grid
        };
        media::write_grid(
            &job.out.join("grid.png"),
            &grid,
            n,
            c,
            h,
            w,
            (n as f64).sqrt().ceil() as usize,
        )?;
    }
    let index = serde_json::json!({
        "total": job.total,
        "shard": [job.shard.index + 1, job.shard.count],
        "first": range.start,
        "end": range.end,
        "chunk": chunk,
        "seed": job.seed,
        "format": layout.format,
        "chunks": listed.iter().map(|&(first, n)| serde_json::json!({
            "first": first,
            "count": n,
            "files": layout.files(&job.out, first, n).iter().map(|f| f.file_name().map(|s| s.to_string_lossy().into_owned())).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let name = if job.shard.is_all() {
        "index.json".to_string()
    } else {
        format!("index-{}-of-{}.json", job.shard.index + 1, job.shard.count)
    };
    crate::io::checkpoint::write_atomic(&job.out.join(name), serde_json::to_string_pretty(&index)?.as_bytes())?;
    stats.seconds = t0.elapsed().as_secs_f64();
    Ok(stats)
}
