//! Hyperparameters of a run, with the paper's defaults per preset.

use crate::model::{presets, Spec};
use crate::ops::optim::{Clip, Optimizer};
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
    pub chains: Chains,
    pub optimizer: Optimizer,
    pub clip: Clip,
    pub iterations: usize,
    pub batch: usize,
    pub seed: u64,
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
        chains: Chains::Persistent,
        optimizer: sgd(lr),
        clip: Clip::Value(30.0),
        iterations,
        batch,
        seed: 1,
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
];

pub fn preset(name: &str) -> Result<Preset> {
    use crate::model::spec::Layer;
    let conv2d = |c| Layer::ConvTranspose2d {
        channels: c,
        kernel: 5,
        stride: 2,
        padding: 2,
        output_padding: 1,
    };
    let conv1d = |c| Layer::ConvTranspose1d {
        channels: c,
        kernel: 25,
        stride: 10,
        padding: 8,
        output_padding: 1,
    };
    let bn = || Layer::BatchNorm { eps: 1e-4 };
    let lrelu = || Layer::LeakyRelu { slope: 0.2 };
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
            spec: Spec {
                latent: [1, 4, 4],
                layers: vec![
                    conv2d(64),
                    bn(),
                    Layer::Relu,
                    conv2d(32),
                    bn(),
                    Layer::Relu,
                    conv2d(16),
                    bn(),
                    Layer::Relu,
                    conv2d(1),
                    Layer::Tanh,
                ],
            },
            hyper: hyper(10, 0.1, 1e-4, 300, 1),
            rate: None,
        },
        "sound" => Preset {
            name: "sound",
            about: "paper 5.2: z 1x6, four k25 s10 transposed convs 256-128-64-1 to 60000 samples at 11025 Hz",
            spec: presets::sound_net(),
            hyper: hyper(10, 0.1, 1e-4, 3000, 1),
            rate: Some(11025),
        },
        "sound-quick" => Preset {
            name: "sound-quick",
            about: "z 1x6, four k25 s10 transposed convs 32-16-8-1 to 60000 samples at 11025 Hz",
            spec: Spec {
                latent: [1, 1, 6],
                layers: vec![
                    conv1d(32),
                    bn(),
                    Layer::Relu,
                    conv1d(16),
                    bn(),
                    Layer::Relu,
                    conv1d(8),
                    bn(),
                    Layer::Relu,
                    conv1d(1),
                    Layer::Tanh,
                ],
            },
            hyper: hyper(10, 0.1, 1e-4, 300, 1),
            rate: Some(11025),
        },
        "object" => Preset {
            name: "object",
            about: "paper 5.3: fc d=100 -> 4x4x512, k5 s2 transposed convs 256-128-64-3 to 64x64, leaky ReLU",
            spec: presets::object_net(100, 3),
            hyper: hyper(30, 0.3, 1e-4, 600, 100),
            rate: None,
        },
        "object-d2" => Preset {
            name: "object-d2",
            about: "the object net with d = 2 (paper Figure 5)",
            spec: presets::object_net(2, 3),
            hyper: hyper(30, 0.3, 1e-4, 600, 100),
            rate: None,
        },
        "object-quick" | "object-d2-quick" => {
            let d = if name == "object-quick" { 20 } else { 2 };
            Preset {
                name: if d == 2 { "object-d2-quick" } else { "object-quick" },
                about: "fc d -> 4x4x64, k5 s2 transposed convs 32-16-1 to 32x32 grayscale (Fashion-MNIST resized), leaky ReLU",
                spec: Spec {
                    latent: [d, 1, 1],
                    layers: vec![
                        Layer::Dense { out: 4 * 4 * 64 },
                        Layer::Reshape { shape: [64, 4, 4] },
                        bn(),
                        lrelu(),
                        conv2d(32),
                        bn(),
                        lrelu(),
                        conv2d(16),
                        bn(),
                        lrelu(),
                        conv2d(1),
                        Layer::Tanh,
                    ],
                },
                hyper: hyper(30, 0.3, 1e-4, 100, 100),
                rate: None,
            }
        }
        _ => bail!("unknown preset {name:?}; presets: {}", PRESET_NAMES.join(", ")),
    })
}
