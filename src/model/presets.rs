//! The paper's networks (sections 5.1-5.3) and quick variants that train in minutes on a
//! software adapter.

use super::spec::{Layer, Spec};
use crate::ops::activation::Activation;

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
    }
}

/// Paper 5.2: z 1x6, four k25 s10 transposed convolutions 256-128-64-1 to 60000 samples.
pub fn sound_net() -> Spec {
    Spec {
        latent: [1, 1, 6],
        layers: stack(vec![], conv1d, &[256, 128, 64, 1], Activation::Relu),
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
    }
}
