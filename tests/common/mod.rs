//! Shared test helpers: one device for the whole test binary, random data, comparisons.
#![allow(dead_code)]

use abprop::gpu::Gpu;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::sync::OnceLock;

pub mod nets;

/// The device every test in a binary shares (chosen as the CLI chooses it: WGPU_BACKEND,
/// WGPU_ADAPTER_NAME).
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new().expect("a GPU adapter (install mesa-vulkan-drivers)"))
}

/// The shared device and a second one whose elementwise kernels use the other layout
/// (`Gpu::slots`: 1 vec4 slot per invocation where the adapter's default is 8, 8 where it is
/// 1), so that tests check both layouts on any adapter.
pub fn gpus_each_layout() -> [&'static Gpu; 2] {
    static OTHER: OnceLock<Gpu> = OnceLock::new();
    let other = OTHER.get_or_init(|| {
        let mut g = Gpu::new().expect("a GPU adapter (install mesa-vulkan-drivers)");
        g.slots = if gpu().slots == 1 { 8 } else { 1 };
        g
    });
    [gpu(), other]
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` values uniform in [lo, hi).
pub fn uniform(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Asserts |a - b| <= atol + rtol * max|b| elementwise (rtol relative to the reference's scale).
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rtol: f32, atol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let mut worst = (0usize, 0f32);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}: element {i} is {g}");
        let d = (g - w).abs();
        if d > worst.1 {
            worst = (i, d);
        }
    }
    let tol = atol + rtol * scale;
    assert!(
        worst.1 <= tol,
        "{what}: element {} differs by {} (got {}, want {}), tolerance {} (scale {})",
        worst.0,
        worst.1,
        got[worst.0],
        want[worst.0],
        tol,
        scale
    );
}

/// Central finite difference of a scalar function of a vector, at coordinate i.
pub fn fd(f: &mut dyn FnMut(&[f64]) -> f64, x: &[f64], i: usize, h: f64) -> f64 {
    let mut xp = x.to_vec();
    xp[i] += h;
    let fp = f(&xp);
    xp[i] -= 2.0 * h;
    let fm = f(&xp);
    (fp - fm) / (2.0 * h)
}
