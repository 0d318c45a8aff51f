//! Hyperparameters of a run, with the paper's defaults per preset.

use crate::model::{presets, Spec};
use crate::ops::optim::{Clip, Optimizer};
use crate::seed::Seed;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// How each example's Langevin chain starts at each iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Chains {
    /// Warm start from the example's previous Z (the paper's persistent chains).
    Persistent,
    /// Short-run chains from Z ~ N(0, I) at every iteration.
    Fresh,
    /// Chains started at every iteration from the encoder's proposal z_0 = mu(Y) + sigma(Y) eps,
    /// the encoder learning alongside (IABP/HiABP; the model needs an `encoder`).
    Encoder,
}

/// How every inference samples each example's Z (training's Improving step, reconstruction,
/// the evaluations' inference with W fixed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    /// Langevin dynamics (the paper's): each of the L steps one update with step size D.
    #[default]
    Langevin,
    /// Hamiltonian Monte Carlo: each of the L steps one transition of `leapfrog` leapfrog steps
    /// of size D with a per-example Metropolis accept/reject (`abp::infer`, `ops::hmc`).
    Hmc { leapfrog: usize },
}

/// Leapfrog steps per HMC transition when `--leapfrog` is not given.
pub const DEFAULT_LEAPFROG: usize = 5;

impl Sampler {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Sampler::Langevin => "langevin",
            Sampler::Hmc { .. } => "hmc",
        }
    }
}

/// The sampler's name on the command line (`--sampler`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SamplerKind {
    Langevin,
    Hmc,
}

/// `--sampler` and `--leapfrog`: one definition, shared by `train`, `eval` (through
/// [`Overrides`]) and `reconstruct`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SamplerArgs {
    /// The sampler of every inference of Z: Langevin dynamics, or Hamiltonian Monte Carlo (each
    /// of the L steps one transition of --leapfrog steps of size D, with a per-example
    /// Metropolis accept/reject; its acceptance rate goes to the log).
    #[arg(long, value_enum)]
    pub sampler: Option<SamplerKind>,
    /// Leapfrog steps K per HMC transition (default 5; with --sampler hmc only).
    #[arg(long)]
    pub leapfrog: Option<usize>,
}

impl SamplerArgs {
    /// The sampler these flags ask for, starting from `current` (the preset's, the resumed
    /// run's or the command's default): `--leapfrog` alone changes an HMC sampler's K and is an
    /// error with Langevin.
    pub fn resolve(&self, current: Sampler) -> Result<Sampler> {
        let kind = self.sampler.unwrap_or(match current {
            Sampler::Langevin => SamplerKind::Langevin,
            Sampler::Hmc { .. } => SamplerKind::Hmc,
        });
        Ok(match kind {
            SamplerKind::Langevin => {
                if self.leapfrog.is_some() {
                    bail!("--leapfrog applies to --sampler hmc only (the sampler is langevin)");
                }
                Sampler::Langevin
            }
            SamplerKind::Hmc => Sampler::Hmc {
                leapfrog: self.leapfrog.unwrap_or(match current {
                    Sampler::Hmc { leapfrog } => leapfrog,
                    Sampler::Langevin => DEFAULT_LEAPFROG,
                }),
            },
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    /// Standard deviation s of the observation noise.
    pub sigma: f32,
    /// Langevin steps L per iteration.
    pub langevin_steps: usize,
    /// Langevin step size D.
    pub delta: f32,
    /// Langevin dynamics (true) or gradient descent (false: the paper's Algorithm 1).
    pub noise: bool,
    /// The sampler of inference (absent in checkpoints before HMC: Langevin).
    #[serde(default)]
    pub sampler: Sampler,
    pub chains: Chains,
    pub optimizer: Optimizer,
    pub clip: Clip,
    pub iterations: usize,
    pub batch: usize,
    pub seed: Seed,
}

impl Hyper {
    pub fn validate(&self) -> Result<()> {
        if !(self.sigma > 0.0 && self.sigma.is_finite()) {
            bail!("sigma must be positive, got {}", self.sigma);
        }
        if !(self.delta >= 0.0 && self.delta.is_finite()) {
            bail!("the Langevin step size must be >= 0, got {}", self.delta);
        }
        if self.batch == 0 {
            bail!("the batch size must be positive");
        }
        if let Sampler::Hmc { leapfrog } = self.sampler {
            if !self.noise {
                bail!("--no-noise is for Langevin dynamics: HMC always draws its momenta");
            }
            if leapfrog > 10_000 {
                bail!("--leapfrog {leapfrog}: at most 10000 leapfrog steps per transition");
            }
        }
        Ok(())
    }
}

/// A named network with its paper hyperparameters.
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    pub spec: Spec,
    pub hyper: Hyper,
    /// Sample rate for sound presets.
    pub rate: Option<u32>,
}

fn sgd(lr: f32) -> Optimizer {
    Optimizer::Sgd {
        lr,
        momentum: 0.5,
        weight_decay: 0.0,
    }
}

fn hyper(l: usize, d: f32, lr: f32, iterations: usize, batch: usize) -> Hyper {
    Hyper {
        sigma: 0.3,
        langevin_steps: l,
        delta: d,
        noise: true,
        sampler: Sampler::Langevin,
        chains: Chains::Persistent,
        optimizer: sgd(lr),
        clip: Clip::Value(30.0),
        iterations,
        batch,
        seed: Seed(1),
    }
}

/// The latent levels of `hiabp-mnist` (bottom first; 32 factors as `iabp-mnist`'s d) and of
/// its quick variant (16, as `iabp-mnist-quick`'s).
pub const HIABP_LEVELS: [usize; 3] = [16, 8, 8];
pub const HIABP_QUICK_LEVELS: [usize; 3] = [8, 4, 4];

/// The HiABP paper's settings: sigma 0.3, T Langevin steps of size 0.15, batch 100, Adamax
/// with learning rate 3e-4, chains started by the encoder.
fn iabp(t: usize, iterations: usize) -> Hyper {
    Hyper {
        chains: Chains::Encoder,
        optimizer: adamax(3e-4),
        ..hyper(t, 0.15, 3e-4, iterations, 100)
    }
}

/// The quick IABP/HiABP settings: 30 iterations at learning rate 2e-3 (3e-4 learns too little
/// in 30 iterations).
fn iabp_quick() -> Hyper {
    Hyper {
        optimizer: adamax(2e-3),
        ..iabp(15, 30)
    }
}

/// The quick dynamic-texture settings: s = 0.03 (the frames of a clip differ by far less than
/// s = 0.3 lets the model notice: at 0.3 it learns little more than their mean frame), L = 10
/// Langevin steps of D = 0.03 (D^2 / s^2 as the paper's D = 0.3, s = 0.3), Adamax with
/// learning rate 3e-3 and 200 iterations (SGD at 1e-4 learns too little in minutes), the
/// whole clip a batch.
fn dynamic_quick() -> Hyper {
    Hyper {
        sigma: 0.03,
        optimizer: adamax(3e-3),
        ..hyper(10, 0.03, 3e-3, 200, 100)
    }
}

/// Adamax with PyTorch's defaults (beta1 0.9, beta2 0.999, eps 1e-8).
fn adamax(lr: f32) -> Optimizer {
    Optimizer::Adamax {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    }
}

pub const PRESET_NAMES: &[&str] = &[
    "texture",
    "texture-quick",
    "sound",
    "sound-quick",
    "object",
    "object-quick",
    "object-d2",
    "object-d2-quick",
    "dynamic",
    "dynamic-quick",
    "dynamic-conv-quick",
    "iabp-mnist",
    "iabp-mnist-quick",
    "hiabp-mnist",
    "hiabp-mnist-quick",
];

/// Whether a preset is for dynamic textures (frames of a clip, whose latent dynamics are fitted
/// after training).
pub fn is_dynamic(preset: &str) -> bool {
    preset.starts_with("dynamic")
}

pub fn preset(name: &str) -> Result<Preset> {
    let sound = Some(presets::SOUND_RATE);
    Ok(match name {
        "texture" => Preset {
            name: "texture",
            about: "paper 5.1: z 7x7, five k5 s2 transposed convs 512-256-128-64-3 to 224x224",
            spec: presets::texture_net(3),
            hyper: hyper(10, 0.1, 1e-4, 3000, 1),
            rate: None,
        },
        "texture-quick" => Preset {
            name: "texture-quick",
            about: "z 4x4, four k5 s2 transposed convs 64-32-16-1 to 64x64 grayscale",
            spec: presets::texture_quick_net(),
            hyper: hyper(10, 0.1, 1e-4, 300, 1),
            rate: None,
        },
        "sound" => Preset {
            name: "sound",
            about: "paper 5.2: z 1x6, four k25 s10 transposed convs 256-128-64-1 to 60000 samples at 11025 Hz",
            spec: presets::sound_net(),
            hyper: hyper(10, 0.1, 1e-4, 3000, 1),
            rate: sound,
        },
        "sound-quick" => Preset {
            name: "sound-quick",
            about: "z 1x6, four k25 s10 transposed convs 32-16-8-1 to 60000 samples at 11025 Hz",
            spec: presets::sound_quick_net(),
            hyper: hyper(10, 0.1, 1e-4, 300, 1),
            rate: sound,
        },
        "object" | "object-d2" => Preset {
            name: if name == "object" { "object" } else { "object-d2" },
            about: if name == "object" {
                "paper 5.3: fc d=100 -> 4x4x512, k5 s2 transposed convs 256-128-64-3 to 64x64, leaky ReLU"
            } else {
                "the object net with d = 2 (paper Figure 5)"
            },
            spec: presets::object_net(if name == "object" { 100 } else { 2 }, 3),
            hyper: hyper(30, 0.3, 1e-4, 600, 100),
            rate: None,
        },
        "object-quick" | "object-d2-quick" => Preset {
            name: if name == "object-quick" {
                "object-quick"
            } else {
                "object-d2-quick"
            },
            about:
                "fc d -> 4x4x64, k5 s2 transposed convs 32-16-1 to 32x32 grayscale (Fashion-MNIST resized), leaky ReLU",
            spec: presets::object_quick_net(if name == "object-quick" { 20 } else { 2 }, 32)?,
            hyper: hyper(30, 0.3, 1e-4, 100, 100),
            rate: None,
        },
        "dynamic" => Preset {
            name: "dynamic",
            about: "paper Exp. 4 (dynamic textures): fc d=20 -> 4x4x512, k5 s2 transposed convs 256-128-64-3 to 64x64 colour frames",
            spec: presets::dynamic_net(20),
            hyper: hyper(30, 0.3, 1e-4, 600, 100),
            rate: None,
        },
        "dynamic-quick" => Preset {
            name: "dynamic-quick",
            about: "fc d=20 -> 4x4x64, k5 s2 transposed convs 32-16-3 to 32x32 colour frames (assets/tree.gif resized)",
            spec: presets::dynamic_quick_net(20, 32)?,
            hyper: dynamic_quick(),
            rate: None,
        },
        "dynamic-conv-quick" => Preset {
            name: "dynamic-conv-quick",
            about: "fully convolutional: z 1x4x4, k5 s2 transposed convs 64-32-3 to 32x32 colour frames; larger frames from a larger z map (synthesize --frames N --latent 8x8)",
            spec: presets::dynamic_conv_quick_net(),
            hyper: dynamic_quick(),
            rate: None,
        },
        "iabp-mnist" => Preset {
            name: "iabp-mnist",
            about: "IABP (HiABP paper, L = 1) on 28x28 digits in [0, 1]: z 32, fc -> 7x7x64, k4 s2 transposed convs 32-1, sigmoid; encoder k4 s2 convs 32-64, fc; T = 15, s = 0.15, Adamax 3e-4",
            spec: presets::iabp_mnist_net(32, [32, 64]),
            hyper: iabp(15, 200),
            rate: None,
        },
        "iabp-mnist-quick" => Preset {
            name: "iabp-mnist-quick",
            about: "iabp-mnist with z 16, half the channels, learning rate 2e-3 and 30 iterations (minutes here on 500 digits)",
            spec: presets::iabp_mnist_net(16, [16, 32]),
            hyper: iabp_quick(),
            rate: None,
        },
        "hiabp-mnist" => Preset {
            name: "hiabp-mnist",
            about: "HiABP, L = 3 levels [16, 8, 8] (bottom first) on 28x28 digits in [0, 1]: the iabp-mnist blocks with z^2 injected at 7x7 and z^1 at 14x14, an encoder head per level; T = 15, s = 0.15, Adamax 3e-4",
            spec: presets::hiabp_mnist_net(&HIABP_LEVELS, [32, 64]),
            hyper: iabp(15, 200),
            rate: None,
        },
        "hiabp-mnist-quick" => Preset {
            name: "hiabp-mnist-quick",
            about: "hiabp-mnist with levels [8, 4, 4], half the channels, learning rate 2e-3 and 30 iterations",
            spec: presets::hiabp_mnist_net(&HIABP_QUICK_LEVELS, [16, 32]),
            hyper: iabp_quick(),
            rate: None,
        },
        _ => bail!("unknown preset {name:?}; presets: {}", PRESET_NAMES.join(", ")),
    })
}

/// The sample rate of a model: the preset's, or for a custom spec the sound rate when it makes
/// one channel of one row (a waveform), else none.
pub fn rate_of(spec: &Spec) -> Result<Option<u32>> {
    Ok((spec.latent[1] == 1 && spec.output()?[1] == 1).then_some(presets::SOUND_RATE))
}

/// The hyperparameters a command line may override: one definition, shared by `train` and
/// `eval` (flattened into their arguments). Each field left out keeps the preset's value.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Overrides {
    /// Training iterations.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Examples per batch.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Standard deviation s of the observation noise.
    #[arg(long)]
    pub sigma: Option<f32>,
    /// Langevin steps L per iteration.
    #[arg(long = "langevin-steps")]
    pub langevin_steps: Option<usize>,
    /// Langevin step size D.
    #[arg(long)]
    pub delta: Option<f32>,
    /// Learning rate (of SGD, or of Adam with --adam).
    #[arg(long)]
    pub lr: Option<f32>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f32>,
    /// Use Adam (beta1 0.5, beta2 0.999) instead of SGD with momentum.
    #[arg(long, conflicts_with = "adamax")]
    pub adam: bool,
    /// Use Adamax (beta1 0.9, beta2 0.999, eps 1e-8; the HiABP paper's optimizer, its learning
    /// rate 3e-4) instead of SGD with momentum.
    #[arg(long)]
    pub adamax: bool,
    /// Gradient descent instead of Langevin dynamics (the paper's Algorithm 1).
    #[arg(long = "no-noise")]
    pub no_noise: bool,
    /// How each chain starts: persistent (warm start, ABP), fresh short-run chains from N(0, I),
    /// or the encoder's proposal (IABP/HiABP); `--init encoder` says the same.
    #[arg(long, value_enum, alias = "init")]
    pub chains: Option<Chains>,
    /// Clip each gradient value to [-c, c] (30 in the authors' release; 0 turns clipping off).
    #[arg(long)]
    pub clip: Option<f32>,
    /// Random seed (all 64 bits are used; see src/seed.rs).
    #[arg(long)]
    pub seed: Option<Seed>,
    #[command(flatten)]
    pub sampler: SamplerArgs,
}

impl Overrides {
    /// Sets what was given in `h` (an error for flags that contradict each other or the
    /// run: `--leapfrog` with Langevin).
    pub fn apply(&self, h: &mut Hyper) -> Result<()> {
        let set = |v: Option<usize>, f: &mut usize| {
            if let Some(v) = v {
                *f = v;
            }
        };
        set(self.iterations, &mut h.iterations);
        set(self.batch, &mut h.batch);
        set(self.langevin_steps, &mut h.langevin_steps);
        h.sigma = self.sigma.unwrap_or(h.sigma);
        h.delta = self.delta.unwrap_or(h.delta);
        h.noise &= !self.no_noise;
        h.chains = self.chains.unwrap_or(h.chains);
        h.seed = self.seed.unwrap_or(h.seed);
        if let Some(c) = self.clip {
            h.clip = if c > 0.0 { Clip::Value(c) } else { Clip::None };
        }
        let lr = self.lr.unwrap_or(h.optimizer.lr());
        if self.adam && !matches!(h.optimizer, Optimizer::Adam { .. }) {
            h.optimizer = Optimizer::Adam {
                lr,
                beta1: 0.5,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
            };
        }
        if self.adamax && !matches!(h.optimizer, Optimizer::Adamax { .. }) {
            h.optimizer = adamax(lr);
        }
        match &mut h.optimizer {
            Optimizer::Sgd { lr: l, momentum, .. } => {
                *l = lr;
                *momentum = self.momentum.unwrap_or(*momentum);
            }
            Optimizer::Adam { lr: l, .. } | Optimizer::Adamax { lr: l, .. } => *l = lr,
        }
        h.sampler = self.sampler.resolve(h.sampler)?;
        Ok(())
    }

    /// The optimizer these flags ask for by name (None: keep the preset's or the run's).
    pub fn optimizer_kind(&self) -> Option<&'static str> {
        match (self.adam, self.adamax) {
            (true, _) => Some("adam"),
            (_, true) => Some("adamax"),
            _ => None,
        }
    }
}
