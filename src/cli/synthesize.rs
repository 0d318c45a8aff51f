//! `abprop synthesize`: f(Z; W) for Z ~ N(0, I), for given Z, or over the d = 2 panel.

use crate::abp::dynamics::{self, Lds};
use crate::abp::synthesis::{self, BnMode, Shard};
use crate::abp::Model;
use crate::gpu::Gpu;
use crate::io::samples::{Format, Layout};
use crate::model::{Norm, Spec};
use crate::seed::Seed;
use crate::seed::Stream;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Args)]
pub struct SynthArgs {
    /// The checkpoint (or a run folder holding checkpoint.safetensors).
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
    /// The NxN panel over [-2, 2]^2 of a two-factor model (paper Figure 5); with
    /// --vary-level, the side of that panel (default 8).
    #[arg(long)]
    pub grid: Option<usize>,
    /// On a hierarchical (HiABP) model, a panel where each row keeps every level's z but
    /// level L's fixed, and level L's is resampled along the row (the HiABP paper's Figure 7:
    /// which level holds stroke width, digit width, identity). Levels count from 1 at the
    /// bottom.
    #[arg(long, value_name = "L")]
    pub vary_level: Option<usize>,
    /// How samples are written: png (default for images), png16, wav16 (default for sound),
    /// wav32f, or safetensors / npy (one file per chunk of samples, exact float values, with
    /// their Z; index.json lists which samples each file holds).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Render only the K-th of N contiguous slices of the run (e.g. 3/8), or `auto` in a Slurm
    /// job array (SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT): the shards' files together
    /// are the whole run's, bit for bit. Sample i's Z depends on (--seed, i) alone.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Skip the chunks of samples whose files are all written already (a killed run leaves no
    /// partial file under a final name).
    #[arg(long)]
    pub resume: bool,
    /// No grid.png (there is none past 256 samples anyway).
    #[arg(long)]
    pub no_grid: bool,
    /// Render on several adapters at once, one worker each, the samples split between them:
    /// `all`, or indices in abprop's order of preference (0 is the one used by default;
    /// `0,0` makes two devices of one adapter). Results are the same as on one device of the
    /// same kind of adapter.
    #[arg(long, value_name = "all|N,M,...")]
    pub devices: Option<String>,
    /// A sequence of N frames from the fitted latent dynamics (a model trained on a clip,
    /// after `abprop dynamics fit`): frames/*.png, sequence.gif, strip.png, latents.safetensors.
    /// With --latent HxW (a fully convolutional model, H and W multiples of its latent map's)
    /// larger frames: the map is tiled with independent blocks following the dynamics.
    #[arg(long, value_name = "N")]
    pub frames: Option<usize>,
    /// States discarded at the start of a sequence.
    #[arg(long, default_value_t = 15)]
    pub burn_in: usize,
    /// Synthesize with the linear dynamic system baseline instead of the learned generator.
    #[arg(long, value_enum)]
    pub baseline: Option<Baseline>,
    /// Both sequences (abp/ and lds/) and compare.png: ABP above, LDS below, training frames
    /// as a third row.
    #[arg(long)]
    pub compare: bool,
    /// The strip shows every K-th frame (default: ten frames).
    #[arg(long, value_name = "K")]
    pub strip_every: Option<usize>,
    /// Frames per second of sequence.gif.
    #[arg(long, default_value_t = 10)]
    pub fps: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Baseline {
    /// Doretto's linear dynamic system (PCA of the frames, linear dynamics of the coefficients).
    Lds,
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

/// The adapter indices of `--devices`.
fn parse_devices(s: &str) -> Result<Vec<usize>> {
    let n = Gpu::adapter_count();
    let v: Vec<usize> = if s.trim() == "all" {
        (0..n).collect()
    } else {
        s.split(',')
            .map(|p| {
                p.trim()
                    .parse::<usize>()
                    .with_context(|| format!("--devices {s:?}: expected all or indices like 0,1"))
            })
            .collect::<Result<_>>()?
    };
    if v.is_empty() {
        bail!("--devices {s:?}: no adapter to render on");
    }
    if let Some(i) = v.iter().find(|&&i| i >= n) {
        bail!("--devices {s:?}: there is no adapter {i} ({n} usable here; `abprop devices` lists them)");
    }
    Ok(v)
}

/// The Z of an n x n panel varying `level` along each row: row r is sample r of (seed, i)
/// with level `level`'s slice replaced, in column j, by that slice of sample n + r n + j.
pub fn vary_level_z(gpu: &Gpu, spec: &Spec, level: usize, n: usize, seed: Seed) -> Result<Vec<f32>> {
    if spec.levels.is_none() {
        bail!("--vary-level needs a hierarchical model (HiABP: a spec with \"levels\", e.g. the hiabp-mnist presets)");
    }
    let (off, len) = spec.level_slice(level)?;
    let d = spec.latent_dim();
    let rows = synthesis::sample_z_range(gpu, spec.latent, 0, n, seed)?;
    let other = synthesis::sample_z_range(gpu, spec.latent, n, n * n, seed)?;
    let mut z = Vec::with_capacity(n * n * d);
    for r in 0..n {
        for j in 0..n {
            let mut v = rows[r * d..(r + 1) * d].to_vec();
            let k = (r * n + j) * d;
            v[off..off + len].copy_from_slice(&other[k + off..k + off + len]);
            z.extend(v);
        }
    }
    Ok(z)
}

/// Samples past which no grid is made unless asked for.
const GRID_LIMIT: usize = 256;

pub fn run(a: SynthArgs) -> Result<()> {
    if a.count == 0 && a.latents.is_none() && a.grid.is_none() {
        bail!("--count 0: give the number of samples to render (1 or more)");
    }
    if a.grid == Some(0) {
        bail!("--grid 0: give the side of the panel (1 or more)");
    }
    let mut m = if a.model.is_dir() {
        Model::load(&a.model.join(crate::abp::checkpoint::FILE))?
    } else {
        Model::load(&a.model)?
    };
    if a.frames.is_some() || a.compare || a.baseline.is_some() {
        return sequence(&a, &mut m);
    }
    let mut spec = m.spec.clone();
    if let Some(l) = &a.latent {
        spec = spec.with_latent(parse_latent(l, &spec)?)?;
    }
    let sound = m.rate.is_some();
    let format = a.format.unwrap_or(Format::default_for(sound));
    format.check(sound)?;
    let gpu = Gpu::new()?;
    m.norm(&gpu, a.bn)?;
    let m = &m;
    let (params, norm) = (&m.params, m.measured_norm(a.bn)?);
    let [c, h, w] = spec.output()?;
    if let Some(level) = a.vary_level {
        if a.latents.is_some() || a.shard.is_some() || a.resume || a.format.is_some() {
            bail!("--vary-level makes one panel: leave out --latents, --shard, --resume and --format");
        }
        let n = a.grid.unwrap_or(8);
        let z = vary_level_z(&gpu, &spec, level, n, a.seed)?;
        let x = synthesis::render(&gpu, &spec, params, norm, &z, n * n)?;
        synthesis::write_outputs(&a.out, &spec, m.rate, &x, &z, n * n, n, false)?;
        eprintln!(
            "abprop: wrote a {n}x{n} panel varying level {level} along each row to {}",
            a.out.join("grid.png").display()
        );
        return Ok(());
    }
    if a.latents.is_none() && a.grid.is_none() {
        // Z ~ N(0, I): the batch tool.
        let chunk = match norm {
            Norm::Population(_) => synthesis::chunk_for(&spec)?,
            Norm::Batch => synthesis::chunk_for(&spec)?.min(a.count),
        };
        let shard = a.shard.unwrap_or(synthesis::Shard::ALL);
        let devices = match &a.devices {
            None => vec![None],
            Some(d) => parse_devices(d)?.into_iter().map(Some).collect(),
        };
        let k = devices.len();
        let mut layout = Layout::new(format, [c, h, w], spec.latent, m.rate, a.count);
        layout.one_file = shard == synthesis::Shard::ALL && k == 1 && a.count <= chunk;
        layout.unit_range = spec.range() == crate::model::Range::Unit;
        // Each device renders its own slice of this shard (the shards' slices of k times as
        // many shards): the union is the shard's samples, bit for bit on one kind of adapter.
        let job = |j: usize| synthesis::Job {
            out: a.out.clone(),
            total: a.count,
            shard: synthesis::Shard {
                index: shard.index * k + j,
                count: shard.count * k,
            },
            seed: a.seed,
            layout: layout.clone(),
            resume: a.resume,
            grid: !a.no_grid && a.count <= GRID_LIMIT && !sound,
            progress: k == 1 && std::io::stderr().is_terminal(),
        };
        let t0 = std::time::Instant::now();
        let stats: Vec<synthesis::JobStats> = if k == 1 && devices[0].is_none() {
            let renderer = synthesis::Renderer::new(&gpu, &spec, params, norm, chunk)?;
            vec![synthesis::run_job(&gpu, &renderer, &job(0))?]
        } else {
            std::thread::scope(|s| {
                let workers: Vec<_> = devices
                    .iter()
                    .enumerate()
                    .map(|(j, d)| {
                        let (spec, job) = (&spec, job(j));
                        s.spawn(move || -> Result<synthesis::JobStats> {
                            let g = Gpu::on_adapter(d.expect("a device index"))?;
                            let renderer = synthesis::Renderer::new(&g, spec, params, norm, chunk)?;
                            synthesis::run_job(&g, &renderer, &job)
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| w.join().map_err(|_| anyhow::anyhow!("a device's worker panicked"))?)
                    .collect::<Result<Vec<_>>>()
            })?
        };
        let (done, skipped) = stats.iter().fold((0, 0), |(d, s), st| (d + st.samples, s + st.skipped));
        eprintln!(
            "abprop: wrote {done} samples of {c}x{h}x{w} to {} on {k} device{} ({:.1} samples/s; {skipped} already there)",
            a.out.display(),
            if k == 1 { "" } else { "s" },
            done as f64 / t0.elapsed().as_secs_f64().max(1e-9),
        );
        return Ok(());
    }
    if a.shard.is_some() || a.resume || a.format.is_some() {
        bail!("--shard, --resume and --format are for sampled runs (--count), not --latents or --grid");
    }
    let (z, count, cols) = if let Some(f) = &a.latents {
        let (z, n) = synthesis::read_latents(f, spec.latent)?;
        (z, n, (n as f64).sqrt().ceil() as usize)
    } else {
        let n = a.grid.expect("--grid, as --latents is not given");
        if spec.latent_dim() != 2 {
            bail!(
                "--grid needs a model with two latent factors; this one has {}",
                spec.latent_dim()
            );
        }
        (synthesis::panel_z(n, 2.0), n * n, n)
    };
    let x = synthesis::render(&gpu, &spec, params, norm, &z, count)?;
    synthesis::write_outputs(&a.out, &spec, m.rate, &x, &z, count, cols, a.grid.is_none())?;
    eprintln!("abprop: wrote {count} outputs of {c}x{h}x{w} to {}", a.out.display());
    Ok(())
}

/// ABP's sequence on `spec` (the model's, or one with a larger latent map of a fully
/// convolutional model, tiled with blocks following the fitted dynamics): its states
/// ([n, latent...]) and frames f(Z_t; W) rendered on the GPU.
fn abp_sequence(gpu: &Gpu, m: &Model, spec: &Spec, a: &SynthArgs, n: usize) -> Result<(Vec<f32>, Vec<f64>)> {
    let d = m.dynamics.as_ref().context("the checkpoint holds no fitted dynamics")?;
    if let Some(w) = d.abp.warning("ABP dynamics") {
        eprintln!("abprop: warning: {w}");
    }
    let [ty, tx] = dynamics::tiles_of(m.spec.latent, spec.latent)?;
    let z = d.abp.simulate_tiles(n, a.burn_in, a.seed, Stream::Dynamics, ty * tx)?;
    let z = dynamics::tile_states(&z, m.spec.latent, spec.latent)?;
    let zf: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    let norm = m.measured_norm(a.bn)?;
    Ok((synthesis::render(gpu, spec, &m.params, norm, &zf, n)?, z))
}

/// The LDS baseline's sequence (on the CPU).
fn lds_sequence(l: &Lds, a: &SynthArgs, n: usize) -> Result<(Vec<f32>, Vec<f64>)> {
    if let Some(w) = l.dynamics.warning("LDS baseline") {
        eprintln!("abprop: warning: {w}");
    }
    let x = l.dynamics.simulate(n, a.burn_in, a.seed, Stream::LdsDynamics)?;
    Ok((l.render(&x), x))
}

/// `--frames`, `--baseline lds`, `--compare`: sequences from the fitted dynamics.
fn sequence(a: &SynthArgs, m: &mut Model) -> Result<()> {
    let n = a.frames.unwrap_or(120);
    if n == 0 {
        bail!("--frames 0: give the number of frames to synthesize (1 or more)");
    }
    if a.latents.is_some() || a.grid.is_some() {
        bail!("--frames, --baseline and --compare synthesize from the fitted dynamics: leave out --latents and --grid");
    }
    if a.latent.is_some() && (a.compare || a.baseline.is_some()) {
        bail!("--latent makes larger ABP frames from a fully convolutional model; the LDS baseline makes frames of the training size only: leave out --baseline and --compare");
    }
    // The generator renders the ABP sequences (on the GPU); the LDS baseline needs no GPU.
    let gpu = if a.compare || a.baseline.is_none() {
        let g = Gpu::new()?;
        m.norm(&g, a.bn)?;
        Some(g)
    } else {
        None
    };
    let m: &Model = m;
    let d = m.dynamics.as_ref().with_context(|| {
        format!(
            "{} holds no fitted dynamics: train a dynamic preset on a clip, or run `abprop dynamics fit --model {}`",
            a.model.display(),
            a.model.display()
        )
    })?;
    let spec = match &a.latent {
        Some(l) => m.spec.with_latent(parse_latent(l, &m.spec)?)?,
        None => m.spec.clone(),
    };
    let shape = spec.output()?;
    let strip = dynamics::strip_frames(n, a.strip_every);
    let lds = || {
        d.lds
            .as_ref()
            .context("the checkpoint holds no LDS baseline: refit with `abprop dynamics fit`")
    };
    let latent = spec.latent.to_vec();
    if !a.compare {
        let (x, states, lat) = if a.baseline == Some(Baseline::Lds) {
            let (x, s) = lds_sequence(lds()?, a, n)?;
            (x, s, vec![lds()?.basis.ncols()])
        } else {
            let (x, s) = abp_sequence(gpu.as_ref().expect("a GPU for ABP"), m, &spec, a, n)?;
            (x, s, latent)
        };
        dynamics::write_sequence(&a.out, &x, shape, &states, &lat, &strip, a.fps)?;
        eprintln!(
            "abprop: wrote {n} frames after {} of burn-in to {} (frames/, sequence.gif, strip.png, latents.safetensors)",
            a.burn_in,
            a.out.display()
        );
        return Ok(());
    }
    let l = lds()?;
    let clip = m
        .sequence
        .as_ref()
        .context("the checkpoint records no training clip for the third row of --compare")?;
    let train = clip.load(shape)?;
    let (xa, za) = abp_sequence(gpu.as_ref().expect("a GPU for ABP"), m, &spec, a, n)?;
    let (xl, zl) = lds_sequence(l, a, n)?;
    dynamics::write_sequence(&a.out.join("abp"), &xa, shape, &za, &latent, &strip, a.fps)?;
    dynamics::write_sequence(&a.out.join("lds"), &xl, shape, &zl, &[l.basis.ncols()], &strip, a.fps)?;
    let per = shape.iter().product::<usize>();
    let pick = |x: &[f32], k: usize| x[k * per..(k + 1) * per].to_vec();
    let mut rows = Vec::new();
    for &k in &strip {
        rows.extend(pick(&xa, k));
    }
    for &k in &strip {
        rows.extend(pick(&xl, k));
    }
    for &k in &strip {
        rows.extend(pick(&train.values, k % train.len()));
    }
    let [c, h, w] = shape;
    crate::io::media::write_grid(&a.out.join("compare.png"), &rows, 3 * strip.len(), c, h, w, strip.len())?;
    eprintln!(
        "abprop: wrote {n} frames each of ABP and LDS to {} (abp/, lds/, compare.png: ABP above, LDS below, training frames last)",
        a.out.display()
    );
    Ok(())
}
