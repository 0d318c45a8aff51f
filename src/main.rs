//! The abprop command line. Everything it does is callable from the library.

use abprop::abp::{self, synthesis, Chains, TrainOptions, Trainer};
use abprop::data::{self, LoadOptions};
use abprop::gpu::Gpu;
use abprop::io::checkpoint::Checkpoint;
use abprop::model::Spec;
use abprop::ops::optim::{Clip, Optimizer};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "abprop",
    version,
    about = "Alternating back-propagation for generator networks (Han et al., AAAI 2017), on any GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Learn a generator from data by alternating back-propagation.
    Train(TrainArgs),
    /// Render f(Z; W) for Z ~ N(0, I), for given Z, or over the d = 2 panel.
    Synthesize(SynthArgs),
    /// Interpolate between the inferred Z of training examples (paper Figure 6).
    Interpolate(InterpArgs),
    /// Infer Z for new data with W fixed and write the reconstructions and their errors.
    Reconstruct(ReconArgs),
    /// List the built-in presets, or write their model specs as JSON files.
    Presets {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the GPU adapters wgpu sees and the one abprop would use.
    Devices,
    /// Benchmarks.
    #[command(subcommand)]
    Bench(Bench),
    /// The paper's Experiments 5-7: learning from occluded images or compressed-sensing
    /// projections, and reconstruction of held-out images next to PCA.
    Eval(abprop::eval::cli::EvalArgs),
}

#[derive(Args, Clone)]
struct Hyperparams {
    /// Training iterations.
    #[arg(long)]
    iterations: Option<usize>,
    /// Examples per batch.
    #[arg(long)]
    batch: Option<usize>,
    /// Standard deviation s of the observation noise.
    #[arg(long)]
    sigma: Option<f32>,
    /// Langevin steps L per iteration.
    #[arg(long = "langevin-steps")]
    langevin_steps: Option<usize>,
    /// Langevin step size D.
    #[arg(long)]
    delta: Option<f32>,
    /// Learning rate.
    #[arg(long)]
    lr: Option<f32>,
    /// SGD momentum.
    #[arg(long)]
    momentum: Option<f32>,
    /// Use Adam (beta1 0.5, beta2 0.999) instead of SGD with momentum.
    #[arg(long)]
    adam: bool,
    /// Gradient descent instead of Langevin dynamics (the paper's Algorithm 1).
    #[arg(long = "no-noise")]
    no_noise: bool,
    /// Persistent chains (warm start) or fresh short-run chains from N(0, I).
    #[arg(long, value_enum)]
    chains: Option<Chains>,
    /// Clip each gradient value to [-c, c] (30 in the authors' release; 0 turns clipping off).
    #[arg(long)]
    clip: Option<f32>,
    /// Random seed.
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Args)]
struct TrainArgs {
    /// An image, a folder of images, an IDX file (.gz or not), a WAV file or a folder of WAVs.
    data: Option<PathBuf>,
    /// A built-in network with the paper's hyperparameters (see `abprop presets`).
    #[arg(long)]
    preset: Option<String>,
    /// A JSON model spec instead of a preset's network.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Output folder (default runs/<preset>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run whose checkpoint is in the output folder, exactly.
    #[arg(long)]
    resume: bool,
    /// Resize images to the model's size.
    #[arg(long)]
    resize: bool,
    /// Resample sound at another rate to the model's.
    #[arg(long)]
    resample: bool,
    /// Output channels of the network's last layer (1 gray, 3 RGB); default from the preset.
    #[arg(long)]
    channels: Option<usize>,
    /// At most this many training examples.
    #[arg(long)]
    limit: Option<usize>,
    /// Write the checkpoint every N iterations.
    #[arg(long, default_value_t = 50)]
    checkpoint_every: usize,
    /// Write snapshots every N iterations (0: at the end only).
    #[arg(long, default_value_t = 100)]
    snapshot_every: usize,
    /// Learn from occluded images only: P.5, P.7, P.9 (3x3 salt-and-pepper blocks over that
    /// fraction) or M20, M30 (one square per image); one mask per image, drawn from --seed.
    #[arg(long, value_name = "SPEC")]
    occlude: Option<String>,
    /// With --occlude: test images, occluded the same way, whose Z is inferred from the visible
    /// pixels after training (300 Langevin steps of 0.05) to report their recovery error (T3).
    #[arg(long, value_name = "PATH", requires = "occlude")]
    test_data: Option<PathBuf>,
    #[command(flatten)]
    hp: Hyperparams,
}

#[derive(Args)]
struct SynthArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 16)]
    count: usize,
    #[arg(long, default_value_t = 1)]
    seed: u32,
    /// Render these latent factors (a safetensors file with tensor `z`) instead of sampling.
    #[arg(long)]
    latents: Option<PathBuf>,
    /// Latent size for fully convolutional models: HxW (e.g. 14x14) or a length for sound.
    #[arg(long)]
    latent: Option<String>,
    /// The NxN panel over [-2, 2]^2 of a two-factor model (paper Figure 5).
    #[arg(long)]
    grid: Option<usize>,
}

#[derive(Args)]
struct InterpArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Training examples: four (corners of the panel, paper Figure 6) or two (a line).
    #[arg(long, value_delimiter = ',', default_values_t = vec![0usize, 1, 2, 3])]
    examples: Vec<usize>,
    /// Points per side.
    #[arg(long, default_value_t = 8)]
    steps: usize,
    /// Linear instead of spherical interpolation.
    #[arg(long)]
    linear: bool,
}

#[derive(Args)]
struct ReconArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Langevin steps.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Langevin step size.
    #[arg(long, default_value_t = 0.05)]
    delta: f32,
    #[arg(long = "no-noise")]
    no_noise: bool,
    #[arg(long)]
    resize: bool,
    #[arg(long)]
    resample: bool,
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u32,
}

#[derive(Subcommand)]
enum Bench {
    /// Time each kernel at the paper networks' layer shapes (GFLOP/s, GB/s).
    Kernels {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Only kernels whose name contains this.
        #[arg(long, default_value = "")]
        filter: String,
    },
    /// Time training iterations of a preset on synthetic data.
    Train {
        #[arg(long, default_value = "texture")]
        preset: String,
        #[arg(long, default_value_t = 3)]
        iterations: usize,
        #[arg(long)]
        batch: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Put the JSON lines of several `bench kernels --json` or `bench train --json` runs (one
    /// file each: machines, drivers, builds) side by side, with ratios to the first.
    Compare {
        /// Files of JSON lines; the first is the baseline.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("abprop: error: {e:#}");
        std::process::exit(1);
    }
}

fn apply(h: &mut abp::Hyper, a: &Hyperparams) {
    if let Some(v) = a.iterations {
        h.iterations = v;
    }
    if let Some(v) = a.batch {
        h.batch = v;
    }
    if let Some(v) = a.sigma {
        h.sigma = v;
    }
    if let Some(v) = a.langevin_steps {
        h.langevin_steps = v;
    }
    if let Some(v) = a.delta {
        h.delta = v;
    }
    if a.no_noise {
        h.noise = false;
    }
    if let Some(v) = a.chains {
        h.chains = v;
    }
    if let Some(v) = a.seed {
        h.seed = v;
    }
    if let Some(c) = a.clip {
        h.clip = if c > 0.0 { Clip::Value(c) } else { Clip::None };
    }
    let lr = a.lr.unwrap_or(match h.optimizer {
        Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => lr,
    });
    if a.adam {
        h.optimizer = Optimizer::Adam {
            lr,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
    } else if let Optimizer::Sgd { lr: l, momentum, .. } = &mut h.optimizer {
        *l = lr;
        if let Some(m) = a.momentum {
            *momentum = m;
        }
    }
}

fn parse_latent(s: &str, spec: &Spec) -> Result<[usize; 3]> {
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

fn train(a: TrainArgs) -> Result<()> {
    if let Some(o) = &a.occlude {
        abprop::data::masks::Occlusion::parse(o)?;
    }
    let data_path = a
        .data
        .clone()
        .context("no training data given: abprop train --preset NAME PATH")?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(a.preset.as_deref().unwrap_or("custom")));
    let ckpt_path = out.join("checkpoint.safetensors");
    let resume = if a.resume {
        Some(
            Checkpoint::load(&ckpt_path)
                .with_context(|| format!("--resume: no checkpoint to resume in {}", out.display()))?,
        )
    } else {
        if ckpt_path.exists() {
            bail!(
                "{} already holds a checkpoint: pass --resume to continue it or choose another --out",
                out.display()
            );
        }
        None
    };
    let (mut spec, mut hyper, mut rate) = match (&a.preset, &a.spec) {
        (Some(p), None) => {
            let p = abp::preset(p)?;
            (p.spec, p.hyper, p.rate)
        }
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f).with_context(|| format!("cannot read model spec {}", f.display()))?;
            let spec = Spec::from_json(&text).with_context(|| format!("{}", f.display()))?;
            let base = abp::preset("object")?.hyper;
            let rate = (spec.latent[1] == 1 && spec.output()?[1] == 1).then_some(11025);
            (spec, base, rate)
        }
        (Some(_), Some(_)) => bail!("give either --preset or --spec, not both"),
        (None, None) => bail!("give a network: --preset NAME (see `abprop presets`) or --spec FILE.json"),
    };
    if let Some(c) = a.channels {
        spec = spec.with_output_channels(c)?;
    }
    if let Some(c) = &resume {
        // The run's own network and settings; what is given on the command line overrides them.
        let (s, h) = abp::trainer::spec_from(c)?;
        spec = s;
        hyper = h;
        rate = c.meta("rate").ok().and_then(|r| r.parse().ok()).or(rate);
        if a.hp.batch.is_some_and(|b| b != hyper.batch)
            || a.hp.adam != matches!(hyper.optimizer, Optimizer::Adam { .. })
        {
            bail!("--resume keeps the run's batch size and optimizer");
        }
    }
    apply(&mut hyper, &a.hp);
    let data = data::load(
        &data_path,
        &LoadOptions {
            shape: spec.output()?,
            resize: a.resize,
            resample: a.resample,
            rate: rate.unwrap_or(11025),
            limit: a.limit,
        },
    )?;
    let occluded = (a.occlude.as_deref())
        .map(|o| abprop::data::masks::occlude_training(&data, o, hyper.seed))
        .transpose()?;
    let (seen, observation) = match &occluded {
        Some((d, m)) => (d, abp::Observation::Mask(m.clone())),
        None => (&data, abp::Observation::Full),
    };
    let gpu = Gpu::new()?;
    let mut t = Trainer::new(&gpu, &spec, &hyper, seen, &observation, resume.as_ref())?;
    eprintln!(
        "abprop: training {} examples of {:?} on {} for {} iterations (L={}, D={}, s={}); writing to {}",
        t.n,
        data.shape,
        gpu.info.name,
        hyper.iterations,
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
        let test = match &a.test_data {
            Some(p) => Some(data::load(
                p,
                &LoadOptions {
                    shape: data.shape,
                    resize: a.resize,
                    resample: false,
                    rate: 11025,
                    limit: a.limit,
                },
            )?),
            None => None,
        };
        abprop::eval::occlusion::report_training(&gpu, &t, &data, observed, m, o, test.as_ref(), &out)?;
    }
    eprintln!(
        "abprop: done; final mean squared error {:.5}; checkpoint {}",
        t.last_error.unwrap_or(f64::NAN),
        ckpt_path.display()
    );
    Ok(())
}

fn synthesize(a: SynthArgs) -> Result<()> {
    let m = synthesis::Model::load(&a.model)?;
    let gpu = Gpu::new()?;
    let mut spec = m.spec.clone();
    if let Some(l) = &a.latent {
        spec = spec.with_latent(parse_latent(l, &spec)?)?;
    }
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
    let x = synthesis::render(&gpu, &spec, &m.params, &z, count)?;
    synthesis::write_outputs(&a.out, &spec, m.rate, &x, &z, count, cols, a.grid.is_none())?;
    let [c, h, w] = spec.output()?;
    eprintln!("abprop: wrote {count} outputs of {c}x{h}x{w} to {}", a.out.display());
    Ok(())
}

fn interpolate(a: InterpArgs) -> Result<()> {
    let m = synthesis::Model::load(&a.model)?;
    let gpu = Gpu::new()?;
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
    let x = synthesis::render(&gpu, &m.spec, &m.params, &z, count)?;
    synthesis::write_outputs(&a.out, &m.spec, m.rate, &x, &z, count, cols, false)?;
    eprintln!(
        "abprop: wrote the interpolation of examples {:?} to {}",
        a.examples,
        a.out.display()
    );
    Ok(())
}

fn reconstruct(a: ReconArgs) -> Result<()> {
    let m = synthesis::Model::load(&a.model)?;
    let data = data::load(
        &a.data,
        &LoadOptions {
            shape: m.spec.output()?,
            resize: a.resize,
            resample: a.resample,
            rate: m.rate.unwrap_or(11025),
            limit: a.limit,
        },
    )?;
    let gpu = Gpu::new()?;
    let o = abp::reconstruct::ReconstructOptions {
        steps: a.steps,
        delta: a.delta,
        sigma: m.hyper.sigma,
        noise: !a.no_noise,
        seed: a.seed,
        batch: 100,
    };
    let r = abp::reconstruct::reconstruct(&gpu, &m.spec, &m.params, &data, &abp::Observation::Full, &o)?;
    let n = data.len();
    let cols = (n.min(64) as f64).sqrt().ceil() as usize;
    synthesis::write_outputs(&a.out, &m.spec, m.rate, &r.outputs, &r.z, n, cols, false)?;
    let [c, h, w] = data.shape;
    if m.rate.is_none() {
        abprop::io::media::write_grid(&a.out.join("original.png"), &data.values, n.min(64), c, h, w, cols)?;
    }
    let mean = r.mse.iter().sum::<f64>() / n as f64;
    let rows: Vec<_> = data
        .names
        .iter()
        .zip(&r.mse)
        .map(|(name, e)| serde_json::json!({"example": name, "mse": e}))
        .collect();
    let report =
        serde_json::json!({"examples": n, "mean_mse": mean, "steps": a.steps, "delta": a.delta, "per_example": rows});
    abprop::io::checkpoint::write_atomic(
        &a.out.join("errors.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    println!("reconstructed {n} examples: mean squared error {mean:.5} (values in [-1, 1])");
    Ok(())
}

fn presets(out: Option<PathBuf>) -> Result<()> {
    for name in abp::PRESET_NAMES {
        let p = abp::preset(name)?;
        let o = p.spec.output()?;
        println!(
            "{:<16} out {:?}  L={} D={} s={}  {}",
            p.name, o, p.hyper.langevin_steps, p.hyper.delta, p.hyper.sigma, p.about
        );
        if let Some(dir) = &out {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!("{name}.json"));
            std::fs::write(&path, p.spec.to_json()).with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

fn bench_train(preset: &str, iterations: usize, batch: Option<usize>, json: bool) -> Result<()> {
    let gpu = Gpu::new()?;
    let r = abprop::bench::train(&gpu, preset, iterations, batch)?;
    if json {
        println!("{}", abprop::bench::json_line(&gpu, &r));
    } else {
        println!("adapter: {} ({:?})", gpu.info.name, gpu.info.backend);
        println!(
            "{}: batch {}, {:.3} s/iteration (inference {:.3} s, learning {:.3} s), {:.1} GFLOP/s, {} submits and {} read-backs per iteration; yardstick sgemm {:.1} GFLOP/s",
            r.preset, r.batch, r.iter_s, r.infer_s, r.learn_s, r.gflops, r.submits, r.readbacks, r.sgemm_gflops
        );
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train(a)?,
        Command::Synthesize(a) => synthesize(a)?,
        Command::Interpolate(a) => interpolate(a)?,
        Command::Reconstruct(a) => reconstruct(a)?,
        Command::Presets { out } => presets(out)?,
        Command::Devices => {
            for info in Gpu::adapters() {
                println!(
                    "{:<48} {:?} {:?} {}",
                    info.name, info.backend, info.device_type, info.driver_info
                );
            }
            let gpu = Gpu::new()?;
            let c = gpu.choice();
            println!(
                "abprop uses: {} ({}, {}){}; subgroups: {}, timestamps: {}",
                c.name,
                c.backend,
                c.device_type,
                if c.software { ", a software adapter" } else { "" },
                gpu.has_subgroups(),
                gpu.has_timestamps()
            );
        }
        Command::Bench(Bench::Kernels { json, filter }) => {
            let gpu = Gpu::new()?;
            if !json {
                println!(
                    "adapter: {} ({:?}); timing: {}",
                    gpu.info.name,
                    gpu.info.backend,
                    abprop::gpu::Timer::new(&gpu).method
                );
            }
            let rows = abprop::bench::kernels(&gpu, &filter, |r| {
                if json {
                    println!("{}", abprop::bench::json_line(&gpu, r));
                }
            })?;
            if !json {
                print!("{}", abprop::bench::table(&rows));
            }
        }
        Command::Bench(Bench::Train {
            preset,
            iterations,
            batch,
            json,
        }) => bench_train(&preset, iterations, batch, json)?,
        Command::Bench(Bench::Compare { files }) => {
            let runs = abprop::bench::compare::read_all(&files)?;
            print!("{}", abprop::bench::compare::table(&runs));
        }
        Command::Eval(a) => abprop::eval::cli::run(a)?,
    }
    Ok(())
}
