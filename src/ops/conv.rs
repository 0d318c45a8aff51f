//! Convolution (PyTorch's Conv1d/2d), the bottom-up layers of an encoder: forward and both
//! backward passes through the transposed-convolution kernels of src/ops/conv_transpose, plus
//! the bias added in place (`bias_add`, shaders/conv.wgsl).
//!
//! Layouts: x \[batch, c_in, h_in, w_in\], w \[c_out, c_in, kh, kw\] (PyTorch's Conv2d; Conv1d's
//! \[c_out, c_in, k\] is the case kh = 1), b \[c_out\], y \[batch, c_out, h_out, w_out\] with
//! h_out = floor((h_in + 2 ph - kh) / sh) + 1; 1-D layers are the case h_in = kh = sh = 1, ph = 0.
//!
//! A convolution is the transposed convolution's backward pass to its input. Let T be the
//! transposed convolution whose input is the convolution's output \[c_out, h_out, w_out\] and
//! whose output is the convolution's input \[c_in, h_in, w_in\]: same kernel, stride and
//! padding, and the output padding (h_in + 2 ph - kh) mod sh (so that T's output size is h_in:
//! (h_out - 1) sh - 2 ph + kh + oph = h_in). T's weight \[c_in_T, c_out_T, kh, kw\] =
//! \[c_out, c_in, kh, kw\] is the convolution's weight, the same memory. Both sum over the same
//! terms x\[b, ci, sh oy - ph + ky, sw ox - pw + kx\] w\[co, ci, ky, kx\] (inside x), so:
//! - forward: y = T.backward_input(dy := x, w), then y += b (`bias_add`);
//! - backward_input: dx = T.forward(x := dy, w) with a zero bias;
//! - backward_weights: dw = T's dw (`conv_transpose::backward_dw_with`) for x := dy, dy := x;
//!   db\[co\] = the sum of dy over batch and space (`reduce::channel_sum`).
//!
//! Every path of the transposed convolution (GEMM kernels, the phase split of 1-D forwards,
//! the window GEMMs of 8-lane software adapters) takes any shape `ConvShape::validate` allows
//! (the paths that need a kernel at least as large as the stride fall back otherwise).

pub use super::conv_transpose::Options;
use super::conv_transpose::{self, ConvShape as Transposed};
use super::reduce;
use crate::gpu::{Dispatch, Gpu, Op, Params, Tensor};
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

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
}

impl ConvShape {
    /// A square 2-D layer on [c_in, h, w]: kernel k, stride s, padding p.
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(batch: usize, c_in: usize, c_out: usize, h: usize, w: usize, k: usize, s: usize, p: usize) -> Self {
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
        }
    }

    /// A 1-D layer along the width of [c_in, 1, len] (h = kh = sh = 1, no padding along h).
    pub fn conv1d(batch: usize, c_in: usize, c_out: usize, len: usize, k: usize, s: usize, p: usize) -> Self {
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
        }
    }

    /// floor((n + 2 p - k) / s) + 1, or 0 where the kernel is larger than the padded input.
    fn out_len(n: usize, k: usize, s: usize, p: usize) -> usize {
        match (n + 2 * p).checked_sub(k) {
            Some(v) if s > 0 => v / s + 1,
            _ => 0,
        }
    }
    pub fn h_out(&self) -> usize {
        Self::out_len(self.h_in, self.kh, self.sh, self.ph)
    }
    pub fn w_out(&self) -> usize {
        Self::out_len(self.w_in, self.kw, self.sw, self.pw)
    }

    /// Multiply-adds times two: 2 * batch * c_out * h_out * w_out * c_in * kh * kw (the
    /// padding's zeros included, as PyTorch counts them).
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.c_in * self.c_out) as f64 * (self.h_out() * self.w_out() * self.kh * self.kw) as f64
    }

    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h_in * self.w_in
    }
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.h_out() * self.w_out()
    }
    pub fn w_len(&self) -> usize {
        self.c_out * self.c_in * self.kh * self.kw
    }

    /// An error unless every size is positive and the kernel fits the padded input.
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
            ensure!(v > 0, "conv {s:?}: {name} must be positive");
        }
        ensure!(
            s.kh <= s.h_in + 2 * s.ph && s.kw <= s.w_in + 2 * s.pw,
            "conv {s:?}: the kernel {}x{} is larger than the padded input {}x{}",
            s.kh,
            s.kw,
            s.h_in + 2 * s.ph,
            s.w_in + 2 * s.pw
        );
        let big = [s.x_len(), s.y_len(), s.w_len()].into_iter().max().unwrap();
        ensure!(
            big < u32::MAX as usize / 2,
            "conv {s:?}: tensors exceed the 32-bit index range"
        );
        Ok(())
    }

    /// The transposed convolution T whose backward pass to its input is this convolution (see
    /// the module notes): T's input is y, its output x, its weight this layer's weight.
    pub fn transposed(&self) -> Transposed {
        let s = self;
        Transposed {
            batch: s.batch,
            c_in: s.c_out,
            c_out: s.c_in,
            h_in: s.h_out(),
            w_in: s.w_out(),
            kh: s.kh,
            kw: s.kw,
            sh: s.sh,
            sw: s.sw,
            ph: s.ph,
            pw: s.pw,
            // (Valid shapes only: an invalid one gets a T that fails T's own validation.)
            oph: (s.h_in + 2 * s.ph).saturating_sub(s.kh) % s.sh.max(1),
            opw: (s.w_in + 2 * s.pw).saturating_sub(s.kw) % s.sw.max(1),
        }
    }

    /// The shape and its transposed view, after checking both.
    fn checked(&self) -> Result<Transposed> {
        self.validate()?;
        let t = self.transposed();
        debug_assert!(t.h_out() == self.h_in && t.w_out() == self.w_in, "{self:?} -> {t:?}");
        t.validate()?;
        Ok(t)
    }
}

fn check(name: &str, t: &Tensor, want: usize, s: &ConvShape) -> Result<()> {
    ensure!(
        t.len() == want,
        "conv {s:?}: {name} {} has shape {:?} ({} elements), expected {want} elements",
        t.label,
        t.shape,
        t.len()
    );
    Ok(())
}

/// y += b\[c\] in place for y viewed as [batch, channels, spatial] (`bias_add` in
/// shaders/conv.wgsl).
pub fn bias_add(gpu: &Gpu, batch: usize, channels: usize, spatial: usize, b: &Tensor, y: &Tensor) -> Result<Dispatch> {
    let n = batch * channels * spatial;
    ensure!(n > 0, "conv bias_add: empty shape [{batch}, {channels}, {spatial}]");
    ensure!(
        y.len() == n && b.len() == channels,
        "conv bias_add: y {:?} must hold {n} elements and b {:?} {channels}",
        y.shape,
        b.shape
    );
    let params = Params::new().u(n).u(channels).u(spatial);
    let d = gpu.elementwise("conv", "bias_add", &[], &params, &[&b.buffer, &y.buffer], n)?;
    Ok(d.with_cost(n as f64, 8.0 * n as f64))
}

/// y = conv(x, w) + b, overwriting y; the GEMM kernel chosen per adapter and shape.
pub fn forward(gpu: &Gpu, s: &ConvShape, x: &Tensor, w: &Tensor, b: &Tensor, y: &Tensor) -> Result<Op> {
    forward_with(gpu, &Options::default(), s, x, w, b, y)
}

/// [`forward`] with given options (those of the transposed convolution's backward_input).
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
    let t = s.checked()?;
    check("x", x, s.x_len(), s)?;
    check("w", w, s.w_len(), s)?;
    check("b", b, s.c_out, s)?;
    check("y", y, s.y_len(), s)?;
    let op = conv_transpose::backward_input_with(gpu, o, &t, x, w, y)?;
    let bias = bias_add(gpu, s.batch, s.c_out, s.h_out() * s.w_out(), b, y)?;
    Ok(op.then(Op::from(bias)))
}

/// dx = the gradient of sum(y * dy) with respect to x (overwrites dx).
pub fn backward_input(gpu: &Gpu, s: &ConvShape, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Op> {
    backward_input_with(gpu, &Options::default(), s, dy, w, dx)
}

/// [`backward_input`] with given options (those of the transposed convolution's forward).
pub fn backward_input_with(gpu: &Gpu, o: &Options, s: &ConvShape, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Op> {
    let t = s.checked()?;
    check("dy", dy, s.y_len(), s)?;
    check("w", w, s.w_len(), s)?;
    check("dx", dx, s.x_len(), s)?;
    // T's forward adds a bias in the pass that places its outputs: a zero one costs nothing more.
    let zero = gpu.zeros("conv backward_input zero bias", &[s.c_in])?;
    Ok(conv_transpose::forward_with(gpu, o, &t, dy, w, &zero, dx)?.with_scratch(zero))
}

/// dw, db = the gradients of sum(y * dy) with respect to w and b (overwritten).
pub fn backward_weights(gpu: &Gpu, s: &ConvShape, x: &Tensor, dy: &Tensor, dw: &Tensor, db: &Tensor) -> Result<Op> {
    backward_weights_with(gpu, &Options::default(), s, x, dy, dw, db)
}

/// [`backward_weights`] with given options (those of the transposed convolution's
/// backward_weights).
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
    let t = s.checked()?;
    check("x", x, s.x_len(), s)?;
    check("dy", dy, s.y_len(), s)?;
    check("dw", dw, s.w_len(), s)?;
    check("db", db, s.c_out, s)?;
    let op = conv_transpose::backward_dw_with(gpu, o, &t, dy, x, dw)?;
    Ok(op.then(reduce::channel_sum(
        gpu,
        dy,
        s.batch,
        s.c_out,
        s.h_out() * s.w_out(),
        db,
    )?))
}

/// The plain-Rust twin: direct loops over the convolution's own definition, f64 accumulation.
pub mod cpu {
    use super::ConvShape;

    /// Calls f(x index, w index, y index) for every term x[..] * w[..] of an output y[..]
    /// (the taps that fall on the padding have none).
    fn each(s: &ConvShape, mut f: impl FnMut(usize, usize, usize)) {
        let (ho, wo) = (s.h_out(), s.w_out());
        for b in 0..s.batch {
            for co in 0..s.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let yi = ((b * s.c_out + co) * ho + oy) * wo + ox;
                        for ci in 0..s.c_in {
                            for ky in 0..s.kh {
                                let iy = (oy * s.sh + ky) as isize - s.ph as isize;
                                if iy < 0 || iy >= s.h_in as isize {
                                    continue;
                                }
                                for kx in 0..s.kw {
                                    let ix = (ox * s.sw + kx) as isize - s.pw as isize;
                                    if ix < 0 || ix >= s.w_in as isize {
                                        continue;
                                    }
                                    let xi = ((b * s.c_in + ci) * s.h_in + iy as usize) * s.w_in + ix as usize;
                                    let wi = ((co * s.c_in + ci) * s.kh + ky) * s.kw + kx;
                                    f(xi, wi, yi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// y = conv(x, w) + b.
    pub fn forward(s: &ConvShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let hwo = s.h_out() * s.w_out();
        let mut y: Vec<f64> = (0..s.y_len()).map(|i| b[(i / hwo) % s.c_out] as f64).collect();
        each(s, |xi, wi, yi| y[yi] += x[xi] as f64 * w[wi] as f64);
        y.into_iter().map(|v| v as f32).collect()
    }

    /// dx for the upstream gradient dy.
    pub fn backward_input(s: &ConvShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
        let mut dx = vec![0f64; s.x_len()];
        each(s, |xi, wi, yi| dx[xi] += dy[yi] as f64 * w[wi] as f64);
        dx.into_iter().map(|v| v as f32).collect()
    }

    /// (dw, db) for the input x and the upstream gradient dy.
    pub fn backward_weights(s: &ConvShape, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut dw = vec![0f64; s.w_len()];
        each(s, |xi, wi, yi| dw[wi] += x[xi] as f64 * dy[yi] as f64);
        let hwo = s.h_out() * s.w_out();
        let mut db = vec![0f64; s.c_out];
        for (i, v) in dy.iter().enumerate() {
            db[(i / hwo) % s.c_out] += *v as f64;
        }
        (
            dw.into_iter().map(|v| v as f32).collect(),
            db.into_iter().map(|v| v as f32).collect(),
        )
    }
}
