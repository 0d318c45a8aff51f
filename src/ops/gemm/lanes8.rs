//! The GEMM micro-kernels for software adapters with subgroups of 8 lanes (lavapipe):
//! [`Kernel::Sg64x64`], [`Kernel::Sg64x32`] and the window kernel [`multiply_window`], all in
//! gemm_lanes8.wgsl, which build/gemm_lanes8.rs generates. Used only where
//! [`Gpu::software_lanes8`] holds: a reader interested in GPUs can skip this file.
//!
//! Each subgroup of 8 lanes (one SIMD vector of the CPU driver) owns a 64 x 64 or 64 x 32 tile
//! of C in registers and shares its A quads through `subgroupBroadcast`; there is no workgroup
//! memory and no barrier, since every storage load is a per-lane loop on these drivers.

use super::{epilogue_params, Epilogue, Kernel, Panels, PM};
use crate::gpu::{grid, Dispatch, Gpu, Tensor};
use anyhow::{ensure, Result};

/// The generated shader (build/gemm_lanes8.rs).
const SHADER: &str = "gemm_lanes8";

/// The panel width for N columns: the one that minimises the padded work, counting the 64-wide
/// kernel as about 10% faster per padded flop (measured on lavapipe).
pub fn choose(n: usize) -> Kernel {
    let w64 = n.div_ceil(64) * 64;
    let w32 = n.div_ceil(32) * 32;
    if (w32 as f64) * 1.1 < w64 as f64 {
        Kernel::Sg64x32
    } else {
        Kernel::Sg64x64
    }
}

/// The shader, entry point and override constants of a subgroup kernel writing C through `epi`.
pub(super) fn pipeline(
    kernel: Kernel,
    pan: &Panels,
    m: usize,
    n: usize,
    epi: &Epilogue,
) -> (&'static str, &'static str, &'static [(&'static str, f64)]) {
    let entry = if kernel == Kernel::Sg64x32 {
        "gemm_64x32"
    } else {
        "gemm_64x64"
    };
    (SHADER, entry, constants(pan, m, n, epi))
}

/// The override constants (PACKED, DIRECT, INTERIOR) of a product writing C through `epi`.
fn constants(pan: &Panels, m: usize, n: usize, epi: &Epilogue) -> &'static [(&'static str, f64)] {
    const PACKED: &[(&str, f64)] = &[("PACKED", 1.0)];
    const DIRECT: &[(&str, f64)] = &[("DIRECT", 1.0)];
    const INTERIOR: &[(&str, f64)] = &[("DIRECT", 1.0), ("INTERIOR", 1.0)];
    if epi.packed {
        PACKED
    } else if direct(epi, pan.pn, n) && m.is_multiple_of(PM) && n.is_multiple_of(pan.pn) {
        // Every tile inside C: the edge epilogue is left out of the pipeline.
        INTERIOR
    } else if direct(epi, pan.pn, n) {
        DIRECT
    } else {
        &[]
    }
}

/// Whether the subgroup kernels may store whole tiles of width `pn` straight from
/// registers (DIRECT in gemm_lanes8.wgsl): every tile's rows are contiguous, 16-byte aligned
/// runs of C, and there is no bias or accumulation.
fn direct(epi: &Epilogue, pn: usize, n: usize) -> bool {
    let m = &epi.map;
    !epi.packed
        && !epi.accumulate
        && epi.bias_mode == 0
        && m.s_mod == 1
        && m.off.is_multiple_of(4)
        && m.major.is_multiple_of(4)
        && m.s_div.is_multiple_of(4)
        && (m.div >= n || m.div.is_multiple_of(pn))
}

/// C (through `epi`) = packed A x B, with B gathered on the fly from windows of `x` as `table`
/// describes (gemm_64x64_win in gemm_lanes8.wgsl: three header rows and one row per K
/// index). [`Kernel::Sg64x64`] panels only; `pan.nt` may be anything (no B panel).
#[allow(clippy::too_many_arguments)]
pub fn multiply_window(
    gpu: &Gpu,
    pan: &Panels,
    ap: &Tensor,
    x: &Tensor,
    table: &Tensor,
    m: usize,
    n: usize,
    k: usize,
    c: &Tensor,
    epi: Epilogue,
) -> Result<Dispatch> {
    ensure!(
        gpu.has_lanes8() && pan.pn == Kernel::Sg64x64.panel_width(),
        "gemm: the window kernel needs subgroups of 8 and 64-wide panels"
    );
    ensure!(
        table.len() >= 4 * (3 + pan.k4 * 4),
        "gemm: the window table holds fewer than {} rows",
        pan.k4 * 4
    );
    let params = epilogue_params(pan, m, n, c, &epi)?;
    let constants = constants(pan, m, n, &epi);
    // Bindings 2 (B panel) and 4 (bias) are unused by this entry point.
    let d = gpu.dispatch(
        SHADER,
        "gemm_64x64_win",
        constants,
        Some(&params),
        &[&ap.buffer, &ap.buffer, &c.buffer, &ap.buffer, &x.buffer, &table.buffer],
        grid((pan.mt * pan.nt) as u32),
    )?;
    let flops = 2.0 * (m * n * k) as f64;
    let bytes = ((pan.mt * pan.nt) * PM * pan.k4 * 16 + (m * n + k * n) * 4) as f64;
    Ok(d.with_cost(flops, bytes))
}
