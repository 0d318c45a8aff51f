//! Transposed convolution (PyTorch's ConvTranspose1d/2d): forward and both backward passes as
//! GEMMs (src/ops/gemm) plus, where needed, a gather (`col2im`, shaders/conv_transpose.wgsl)
//! or a scatter (src/ops/conv_transpose/phase.rs) pass.
//!
//! Layouts: x \[batch, c_in, h_in, w_in\], w \[c_in, c_out, kh, kw\], b \[c_out\],
//! y [batch, c_out, h_out, w_out] with h_out = (h_in - 1) * sh - 2 * ph + kh + oph; 1-D
//! layers are the case h_in = kh = sh = 1, ph = oph = 0.
//!
//! With T = kh * kw taps and P = h_in * w_in input positions, the general formulation (every
//! adapter, every GEMM kernel):
//! - forward: cols[(co, t)][(b, p)] = sum_ci w[ci, (co, t)] x[b, ci, p] (a GEMM with M = c_out T,
//!   N = batch P, K = c_in), then `col2im` sums the taps that land on each output (a gather in a
//!   fixed order, no atomics) and adds the bias.
//! - backward_input: dx[b, ci, p] = sum_(co, t) w[ci, (co, t)] dy[b, co, window(p, t)] (M = c_in,
//!   N = batch P, K = c_out T); the dy windows are packed into the B panel.
//! - backward_weights: dw[ci, (co, t)] = sum_(b, p) x[b, ci, p] dy[b, co, window(p, t)] (M = c_in,
//!   N = c_out T, K = batch P); db by `reduce::channel_sum`.
//!
//! Faster formulations, chosen by shape (`Options::phase` forces them on or off):
//! - forward of 1-D layers (a stride s >= k / 2, as in the sound net): split by output phase
//!   r = (ox + p) mod s, one GEMM C[(r, co)][(b, q)] = sum_(ci, a) w[ci, co, r + s a] x[b, ci, q - a]
//!   (M = s c_out, N = batch Q, K = c_in ceil(k / s)) writes every output once, and
//!   the phase scatter (src/ops/conv_transpose/phase.rs, shaders/conv_transpose_phase.wgsl)
//!   moves it into y with the bias: no col2im.
//! - forward of 2-D layers on software adapters with 8-lane subgroups
//!   (src/ops/conv_transpose/lanes8.rs): the same phase split, one GEMM per phase
//!   (ry, rx) with M = c_out and K = c_in times that phase's taps (no multiply-adds on zeros),
//!   its B read straight from the windows of x inside the multiply (gemm_64x64_win: no packed
//!   panel, no cols buffer), then the same phase scatter (a 1-D layer is the case h = 1).
//! - backward_input and backward_weights on those adapters (lanes8.rs too): the dy windows are
//!   read inside the multiply (gemm_64x64_win) instead of being packed.
//!
//! Packing the weights into their GEMM panels is the op's preparation (`Op::prep`): training
//! runs it once per weight update, not once per Langevin step.
//!
//! Large batches are processed in chunks so that no scratch buffer exceeds [`SCRATCH_FLOATS`];
//! backward_weights accumulates over chunks in order, so results stay deterministic.

use super::gemm::{self, Affine, Epilogue, Gather, Kernel, Panels, Side};
use super::reduce;
use crate::gpu::{grid, Gpu, Op, Params, Tensor};
use anyhow::{ensure, Result};
use lanes8::{backward_input_window, backward_weights_window, forward_window, window_input_wins, window_wins};
use phase::{forward_phase, phase_wins};
use serde::{Deserialize, Serialize};

/// Largest scratch buffer (floats) an op allocates, unless one batch element needs more.
pub const SCRATCH_FLOATS: usize = 8 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvShape {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub oph: usize,
    pub opw: usize,
}

impl ConvShape {
    /// A square 2-D layer: kernel k, stride s, padding p, output padding op.
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(
        batch: usize,
        c_in: usize,
        c_out: usize,
        h: usize,
        w: usize,
        k: usize,
        s: usize,
        p: usize,
        op: usize,
    ) -> ConvShape {
        ConvShape {
            batch,
            c_in,
            c_out,
            h_in: h,
            w_in: w,
            kh: k,
            kw: k,
            sh: s,
            sw: s,
            ph: p,
            pw: p,
            oph: op,
            opw: op,
        }
    }

    /// A 1-D layer over sequences of length `len` (h = kh = sh = 1, no padding along h).
    #[allow(clippy::too_many_arguments)]
    pub fn conv1d(
        batch: usize,
        c_in: usize,
        c_out: usize,
        len: usize,
        k: usize,
        s: usize,
        p: usize,
        op: usize,
    ) -> ConvShape {
        ConvShape {
            batch,
            c_in,
            c_out,
            h_in: 1,
            w_in: len,
            kh: 1,
            kw: k,
            sh: 1,
            sw: s,
            ph: 0,
            pw: p,
            oph: 0,
            opw: op,
        }
    }

    fn out_len(i: usize, k: usize, s: usize, p: usize, op: usize) -> isize {
        (i as isize - 1) * s as isize - 2 * p as isize + k as isize + op as isize
    }

    pub fn h_out(&self) -> usize {
        Self::out_len(self.h_in, self.kh, self.sh, self.ph, self.oph).max(0) as usize
    }

    pub fn w_out(&self) -> usize {
        Self::out_len(self.w_in, self.kw, self.sw, self.pw, self.opw).max(0) as usize
    }

    /// Multiply-adds times two: 2 * batch * c_in * c_out * h_in * w_in * kh * kw.
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.c_in * self.c_out) as f64 * (self.h_in * self.w_in * self.kh * self.kw) as f64
    }

    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h_in * self.w_in
    }
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.h_out() * self.w_out()
    }
    pub fn w_len(&self) -> usize {
        self.c_in * self.c_out * self.kh * self.kw
    }

    /// An error unless every size is positive, the output paddings are smaller than the
    /// strides (as PyTorch requires) and the output is non-empty.
    pub fn validate(&self) -> Result<()> {
        let s = self;
        for (name, v) in [
            ("batch", s.batch),
            ("c_in", s.c_in),
            ("c_out", s.c_out),
            ("h_in", s.h_in),
            ("w_in", s.w_in),
            ("kh", s.kh),
            ("kw", s.kw),
            ("sh", s.sh),
            ("sw", s.sw),
        ] {
            ensure!(v > 0, "conv_transpose {s:?}: {name} must be positive");
        }
        ensure!(
            s.oph < s.sh && s.opw < s.sw,
            "conv_transpose {s:?}: output padding must be smaller than the stride"
        );
        ensure!(
            Self::out_len(s.h_in, s.kh, s.sh, s.ph, s.oph) > 0 && Self::out_len(s.w_in, s.kw, s.sw, s.pw, s.opw) > 0,
            "conv_transpose {s:?}: the padding leaves an empty output"
        );
        let big = [s.x_len(), s.y_len(), s.w_len()].into_iter().max().unwrap();
        ensure!(
            big < u32::MAX as usize / 2,
            "conv_transpose {s:?}: tensors exceed the 32-bit index range"
        );
        Ok(())
    }

    fn taps(&self) -> usize {
        self.kh * self.kw
    }
    fn positions(&self) -> usize {
        self.h_in * self.w_in
    }
    fn out_positions(&self) -> usize {
        self.h_out() * self.w_out()
    }
}

fn check(name: &str, t: &Tensor, want: usize, s: &ConvShape) -> Result<()> {
    ensure!(
        t.len() == want,
        "conv_transpose {s:?}: {name} {} has shape {:?} ({} elements), expected {want} elements",
        t.label,
        t.shape,
        t.len()
    );
    Ok(())
}

/// How an op is built: the GEMM kernel (None: [`Kernel::choose`] per adapter and shape) and
/// the scratch budget in floats (batch chunks are sized to fit it).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub kernel: Option<Kernel>,
    pub scratch_floats: usize,
    /// The forward pass of 1-D layers split by output phase (see [`forward`]): None chooses by
    /// cost, Some(false) never, Some(true) whenever the layer allows it.
    pub phase: Option<bool>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            kernel: None,
            scratch_floats: SCRATCH_FLOATS,
            phase: None,
        }
    }
}

impl Options {
    pub fn kernel(k: Kernel) -> Options {
        Options {
            kernel: Some(k),
            ..Options::default()
        }
    }
    fn pick(&self, gpu: &Gpu, m: usize, n: usize, k: usize) -> Kernel {
        self.kernel.unwrap_or_else(|| Kernel::choose(gpu, m, n, k))
    }
    /// Batch elements per chunk so that `per_elem` floats per element fit the scratch budget.
    fn chunk(&self, batch: usize, per_elem: usize) -> usize {
        (self.scratch_floats / per_elem.max(1)).clamp(1, batch.max(1))
    }
}

/// The (b, iy, ix) index of dy windows: offset of (b, iy * sh, ix * sw) in dy, window (y, x).
fn window_positions(s: &ConvShape) -> Side {
    let (ho, wo) = (s.h_out() as i64, s.w_out() as i64);
    let (sh, sw) = (s.sh as i64, s.sw as i64);
    Side {
        r1: s.h_in,
        r0: s.w_in,
        c2: [s.c_out as i64 * ho * wo, 0, 0],
        c1: [sh * wo, sh, 0],
        c0: [sw, 0, sw],
    }
}

/// The (co, ky, kx) index of dy windows.
fn window_taps(s: &ConvShape) -> Side {
    let (ho, wo) = (s.h_out() as i64, s.w_out() as i64);
    Side {
        r1: s.kh,
        r0: s.kw,
        c2: [ho * wo, 0, 0],
        c1: [wo, 1, 0],
        c0: [1, 0, 1],
    }
}

/// dy[b0 + b, co, iy * sh - ph + ky, ix * sw - pw + kx], zero outside dy; `taps_outer` puts
/// (co, ky, kx) on the panel index (backward_weights) rather than on K (backward_input).
fn dy_windows(s: &ConvShape, b0: usize, taps_outer: bool) -> Gather {
    let (ho, wo) = (s.h_out() as i64, s.w_out() as i64);
    let (ph, pw) = (s.ph as i64, s.pw as i64);
    let (pos, taps) = (window_positions(s), window_taps(s));
    let (outer, inner) = if taps_outer { (taps, pos) } else { (pos, taps) };
    Gather {
        base: [b0 as i64 * s.c_out as i64 * ho * wo - ph * wo - pw, 0, 0],
        outer,
        inner,
        lo: [ph, pw],
        hi: [ph + ho, pw + wo],
    }
}

/// x[b0 + b, ci, p] as a matrix [ci][(b, p)] (`channels_outer`) or [(b, p)][ci].
fn x_view(s: &ConvShape, b0: usize, channels_outer: bool) -> Gather {
    let p = s.positions();
    let ch = Side::linear(p);
    let pos = Side::blocked(p, s.c_in * p, 1);
    let (outer, inner) = if channels_outer { (ch, pos) } else { (pos, ch) };
    Gather::new(b0 * s.c_in * p, outer, inner)
}

/// The epilogue map of dx[b0 + b, ci, p] for C[ci][(b, p)].
fn dx_map(s: &ConvShape, b0: usize) -> Affine {
    let p = s.positions();
    Affine {
        off: b0 * s.c_in * p,
        major: p,
        div: p,
        s_div: s.c_in * p,
        s_mod: 1,
    }
}

/// y = conv_transpose(x, w) + b, overwriting y; the GEMM kernel chosen per adapter and shape.
pub fn forward(gpu: &Gpu, s: &ConvShape, x: &Tensor, w: &Tensor, b: &Tensor, y: &Tensor) -> Result<Op> {
    forward_with(gpu, &Options::default(), s, x, w, b, y)
}

/// [`forward`] with given options.
#[allow(clippy::too_many_arguments)]
pub fn forward_with(
    gpu: &Gpu,
    o: &Options,
    s: &ConvShape,
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    y: &Tensor,
) -> Result<Op> {
    s.validate()?;
    check("x", x, s.x_len(), s)?;
    check("w", w, s.w_len(), s)?;
    check("b", b, s.c_out, s)?;
    check("y", y, s.y_len(), s)?;
    if phase_wins(o, s) {
        return forward_phase(gpu, o, s, x, w, b, y);
    }
    if window_wins(gpu, o, s) {
        return forward_window(gpu, o, s, x, w, b, y);
    }
    let ct = s.c_out * s.taps();
    let p = s.positions();
    // col2im splits indices below 2^24 with f32 arithmetic: cap the rows of a chunk.
    let rows_per_elem = s.c_out * s.h_out() * s.sw;
    let bc = o.chunk(s.batch, ct * p).min(((1 << 24) / rows_per_elem).max(1));
    ensure!(
        rows_per_elem < 1 << 24 && s.w_out() < 1 << 24,
        "conv_transpose {s:?}: output too large for one batch element"
    );
    let kernel = o.pick(gpu, ct, bc * p, s.c_in);
    let pan = Panels::new(kernel, ct, bc * p, s.c_in);
    let (ap, bp) = gemm::panels(gpu, &pan, "conv_transpose forward")?;
    // cols is row-major, [ct][chunk columns], with `margin` floats before it and more after
    // it: col2im reads aligned vec4 pairs around each run of 4 columns (see the shader).
    let margin = (s.kw.div_ceil(s.sw) + 2).div_ceil(4) * 4;
    let cols_len = margin + ct * bc * p + 32 + 4 * s.kw.div_ceil(s.sw);
    let cols = gpu.zeros("conv_transpose forward cols", &[cols_len])?;
    // The weights' panel is preparation: packed once per weight update (see `Op::prep`).
    let prep = gemm::pack_a(gpu, &pan, w, &Gather::transposed_a(ct), ct, s.c_in, &ap)?;
    let mut ds = Vec::new();
    let mut b0 = 0;
    while b0 < s.batch {
        let n = bc.min(s.batch - b0);
        let np = n * p;
        let pc = Panels::new(kernel, ct, np, s.c_in);
        ds.push(gemm::pack_b(gpu, &pc, x, &x_view(s, b0, false), s.c_in, np, &bp)?);
        let epi = Epilogue::store(Affine {
            off: margin,
            ..Affine::row_major(np)
        });
        ds.push(gemm::multiply(
            gpu, kernel, &pc, &ap, &bp, ct, np, s.c_in, &cols, epi, None,
        )?);
        let rows = n * s.c_out * s.h_out() * s.sw;
        let jx = s.w_out().div_ceil(s.sw);
        // Invocations per row: 4 outputs each.
        let jq = jx.div_ceil(4);
        let (j_log2, j_blocks, groups) = if jq <= 64 {
            let l = jq.next_power_of_two().trailing_zeros() as usize;
            (l, 0, rows.div_ceil(64 >> l))
        } else {
            (0, jq.div_ceil(64), rows * jq.div_ceil(64))
        };
        let params = Params::new()
            .u(s.c_out)
            .u(b0)
            .u(s.h_in)
            .u(s.w_in)
            .u(s.h_out())
            .u(s.w_out())
            .u(s.kh)
            .u(s.kw)
            .u(s.sh)
            .u(s.sw)
            .u(s.ph)
            .u(s.pw)
            .u(np)
            .u(margin)
            .u(rows)
            .u(jx)
            .u(j_log2)
            .u(j_blocks);
        let groups = grid(groups as u32);
        let d = gpu.dispatch(
            "conv_transpose",
            "col2im",
            &[],
            Some(&params),
            &[&b.buffer, &y.buffer, &cols.buffer],
            groups,
        )?;
        let outs = n * s.c_out * s.out_positions();
        ds.push(d.with_cost(0.0, ((ct * np + outs) * 4) as f64));
        b0 += n;
    }
    Ok(Op::new(ds)
        .with_prep(prep)
        .with_scratch(ap)
        .with_scratch(bp)
        .with_scratch(cols))
}

/// dx = the gradient of sum(y * dy) with respect to x (overwrites dx).
pub fn backward_input(gpu: &Gpu, s: &ConvShape, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Op> {
    backward_input_with(gpu, &Options::default(), s, dy, w, dx)
}

/// [`backward_input`] with given options.
pub fn backward_input_with(gpu: &Gpu, o: &Options, s: &ConvShape, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Op> {
    s.validate()?;
    check("dy", dy, s.y_len(), s)?;
    check("w", w, s.w_len(), s)?;
    check("dx", dx, s.x_len(), s)?;
    let ct = s.c_out * s.taps();
    let p = s.positions();
    if window_input_wins(gpu, o, s) {
        return backward_input_window(gpu, o, s, dy, w, dx);
    }
    let bc = o.chunk(s.batch, ct * p);
    let kernel = o.pick(gpu, s.c_in, bc * p, ct);
    let pan = Panels::new(kernel, s.c_in, bc * p, ct);
    let (ap, bp) = gemm::panels(gpu, &pan, "conv_transpose backward_input")?;
    let prep = gemm::pack_a(gpu, &pan, w, &Gather::row_major_a(ct), s.c_in, ct, &ap)?;
    let mut ds = Vec::new();
    let mut b0 = 0;
    while b0 < s.batch {
        let n = bc.min(s.batch - b0);
        let np = n * p;
        let pc = Panels::new(kernel, s.c_in, np, ct);
        ds.push(gemm::pack_b(gpu, &pc, dy, &dy_windows(s, b0, false), ct, np, &bp)?);
        let epi = Epilogue::store(dx_map(s, b0));
        ds.push(gemm::multiply(
            gpu, kernel, &pc, &ap, &bp, s.c_in, np, ct, dx, epi, None,
        )?);
        b0 += n;
    }
    Ok(Op::new(ds).with_prep(prep).with_scratch(ap).with_scratch(bp))
}

/// dw, db = the gradients of sum(y * dy) with respect to w and b (overwritten).
pub fn backward_weights(gpu: &Gpu, s: &ConvShape, x: &Tensor, dy: &Tensor, dw: &Tensor, db: &Tensor) -> Result<Op> {
    backward_weights_with(gpu, &Options::default(), s, x, dy, dw, db)
}

/// [`backward_weights`] with given options.
#[allow(clippy::too_many_arguments)]
pub fn backward_weights_with(
    gpu: &Gpu,
    o: &Options,
    s: &ConvShape,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
    db: &Tensor,
) -> Result<Op> {
    check("db", db, s.c_out, s)?;
    let op = backward_dw_with(gpu, o, s, x, dy, dw)?;
    Ok(op.then(reduce::channel_sum(gpu, dy, s.batch, s.c_out, s.out_positions(), db)?))
}

/// dw alone (overwritten), without the bias gradient: [`backward_weights_with`] less its
/// `reduce::channel_sum` (src/ops/conv.rs uses it for the convolution's weight gradient,
/// whose bias gradient is another sum).
pub fn backward_dw_with(gpu: &Gpu, o: &Options, s: &ConvShape, x: &Tensor, dy: &Tensor, dw: &Tensor) -> Result<Op> {
    s.validate()?;
    check("x", x, s.x_len(), s)?;
    check("dy", dy, s.y_len(), s)?;
    check("dw", dw, s.w_len(), s)?;
    let ct = s.c_out * s.taps();
    let p = s.positions();
    // With few input positions (K = batch h_in w_in < 256) every tile is short and the gather's
    // per-tile set-up costs more than packing the windows once.
    if window_input_wins(gpu, o, s) && (o.phase.is_some() || s.batch * p >= 256) {
        return backward_weights_window(gpu, o, s, x, dy, dw);
    }
    let bc = o.chunk(s.batch, ct * p);
    let kernel = o.pick(gpu, s.c_in, ct, bc * p);
    let pan = Panels::new(kernel, s.c_in, ct, bc * p);
    let (ap, bp) = gemm::panels(gpu, &pan, "conv_transpose backward_weights")?;
    let mut ds = Vec::new();
    let mut b0 = 0;
    while b0 < s.batch {
        let n = bc.min(s.batch - b0);
        let kp = n * p;
        // The panels were sized for full chunks; a short last chunk has a shorter K.
        let pc = Panels::new(kernel, s.c_in, ct, kp);
        ds.push(gemm::pack_a(gpu, &pc, x, &x_view(s, b0, true), s.c_in, kp, &ap)?);
        ds.push(gemm::pack_b(gpu, &pc, dy, &dy_windows(s, b0, true), kp, ct, &bp)?);
        let epi = Epilogue {
            map: Affine::row_major(ct),
            bias_mode: 0,
            accumulate: b0 > 0,
            packed: false,
        };
        ds.push(gemm::multiply(
            gpu, kernel, &pc, &ap, &bp, s.c_in, ct, kp, dw, epi, None,
        )?);
        b0 += n;
    }
    Ok(Op::new(ds).with_scratch(ap).with_scratch(bp))
}

/// The plain-Rust twin: direct loops, f64 accumulation.
pub mod cpu;
mod lanes8;
mod phase;
