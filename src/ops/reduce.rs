//! Deterministic reductions (shaders/reduce.wgsl): per-channel sums over batch and space,
//! per-example sums, and the maximum magnitude. No float atomics: same input, same bits.

use crate::gpu::{grid, Dispatch, Gpu, Op, Params, Tensor};
use anyhow::{ensure, Result};

/// Elements per partial sum: large enough to keep a workgroup busy, small enough that big
/// reductions spread over many workgroups.
const PER_CHUNK: usize = 16384;

/// Largest count of values per channel summed by one thread (the `serial` entry point).
const SERIAL_MAX: usize = 2048;

fn build(gpu: &Gpu, mode: f64, x: &Tensor, outer: usize, channels: usize, inner: usize, out: &Tensor) -> Result<Op> {
    ensure!(
        outer * channels * inner <= x.len(),
        "reduce: view [{outer}, {channels}, {inner}] exceeds tensor {:?}",
        x.shape
    );
    ensure!(
        out.len() >= channels,
        "reduce: output {:?} holds fewer than {channels} values",
        out.shape
    );
    let total = outer * inner;
    let chunks = total.div_ceil(PER_CHUNK).max(1);
    let per_chunk = if chunks == 1 { total.max(1) } else { PER_CHUNK };
    let c = [("MODE", mode)];
    let cost = |d: Dispatch| {
        let n = (outer * channels * inner) as f64;
        d.with_cost(n, n * 4.0)
    };
    if inner == 1 && outer <= 4096 && channels >= 256 {
        let params = Params::new().u(outer).u(channels).u(1).u(1).u(outer);
        let d = gpu.dispatch(
            "reduce",
            "columns",
            &c,
            Some(&params),
            &[&x.buffer, &out.buffer],
            grid((channels as u32).div_ceil(256)),
        )?;
        return Ok(Op::new(vec![cost(d)]));
    }
    // The partial sums read vec4 units when rows are whole vec4s.
    let v4 = inner.is_multiple_of(4);
    let w = if v4 { 4 } else { 1 };
    let (inner_u, per_u) = (inner / w, per_chunk / w);
    let c4 = [("MODE", mode), ("V4", v4 as u32 as f64)];
    if total <= SERIAL_MAX && channels >= 32 {
        // Few values per channel, many channels: a thread per channel beats a workgroup each.
        let params = Params::new().u(outer).u(channels).u(inner_u).u(1).u(per_u);
        let d = gpu.dispatch(
            "reduce",
            "serial",
            &c4,
            Some(&params),
            &[&x.buffer, &out.buffer, &x.buffer],
            grid((channels as u32).div_ceil(64)),
        )?;
        return Ok(Op::new(vec![cost(d)]));
    }
    if chunks == 1 {
        let params = Params::new().u(outer).u(channels).u(inner_u).u(1).u(per_u);
        let d = gpu.dispatch(
            "reduce",
            "partial",
            &c4,
            Some(&params),
            &[&x.buffer, &out.buffer, &x.buffer],
            grid(channels as u32),
        )?;
        return Ok(Op::new(vec![cost(d)]));
    }
    let partials = gpu.zeros("reduce partials", &[channels, chunks])?;
    let p1 = Params::new().u(outer).u(channels).u(inner_u).u(chunks).u(per_u);
    let d1 = gpu.dispatch(
        "reduce",
        "partial",
        &c4,
        Some(&p1),
        &[&x.buffer, &partials.buffer, &x.buffer],
        grid((channels * chunks) as u32),
    )?;
    let p2 = Params::new().u(1).u(channels).u(1).u(chunks).u(0);
    let d2 = gpu.dispatch(
        "reduce",
        "finish",
        &c,
        Some(&p2),
        &[&partials.buffer, &out.buffer],
        [(channels as u32).div_ceil(256), 1, 1],
    )?;
    Ok(Op::new(vec![cost(d1), d2]).with_scratch(partials))
}

/// out\[c\] = sum over o, i of x\[o, c, i\] for x viewed as \[outer, channels, inner\]
/// (the bias gradient of a layer, batch-norm statistics, per-example sums with outer = 1).
pub fn channel_sum(gpu: &Gpu, x: &Tensor, outer: usize, channels: usize, inner: usize, out: &Tensor) -> Result<Op> {
    build(gpu, 0.0, x, outer, channels, inner, out)
}

/// out\[r\] = sum over c of x\[r, c\] for x viewed as \[rows, cols\].
pub fn row_sum(gpu: &Gpu, x: &Tensor, rows: usize, cols: usize, out: &Tensor) -> Result<Op> {
    build(gpu, 0.0, x, 1, rows, cols, out)
}

/// out\[0\] = max |x| over the first `n` elements.
pub fn max_abs(gpu: &Gpu, x: &Tensor, n: usize, out: &Tensor) -> Result<Op> {
    build(gpu, 1.0, x, 1, 1, n, out)
}

/// The plain-Rust twin (f64 accumulation).
pub mod cpu {
    pub fn channel_sum(x: &[f32], outer: usize, channels: usize, inner: usize) -> Vec<f32> {
        (0..channels)
            .map(|c| {
                let mut s = 0f64;
                for o in 0..outer {
                    for i in 0..inner {
                        s += x[(o * channels + c) * inner + i] as f64;
                    }
                }
                s as f32
            })
            .collect()
    }
    pub fn row_sum(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        channel_sum(x, 1, rows, cols)
    }
    pub fn max_abs(x: &[f32]) -> f32 {
        x.iter().fold(0f32, |m, v| m.max(v.abs()))
    }
}
