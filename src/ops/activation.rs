//! ReLU, leaky ReLU, tanh and sigmoid: forward and backward (shaders/activation.wgsl).

use crate::gpu::{Dispatch, Gpu, Params, Tensor};
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Activation {
    Relu,
    LeakyRelu { slope: f32 },
    Tanh,
    Sigmoid,
}

impl Activation {
    fn kind(self) -> (f64, f32) {
        match self {
            Activation::Relu => (0.0, 0.0),
            Activation::LeakyRelu { slope } => (1.0, slope),
            Activation::Tanh => (2.0, 0.0),
            Activation::Sigmoid => (3.0, 0.0),
        }
    }
}

fn launch(gpu: &Gpu, entry: &str, act: Activation, a: &Tensor, b: Option<&Tensor>, out: &Tensor) -> Result<Dispatch> {
    ensure!(
        a.len() == out.len(),
        "activation {entry}: {:?} and {:?} differ in size",
        a.shape,
        out.shape
    );
    let (kind, slope) = act.kind();
    let n4 = a.len().div_ceil(4);
    let params = Params::new().u(n4).f(slope);
    let b = b.unwrap_or(a);
    ensure!(
        b.len() == out.len(),
        "activation {entry}: {:?} and {:?} differ in size",
        b.shape,
        out.shape
    );
    let d = gpu.elementwise(
        "activation",
        entry,
        &[("KIND", kind)],
        &params,
        &[&a.buffer, &b.buffer, &out.buffer],
        n4,
    )?;
    let n = a.len() as f64;
    Ok(d.with_cost(n * 4.0, n * 4.0 * if entry == "forward" { 2.0 } else { 3.0 }))
}

/// y = f(x)
pub fn forward(gpu: &Gpu, act: Activation, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    launch(gpu, "forward", act, x, None, y)
}

/// dx = dy * f'(x), given y = f(x).
pub fn backward(gpu: &Gpu, act: Activation, y: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    launch(gpu, "backward", act, y, Some(dy), dx)
}

/// The plain-Rust twin.
pub mod cpu {
    use super::Activation;

    pub fn apply(act: Activation, x: f32) -> f32 {
        match act {
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { slope } => {
                if x > 0.0 {
                    x
                } else {
                    x * slope
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }

    pub fn derivative_from_output(act: Activation, y: f32) -> f32 {
        match act {
            Activation::Relu => (y > 0.0) as i32 as f32,
            Activation::LeakyRelu { slope } => {
                if y > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            Activation::Tanh => 1.0 - y * y,
            Activation::Sigmoid => y * (1.0 - y),
        }
    }

    pub fn forward(act: Activation, x: &[f32]) -> Vec<f32> {
        x.iter().map(|&v| apply(act, v)).collect()
    }

    pub fn backward(act: Activation, y: &[f32], dy: &[f32]) -> Vec<f32> {
        y.iter()
            .zip(dy)
            .map(|(&y, &g)| g * derivative_from_output(act, y))
            .collect()
    }
}
