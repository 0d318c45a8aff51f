//! Batch normalization on the current batch's statistics, as in
//! the ABP authors' release: no running averages, per-channel scale `gamma` and shift `beta`.
//!
//! x is viewed as [batch, channels, spatial] (spatial = h*w, a length for 1-D data, or 1 after
//! a dense layer). The statistics are biased (divided by m = batch * spatial).
//!
//! Per-channel sums are deterministic (fixed order, no atomics). A channel's elements are
//! split into chunks, each reduced by one workgroup, and the chunks merged in order by a
//! finish pass; then a third pass writes y (or dx). When a channel fits in one chunk a single
//! fused dispatch does all three. Two work layouts, each a file with its shader: rows of more
//! than 64 units (vec4 when spatial % 4 == 0) use one workgroup per (channel, chunk of units)
//! (src/ops/batch_norm/rows.rs); shorter rows (many channels with small spatial, spatial 1
//! after a dense layer) one workgroup per (block of 64 / units channels, chunk of examples),
//! so neighbouring threads read neighbouring addresses (src/ops/batch_norm/columns.rs). This
//! file plans, checks and merges the chunks (shaders/batch_norm.wgsl); the pieces every
//! kernel shares are in shaders/batch_norm_common.wgsl.
//! Mean and variance come from per-thread sums shifted by a member of the thread's own set,
//! turned into (count, mean, M2) and merged with Chan et al.'s formula: no E\[x^2\] - E\[x\]^2
//! cancellation, whatever the mean (see shaders/batch_norm_common.wgsl).
//!
//! Neither pass may run in place (x and y, or dy and dx, must be different tensors).

use crate::gpu::{grid, Dispatch, Gpu, Op, Params, Tensor};
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

/// x viewed as [batch, channels, spatial].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BnShape {
    pub batch: usize,
    pub channels: usize,
    pub spatial: usize,
}

impl BnShape {
    /// Elements of x.
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.spatial
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Elements per channel: m = batch * spatial.
    pub fn per_channel(&self) -> usize {
        self.batch * self.spatial
    }
}

/// Threads per workgroup (WG in shaders/batch_norm_common.wgsl).
const WORKGROUP: u32 = 64;
/// Elements per chunk of a channel's sum: one workgroup's share.
const PER_CHUNK: usize = 16384;
/// Rows of at most this many units (vec4 or f32) use the column layout.
const COL_MAX_UNITS: usize = 64;

struct Plan {
    /// The layout's shader (rows or columns).
    shader: &'static str,
    v4: bool,
    su: usize,
    mu: usize,
    chunks: usize,
    per_chunk: usize,
    cpw: usize,
    bper: usize,
    /// Workgroups of the partial (or fused) pass.
    groups: usize,
}

fn plan(s: &BnShape) -> Plan {
    let v4 = s.spatial.is_multiple_of(4);
    let su = s.spatial / if v4 { 4 } else { 1 };
    if su <= COL_MAX_UNITS {
        columns::plan(s, v4, su)
    } else {
        rows::plan(s, v4, su)
    }
}

fn params(s: &BnShape, pl: &Plan, eps: f32) -> Params {
    Params::new()
        .u(s.channels)
        .u(pl.su)
        .u(pl.mu)
        .u(pl.chunks)
        .u(pl.per_chunk)
        .u((WORKGROUP as usize / pl.su) * s.channels * pl.su + WORKGROUP as usize % pl.su)
        .u(WORKGROUP as usize % pl.su)
        .u((s.channels - 1) * pl.su)
        .f(s.per_channel() as f32)
        .f(eps)
        .u(s.batch)
        .u(pl.cpw)
        .u(pl.bper)
}

fn check(s: &BnShape, what: &str, t: &Tensor, need: usize) -> Result<()> {
    ensure!(
        t.len() >= need,
        "batch_norm: {what} {:?} ({}) holds fewer than the {need} values of {s:?}",
        t.shape,
        t.label
    );
    Ok(())
}

fn check_shape(s: &BnShape) -> Result<()> {
    ensure!(
        s.batch > 0 && s.channels > 0 && s.spatial > 0,
        "batch_norm: empty shape {s:?}"
    );
    ensure!(
        s.len() < (u32::MAX as usize) / 2,
        "batch_norm: shape {s:?} is too large"
    );
    Ok(())
}

/// The buffers for bindings 1..=10 (batch_norm_common.wgsl); entry points bind only those they use,
/// so the unused slots hold any buffer (x).
#[allow(clippy::too_many_arguments)]
fn slots<'a>(
    x: &'a Tensor,
    gamma: Option<&'a Tensor>,
    beta: Option<&'a Tensor>,
    stats: &'a Tensor,
    y: Option<&'a Tensor>,
    part: Option<&'a Tensor>,
    dy: Option<&'a Tensor>,
    dx: Option<&'a Tensor>,
    dgamma: Option<&'a Tensor>,
    dbeta: Option<&'a Tensor>,
) -> [&'a wgpu::Buffer; 10] {
    let b = |t: Option<&'a Tensor>| &t.unwrap_or(x).buffer;
    [
        &x.buffer,
        b(gamma),
        b(beta),
        &stats.buffer,
        b(y),
        b(part),
        b(dy),
        b(dx),
        b(dgamma),
        b(dbeta),
    ]
}

/// A dispatch of `entry` in `shader`: the layout's (`pl.shader`) or this file's
/// ("batch_norm", the merges of the chunks).
fn launch(
    gpu: &Gpu,
    shader: &str,
    entry: &str,
    pl: &Plan,
    prm: &Params,
    bufs: &[&wgpu::Buffer; 10],
    groups: u32,
) -> Result<Dispatch> {
    gpu.dispatch(
        shader,
        entry,
        &[("V4", if pl.v4 { 1.0 } else { 0.0 })],
        Some(prm),
        bufs,
        grid(groups),
    )
}

/// The three passes of a channel split into chunks: per-chunk partial sums (the layout's
/// shader), their merge per channel (batch_norm.wgsl), the elementwise pass (the layout's
/// shader), with their (flop, byte) costs.
fn chunked(
    gpu: &Gpu,
    (pl, prm, bufs, c): (&Plan, &Params, &[&wgpu::Buffer; 10], usize),
    entries: [&str; 3],
    costs: [(f64, f64); 3],
) -> Result<Vec<Dispatch>> {
    let groups = [pl.groups as u32, (c as u32).div_ceil(WORKGROUP), pl.groups as u32];
    let shaders = [pl.shader, "batch_norm", pl.shader];
    let mut ds = Vec::new();
    for k in 0..3 {
        let d = launch(gpu, shaders[k], entries[k], pl, prm, bufs, groups[k])?;
        ds.push(d.with_cost(costs[k].0, costs[k].1));
    }
    Ok(ds)
}

/// y = gamma * (x - mean) / sqrt(var + eps) + beta per channel, with the mean and biased
/// variance of the current batch; writes `stats` [2, channels] = (mean, 1/sqrt(var + eps)) for
/// the backward pass. x, y: \[batch, channels, spatial\]; gamma, beta: \[channels\].
#[allow(clippy::too_many_arguments)]
pub fn forward(
    gpu: &Gpu,
    shape: &BnShape,
    eps: f32,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    y: &Tensor,
    stats: &Tensor,
) -> Result<Op> {
    check_shape(shape)?;
    ensure!(eps >= 0.0 && eps.is_finite(), "batch_norm: eps {eps} must be >= 0");
    let n = shape.len();
    let c = shape.channels;
    check(shape, "x", x, n)?;
    check(shape, "y", y, n)?;
    check(shape, "gamma", gamma, c)?;
    check(shape, "beta", beta, c)?;
    check(shape, "stats", stats, 2 * c)?;
    let pl = plan(shape);
    let prm = params(shape, &pl, eps);
    let nf = n as f64;
    let cf = c as f64;
    if pl.chunks == 1 {
        let bufs = slots(x, Some(gamma), Some(beta), stats, Some(y), None, None, None, None, None);
        let d = launch(gpu, pl.shader, "forward_fused", &pl, &prm, &bufs, pl.groups as u32)?;
        return Ok(Op::new(vec![d.with_cost(10.0 * nf, 12.0 * nf + 16.0 * cf)]));
    }
    let part = gpu.zeros("batch_norm partials", &[c, pl.chunks, 3])?;
    let bufs = slots(
        x,
        Some(gamma),
        Some(beta),
        stats,
        Some(y),
        Some(&part),
        None,
        None,
        None,
        None,
    );
    let cc = (c * pl.chunks) as f64;
    let ds = chunked(
        gpu,
        (&pl, &prm, &bufs, c),
        ["stats_partial", "stats_finish", "normalize"],
        [
            (6.0 * nf, 4.0 * nf + 12.0 * cc),
            (10.0 * cc, 12.0 * cc + 8.0 * cf),
            (3.0 * nf, 8.0 * nf + 16.0 * cf),
        ],
    )?;
    Ok(Op::new(ds).with_scratch(part))
}

/// The backward pass of `forward` (same `stats`), through the batch mean and variance:
/// dbeta = sum dy, dgamma = sum dy * xhat, dx = gamma * inv_std / m * (m * dy - dbeta -
/// xhat * dgamma), with xhat = (x - mean) * inv_std and m = batch * spatial. dgamma and dbeta
/// are overwritten, not accumulated.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    gpu: &Gpu,
    shape: &BnShape,
    x: &Tensor,
    gamma: &Tensor,
    stats: &Tensor,
    dy: &Tensor,
    dx: &Tensor,
    dgamma: &Tensor,
    dbeta: &Tensor,
) -> Result<Op> {
    check_shape(shape)?;
    let n = shape.len();
    let c = shape.channels;
    check(shape, "x", x, n)?;
    check(shape, "dy", dy, n)?;
    check(shape, "dx", dx, n)?;
    check(shape, "gamma", gamma, c)?;
    check(shape, "dgamma", dgamma, c)?;
    check(shape, "dbeta", dbeta, c)?;
    check(shape, "stats", stats, 2 * c)?;
    let pl = plan(shape);
    let prm = params(shape, &pl, 0.0);
    let nf = n as f64;
    let cf = c as f64;
    if pl.chunks == 1 {
        let bufs = slots(
            x,
            Some(gamma),
            None,
            stats,
            None,
            None,
            Some(dy),
            Some(dx),
            Some(dgamma),
            Some(dbeta),
        );
        let d = launch(gpu, pl.shader, "backward_fused", &pl, &prm, &bufs, pl.groups as u32)?;
        return Ok(Op::new(vec![d.with_cost(10.0 * nf, 20.0 * nf + 20.0 * cf)]));
    }
    let part = gpu.zeros("batch_norm grad partials", &[c, pl.chunks, 2])?;
    let bufs = slots(
        x,
        Some(gamma),
        None,
        stats,
        None,
        Some(&part),
        Some(dy),
        Some(dx),
        Some(dgamma),
        Some(dbeta),
    );
    let cc = (c * pl.chunks) as f64;
    let ds = chunked(
        gpu,
        (&pl, &prm, &bufs, c),
        ["grad_partial", "grad_finish", "grad_input"],
        [
            (4.0 * nf, 8.0 * nf + 8.0 * cc),
            (2.0 * cc, 8.0 * cc + 12.0 * cf),
            (6.0 * nf, 12.0 * nf + 20.0 * cf),
        ],
    )?;
    Ok(Op::new(ds).with_scratch(part))
}

mod columns;
mod rows;

/// The plain-Rust twin, computed in f64 (the `_f64` functions are exposed for finite-difference
/// checks; the f32 ones round their results).
pub mod cpu {
    use super::BnShape;

    /// Forward pass in f64: (y, stats) with stats = [mean.., inv_std..].
    pub fn forward_f64(s: &BnShape, eps: f64, x: &[f64], gamma: &[f64], beta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (b, c, sp) = (s.batch, s.channels, s.spatial);
        let m = (b * sp) as f64;
        let mut y = vec![0.0; x.len()];
        let mut stats = vec![0.0; 2 * c];
        for ch in 0..c {
            let idx = |o: usize, i: usize| (o * c + ch) * sp + i;
            let mut sum = 0.0;
            for o in 0..b {
                for i in 0..sp {
                    sum += x[idx(o, i)];
                }
            }
            let mean = sum / m;
            let mut ss = 0.0;
            for o in 0..b {
                for i in 0..sp {
                    let d = x[idx(o, i)] - mean;
                    ss += d * d;
                }
            }
            let inv = 1.0 / (ss / m + eps).sqrt();
            stats[ch] = mean;
            stats[c + ch] = inv;
            for o in 0..b {
                for i in 0..sp {
                    y[idx(o, i)] = gamma[ch] * (x[idx(o, i)] - mean) * inv + beta[ch];
                }
            }
        }
        (y, stats)
    }

    /// Backward pass in f64: (dx, dgamma, dbeta), given the forward's stats.
    pub fn backward_f64(
        s: &BnShape,
        x: &[f64],
        gamma: &[f64],
        stats: &[f64],
        dy: &[f64],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (b, c, sp) = (s.batch, s.channels, s.spatial);
        let m = (b * sp) as f64;
        let mut dx = vec![0.0; x.len()];
        let mut dgamma = vec![0.0; c];
        let mut dbeta = vec![0.0; c];
        for ch in 0..c {
            let idx = |o: usize, i: usize| (o * c + ch) * sp + i;
            let (mean, inv) = (stats[ch], stats[c + ch]);
            let (mut db, mut dg) = (0.0, 0.0);
            for o in 0..b {
                for i in 0..sp {
                    let j = idx(o, i);
                    db += dy[j];
                    dg += dy[j] * (x[j] - mean) * inv;
                }
            }
            dbeta[ch] = db;
            dgamma[ch] = dg;
            let k = gamma[ch] * inv / m;
            for o in 0..b {
                for i in 0..sp {
                    let j = idx(o, i);
                    let xhat = (x[j] - mean) * inv;
                    dx[j] = k * (m * dy[j] - db - xhat * dg);
                }
            }
        }
        (dx, dgamma, dbeta)
    }

    fn up(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&a| a as f64).collect()
    }
    fn down(v: Vec<f64>) -> Vec<f32> {
        v.into_iter().map(|a| a as f32).collect()
    }

    /// Forward pass: (y, stats) with stats [2, channels] = (mean, 1/sqrt(var + eps)).
    pub fn forward(s: &BnShape, eps: f32, x: &[f32], gamma: &[f32], beta: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (y, st) = forward_f64(s, eps as f64, &up(x), &up(gamma), &up(beta));
        (down(y), down(st))
    }

    /// Backward pass: (dx, dgamma, dbeta).
    pub fn backward(
        s: &BnShape,
        x: &[f32],
        gamma: &[f32],
        stats: &[f32],
        dy: &[f32],
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (dx, dg, db) = backward_f64(s, &up(x), &up(gamma), &up(stats), &up(dy));
        (down(dx), down(dg), down(db))
    }
}
