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
        levels: None,
    }
}

/// Paper 5.2: z 1x6, four k25 s10 transposed convolutions 256-128-64-1 to 60000 samples.
pub fn sound_net() -> Spec {
    Spec {
        latent: [1, 1, 6],
        layers: stack(vec![], conv1d, &[256, 128, 64, 1], Activation::Relu),
        encoder: None,
        levels: None,
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
        levels: None,
    }
}

/// The quick texture net: z 4x4, four k5 s2 transposed convolutions 64-32-16-1 to 64x64
/// grayscale.
pub fn texture_quick_net() -> Spec {
    Spec {
        latent: [1, 4, 4],
        layers: stack(vec![], conv2d, &[64, 32, 16, 1], Activation::Relu),
        encoder: None,
        levels: None,
    }
}

/// The quick sound net: z 1x6, four k25 s10 transposed convolutions 32-16-8-1 to 60000 samples.
pub fn sound_quick_net() -> Spec {
    Spec {
        latent: [1, 1, 6],
        layers: stack(vec![], conv1d, &[32, 16, 8, 1], Activation::Relu),
        encoder: None,
        levels: None,
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
        levels: None,
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

/// The quick fully convolutional dynamic-texture net: z 1x4x4 (d = 16, a map as the texture
/// nets'), k5 s2 transposed convolutions 64-32-3 to 32x32 colour frames, batch norm and ReLU
/// between them, tanh at the bottom (the `dynamic-conv-quick` preset). A larger z map makes
/// larger frames; a sequence on it tiles the map with blocks following the fitted dynamics.
pub fn dynamic_conv_quick_net() -> Spec {
    Spec {
        latent: [1, 4, 4],
        layers: stack(vec![], conv2d, &[64, 32, 3], Activation::Relu),
        encoder: None,
        levels: None,
    }
}

/// The IABP generator and encoder on 28x28 gray images in [0, 1]: HiABP's MNIST network
/// ([`hiabp_mnist_net`]) with one level of d factors: generator fc d -> 7x7 x C2, leaky ReLU
/// 0.1, k4 s2 transposed convolutions C1 then 1 channel to 28x28, sigmoid; encoder k4 s2
/// convolutions C1 then C2 channels, leaky ReLU 0.1, a head to (mu, log sigma^2).
/// `c` = [C1, C2].
pub fn iabp_mnist_net(d: usize, c: [usize; 2]) -> Spec {
    hiabp_mnist_net(&[d], c)
}

/// One bottom-up feature block of the HiABP and IABP encoders: a k4 s2 p1 convolution to
/// `channels` maps (28x28 -> 14x14, 14x14 -> 7x7), leaky ReLU 0.1.
fn down(channels: usize) -> Vec<Layer> {
    vec![
        Layer::Conv2d {
            channels,
            kernel: 4,
            stride: 2,
            padding: 1,
        },
        Layer::LeakyRelu { slope: 0.1 },
    ]
}

/// HiABP's generator and encoder on 28x28 gray images in [0, 1] (Sun, Liu and Zhou 2021, the
/// MNIST blocks) with L = `levels.len()` latent levels of sizes `levels` = [d_1, ..., d_L]
/// (bottom first; Z = [z^1 | ... | z^L]), `c` = [C1, C2] the channels at 14x14 and 7x7,
/// leaky ReLU 0.1, a sigmoid at the bottom.
///
/// The paper gives each level's f^l two stride-2 transposed convolutions; at 28x28 that leaves
/// no room for three levels (the top would start below 2x2), so the levels share the two
/// upsamplings of the IABP net ([`iabp_mnist_net`]), the finest level entering last. Top
/// down:
/// - z^L: `take`, fc to C2 x 7 x 7, leaky ReLU;
/// - z^{L-1}, ..., z^2 (L >= 3): each `inject`ed at 7x7 with max(C2 / 4, 1) channels;
/// - k4 s2 p1 transposed convolution to C1 x 14 x 14, leaky ReLU;
/// - z^1 (L >= 2): `inject`ed at 14x14 with max(C1 / 4, 1) channels;
/// - k4 s2 p1 transposed convolution to 1 x 28 x 28, sigmoid.
///
/// The encoder mirrors it bottom up, h^l = g^l(h^{l-1}) with a head per level: a block for
/// the 28 -> 14 convolution (C1 maps), the head of level 1 (L >= 2); a block for 14 -> 7 (C2
/// maps), the head of level 2 (of level 1 when L = 1: the IABP encoder); for each level
/// l = 3, ..., L an fc block (C2 * 4 values, leaky ReLU) and its head (the k4 s2 convolution
/// blocks of `down`; 28x28 allows two).
///
/// Panics if `levels` is empty or holds a zero.
pub fn hiabp_mnist_net(levels: &[usize], c: [usize; 2]) -> Spec {
    assert!(
        !levels.is_empty() && !levels.contains(&0),
        "HiABP needs at least one level, each of positive size (got {levels:?})"
    );
    let top = levels.len();
    let leaky = || Layer::LeakyRelu { slope: 0.1 };
    let up = |channels| Layer::ConvTranspose2d {
        channels,
        kernel: 4,
        stride: 2,
        padding: 1,
        output_padding: 0,
    };
    let mut layers = vec![
        Layer::Take { level: top },
        Layer::Dense { out: c[1] * 49 },
        Layer::Reshape { shape: [c[1], 7, 7] },
        leaky(),
    ];
    for level in (2..top).rev() {
        layers.push(Layer::Inject {
            level,
            channels: (c[1] / 4).max(1),
        });
    }
    layers.extend([up(c[0]), leaky()]);
    if top >= 2 {
        layers.push(Layer::Inject {
            level: 1,
            channels: (c[0] / 4).max(1),
        });
    }
    layers.extend([up(1), Layer::Sigmoid]);

    let mut encoder = down(c[0]);
    if top >= 2 {
        encoder.push(Layer::Head { level: 1 });
    }
    encoder.extend(down(c[1]));
    encoder.push(Layer::Head { level: top.min(2) });
    for level in 3..=top {
        encoder.extend([Layer::Dense { out: c[1] * 4 }, leaky()]);
        encoder.push(Layer::Head { level });
    }
    Spec {
        latent: [levels.iter().sum(), 1, 1],
        layers,
        encoder: Some(encoder),
        levels: Some(levels.to_vec()),
    }
}
