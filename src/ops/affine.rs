//! A per-channel affine map, y = a\[c\] x + b\[c\], for x viewed as [batch, channels, spatial]
//! (shaders/affine.wgsl): batch norm in eval mode, where the population statistics of the
//! checkpoint are folded into a = gamma / sqrt(var + eps) and b = beta - a mean, and its
//! back-propagation to the input, dx = a\[c\] dy (no b). Elementwise: every output depends on
//! its own input alone, so an output never depends on the other examples of its batch.

use super::batch_norm::BnShape;
use crate::gpu::{Dispatch, Gpu, Params, Tensor};
use anyhow::{ensure, Result};

/// y = a\[c\] x + b\[c\] (or a\[c\] x without `b`); x and y hold `s.len()` elements, a and b
/// `s.channels`. May run in place (x and y the same tensor) only through two tensors: wgpu
/// binds a buffer once per dispatch.
pub fn forward(gpu: &Gpu, s: &BnShape, x: &Tensor, a: &Tensor, b: Option<&Tensor>, y: &Tensor) -> Result<Dispatch> {
    let n = s.len();
    ensure!(
        x.len() == n && y.len() == n,
        "affine: x {:?} and y {:?} must hold {n} elements ({s:?})",
        x.shape,
        y.shape
    );
    ensure!(
        a.len() == s.channels && b.is_none_or(|b| b.len() == s.channels),
        "affine: a and b must hold {} values, one per channel",
        s.channels
    );
    ensure!(s.spatial > 0 && s.channels > 0, "affine: empty shape {s:?}");
    let params = Params::new().u(n).u(s.channels).u(s.spatial);
    let d = gpu.elementwise(
        "affine",
        "affine",
        &[("BIAS", if b.is_some() { 1.0 } else { 0.0 })],
        &params,
        &[&x.buffer, &a.buffer, &b.unwrap_or(a).buffer, &y.buffer],
        n,
    )?;
    Ok(d.with_cost(2.0 * n as f64, 8.0 * n as f64))
}

/// The plain-Rust twin.
pub mod cpu {
    use super::BnShape;

    /// y = a\[c\] x + b\[c\] (or a\[c\] x without `b`).
    pub fn forward(s: &BnShape, x: &[f32], a: &[f32], b: Option<&[f32]>) -> Vec<f32> {
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = (i / s.spatial) % s.channels;
                a[c] * v + b.map_or(0.0, |b| b[c])
            })
            .collect()
    }

    /// (a, b) of batch norm in eval mode: a = gamma / sqrt(var + eps), b = beta - a mean.
    pub fn fold(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>) {
        let a: Vec<f32> = gamma
            .iter()
            .zip(var)
            .map(|(&g, &v)| (g as f64 / (v as f64 + eps as f64).sqrt()) as f32)
            .collect();
        let b = beta
            .iter()
            .zip(&a)
            .zip(mean)
            .map(|((&be, &a), &m)| (be as f64 - a as f64 * m as f64) as f32)
            .collect();
        (a, b)
    }
}
