//! The forward pass by output phase (see the notes of src/ops/conv_transpose): the split of
//! a 1-D layer (one GEMM over every phase) with the rule that chooses it, and the scatter
//! (shaders/conv_transpose_phase.wgsl) that moves a phase GEMM's result into y, for 1-D layers
//! here and for 2-D layers in src/ops/conv_transpose/lanes8.rs (a 1-D layer is a 2-D layer
//! with h = 1).

use super::{ConvShape, Options};
use crate::gpu::{Dispatch, Gpu, Op, Params, Tensor};
use crate::ops::gemm::{self, Epilogue, Gather, Panels, Side};
use anyhow::{ensure, Result};

/// Where [`scatter`] moves the C of one phase GEMM (packed tiles): `phases` phases stacked
/// along the rows of C (row = phase * c_out + co), a `qh` x `qw` grid of q per (b, co) plane
/// (C column b * qh * qw + qy * qw + qx), the output of q = (0, 0) in phase 0 at (oy0, ox0),
/// phase r's outputs r further along x; `bounds` where some outputs fall outside y.
pub(super) struct Scatter {
    pub phases: usize,
    pub qh: usize,
    pub qw: usize,
    pub oy0: i64,
    pub ox0: i64,
    pub bounds: bool,
}

/// The scatter of the C of batch elements b0 .. b0 + n (tiles of `pan`) into y, adding the bias
/// (phase_scatter in shaders/conv_transpose_phase.wgsl).
#[allow(clippy::too_many_arguments)]
pub(super) fn scatter(
    gpu: &Gpu,
    s: &ConvShape,
    sc: &Scatter,
    pan: &Panels,
    b0: usize,
    n: usize,
    cols: &Tensor,
    b: &Tensor,
    y: &Tensor,
) -> Result<Dispatch> {
    let planes = n * s.c_out;
    let qhw = sc.qh * sc.qw;
    ensure!(
        planes * qhw < 1 << 24,
        "conv_transpose {s:?}: too many outputs in one chunk for the phase scatter"
    );
    let params = Params::new()
        .u(s.c_out)
        .u(sc.qh)
        .u(sc.qw)
        .i(sc.oy0)
        .i(sc.ox0)
        .u(s.sh)
        .u(s.sw)
        .u(s.h_out())
        .u(s.w_out())
        .u(b0)
        .u(planes)
        .u(pan.pn.trailing_zeros() as usize)
        .u(pan.mt * gemm::PM * pan.pn);
    // Four q per slot where their values lie in four aligned floats of C (qh qw % 4 == 0: a
    // plane's columns start at a multiple of 4; qw >= 4: they wrap a q row at most once).
    let v4 = qhw.is_multiple_of(4) && sc.qw >= 4 && pan.pn >= 4;
    gpu.elementwise(
        "conv_transpose_phase",
        "phase_scatter",
        &[
            ("V4", v4 as u8 as f64),
            ("PHASES", sc.phases as f64),
            ("BOUNDS", sc.bounds as u8 as f64),
        ],
        &params,
        &[&cols.buffer, &b.buffer, &y.buffer],
        if v4 { planes * qhw / 4 } else { planes * qhw },
    )
}

/// The phase split of a 1-D layer (stride s, kernel k, padding p): taps per phase
/// A = ceil(k / s), the first q0 = p / s and the count of q = (ox + p) / s over the outputs.
/// None for 2-D layers.
pub(super) fn phase_split(s: &ConvShape) -> Option<(usize, usize, usize)> {
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
/// x[b, ci, q - a], then [`scatter`] moves each C value to its output ox = s q + r - p and
/// adds the bias.
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
    // The scatter's flat index (plane, q), below 2^24 (see `scatter`); a chunk of one batch
    // element may round its q up to a multiple of 4 (the vec4 path).
    let q4 = q.next_multiple_of(4);
    let bc = o.chunk(s.batch, (m + kk) * q).min(((1 << 24) / (s.c_out * q4)).max(1));
    ensure!(
        s.c_out * q4 < 1 << 24,
        "conv_transpose {s:?}: output too large for the phase split"
    );
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
        // The phases share the q of the GEMM's columns: the outputs past either end of y are
        // left out. One batch element per chunk: its columns may run on to a multiple of 4.
        let sc = Scatter {
            phases: st,
            qh: 1,
            qw: if n == 1 { q4 } else { q },
            oy0: 0,
            ox0: (st * q0) as i64 - p as i64,
            bounds: true,
        };
        let d = scatter(gpu, s, &sc, &pc, b0, n, &cols, b, y)?;
        let planes = n * s.c_out;
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
