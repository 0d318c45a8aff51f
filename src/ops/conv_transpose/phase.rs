//! The faster formulations of src/ops/conv_transpose (see its notes): the forward by output
//! phase (1-D: one GEMM over the phases; 2-D: one GEMM per phase with B gathered inside the
//! multiply) and the backward passes with the dy windows gathered inside the multiply, with
//! the rules that choose them.

use super::{dx_map, x_view, ConvShape, Options};
use crate::gpu::{Gpu, Op, Params, Tensor};
use crate::ops::gemm::{self, Affine, Epilogue, Gather, Kernel, Panels, Side};
use anyhow::{ensure, Result};

/// The phase split of a 1-D layer (stride s, kernel k, padding p): taps per phase
/// A = ceil(k / s), the first q0 = p / s and the count of q = (ox + p) / s over the outputs.
/// None for 2-D layers.
fn phase_split(s: &ConvShape) -> Option<(usize, usize, usize)> {
    if s.h_in != 1 || s.kh != 1 || s.sh != 1 || s.ph != 0 || s.oph != 0 {
        return None;
    }
    let a = s.kw.div_ceil(s.sw);
    let q0 = s.pw / s.sw;
    let q_last = (s.w_out() - 1 + s.pw) / s.sw;
    Some((a, q0, q_last + 1 - q0))
}

/// Whether the phase split beats col2im for the forward pass: its GEMM (M = s c_out,
/// N = batch Q, K = c_in A) does up to s A / k more multiply-adds on zeros but writes each
/// output once, where col2im gathers about k / s GEMM results per output.
pub(super) fn phase_wins(o: &Options, s: &ConvShape) -> bool {
    let Some((a, _, q)) = phase_split(s) else {
        return false;
    };
    if let Some(force) = o.phase {
        return force;
    }
    let pad = |v: usize| v.div_ceil(64) * 64;
    let col = pad(s.c_out * s.kw) * pad(s.batch * s.w_in) * s.c_in;
    let phase = pad(s.sw * s.c_out) * pad(s.batch * q) * s.c_in * a;
    (phase as f64) <= 1.3 * col as f64
}

/// Forward by phases (1-D): one GEMM C[(r, co)][(b, q)] = sum_(ci, a) w[ci, co, r + s a]
/// x[b, ci, q - a], then `phase_scatter` (shaders/conv_phase.wgsl) moves each C value to its
/// output ox = s q + r - p and adds the bias.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_phase(
    gpu: &Gpu,
    o: &Options,
    s: &ConvShape,
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    y: &Tensor,
) -> Result<Op> {
    let (a, q0, q) = phase_split(s).expect("a 1-D layer");
    let (st, k, p) = (s.sw, s.kw, s.pw);
    let (m, kk) = (st * s.c_out, s.c_in * a);
    const FREE: usize = u32::MAX as usize;
    // Planes (b, co) of a chunk go on the y dimension of the scatter's grid.
    let bc = o.chunk(s.batch, (m + kk) * q).min((65535 / s.c_out).max(1));
    ensure!(s.c_out <= 65535, "conv_transpose {s:?}: too many output channels");
    let kernel = o.pick(gpu, m, bc * q, kk);
    let pan = Panels::new(kernel, m, bc * q, kk);
    let (ap, bp) = gemm::panels(gpu, &pan, "conv_transpose forward")?;
    let cols = gpu.zeros("conv_transpose forward phases", &[pan.c_len()])?;
    // A[(r, co)][(ci, a)] = w[ci, co, r + s a], zero where the tap r + s a >= k.
    let wa = Gather {
        base: [0, 0, 0],
        outer: Side {
            r1: FREE,
            r0: s.c_out,
            c2: [0; 3],
            c1: [1, 0, 1],
            c0: [k as i64, 0, 0],
        },
        inner: Side {
            r1: FREE,
            r0: a,
            c2: [0; 3],
            c1: [(s.c_out * k) as i64, 0, 0],
            c0: [st as i64, 0, st as i64],
        },
        lo: [0, 0],
        hi: [1, k as i64],
    };
    let prep = gemm::pack_a(gpu, &pan, w, &wa, m, kk, &ap)?;
    let mut ds = Vec::new();
    let mut b0 = 0;
    while b0 < s.batch {
        let n = bc.min(s.batch - b0);
        let nq = n * q;
        let pc = Panels::new(kernel, m, nq, kk);
        // B[(ci, a)][(b, q)] = x[b0 + b, ci, q0 + q - a], zero outside x.
        let xb = Gather {
            base: [(b0 * s.c_in * s.w_in + q0) as i64, 0, q0 as i64],
            outer: Side {
                r1: FREE,
                r0: q,
                c2: [0; 3],
                c1: [(s.c_in * s.w_in) as i64, 0, 0],
                c0: [1, 0, 1],
            },
            inner: Side {
                r1: FREE,
                r0: a,
                c2: [0; 3],
                c1: [s.w_in as i64, 0, 0],
                c0: [-1, 0, -1],
            },
            lo: [0, 0],
            hi: [1, s.w_in as i64],
        };
        ds.push(gemm::pack_b(gpu, &pc, x, &xb, kk, nq, &bp)?);
        let epi = Epilogue::packed_tiles(&pc);
        let mul = gemm::multiply(gpu, kernel, &pc, &ap, &bp, m, nq, kk, &cols, epi, None)?;
        // Count the layer's own multiply-adds, not those on the zero taps.
        let useful = s.flops() * n as f64 / s.batch as f64;
        let bytes = mul.bytes;
        ds.push(mul.with_cost(useful, bytes));
        let planes = n * s.c_out;
        let params = Params::new()
            .u(s.c_out)
            .u(q)
            .u(q0)
            .u(st)
            .u(p)
            .u(s.w_out())
            .u(b0)
            .u(planes)
            .u(pc.pn.trailing_zeros() as usize)
            .u(epi.map.s_div);
        // Four q per invocation where their values lie in four aligned floats of C (each batch
        // element's columns start at a multiple of 4).
        let v4 = pc.pn >= 4 && (q % 4 == 0 || n == 1);
        let d = gpu.dispatch(
            "conv_phase",
            "phase_scatter",
            &[("V4", v4 as u8 as f64)],
            Some(&params),
            &[&cols.buffer, &b.buffer, &y.buffer],
            [q.div_ceil(if v4 { 256 } else { 64 }) as u32, planes as u32, 1],
        )?;
        let outs = planes * s.w_out();
        ds.push(d.with_cost(0.0, (outs * 8) as f64));
        b0 += n;
    }
    Ok(Op::new(ds)
        .with_prep(prep)
        .with_scratch(ap)
        .with_scratch(bp)
        .with_scratch(cols))
}

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
/// (`forward_window`): on adapters with the subgroup kernels, when the output channels fill
/// the 64-row tiles and the taps give a long K.
pub(super) fn window_wins(gpu: &Gpu, o: &Options, s: &ConvShape) -> bool {
    if phase_split(s).is_some() || !Kernel::Sg64x64.supported(gpu) {
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
/// B read straight from x (no packed panel, no cols buffer, no col2im), then `phase_scatter2`
/// (shaders/conv_phase2.wgsl) moves C to y with the bias. Every output is written once.
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
    // phase_scatter2 splits its flat index, below (planes of a chunk) x (outputs of a phase),
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
            let planes = n * s.c_out;
            let oy0 = s.sh as i64 * f.qy0 + f.ry as i64 - s.ph as i64;
            let ox0 = s.sw as i64 * f.qx0 + f.rx as i64 - s.pw as i64;
            let params = Params::new()
                .u(s.c_out)
                .u(f.qh)
                .u(f.qw)
                .u(oy0 as usize)
                .u(ox0 as usize)
                .u(s.sh)
                .u(s.sw)
                .u(s.h_out())
                .u(s.w_out())
                .u(b0)
                .u(planes)
                .u(pc.pn.trailing_zeros() as usize)
                .u(pc.mt * 64 * pc.pn);
            // Four outputs per slot where they lie in four aligned floats of C (qhw % 4 == 0:
            // a plane's columns start at a multiple of 4; qw >= 4: they wrap a q row at most once).
            let v4 = qhw % 4 == 0 && f.qw >= 4 && pc.pn >= 4;
            let d = gpu.elementwise(
                "conv_phase2",
                "phase_scatter2",
                &[("V4", v4 as u8 as f64)],
                &params,
                &[&cols.buffer, &b.buffer, &y.buffer],
                if v4 { planes * qhw / 4 } else { planes * qhw },
            )?;
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
/// packing them: on adapters with the subgroup kernels, when the input channels fill the 64-row
/// tiles. `Options::phase` forces it either way (as for the forward).
pub(super) fn window_input_wins(gpu: &Gpu, o: &Options, s: &ConvShape) -> bool {
    if !Kernel::Sg64x64.supported(gpu) || o.kernel.is_some_and(|k| k != Kernel::Sg64x64) {
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
