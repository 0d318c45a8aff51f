//! The Langevin update of the latent factors for inferential back-propagation
//! (shaders/langevin.wgsl), in place:
//!
//! `z <- z + (delta^2 / 2) (g - z) + delta * noise`
//!
//! where `g` is the gradient of the log-likelihood term w.r.t. `z` (already in a tensor) and
//! `-z` the gradient of the N(0, I) log-prior. The noise of local element `i` is the N(0,1)
//! sample of global element `e = index_offset + i` at step `step[0]` (a u32 GPU tensor) with
//! the given Philox key: counter `(e / 4, step[0], 0, 0)`, see [`crate::ops::philox`]. With
//! `index_offset = 0` the noise equals `philox::normal(.., key, step)`.
//!
//! Record `update, advance, update, advance, ...` once: every step draws fresh noise with no
//! CPU work and no buffer writes between steps. With `noise = false` the update is gradient
//! ascent on the log-posterior, `z + (delta^2 / 2) (g - z)`.

use crate::gpu::{Dispatch, Gpu, Op, Params, Tensor};
use anyhow::{ensure, Result};

/// `z[0..n] <- z + (delta^2/2)(g - z) + delta * noise` (noise only when `noise`); `step` is a
/// u32 tensor whose element 0 is the step read on the GPU. Elements of `z` from `n` on are kept.
#[allow(clippy::too_many_arguments)]
pub fn update(
    gpu: &Gpu,
    n: usize,
    z: &Tensor,
    g: &Tensor,
    step: &Tensor,
    delta: f32,
    noise: bool,
    key: [u32; 2],
    index_offset: u32,
) -> Result<Op> {
    ensure!(
        n <= z.len() && n <= g.len(),
        "langevin::update: {n} elements asked of z {:?} and g {:?}",
        z.shape,
        g.shape
    );
    ensure!(!step.is_empty(), "langevin::update: the step tensor is empty");
    ensure!(
        index_offset as u64 + n as u64 + 8 <= u32::MAX as u64,
        "langevin::update: element indices {index_offset} + {n} exceed 32 bits"
    );
    let n4 = n.div_ceil(4);
    let params = Params::new()
        .u(n)
        .u(n4)
        .f(delta * delta / 2.0)
        .f(delta)
        .u(key[0] as usize)
        .u(key[1] as usize)
        .u(index_offset as usize);
    let d = gpu.elementwise(
        "langevin",
        "update",
        &[
            ("NOISE", if noise { 1.0 } else { 0.0 }),
            super::philox::aligned(index_offset),
        ],
        &params,
        &[&step.buffer, &z.buffer, &g.buffer],
        n4,
    )?;
    let nf = n as f64;
    Ok(d.with_cost(nf * if noise { 80.0 } else { 3.0 }, nf * 12.0).into())
}

/// `step[0] += 1` on the GPU (one invocation), for a u32 step tensor.
pub fn advance(gpu: &Gpu, step: &Tensor) -> Result<Op> {
    Ok(advance_dispatch(gpu, step)?.into())
}

pub(crate) fn advance_dispatch(gpu: &Gpu, step: &Tensor) -> Result<Dispatch> {
    ensure!(!step.is_empty(), "langevin::advance: the step tensor is empty");
    Ok(gpu
        .dispatch("langevin", "advance", &[], None, &[&step.buffer], [1, 1, 1])?
        .with_cost(1.0, 8.0))
}

/// The plain-Rust twin.
pub mod cpu {
    use crate::ops::philox::cpu::normal_at;

    /// One Langevin step at `step`, as the shader computes it.
    #[allow(clippy::too_many_arguments)]
    pub fn update(z: &mut [f32], g: &[f32], delta: f32, noise: bool, key: [u32; 2], step: u32, index_offset: u32) {
        let half_d2 = delta * delta / 2.0;
        for (i, (zi, &gi)) in z.iter_mut().zip(g).enumerate() {
            let mut v = *zi + half_d2 * (gi - *zi);
            if noise {
                v += delta * normal_at(key, step, index_offset + i as u32);
            }
            *zi = v;
        }
    }
}
