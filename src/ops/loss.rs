//! The residual and squared error of the model Y = f(Z) + e, e ~ N(0, sigma^2)
//! (shaders/loss.wgsl).
//!
//! r = mask * (y - f) / sigma^2 is the gradient of log p(Y | Z) with respect to f, which the
//! generator's backward pass carries to Z (inference) or W (learning); sse\[b\] is example b's
//! sum of squared errors over its observed pixels, so -log p(Y | Z) = sse / (2 sigma^2) + const.
//! A pixel is observed where its mask value is non-zero (masks hold 0 or 1); an unobserved
//! pixel gives r = +0 and adds nothing to sse, whatever y holds there (even NaN).
//! Sums are deterministic (fixed order, no atomics).

use crate::gpu::{grid, Gpu, Op, Params, Tensor, WORKGROUP};
use anyhow::{ensure, Result};

/// Elements per chunk of an example's sum: one workgroup's share.
const PER_CHUNK: usize = 16384;

/// r = mask * (y - f) / sigma^2 and sse\[b\] = sum over observed pixels of example b of
/// (y - f)^2. y, f, r (and mask, if any): \[batch, per_example\]; sse: \[batch\], overwritten.
/// r must not alias y, f or mask.
#[allow(clippy::too_many_arguments)]
pub fn residual(
    gpu: &Gpu,
    batch: usize,
    per_example: usize,
    y: &Tensor,
    f: &Tensor,
    mask: Option<&Tensor>,
    sigma: f32,
    r: &Tensor,
    sse: &Tensor,
) -> Result<Op> {
    ensure!(
        batch > 0 && per_example > 0,
        "residual: empty shape [{batch}, {per_example}]"
    );
    ensure!(
        sigma > 0.0 && sigma.is_finite(),
        "residual: sigma {sigma} must be positive and finite"
    );
    let n = batch * per_example;
    ensure!(
        n < (u32::MAX as usize) / 2,
        "residual: [{batch}, {per_example}] is too large"
    );
    for (what, t) in [("y", y), ("f", f), ("r", r)]
        .into_iter()
        .chain(mask.map(|m| ("mask", m)))
    {
        ensure!(
            t.len() >= n,
            "residual: {what} {:?} ({}) holds fewer than [{batch}, {per_example}]",
            t.shape,
            t.label
        );
    }
    ensure!(
        sse.len() >= batch,
        "residual: sse {:?} holds fewer than {batch} values",
        sse.shape
    );
    let v4 = per_example.is_multiple_of(4);
    let w = if v4 { 4 } else { 1 };
    let ru = per_example / w;
    let per = PER_CHUNK / w;
    let chunks = ru.div_ceil(per).max(1);
    let per_chunk = if chunks == 1 { ru } else { per };
    // Threads per row: about 4 units each for short rows, a whole workgroup for long ones.
    let tpr = if chunks > 1 {
        WORKGROUP as usize
    } else {
        ru.div_ceil(4).next_power_of_two().clamp(16, WORKGROUP as usize)
    };
    let rpw = WORKGROUP as usize / tpr;
    let blocks = batch.div_ceil(rpw);
    let inv_s2 = 1.0 / (sigma * sigma);
    let prm = Params::new()
        .u(batch)
        .u(ru)
        .u(chunks)
        .u(per_chunk)
        .u(tpr)
        .u(rpw)
        .f(inv_s2);
    let consts = [
        ("V4", if v4 { 1.0 } else { 0.0 }),
        ("MASKED", if mask.is_some() { 1.0 } else { 0.0 }),
    ];
    // Without a mask, binding 3 is never read; any read-only buffer fills the slot.
    let m = mask.unwrap_or(y);
    let nf = n as f64;
    let bytes = nf * 4.0 * if mask.is_some() { 4.0 } else { 3.0 };
    if chunks == 1 {
        let d = gpu.dispatch(
            "loss",
            "residual",
            &consts,
            Some(&prm),
            &[&y.buffer, &f.buffer, &m.buffer, &r.buffer, &sse.buffer, &sse.buffer],
            grid(blocks as u32),
        )?;
        return Ok(Op::new(vec![d.with_cost(4.0 * nf, bytes + 4.0 * batch as f64)]));
    }
    let part = gpu.zeros("residual partials", &[batch, chunks])?;
    let d1 = gpu.dispatch(
        "loss",
        "residual",
        &consts,
        Some(&prm),
        &[&y.buffer, &f.buffer, &m.buffer, &r.buffer, &part.buffer, &sse.buffer],
        grid((blocks * chunks) as u32),
    )?;
    let d2 = gpu.dispatch(
        "loss",
        "finish",
        &consts,
        Some(&prm),
        &[&y.buffer, &f.buffer, &m.buffer, &r.buffer, &part.buffer, &sse.buffer],
        grid((batch as u32).div_ceil(WORKGROUP)),
    )?;
    let pc = (batch * chunks) as f64;
    Ok(Op::new(vec![
        d1.with_cost(4.0 * nf, bytes + 4.0 * pc),
        d2.with_cost(pc, 4.0 * (pc + batch as f64)),
    ])
    .with_scratch(part))
}

/// The plain-Rust twin: (r, sse), sse accumulated in f64.
pub mod cpu {
    pub fn residual(
        batch: usize,
        per_example: usize,
        y: &[f32],
        f: &[f32],
        mask: Option<&[f32]>,
        sigma: f32,
    ) -> (Vec<f32>, Vec<f32>) {
        let inv_s2 = 1.0 / (sigma * sigma);
        let n = batch * per_example;
        let mut r = vec![0f32; n];
        let mut sse = vec![0f32; batch];
        for (b, out) in sse.iter_mut().enumerate() {
            let mut acc = 0f64;
            for i in 0..per_example {
                let j = b * per_example + i;
                let observed = mask.is_none_or(|m| m[j] != 0.0);
                let d = if observed { y[j] - f[j] } else { 0.0 };
                r[j] = d * inv_s2;
                acc += d as f64 * d as f64;
            }
            *out = acc as f32;
        }
        (r, sse)
    }
}
