//! Counter-based random numbers: Philox4x32-10 (Salmon et al., SC 2011) and standard normals
//! from it, on the GPU (shaders/philox.wgsl, on the shared piece shaders/philox_common.wgsl) and on the CPU (`cpu`).
//!
//! # Mapping
//! Every random value of this crate is a function of (seed, stream, step, element) only, never
//! of the dispatch layout:
//! - key = the two words given (derived from the run's seed and the use's stream by
//!   [`crate::seed::Seed::key`]), counter = `(e / 4, step, 0, 0)` for global element index `e`;
//! - `philox4x32_10(counter, key) = (x0, x1, x2, x3)` gives the normals of elements
//!   `4q .. 4q+3` (`q = e / 4`), in order:
//!   `r0 cos(pi t1), r0 sin(pi t1), r2 cos(pi t3), r2 sin(pi t3)`, with
//!   `r = sqrt(-2 ln u(x0 | x2))`, `t = 2 u(x1 | x3) - 1` and `u(x) = ((x >> 9) + 1/2) / 2^23`
//!   (a uniform on the open interval (0, 1), exact in f32).
//!
//! `ln`, `cos(pi t)` and `sin(pi t)` are computed by the same short polynomials on the GPU and
//! the CPU (exact range reduction; no reliance on a backend's builtins), so the two agree to a
//! few ulps (|difference| < 1e-5 for every sample).
//!
//! The element index is `index_offset + i` for local element `i` of a tensor: give each
//! example's latent vector its own range (e.g. `index_offset = first_example * dim`) and the
//! samples do not depend on how examples are batched. Use a different key for each use
//! (initial draw, Langevin noise, ...: one [`crate::seed::Stream`] each) and `step` to get fresh
//! samples over time.

use crate::gpu::{grid, Gpu, Op, Params, Tensor};
use anyhow::{ensure, Result};

/// Runs Philox4x32-10 on the GPU: for each call i, `out[4i..4i+4] = philox(ctr[4i..4i+4],
/// key[2i..2i+2])`. All three are u32 tensors (`ctr`, `out`: 4 words per call, `key`: 2).
pub fn raw(gpu: &Gpu, ctr: &Tensor, key: &Tensor, out: &Tensor) -> Result<Op> {
    let calls = ctr.len() / 4;
    ensure!(
        ctr.len() == calls * 4 && key.len() == calls * 2 && out.len() == calls * 4,
        "philox::raw: counters {:?}, keys {:?} and output {:?} must hold 4, 2 and 4 words per call",
        ctr.shape,
        key.shape,
        out.shape
    );
    let params = Params::new().u(calls).u(0).u(0).u(0).u(0);
    let d = gpu.dispatch(
        "philox",
        "raw",
        &[],
        Some(&params),
        // binding 2 (the normal kernel's output) is not used by `raw`.
        &[&ctr.buffer, &ctr.buffer, &key.buffer, &out.buffer],
        grid((calls as u32).div_ceil(64)),
    )?;
    let c = calls as f64;
    Ok(d.with_cost(c * 200.0, c * 40.0).into())
}

/// Fills all of `out` with N(0,1) samples of elements `0 .. out.len()` at `step`
/// (counter `(e / 4, step, 0, 0)`). Used to draw Z ~ N(0, I).
pub fn normal(gpu: &Gpu, out: &Tensor, key: [u32; 2], step: u32) -> Result<Op> {
    let s = gpu.upload::<u32>("philox step", &[1], &[step])?;
    Ok(normal_range(gpu, out, out.len(), key, &s, 0)?.with_scratch(s))
}

/// Fills `out[0..n]` with the N(0,1) samples of global elements
/// `index_offset .. index_offset + n`, the step read on the GPU from the u32 tensor `step` (`step[0]`), so one op serves
/// every step of a loop (see `langevin::advance`). Elements of `out` from `n` on are kept.
pub fn normal_range(gpu: &Gpu, out: &Tensor, n: usize, key: [u32; 2], step: &Tensor, index_offset: u32) -> Result<Op> {
    ensure!(
        n <= out.len(),
        "philox::normal: {n} elements asked of a tensor of shape {:?}",
        out.shape
    );
    ensure!(!step.is_empty(), "philox::normal: the step tensor is empty");
    ensure!(
        index_offset as u64 + n as u64 + 8 <= u32::MAX as u64,
        "philox::normal: element indices {index_offset} + {n} exceed 32 bits"
    );
    let n4 = n.div_ceil(4);
    let params = Params::new()
        .u(n)
        .u(n4)
        .u(key[0] as usize)
        .u(key[1] as usize)
        .u(index_offset as usize);
    let d = gpu.elementwise(
        "philox",
        "normal",
        &[aligned(index_offset)],
        &params,
        &[&step.buffer, &out.buffer],
        n4,
    )?;
    let nf = n as f64;
    Ok(d.with_cost(nf * 80.0, nf * 4.0).into())
}

/// The pipeline constant `PHILOX_ALIGNED` of shaders/philox_common.wgsl for a kernel whose
/// invocations take the normals of elements `index_offset + 4 t ..`: set when every such
/// element index is a multiple of 4 (a faster path to the same values).
pub(crate) fn aligned(index_offset: u32) -> (&'static str, f64) {
    ("PHILOX_ALIGNED", if index_offset.is_multiple_of(4) { 1.0 } else { 0.0 })
}

/// The plain-Rust twin, computing the same values as the shaders (the constants are spelled
/// exactly as in shaders/philox_common.wgsl).
#[allow(clippy::excessive_precision, clippy::approx_constant)]
pub mod cpu {
    const M0: u32 = 0xD251_1F53;
    const M1: u32 = 0xCD9E_8D57;
    const W0: u32 = 0x9E37_79B9;
    const W1: u32 = 0xBB67_AE85;

    fn mulhilo(a: u32, b: u32) -> (u32, u32) {
        let p = a as u64 * b as u64;
        ((p >> 32) as u32, p as u32)
    }

    /// Philox4x32-10: ten rounds, the key bumped by (W0, W1) after each.
    pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
        let mut c = ctr;
        let mut k = key;
        for _ in 0..10 {
            let (hi0, lo0) = mulhilo(M0, c[0]);
            let (hi1, lo1) = mulhilo(M1, c[2]);
            c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        c
    }

    /// A uniform on the open interval (0, 1): ((x >> 9) + 0.5) / 2^23.
    pub fn uniform_open(x: u32) -> f32 {
        ((x >> 9) as f32 + 0.5) * (1.0 / 8_388_608.0)
    }

    /// ln x for a positive normal f32, as the shader computes it.
    pub fn ln(x: f32) -> f32 {
        let b = x.to_bits();
        let mut e = ((b >> 23) & 0xff) as i32 - 127;
        let mut m = f32::from_bits((b & 0x007f_ffff) | 0x3f80_0000);
        if m > 1.41421356 {
            m *= 0.5;
            e += 1;
        }
        let s = (m - 1.0) / (m + 1.0);
        let s2 = s * s;
        let poly = 1.0 + s2 * (0.33333333 + s2 * (0.2 + s2 * (0.14285715 + s2 * 0.11111111)));
        let fe = e as f32;
        fe * 0.693145751953125 + (fe * 1.4286068e-6 + 2.0 * s * poly)
    }

    /// (cos(pi t), sin(pi t)) for t in [-1, 1], as the shader computes them.
    pub fn cospi_sinpi(t: f32) -> (f32, f32) {
        let j = (2.0 * t + 0.5).floor();
        let r = t - 0.5 * j;
        let x = r * 3.14159265;
        let z = x * x;
        let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * x + x;
        let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
        match (j as i32 + 4) & 3 {
            0 => (c, s),
            1 => (-s, c),
            2 => (-c, -s),
            _ => (s, -c),
        }
    }

    fn box_muller2(a: u32, b: u32) -> (f32, f32) {
        let r = (-2.0 * ln(uniform_open(a))).max(0.0).sqrt();
        let (c, s) = cospi_sinpi(2.0 * uniform_open(b) - 1.0);
        (r * c, r * s)
    }

    /// Four normals from one Philox output: (x0, x1) and (x2, x3) by Box-Muller.
    pub fn box_muller(x: [u32; 4]) -> [f32; 4] {
        let (a, b) = box_muller2(x[0], x[1]);
        let (c, d) = box_muller2(x[2], x[3]);
        [a, b, c, d]
    }

    /// The normals of global elements 4q .. 4q+3.
    pub fn normal_quad(key: [u32; 2], step: u32, q: u32) -> [f32; 4] {
        box_muller(philox4x32_10([q, step, 0, 0], key))
    }

    /// The normal of global element `e`.
    pub fn normal_at(key: [u32; 2], step: u32, e: u32) -> f32 {
        normal_quad(key, step, e / 4)[(e % 4) as usize]
    }

    /// The normals of global elements `index_offset .. index_offset + n`.
    pub fn normal(n: usize, key: [u32; 2], step: u32, index_offset: u32) -> Vec<f32> {
        let mut out = Vec::with_capacity(n);
        let mut e = index_offset;
        let mut quad = (u32::MAX, [0f32; 4]);
        for _ in 0..n {
            if quad.0 != e / 4 {
                quad = (e / 4, normal_quad(key, step, e / 4));
            }
            out.push(quad.1[(e % 4) as usize]);
            e = e.wrapping_add(1);
        }
        out
    }
}
