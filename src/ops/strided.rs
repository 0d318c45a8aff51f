//! Strided copies of row blocks and an elementwise accumulation (shaders/strided.wgsl): the
//! slicing and concatenation of HiABP's latent levels (`take`, `inject`, `head` layers in
//! model/generator.rs).
//!
//! A copy moves `rows` x `blocks` x `cols` elements:
//! `dst[dst.off + r * dst.row + b * dst.block + c] = src[src.off + r * src.row + b * src.block + c]`
//! for r < rows, b < blocks, c < cols. Every other element of `dst` is left as it was. With
//! one block it is a copy of `cols` columns of `rows` rows (e.g. a level's slice of Z); with
//! two, e.g. a head's (mu, log-variance) pair to their places in the encoder's output row.

use crate::gpu::{Dispatch, Gpu, Params, Tensor};
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

/// Where a copy's elements lie in one buffer (in elements).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub off: usize,
    /// From one row to the next.
    pub row: usize,
    /// From one block of a row to the next.
    pub block: usize,
}

impl Layout {
    /// Rows of `width` elements, starting at column `off`, one block.
    pub fn columns(width: usize, off: usize) -> Layout {
        Layout {
            off,
            row: width,
            block: 0,
        }
    }
}

/// A strided copy (see the module's header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strided {
    pub rows: usize,
    pub blocks: usize,
    pub cols: usize,
    pub src: Layout,
    pub dst: Layout,
}

impl Strided {
    /// `cols` columns of `rows` rows: from column `src.off` of rows `src.row` wide to column
    /// `dst.off` of rows `dst.row` wide.
    pub fn columns(rows: usize, cols: usize, src: Layout, dst: Layout) -> Strided {
        Strided {
            rows,
            blocks: 1,
            cols,
            src,
            dst,
        }
    }

    /// The same copy backwards (dst to src).
    pub fn reversed(&self) -> Strided {
        Strided {
            src: self.dst,
            dst: self.src,
            ..*self
        }
    }

    /// Elements copied.
    pub fn len(&self) -> usize {
        self.rows * self.blocks * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One past the largest index reached in a buffer of layout `l` (0 for an empty copy).
    pub fn extent(&self, l: &Layout) -> usize {
        if self.is_empty() {
            return 0;
        }
        l.off + (self.rows - 1) * l.row + (self.blocks - 1) * l.block + self.cols
    }

    /// Sizes positive, both sides within buffers of `src_len` and `dst_len` elements, and no
    /// destination element written twice (rows and blocks do not overlap there).
    pub fn validate(&self, src_len: usize, dst_len: usize) -> Result<()> {
        ensure!(
            self.rows > 0 && self.blocks > 0 && self.cols > 0,
            "strided copy {self:?}: sizes must be positive"
        );
        ensure!(
            self.extent(&self.src) <= src_len,
            "strided copy {self:?}: reads up to element {} of a source of {src_len}",
            self.extent(&self.src)
        );
        ensure!(
            self.extent(&self.dst) <= dst_len,
            "strided copy {self:?}: writes up to element {} of a destination of {dst_len}",
            self.extent(&self.dst)
        );
        let d = &self.dst;
        let row_span = (self.blocks - 1) * d.block + self.cols;
        ensure!(
            (self.blocks == 1 || d.block >= self.cols) && (self.rows == 1 || d.row >= row_span),
            "strided copy {self:?}: destination blocks or rows overlap"
        );
        ensure!(
            u32::try_from(self.extent(&self.src).max(self.extent(&self.dst))).is_ok(),
            "strided copy {self:?}: indices exceed u32"
        );
        Ok(())
    }
}

/// The strided copy `s` from `src` into `dst` (the rest of `dst` unchanged).
pub fn copy(gpu: &Gpu, s: &Strided, src: &Tensor, dst: &Tensor) -> Result<Dispatch> {
    s.validate(src.len(), dst.len())
        .map_err(|e| anyhow::anyhow!("{e} ({} -> {})", src.label, dst.label))?;
    let params = Params::new()
        .u(s.len())
        .u(s.cols)
        .u(s.blocks)
        .u(s.src.off)
        .u(s.src.row)
        .u(s.src.block)
        .u(s.dst.off)
        .u(s.dst.row)
        .u(s.dst.block);
    let d = gpu.elementwise("strided", "copy", &[], &params, &[&src.buffer, &dst.buffer], s.len())?;
    Ok(d.with_cost(0.0, s.len() as f64 * 8.0))
}

/// dst += src (same number of elements).
pub fn accumulate(gpu: &Gpu, src: &Tensor, dst: &Tensor) -> Result<Dispatch> {
    ensure!(
        src.len() == dst.len(),
        "accumulate: {} {:?} and {} {:?} differ in size",
        src.label,
        src.shape,
        dst.label,
        dst.shape
    );
    ensure!(
        u32::try_from(src.len()).is_ok(),
        "accumulate: {} elements exceed u32",
        src.len()
    );
    let n = src.len();
    // The shader's one parameter block: the length, then the copy's fields (unused here).
    let params = (0..8).fold(Params::new().u(n), |p, _| p.u(0));
    let d = gpu.elementwise("strided", "accumulate", &[], &params, &[&src.buffer, &dst.buffer], n)?;
    Ok(d.with_cost(n as f64, n as f64 * 12.0))
}

/// The plain-Rust twin.
pub mod cpu {
    use super::Strided;

    /// The twin of [`super::copy`]: writes into `dst` in place.
    pub fn copy(s: &Strided, src: &[f32], dst: &mut [f32]) {
        for r in 0..s.rows {
            for b in 0..s.blocks {
                let si = s.src.off + r * s.src.row + b * s.src.block;
                let di = s.dst.off + r * s.dst.row + b * s.dst.block;
                dst[di..di + s.cols].copy_from_slice(&src[si..si + s.cols]);
            }
        }
    }

    /// The copy into a fresh buffer of `dst_len` zeros.
    pub fn copied(s: &Strided, src: &[f32], dst_len: usize) -> Vec<f32> {
        let mut dst = vec![0.0; dst_len];
        copy(s, src, &mut dst);
        dst
    }

    /// The twin of [`super::accumulate`].
    pub fn accumulate(src: &[f32], dst: &mut [f32]) {
        assert_eq!(src.len(), dst.len(), "accumulate: lengths differ");
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    }
}
