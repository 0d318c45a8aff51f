//! dst = src (shaders/copy.wgsl): the memory-bound yardstick of `abprop bench kernels`.

use crate::gpu::{Dispatch, Gpu, Params, Tensor};
use anyhow::{ensure, Result};

/// dst = src; both hold the same number of elements.
pub fn copy(gpu: &Gpu, src: &Tensor, dst: &Tensor) -> Result<Dispatch> {
    ensure!(
        src.len() == dst.len(),
        "copy: {:?} and {:?} differ in size",
        src.shape,
        dst.shape
    );
    let n4 = src.len().div_ceil(4);
    let d = gpu.elementwise(
        "copy",
        "copy",
        &[],
        &Params::new().u(n4),
        &[&src.buffer, &dst.buffer],
        n4,
    )?;
    Ok(d.with_cost(0.0, src.len() as f64 * 8.0))
}

pub mod cpu {
    /// The twin of [`super::copy`].
    pub fn copy(x: &[f32]) -> Vec<f32> {
        x.to_vec()
    }
}
