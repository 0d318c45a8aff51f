//! The encoder's proposal of each Langevin chain's start and the gradient of the encoder's fit
//! (IABP's initializing and the encoder's learning; shaders/proposal.wgsl).
//!
//! `enc` is the encoder's output [batch, 2d]: per example the means mu (its first d values)
//! and the log-variances lv = log sigma^2 (the next d). `z` is [batch, d].
//! - [`propose`]: `z = mu + exp(lv / 2) eps`, where eps of local element i is the N(0, 1)
//!   sample of global element `index_offset + i` at the step `step[0]` (as the Langevin noise,
//!   see `ops::langevin`); without noise `z = mu` (the encoder's point estimate, `[E]`).
//! - [`fit`]: the gradient of the log-density of N(z; mu, sigma^2) up to a constant,
//!   `-(|z - mu|^2 / (2 sigma^2) + (1/2) log sigma^2)`, w.r.t. (mu, lv) with z held fixed, in
//!   the encoder's output gradient: `g_mu = (z - mu) / sigma^2`, `g_lv = ((z - mu)^2 / sigma^2 - 1) / 2`.
//!   Ascending it is the paper's descent on `|z_T - mu|^2 / (2 sigma^2) + (1/2) log sigma^2`.
//!
//! lv is clamped to [-12, 8] where it is used (the gradient treats it as unclamped).

use crate::gpu::{Gpu, Op, Params, Tensor};
use anyhow::{ensure, Result};

pub const LV_MIN: f32 = -12.0;
pub const LV_MAX: f32 = 8.0;

fn check(what: &str, enc: &Tensor, z: &Tensor, d: usize) -> Result<usize> {
    ensure!(d > 0, "proposal::{what}: d must be positive");
    let n = z.len();
    ensure!(
        n.is_multiple_of(d) && enc.len() == 2 * n,
        "proposal::{what}: the encoder's output {:?} does not hold a mean and a log-variance for each of z's {:?} values",
        enc.shape,
        z.shape
    );
    Ok(n)
}

/// `z = mu + exp(lv / 2) eps` (or `z = mu` without `noise`) for every example of the batch.
#[allow(clippy::too_many_arguments)]
pub fn propose(
    gpu: &Gpu,
    enc: &Tensor,
    z: &Tensor,
    d: usize,
    step: &Tensor,
    noise: bool,
    key: [u32; 2],
    index_offset: u32,
) -> Result<Op> {
    let n = check("propose", enc, z, d)?;
    ensure!(!step.is_empty(), "proposal::propose: the step tensor is empty");
    ensure!(
        index_offset as u64 + n as u64 + 8 <= u32::MAX as u64,
        "proposal::propose: element indices {index_offset} + {n} exceed 32 bits"
    );
    let n4 = n.div_ceil(4);
    let params = Params::new()
        .u(n)
        .u(n4)
        .u(d)
        .u(key[0] as usize)
        .u(key[1] as usize)
        .u(index_offset as usize);
    let dsp = gpu.elementwise(
        "proposal",
        "propose",
        &[
            ("NOISE", if noise { 1.0 } else { 0.0 }),
            super::philox::aligned(index_offset),
        ],
        &params,
        &[&step.buffer, &enc.buffer, &z.buffer],
        n4,
    )?;
    let nf = n as f64;
    Ok(dsp.with_cost(nf * if noise { 80.0 } else { 20.0 }, nf * 12.0).into())
}

/// The encoder's output gradient `grad` [batch, 2d] of the fit of N(mu, sigma^2) to `z`.
pub fn fit(gpu: &Gpu, enc: &Tensor, z: &Tensor, d: usize, grad: &Tensor) -> Result<Op> {
    let n = check("fit", enc, z, d)?;
    ensure!(
        grad.len() == enc.len(),
        "proposal::fit: grad {:?} is not shaped as the encoder's output {:?}",
        grad.shape,
        enc.shape
    );
    let n4 = n.div_ceil(4);
    let params = Params::new().u(n).u(n4).u(d).u(0).u(0).u(0);
    let dsp = gpu.elementwise(
        "proposal",
        "fit",
        &[],
        &params,
        &[&z.buffer, &enc.buffer, &z.buffer, &grad.buffer],
        n4,
    )?;
    let nf = n as f64;
    Ok(dsp.with_cost(nf * 25.0, nf * 16.0).into())
}

/// The plain-Rust twin.
pub mod cpu {
    use super::{LV_MAX, LV_MIN};
    use crate::ops::philox::cpu::normal_at;

    /// (mu, clamped lv) of element i of z.
    fn stats(enc: &[f32], d: usize, i: usize) -> (f32, f32) {
        let (b, k) = (i / d, i % d);
        (enc[b * 2 * d + k], enc[b * 2 * d + d + k].clamp(LV_MIN, LV_MAX))
    }

    pub fn propose(enc: &[f32], d: usize, noise: bool, key: [u32; 2], step: u32, index_offset: u32) -> Vec<f32> {
        (0..enc.len() / 2)
            .map(|i| {
                let (mu, lv) = stats(enc, d, i);
                let eps = if noise {
                    normal_at(key, step, index_offset + i as u32)
                } else {
                    0.0
                };
                mu + (0.5 * lv).exp() * eps
            })
            .collect()
    }

    /// The encoder's loss `sum |z - mu|^2 / (2 sigma^2) + (1/2) log sigma^2` (for the finite
    /// differences of the tests).
    pub fn loss(enc: &[f32], z: &[f32], d: usize) -> f64 {
        (0..z.len())
            .map(|i| {
                let (mu, lv) = stats(enc, d, i);
                let r = (z[i] - mu) as f64;
                r * r / (2.0 * (lv as f64).exp()) + 0.5 * lv as f64
            })
            .sum()
    }

    /// The gradient of `-loss` w.r.t. the encoder's output, as the shader computes it.
    pub fn fit(enc: &[f32], z: &[f32], d: usize) -> Vec<f32> {
        let mut g = vec![0.0; enc.len()];
        for (i, &zi) in z.iter().enumerate() {
            let (b, k) = (i / d, i % d);
            let (mu, lv) = stats(enc, d, i);
            let (r, w) = (zi - mu, (-lv).exp());
            g[b * 2 * d + k] = r * w;
            g[b * 2 * d + d + k] = 0.5 * (r * r * w - 1.0);
        }
        g
    }
}
