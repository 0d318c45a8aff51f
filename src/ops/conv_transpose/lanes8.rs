//! The transposed-convolution passes for software adapters with subgroups of 8 lanes
//! (lavapipe), with the rules that choose them: the forward of 2-D layers by output phase and
//! both backward passes, each with B read from the windows of x or dy inside the multiply
//! (gemm_64x64_win, src/ops/gemm/lanes8.rs) instead of packed. Taken only where
//! [`Gpu::software_lanes8`] holds: a reader interested in GPUs can skip this file.

use super::phase::{phase_split, scatter, Scatter};
use super::{dx_map, x_view, ConvShape, Options};
use crate::gpu::{Gpu, Op, Tensor};
use crate::ops::gemm::{self, Affine, Epilogue, Gather, Kernel, Panels, Side};
use anyhow::{ensure, Result};

/// One output phase (ry, rx) of a 2-D layer: the outputs oy = sh qy + ry - ph, ox = sw qx + rx - pw
/// for qy0 <= qy < qy0 + qh, qx0 <= qx < qx0 + qw take the taps ky = ry + sh ty (ty < ty_n) and
/// kx = rx + sw tx (tx < tx_n) at the inputs (qy - ty, qx - tx).
struct Phase {
    ry: usize,
    rx: usize,
    ty_n: usize,
    tx_n: usize,
    qy0: i64,
    qx0: i64,
    qh: usize,
    qw: usize,
}

/// The phases of a layer, or None if some output phase has no taps (k < s).
fn phases(s: &ConvShape) -> Option<Vec<Phase>> {
    let ceil_div = |a: i64, b: i64| a.div_euclid(b) + (a.rem_euclid(b) != 0) as i64;
    // (taps, first q, count of q) along one axis for phase r.
    let axis = |r: usize, k: usize, st: usize, pad: usize, out: usize| -> Option<(usize, i64, usize)> {
        if r >= k {
            return None;
        }
        let (r, st, pad, out) = (r as i64, st as i64, pad as i64, out as i64);
        let lo = ceil_div(pad - r, st);
        let hi = (out - 1 + pad - r).div_euclid(st);
        Some((ceil_div(k as i64 - r, st) as usize, lo, (hi - lo + 1).max(0) as usize))
    };
    let mut v = Vec::new();
    for ry in 0..s.sh {
        for rx in 0..s.sw {
            let (ty_n, qy0, qh) = axis(ry, s.kh, s.sh, s.ph, s.h_out())?;
            let (tx_n, qx0, qw) = axis(rx, s.kw, s.sw, s.pw, s.w_out())?;
            if qh > 0 && qw > 0 {
                v.push(Phase {
                    ry,
                    rx,
                    ty_n,
                    tx_n,
                    qy0,
                    qx0,
                    qh,
                    qw,
                });
            }
        }
    }
    Some(v)
}

/// Whether the forward pass of a 2-D layer goes by phases with B gathered inside the GEMM
/// (`forward_window`): on software adapters with 8-lane subgroups, when the output channels fill
/// the 64-row tiles and the taps give a long K.
pub(super) fn window_wins(gpu: &Gpu, o: &Options, s: &ConvShape) -> bool {
    if phase_split(s).is_some() || !gpu.software_lanes8() {
        return false;
    }
    if o.kernel.is_some_and(|k| k != Kernel::Sg64x64) || phases(s).is_none() {
        return false;
    }
    if let Some(force) = o.phase {
        return force;
    }
    let taps_min = (s.kh / s.sh).max(1) * (s.kw / s.sw).max(1);
    s.c_out.div_ceil(64) * 64 * 10 <= s.c_out * 13 && s.c_out <= 512 && s.c_in * taps_min >= 64
}

/// Forward of a 2-D layer by output phases: per phase one GEMM (gemm_64x64_win) C[co][(b, q)]
/// = sum over (ci, ty, tx) of w[ci, co, ry + sh ty, rx + sw tx] x[b, ci, qy - ty, qx - tx], with
/// B read straight from x (no packed panel, no cols buffer, no col2im), then the phase scatter
/// (src/ops/conv_transpose/phase.rs) moves C to y with the bias. Every output is written once.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_window(
    gpu: &Gpu,
    o: &Options,
    s: &ConvShape,
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    y: &Tensor,
) -> Result<Op> {
    let phases = phases(s).expect("phases with taps");
    let hw = s.h_in * s.w_in;
    let per_elem = s.c_out * phases.iter().map(|f| f.qh * f.qw).sum::<usize>();
    // The scatter splits its flat index, below (planes of a chunk) x (outputs of a phase),
    // with f32 arithmetic (udiv24): keep it below 2^24.
    let plane_max = s.c_out * phases.iter().map(|f| f.qh * f.qw).max().unwrap_or(1);
    let bc = o.chunk(s.batch, per_elem).min(((1 << 24) / plane_max).max(1));
    ensure!(
        s.y_len() < u32::MAX as usize / 2 && plane_max < 1 << 24,
        "conv_transpose {s:?}: output too large for the phase split"
    );
    let kernel = Kernel::Sg64x64;
    let work: usize = phases.iter().map(|f| f.ty_n * f.tx_n * f.qh * f.qw).sum();
    let mut op = Op::new(Vec::new());
    for f in &phases {
        let kk = s.c_in * f.ty_n * f.tx_n;
        let qhw = f.qh * f.qw;
        let pan = Panels::new(kernel, s.c_out, bc * qhw, kk);
        let ap = gpu.zeros("conv_transpose forward phase A", &[pan.a_len()])?;
        // A[co][(ci, ty, tx)] = w[ci, co, ry + sh ty, rx + sw tx]: all inside w.
        let wa = Gather::new(
            f.ry * s.kw + f.rx,
            Side::linear(s.kh * s.kw),
            Side {
                r1: f.ty_n,
                r0: f.tx_n,
                c2: [(s.c_out * s.kh * s.kw) as i64, 0, 0],
                c1: [(s.sh * s.kw) as i64, 0, 0],
                c0: [s.sw as i64, 0, 0],
            },
        );
        op = op.with_prep(gemm::pack_a(gpu, &pan, w, &wa, s.c_out, kk, &ap)?);
        let cols = gpu.zeros("conv_transpose forward phase C", &[pan.c_len()])?;
        let mut b0 = 0;
        while b0 < s.batch {
            let n = bc.min(s.batch - b0);
            let pc = Panels::new(kernel, s.c_out, n * qhw, kk);
            // The window table (see gemm_64x64_win): the image x[b0..], one row per tap.
            let head = [
                [s.h_in, s.w_in, f.qw, qhw].map(|v| v as i32),
                [
                    (s.c_in * hw) as i32,
                    f.qy0 as i32,
                    f.qx0 as i32,
                    (b0 * s.c_in * hw) as i32,
                ],
                [1, 1, 0, 0],
            ];
            let mut taps = Vec::with_capacity(kk);
            for ci in 0..s.c_in {
                for ty in 0..f.ty_n {
                    for tx in 0..f.tx_n {
                        taps.push([(ci * hw) as i32 - (ty * s.w_in + tx) as i32, ty as i32, tx as i32, 0]);
                    }
                }
            }
            let table = window_table(gpu, head, &taps, pc.k4)?;
            let epi = Epilogue::packed_tiles(&pc);
            let mul = gemm::multiply_window(gpu, &pc, &ap, x, &table, s.c_out, n * qhw, kk, &cols, epi)?;
            // The layer's own multiply-adds, shared by the phases as their taps are.
            let useful = s.flops() * (n as f64 / s.batch as f64) * ((f.ty_n * f.tx_n * qhw) as f64 / work as f64);
            let bytes = mul.bytes;
            op.dispatches.push(mul.with_cost(useful, bytes));
            let sc = Scatter {
                phases: 1,
                qh: f.qh,
                qw: f.qw,
                oy0: s.sh as i64 * f.qy0 + f.ry as i64 - s.ph as i64,
                ox0: s.sw as i64 * f.qx0 + f.rx as i64 - s.pw as i64,
                bounds: false,
            };
            let d = scatter(gpu, s, &sc, &pc, b0, n, &cols, b, y)?;
            let planes = n * s.c_out;
            op.dispatches.push(d.with_cost(0.0, (planes * qhw * 8) as f64));
            op = op.with_scratch(table);
            b0 += n;
        }
        op = op.with_scratch(ap).with_scratch(cols);
    }
    Ok(op)
}

/// The table of a window GEMM (gemm_64x64_win): three header rows, then one row per K index,
/// padded to 4 * k4 rows with rows that select nothing.
fn window_table(gpu: &Gpu, head: [[i32; 4]; 3], rows: &[[i32; 4]], k4: usize) -> Result<Tensor> {
    let mut t: Vec<i32> = head.iter().flatten().copied().collect();
    for r in rows {
        t.extend(r);
    }
    for _ in rows.len()..4 * k4 {
        t.extend([0, 1 << 24, 1 << 24, 0]);
    }
    gpu.upload("conv_transpose window table", &[t.len()], &t)
}

/// Whether backward_input gathers the dy windows inside the GEMM (gemm_64x64_win) rather than
/// packing them: on software adapters with 8-lane subgroups, when the input channels fill the 64-row
/// tiles. `Options::phase` forces it either way (as for the forward).
pub(super) fn window_input_wins(gpu: &Gpu, o: &Options, s: &ConvShape) -> bool {
    if !gpu.software_lanes8() || o.kernel.is_some_and(|k| k != Kernel::Sg64x64) {
        return false;
    }
    if let Some(force) = o.phase {
        return force;
    }
    // Each 64-row tile of C gathers its B again: with many tiles (c_in > 256) packing B once
    // is cheaper (measured on lavapipe at the paper's layers).
    s.c_in.div_ceil(64) * 64 * 10 <= s.c_in * 13 && s.c_in <= 256 && s.c_out * s.taps() >= 64
}

/// backward_input with B = the dy windows read inside the GEMM: C[ci][(b, iy, ix)] = sum over
/// (co, ky, kx) of w[ci, co, ky, kx] dy[b, co, sh iy - ph + ky, sw ix - pw + kx].
pub(super) fn backward_input_window(
    gpu: &Gpu,
    o: &Options,
    s: &ConvShape,
    dy: &Tensor,
    w: &Tensor,
    dx: &Tensor,
) -> Result<Op> {
    let ct = s.c_out * s.taps();
    let p = s.positions();
    let (ho, wo) = (s.h_out(), s.w_out());
    let bc = o.chunk(s.batch, s.c_in * p);
    let kernel = Kernel::Sg64x64;
    let pan = Panels::new(kernel, s.c_in, bc * p, ct);
    let ap = gpu.zeros("conv_transpose backward_input packed A", &[pan.a_len()])?;
    let prep = gemm::pack_a(gpu, &pan, w, &Gather::row_major_a(ct), s.c_in, ct, &ap)?;
    // One row per tap (co, ky, kx): offset co * ho * wo + ky * wo + kx, window shift (-ky, -kx).
    let mut taps = Vec::with_capacity(ct);
    for co in 0..s.c_out {
        for ky in 0..s.kh {
            for kx in 0..s.kw {
                taps.push([(co * ho * wo + ky * wo + kx) as i32, -(ky as i32), -(kx as i32), 0]);
            }
        }
    }
    let mut op = Op::new(Vec::new()).with_prep(prep);
    let mut b0 = 0;
    while b0 < s.batch {
        let n = bc.min(s.batch - b0);
        let pc = Panels::new(kernel, s.c_in, n * p, ct);
        // Column (b, iy, ix) looks at dy[b0 + b, :, sh iy - ph + ky, sw ix - pw + kx].
        let head = [
            [ho, wo, s.w_in, p].map(|v| v as i32),
            [
                (s.c_out * ho * wo) as i32,
                -(s.ph as i32),
                -(s.pw as i32),
                (b0 * s.c_out * ho * wo) as i32,
            ],
            [s.sh as i32, s.sw as i32, 0, 0],
        ];
        let table = window_table(gpu, head, &taps, pc.k4)?;
        let epi = Epilogue::store(dx_map(s, b0));
        op.dispatches.push(gemm::multiply_window(
            gpu,
            &pc,
            &ap,
            dy,
            &table,
            s.c_in,
            n * p,
            ct,
            dx,
            epi,
        )?);
        op = op.with_scratch(table);
        b0 += n;
    }
    Ok(op.with_scratch(ap))
}

/// dw with B = the dy windows read inside the GEMM: C[ci][(co, ky, kx)] = sum over (b, iy, ix)
/// of x[b, ci, iy, ix] dy[b, co, sh iy - ph + ky, sw ix - pw + kx], accumulated over batch
/// chunks in order.
pub(super) fn backward_weights_window(
    gpu: &Gpu,
    o: &Options,
    s: &ConvShape,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
) -> Result<Op> {
    let ct = s.c_out * s.taps();
    let p = s.positions();
    let (ho, wo) = (s.h_out(), s.w_out());
    // The x panel and the table grow with the chunk.
    let bc = o.chunk(s.batch, (s.c_in + 4) * p);
    let kernel = Kernel::Sg64x64;
    let pan = Panels::new(kernel, s.c_in, ct, bc * p);
    let ap = gpu.zeros("conv_transpose backward_weights packed A", &[pan.a_len()])?;
    // Column (co, ky, kx) looks at dy[.., co, ky + .., kx + ..].
    let head = [
        [ho, wo, s.kw, s.taps()].map(|v| v as i32),
        [(ho * wo) as i32, 0, 0, 0],
        [1, 1, 0, 0],
    ];
    let mut op = Op::new(Vec::new());
    let mut b0 = 0;
    while b0 < s.batch {
        let n = bc.min(s.batch - b0);
        let kp = n * p;
        let pc = Panels::new(kernel, s.c_in, ct, kp);
        op.dispatches
            .push(gemm::pack_a(gpu, &pc, x, &x_view(s, b0, true), s.c_in, kp, &ap)?);
        // One row per input position (b, iy, ix): dy[b0 + b, 0, sh iy - ph, sw ix - pw] and the
        // window shift.
        let mut rows = Vec::with_capacity(kp);
        for b in b0..b0 + n {
            for iy in 0..s.h_in {
                for ix in 0..s.w_in {
                    let oy = (s.sh * iy) as i32 - s.ph as i32;
                    let ox = (s.sw * ix) as i32 - s.pw as i32;
                    rows.push([(b * s.c_out * ho * wo) as i32 + oy * wo as i32 + ox, -oy, -ox, 0]);
                }
            }
        }
        let table = window_table(gpu, head, &rows, pc.k4)?;
        let epi = Epilogue {
            map: Affine::row_major(ct),
            bias_mode: 0,
            accumulate: b0 > 0,
            packed: false,
        };
        op.dispatches.push(gemm::multiply_window(
            gpu, &pc, &ap, dy, &table, s.c_in, ct, kp, dw, epi,
        )?);
        op = op.with_scratch(table);
        b0 += n;
    }
    Ok(op.with_scratch(ap))
}
