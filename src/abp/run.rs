//! A training run as `abprop train` makes it: the network and hyperparameters it trains with
//! (a preset or a spec, or the run being resumed, then what the command line overrides), and
//! the hook of the one training loop that writes its folder: the JSON-lines log, a progress
//! bar, atomic checkpoints and snapshots.

use super::checkpoint::{Resume, FILE};
use super::config::{preset, rate_of, Hyper, Overrides};
use super::trainer::{Step, Trainer};
use crate::io::media;
use crate::model::Spec;
use crate::ops::optim::Optimizer;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where and how often a run writes.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub out: PathBuf,
    /// Write the checkpoint every this many iterations (and at the end).
    pub checkpoint_every: usize,
    /// Write reconstruction and sample snapshots every this many iterations (0: only at the end).
    pub snapshot_every: usize,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

/// The network a run is asked to train.
#[derive(Clone, Debug)]
pub enum Network {
    Preset(String),
    /// A JSON model spec file.
    Spec(PathBuf),
}

/// What a run trains: the network, its hyperparameters and, when resumed, the run's state.
pub struct Plan {
    pub spec: Spec,
    pub hyper: Hyper,
    /// Sample rate (sound).
    pub rate: Option<u32>,
    pub preset: Option<String>,
    pub resume: Option<Resume>,
}

impl Network {
    /// A new run's plan on this network, its last layer making `channels` outputs if given.
    fn plan(&self, channels: Option<usize>) -> Result<Plan> {
        let mut plan = match self {
            Network::Preset(p) => {
                let p = preset(p)?;
                Plan {
                    spec: p.spec,
                    hyper: p.hyper,
                    rate: p.rate,
                    preset: Some(p.name.to_string()),
                    resume: None,
                }
            }
            Network::Spec(f) => {
                let text =
                    std::fs::read_to_string(f).with_context(|| format!("cannot read model spec {}", f.display()))?;
                let spec = Spec::from_json(&text).with_context(|| format!("{}", f.display()))?;
                Plan {
                    rate: rate_of(&spec)?,
                    spec,
                    hyper: preset("object")?.hyper,
                    preset: None,
                    resume: None,
                }
            }
        };
        if let Some(c) = channels {
            plan.spec = plan.spec.with_output_channels(c)?;
        }
        Ok(plan)
    }

    /// The flag that asked for it.
    fn flag(&self) -> String {
        match self {
            Network::Preset(p) => format!("--preset {p}"),
            Network::Spec(f) => format!("--spec {}", f.display()),
        }
    }
}

impl Plan {
    /// The plan of a run in `out`: a new one (an error if `out` holds a checkpoint already) on
    /// `network`, or with `resume` the run in `out`, whose network and hyperparameters it keeps;
    /// a `network` given then must be the checkpoint's (else an error naming both). Then
    /// `channels` changes the output channels of a new run's network and `o` overrides the
    /// hyperparameters (a resumed run keeps its batch size and optimizer).
    pub fn new(
        out: &Path,
        network: Option<&Network>,
        channels: Option<usize>,
        resume: bool,
        o: &Overrides,
    ) -> Result<Plan> {
        let ckpt = out.join(FILE);
        let asked = network.map(|n| n.plan(channels)).transpose()?;
        let mut plan = if resume {
            let r = Resume::load(&ckpt)
                .with_context(|| format!("--resume: no checkpoint to resume in {}", out.display()))?;
            if let (Some(a), Some(n)) = (&asked, network) {
                if a.spec != r.spec {
                    bail!(
                        "{}{} is not the network of the run in {} ({}): resume without --preset/--spec (or with the run's own), or train into another --out",
                        n.flag(),
                        if channels.is_some() { " with --channels" } else { "" },
                        out.display(),
                        r.network()
                    );
                }
            }
            let kind = match r.hyper.optimizer {
                Optimizer::Sgd { .. } => None,
                Optimizer::Adam { .. } => Some("adam"),
                Optimizer::Adamax { .. } => Some("adamax"),
            };
            if o.batch.is_some_and(|b| b != r.hyper.batch) || o.optimizer_kind() != kind {
                bail!("--resume keeps the run's batch size and optimizer");
            }
            Plan {
                spec: r.spec.clone(),
                hyper: r.hyper.clone(),
                rate: r.rate.or(asked.as_ref().and_then(|a| a.rate)),
                preset: r.preset.clone().or(asked.and_then(|a| a.preset)),
                resume: Some(r),
            }
        } else {
            if ckpt.exists() {
                bail!(
                    "{} already holds a checkpoint: pass --resume to continue it or choose another --out",
                    out.display()
                );
            }
            asked.context("give a network: --preset NAME (see `abprop presets`) or --spec FILE.json")?
        };
        o.apply(&mut plan.hyper)?;
        plan.hyper.validate()?;
        if let Some(r) = &plan.resume {
            if r.iteration >= plan.hyper.iterations {
                bail!(
                    "the run in {} has done its {} iterations already: pass --iterations N with N > {} to train it further",
                    out.display(),
                    r.iteration,
                    r.iteration
                );
            }
        }
        Ok(plan)
    }
}

/// The JSON-lines log of a run (`log.jsonl`): one [`Step`] per line (`iteration`, `mse`,
/// `seconds`, and with HMC `acceptance`), with a hook's fields merged in.
pub struct Log(std::fs::File);

impl Log {
    /// Appends to `dir/log.jsonl` (a resumed run continues its log) or, with `fresh`, starts it
    /// anew.
    pub fn open(dir: &Path, fresh: bool) -> Result<Log> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("log.jsonl");
        let f = if fresh {
            std::fs::File::create(&path)
        } else {
            std::fs::OpenOptions::new().create(true).append(true).open(&path)
        };
        Ok(Log(
            f.with_context(|| format!("cannot open the log {}", path.display()))?
        ))
    }

    /// Writes one line: `step` and the fields of `extra` (a JSON object).
    pub fn write(&mut self, step: &Step, extra: Option<serde_json::Value>) -> Result<()> {
        let mut line = serde_json::to_value(step)?;
        if let (Some(l), Some(serde_json::Value::Object(e))) = (line.as_object_mut(), extra) {
            l.extend(e);
        }
        writeln!(self.0, "{line}").context("cannot write the log")
    }
}

impl Trainer<'_> {
    /// Trains to `hyper.iterations`, writing the log, checkpoints and snapshots under
    /// `opts.out`. A diverging run stops with an error and leaves the last good checkpoint.
    pub fn run(&mut self, opts: &TrainOptions) -> Result<()> {
        let mut log = Log::open(&opts.out, false)?;
        let ckpt = opts.out.join(FILE);
        let bar = if opts.progress {
            let b = indicatif::ProgressBar::new(self.hyper.iterations as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} iterations, {elapsed} elapsed, {eta} left, {msg}",
                )
                .expect("a valid progress template"),
            );
            b.set_position(self.iteration as u64);
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let every = |n: usize, k: usize| k > 0 && n.is_multiple_of(k);
        self.train(|t, step| {
            log.write(step, None)?;
            bar.set_position(step.iteration as u64);
            bar.set_message(match step.acceptance {
                Some(a) => format!("mse {:.5}, HMC acceptance {a:.3}", step.mse),
                None => format!("mse {:.5}", step.mse),
            });
            let last = step.iteration == t.hyper.iterations;
            if last || every(step.iteration, opts.checkpoint_every) {
                t.save(&ckpt)?;
            }
            if last || every(step.iteration, opts.snapshot_every) {
                snapshot(t, &opts.out, &format!("{:06}", step.iteration))?;
            }
            Ok(())
        })?;
        bar.finish();
        Ok(())
    }
}

/// Writes the output grids of batch 0's reconstructions and a batch of samples (PNG), or WAVs
/// and a waveform plot for sound, tagged `tag`.
pub fn snapshot(t: &Trainer, dir: &Path, tag: &str) -> Result<()> {
    let [c, h, w] = t.spec.output()?;
    let range = t.spec.range();
    let rec = range.media(&t.reconstructions(0)?).into_owned();
    let smp = range.media(&t.samples()?).into_owned();
    let k = t.gen.batch.min(64);
    std::fs::create_dir_all(dir)?;
    let file = |what: &str, ext: &str| dir.join(format!("{what}-{tag}.{ext}"));
    if let Some(rate) = t.rate {
        media::write_wav(&file("reconstruction", "wav"), &rec[..w], rate)?;
        media::write_wav(&file("sample", "wav"), &smp[..w], rate)?;
        media::write_waveform(&file("reconstruction", "png"), &rec[..w], 800, 160)?;
    } else {
        let cols = (k as f64).sqrt().ceil() as usize;
        media::write_grid(&file("reconstruction", "png"), &rec, k, c, h, w, cols)?;
        media::write_grid(&file("sample", "png"), &smp, k, c, h, w, cols)?;
    }
    Ok(())
}
