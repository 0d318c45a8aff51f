//! Every built-in network: the paper's (sections 5.1-5.3) and quick variants that train in
//! minutes on a software adapter. The presets (`abp::config`) and the evaluations (`eval`)
//! take their networks from here.

use super::spec::{Layer, Spec};
use crate::ops::activation::Activation;
use anyhow::{bail, Result};

/// The sample rate of the sound networks (the paper's 11025 Hz).
pub const SOUND_RATE: u32 = 11025;

fn conv2d(channels: usize) -> Layer {
    Layer::ConvTranspose2d {
        channels,
        kernel: 5,
        stride: 2,
        padding: 2,
        output_padding: 1,
    }
}

fn conv1d(channels: usize) -> Layer {
    Layer::ConvTranspose1d {
        channels,
        kernel: 25,
        stride: 10,
        padding: 8,
        output_padding: 1,
    }
}

fn act(a: Activation) -> Layer {
    match a {
        Activation::Relu => Layer::Relu,
        Activation::LeakyRelu { slope } => Layer::LeakyRelu { slope },
        Activation::Tanh => Layer::Tanh,
        Activation::Sigmoid => Layer::Sigmoid,
    }
}

/// Transposed convolutions with batch norm and `a` between them and tanh at the bottom.
fn stack(mut layers: Vec<Layer>, conv: fn(usize) -> Layer, channels: &[usize], a: Activation) -> Vec<Layer> {
    for (i, &c) in channels.iter().enumerate() {
        layers.push(conv(c));
        if i + 1 < channels.len() {
            layers.push(Layer::BatchNorm { eps: 1e-4 });
            layers.push(act(a));
        } else {
            layers.push(Layer::Tanh);
        }
    }
    layers
}

/// Paper 5.1: z 7x7, five k5 s2 transposed convolutions 512-256-128-64-3 to 224x224.
pub fn texture_net(channels: usize) -> Spec {
    Spec {
        latent: [1, 7, 7],
        layers: stack(vec![], conv2d, &[512, 256, 128, 64, channels], Activation::Relu),
        encoder: None,
    }
}

/// Paper 5.2: z 1x6, four k25 s10 transposed convolutions 256-128-64-1 to 60000 samples.
pub fn sound_net() -> Spec {
    Spec {
        latent: [1, 1, 6],
        layers: stack(vec![], conv1d, &[256, 128, 64, 1], Activation::Relu),
        encoder: None,
    }
}

/// Paper 5.3: fc d -> 4x4x512, k5 s2 transposed convolutions 256-128-64-3 to 64x64, leaky ReLU.
pub fn object_net(d: usize, channels: usize) -> Spec {
    let a = Activation::LeakyRelu { slope: 0.2 };
    let head = vec![
        Layer::Dense { out: 4 * 4 * 512 },
        Layer::Reshape { shape: [512, 4, 4] },
        Layer::BatchNorm { eps: 1e-4 },
        act(a),
    ];
    Spec {
        latent: [d, 1, 1],
        layers: stack(head, conv2d, &[256, 128, 64, channels], a),
        encoder: None,
    }
}

/// The quick texture net: z 4x4, four k5 s2 transposed convolutions 64-32-16-1 to 64x64
/// grayscale.
pub fn texture_quick_net() -> Spec {
    Spec {
        latent: [1, 4, 4],
        layers: stack(vec![], conv2d, &[64, 32, 16, 1], Activation::Relu),
        encoder: None,
    }
}

/// The quick sound net: z 1x6, four k25 s10 transposed convolutions 32-16-8-1 to 60000 samples.
pub fn sound_quick_net() -> Spec {
    Spec {
        latent: [1, 1, 6],
        layers: stack(vec![], conv1d, &[32, 16, 8, 1], Activation::Relu),
        encoder: None,
    }
}

/// A small object net: fc d -> 4x4 x C, then k5 s2 transposed convolutions halving the
/// channels (C/2, C/4, ..., then 1) up to `size` x `size` grayscale (size = 4 * 2^k, 8 to 128),
/// batch norm and leaky ReLU 0.2 between them, tanh at the bottom; C = 64 for 32x32 (the
/// `object-quick` preset).
pub fn object_quick_net(d: usize, size: usize) -> Result<Spec> {
    if d == 0 {
        bail!("the latent dimension must be positive");
    }
    if size < 8 || !size.is_power_of_two() {
        bail!("the quick network makes square images of side 8, 16, 32, 64 or 128, not {size}");
    }
    let ups = size.trailing_zeros() as usize - 2;
    let top = 8 << ups;
    let a = Activation::LeakyRelu { slope: 0.2 };
    let head = vec![
        Layer::Dense { out: 16 * top },
        Layer::Reshape { shape: [top, 4, 4] },
        Layer::BatchNorm { eps: 1e-4 },
        act(a),
    ];
    let channels: Vec<usize> = (1..ups).map(|k| top >> k).chain([1]).collect();
    let spec = Spec {
        latent: [d, 1, 1],
        layers: stack(head, conv2d, &channels, a),
        encoder: None,
    };
    spec.shapes()?;
    Ok(spec)
}

/// The dynamic-texture net (paper Experiment 4, AAAI version): the object net (fc d -> 4x4x512,
/// k5 s2 transposed convolutions 256-128-64-3 to 64x64 colour, leaky ReLU), d = 20 in the paper.
pub fn dynamic_net(d: usize) -> Spec {
    object_net(d, 3)
}

/// The quick dynamic-texture net: the quick object net (fc d -> 4x4 x C, channels halving) to
/// `size` x `size` colour frames (C = 64 for 32x32: the `dynamic-quick` preset).
pub fn dynamic_quick_net(d: usize, size: usize) -> Result<Spec> {
    object_quick_net(d, size)?.with_output_channels(3)
}

/// The IABP generator and encoder on 28x28 gray images in [0, 1] (the HiABP paper's MNIST
/// blocks, L = 1): z of d factors; generator fc d -> 7x7 x C2, leaky ReLU 0.1, k4 s2
/// transposed convolutions C1 then 1 channel to 28x28, sigmoid; encoder the mirror image, k4
/// s2 convolutions C1 then C2 channels, leaky ReLU 0.1, fc to (mu, log sigma^2). `c` = [C1, C2].
pub fn iabp_mnist_net(d: usize, c: [usize; 2]) -> Spec {
    let leaky = || Layer::LeakyRelu { slope: 0.1 };
    let up = |channels| Layer::ConvTranspose2d {
        channels,
        kernel: 4,
        stride: 2,
        padding: 1,
        output_padding: 0,
    };
    let down = |channels| Layer::Conv2d {
        channels,
        kernel: 4,
        stride: 2,
        padding: 1,
    };
    Spec {
        latent: [d, 1, 1],
        layers: vec![
            Layer::Dense { out: c[1] * 49 },
            Layer::Reshape { shape: [c[1], 7, 7] },
            leaky(),
            up(c[0]),
            leaky(),
            up(1),
            Layer::Sigmoid,
        ],
        encoder: Some(vec![
            down(c[0]),
            leaky(),
            down(c[1]),
            leaky(),
            Layer::Flatten,
            Layer::Dense { out: 2 * d },
        ]),
    }
}
