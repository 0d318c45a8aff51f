//! Packing GEMM operands (shaders/gemm_pack.wgsl): A and B gathered through an affine map of
//! digit-split indices (plain matrices, transposes, convolution windows) into the zero-padded
//! panels that every micro-kernel of src/ops/gemm reads.

use super::{Panels, PM};
use crate::gpu::{Dispatch, Gpu, Params, Tensor};
use anyhow::{ensure, Result};

/// One index of a gathered operand, split into digits i = (d2 * r1 + d1) * r0 + d0; each digit
/// adds `coef * digit` to (source offset, y, x). See shaders/gemm_pack.wgsl.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Side {
    pub r1: usize,
    pub r0: usize,
    pub c2: [i64; 3],
    pub c1: [i64; 3],
    pub c0: [i64; 3],
}

const UNBOUNDED: usize = u32::MAX as usize;

impl Side {
    /// Offset `stride * i`.
    pub fn linear(stride: usize) -> Side {
        Side {
            r1: UNBOUNDED,
            r0: UNBOUNDED,
            c2: [0; 3],
            c1: [0; 3],
            c0: [stride as i64, 0, 0],
        }
    }
    /// Offset `(i / div) * s_div + (i % div) * s_mod`.
    pub fn blocked(div: usize, s_div: usize, s_mod: usize) -> Side {
        Side {
            r1: UNBOUNDED,
            r0: div,
            c2: [0; 3],
            c1: [s_div as i64, 0, 0],
            c0: [s_mod as i64, 0, 0],
        }
    }
    /// The (offset, y, x) of index i.
    pub fn at(&self, i: usize) -> [i64; 3] {
        let d0 = (i % self.r0) as i64;
        let t = i / self.r0;
        let d1 = (t % self.r1) as i64;
        let d2 = (t / self.r1) as i64;
        [0, 1, 2].map(|c| d2 * self.c2[c] + d1 * self.c1[c] + d0 * self.c0[c])
    }
    /// Smallest and largest offset over indices < n (a box bound over the digits).
    fn offset_range(&self, n: usize) -> (i64, i64) {
        if n == 0 {
            return (0, 0);
        }
        let d0 = (n - 1).min(self.r0 - 1) as i64;
        let t = (n - 1) / self.r0;
        let d1 = t.min(self.r1 - 1) as i64;
        let d2 = (t / self.r1) as i64;
        let mut lo = 0;
        let mut hi = 0;
        for v in [self.c2[0] * d2, self.c1[0] * d1, self.c0[0] * d0] {
            lo += v.min(0);
            hi += v.max(0);
        }
        (lo, hi)
    }
}

/// How a GEMM operand is gathered: element = src\[off\] where (off, y, x) = base + outer.at(m or
/// n) + inner.at(k), or zero unless lo <= (y, x) < hi (the windows of a convolution).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gather {
    pub base: [i64; 3],
    /// The panel index: M for A, N for B.
    pub outer: Side,
    /// The K index.
    pub inner: Side,
    pub lo: [i64; 2],
    pub hi: [i64; 2],
}

impl Gather {
    /// A plain gather (no window): src[off + outer + inner].
    pub fn new(off: usize, outer: Side, inner: Side) -> Gather {
        Gather {
            base: [off as i64, 0, 0],
            outer,
            inner,
            lo: [0, 0],
            hi: [1, 1],
        }
    }
    /// A row-major matrix (A\[m\]\[k\] at m * ld + k, or B\[k\]\[n\] at k * ld + n).
    pub fn row_major_a(ld: usize) -> Gather {
        Gather::new(0, Side::linear(ld), Side::linear(1))
    }
    pub fn row_major_b(ld: usize) -> Gather {
        Gather::new(0, Side::linear(1), Side::linear(ld))
    }
    /// The transpose of a row-major matrix (A\[m\]\[k\] at k * ld + m, or B\[k\]\[n\] at n * ld + k).
    pub fn transposed_a(ld: usize) -> Gather {
        Gather::new(0, Side::linear(1), Side::linear(ld))
    }
    pub fn transposed_b(ld: usize) -> Gather {
        Gather::new(0, Side::linear(ld), Side::linear(1))
    }
    fn windowed(&self) -> bool {
        self.lo != [0, 0] || self.hi != [1, 1] || {
            let s = [self.outer, self.inner];
            s.iter()
                .any(|s| [s.c0, s.c1, s.c2].iter().any(|c| c[1] != 0 || c[2] != 0))
        }
    }
    /// For plain gathers: an error if some element lies outside `src`.
    fn check(&self, what: &str, outer: usize, inner: usize, src: &Tensor) -> Result<()> {
        if self.windowed() || outer == 0 || inner == 0 {
            return Ok(());
        }
        let (a, b) = self.outer.offset_range(outer);
        let (c, d) = self.inner.offset_range(inner);
        let (lo, hi) = (self.base[0] + a + c, self.base[0] + b + d);
        ensure!(
            lo >= 0 && (hi as usize) < src.len(),
            "gemm {what}: the view ({outer} x {inner}, {self:?}) reaches {lo}..={hi}, outside tensor {} of shape {:?}",
            src.label,
            src.shape
        );
        Ok(())
    }
    fn push(&self, p: Params) -> Params {
        let side = |p: Params, s: &Side| {
            let mut p = p.u(s.r1.min(UNBOUNDED)).u(s.r0.min(UNBOUNDED)).u(0).u(0);
            for c in [s.c2, s.c1, s.c0] {
                p = p.i(c[0]).i(c[1]).i(c[2]).u(0);
            }
            p
        };
        let p = p.i(self.base[0]).i(self.base[1]).i(self.base[2]).u(0);
        let p = p.i(self.lo[0]).i(self.lo[1]).i(self.hi[0]).i(self.hi[1]);
        let p = side(p, &self.outer);
        side(p, &self.inner)
    }
}

/// K values per pack invocation.
const KC: usize = 64;

fn pack_grid(x_invocations: usize, kp: usize) -> [u32; 3] {
    let runs = kp.div_ceil(KC).max(1) as u32;
    let y = runs.min(65535);
    [(x_invocations as u32).div_ceil(64).max(1), y, runs.div_ceil(y)]
}

fn check_u32(what: &str, v: usize) -> Result<()> {
    ensure!(
        v <= u32::MAX as usize,
        "gemm: {what} = {v} exceeds the 32-bit index range"
    );
    Ok(())
}

/// Packs A (M x K, gathered from `src`) into `ap` (length >= `Panels::a_len`).
pub fn pack_a(gpu: &Gpu, pan: &Panels, src: &Tensor, g: &Gather, m: usize, k: usize, ap: &Tensor) -> Result<Dispatch> {
    ensure!(ap.len() >= pan.a_len(), "gemm pack_a: panel buffer too small");
    g.check("pack_a", m, k, src)?;
    let rows = pan.mt * PM;
    let kp = pan.k4 * 4;
    check_u32("packed A", rows * kp)?;
    let params = g.push(Params::new().u(m).u(k).u(kp).u(rows).u(0).u(KC).u(0).u(0));
    let aligned = |s: &Side| [s.c2, s.c1, s.c0].iter().all(|c| c[0] % 4 == 0);
    let plain = !g.windowed() && g.base[0] % 4 == 0;
    let unit = |s: &Side| s.r0 >= UNBOUNDED && s.c0[0] == 1;
    // Contiguous quads along K, or along M (4 x 4 transposes).
    let vec = if plain && unit(&g.inner) && aligned(&g.outer) {
        1
    } else if plain && unit(&g.outer) && aligned(&g.inner) {
        2
    } else {
        0
    };
    let d = if vec == 0 {
        gpu.dispatch(
            "gemm_pack",
            "pack_a",
            &[],
            Some(&params),
            &[&src.buffer, &ap.buffer],
            pack_grid(rows, kp),
        )?
    } else {
        gpu.dispatch(
            "gemm_pack",
            "pack_a_vec",
            &[("VEC", vec as f64)],
            Some(&params),
            &[&src.buffer, &ap.buffer, &src.buffer],
            pack_grid(if vec == 1 { rows } else { rows / 4 }, kp),
        )?
    };
    Ok(d.with_cost(0.0, ((rows * kp + m * k) * 4) as f64))
}

/// Packs B (K x N, gathered from `src`) into `bp` (length >= `Panels::b_len`).
pub fn pack_b(gpu: &Gpu, pan: &Panels, src: &Tensor, g: &Gather, k: usize, n: usize, bp: &Tensor) -> Result<Dispatch> {
    ensure!(bp.len() >= pan.b_len(), "gemm pack_b: panel buffer too small");
    g.check("pack_b", n, k, src)?;
    let pn4 = pan.pn / 4;
    let cols4 = pan.nt * pn4;
    let kp = pan.k4 * 4;
    check_u32("packed B", cols4 * 4 * kp)?;
    let params = g.push(
        Params::new()
            .u(n)
            .u(k)
            .u(kp)
            .u(cols4)
            .u(pn4.trailing_zeros() as usize)
            .u(KC)
            .u(0)
            .u(0),
    );
    let d = gpu.dispatch(
        "gemm_pack",
        "pack_b",
        &[],
        Some(&params),
        &[&src.buffer, &bp.buffer],
        pack_grid(cols4, kp),
    )?;
    Ok(d.with_cost(0.0, ((cols4 * 4 * kp + n * k) * 4) as f64))
}
