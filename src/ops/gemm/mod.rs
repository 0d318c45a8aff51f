//! Single-precision GEMM on packed panels: the yardstick ("sgemm") and the engine of the
//! transposed convolutions and dense layers.
//!
//! Every product is three dispatches: two packs (src/ops/gemm/pack.rs, shaders/gemm_pack.wgsl)
//! that gather A and B through an affine map into zero-padded panels, and a micro-kernel that
//! multiplies the panels and writes C through another affine map (shaders/gemm_common.wgsl).
//! Two micro-kernel families exist:
//! - [`Kernel::Tiled64x64`], [`Kernel::Tiled128x128`] (this file, shaders/gemm.wgsl):
//!   workgroup-memory tiles; for GPUs and for adapters without subgroups (GL).
//! - [`Kernel::Sg64x64`], [`Kernel::Sg64x32`] (src/ops/gemm/lanes8.rs, the generated
//!   gemm_lanes8.wgsl): register blocks shared through `subgroupBroadcast`, no workgroup memory.
//!   Software adapters with subgroups of 8 lanes only ([`Gpu::software_lanes8`], lavapipe),
//!   where every storage load is a per-lane loop.
//!
//! [`Kernel::choose`] picks per adapter and shape: the choice a tuning step made
//! (src/ops/tune.rs; on by default on GPUs) if there is one, else rules measured on lavapipe
//! and llvmpipe. Results are deterministic: each element of C is summed by one invocation in a
//! fixed order.

use crate::gpu::{grid, Dispatch, Gpu, Op, Params, Tensor};
use anyhow::{bail, ensure, Result};

pub mod lanes8;
mod pack;

pub use lanes8::multiply_window;
pub use pack::{pack_a, pack_b, Gather, Side};

/// A GEMM micro-kernel (tile of C per subgroup or workgroup: 64 rows x the panel width).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// 64 x 64 tile per subgroup of 8 lanes (64 x 8 accumulators per lane).
    Sg64x64,
    /// 64 x 32 tile per subgroup of 8 lanes; less padding for narrow outputs.
    Sg64x32,
    /// 64 x 64 tile per workgroup of 256 through workgroup memory.
    Tiled64x64,
    /// 128 x 128 tile per workgroup of 256 (8 x 8 per invocation) through workgroup memory.
    Tiled128x128,
}

/// Rows per A panel (all kernels).
pub(crate) const PM: usize = 64;

impl Kernel {
    pub const ALL: [Kernel; 4] = [
        Kernel::Sg64x64,
        Kernel::Sg64x32,
        Kernel::Tiled64x64,
        Kernel::Tiled128x128,
    ];

    /// Columns per B panel.
    pub fn panel_width(self) -> usize {
        match self {
            Kernel::Sg64x32 => 32,
            Kernel::Tiled128x128 => 128,
            _ => 64,
        }
    }

    pub(crate) fn is_subgroup(self) -> bool {
        matches!(self, Kernel::Sg64x64 | Kernel::Sg64x32)
    }

    /// Whether this adapter can run the kernel (the subgroup kernels need subgroups of 8).
    pub fn supported(self, gpu: &Gpu) -> bool {
        !self.is_subgroup() || gpu.has_lanes8()
    }

    /// The kernels this adapter can run.
    pub fn available(gpu: &Gpu) -> Vec<Kernel> {
        Kernel::ALL.into_iter().filter(|k| k.supported(gpu)).collect()
    }

    /// The kernel for an M x N x K product on this adapter. `ABPROP_GEMM_KERNEL` (sg64x64,
    /// sg64x32, tiled, tiled128x128) overrides where supported; then comes the choice a tuning
    /// step made for this shape (src/ops/tune.rs, held by the [`Gpu`]), if any; else
    /// [`Kernel::rule`].
    pub fn choose(gpu: &Gpu, m: usize, n: usize, k: usize) -> Kernel {
        if let Ok(s) = std::env::var("ABPROP_GEMM_KERNEL") {
            let k = match s.to_lowercase().as_str() {
                "sg64x64" => Some(Kernel::Sg64x64),
                "sg64x32" => Some(Kernel::Sg64x32),
                "tiled" | "tiled64x64" => Some(Kernel::Tiled64x64),
                "tiled128x128" => Some(Kernel::Tiled128x128),
                _ => None,
            };
            if let Some(k) = k.filter(|k| k.supported(gpu)) {
                return k;
            }
        }
        let tuned = gpu.chosen(&shape_key(m, n, k)).and_then(|name| Kernel::named(&name));
        match tuned {
            Some(t) if Kernel::candidates(gpu).contains(&t) && t.supported(gpu) => t,
            _ => Kernel::rule(gpu, m, n),
        }
    }

    /// The kernel by rule: the subgroup kernels on software adapters with 8-lane subgroups
    /// (see [`lanes8::choose`]), else the tiled ones.
    pub fn rule(gpu: &Gpu, m: usize, n: usize) -> Kernel {
        if gpu.software_lanes8() {
            return lanes8::choose(n);
        }
        // The 128 x 128 tiles read workgroup memory half as often per multiply-add (1.7x
        // the 64 x 64 kernel on llvmpipe GL); a GPU also needs enough of them to fill its
        // compute units, so small products keep the 64 x 64 tiles.
        let tiles = m.div_ceil(128) * n.div_ceil(128);
        if m >= 128 && n >= 128 && (gpu.is_software() || tiles >= 64) {
            Kernel::Tiled128x128
        } else {
            Kernel::Tiled64x64
        }
    }

    /// The kernels a tuning step times against each other on this adapter.
    pub fn candidates(gpu: &Gpu) -> [Kernel; 2] {
        if gpu.software_lanes8() {
            [Kernel::Sg64x64, Kernel::Sg64x32]
        } else {
            [Kernel::Tiled64x64, Kernel::Tiled128x128]
        }
    }

    /// The kernel of a name written by `{:?}` (as in the autotune cache).
    pub fn named(name: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| format!("{k:?}") == name)
    }
}

/// The key of an M x N x K product in the tuning table ("MxNxK").
pub fn shape_key(m: usize, n: usize, k: usize) -> String {
    format!("{m}x{n}x{k}")
}

/// Where C goes: element (row, col) at `off + row * major + (col / div) * s_div + (col % div) *
/// s_mod` (the division runs once per tile and column, not per element).
#[derive(Clone, Copy, Debug)]
pub struct Affine {
    pub off: usize,
    pub major: usize,
    pub div: usize,
    pub s_div: usize,
    pub s_mod: usize,
}

impl Affine {
    /// A row-major matrix with leading dimension `ld`: element (i, j) at i * ld + j.
    pub fn row_major(ld: usize) -> Affine {
        Affine {
            off: 0,
            major: ld,
            div: u32::MAX as usize,
            s_div: 0,
            s_mod: 1,
        }
    }
    /// The largest index reached for i < rows, j < cols (for bounds checks).
    fn max_index(&self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            return 0;
        }
        let j = cols - 1;
        let at = |j: usize| (j / self.div) * self.s_div + (j % self.div) * self.s_mod;
        let mut best = at(j);
        if j >= self.div {
            // The end of the last complete block of `div` columns.
            best = best.max(at((j / self.div) * self.div - 1));
        }
        self.off + (rows - 1) * self.major + best
    }
}

/// Padded sizes of the panels for an M x N x K product with `kernel`.
#[derive(Clone, Copy, Debug)]
pub struct Panels {
    pub mt: usize,
    pub nt: usize,
    pub k4: usize,
    pub pn: usize,
}

impl Panels {
    pub fn new(kernel: Kernel, m: usize, n: usize, k: usize) -> Panels {
        let pn = kernel.panel_width();
        Panels {
            mt: m.div_ceil(PM),
            nt: n.div_ceil(pn),
            k4: k.div_ceil(4),
            pn,
        }
    }
    /// Floats in the packed A panel.
    pub fn a_len(&self) -> usize {
        (self.mt * PM * self.k4 * 4).max(4)
    }
    /// Floats in the packed B panel.
    pub fn b_len(&self) -> usize {
        (self.nt * self.pn * self.k4 * 4).max(4)
    }
    /// Floats in C as packed tiles.
    pub fn c_len(&self) -> usize {
        (self.mt * PM * self.nt * self.pn).max(4)
    }
}

/// What the micro-kernel does with C: where it goes, bias, accumulation.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue {
    pub map: Affine,
    /// 0 none, 1 bias\[col\].
    pub bias_mode: u32,
    pub accumulate: bool,
    /// `map` is the packed-tile layout of the panels (whole tiles are written; the subgroup
    /// kernels store them directly).
    pub packed: bool,
}

impl Epilogue {
    pub fn store(map: Affine) -> Epilogue {
        Epilogue {
            map,
            bias_mode: 0,
            accumulate: false,
            packed: false,
        }
    }
    /// C in packed tiles: tile t = nt * mt + mt_index holds rows t * 64 .. + 64 of `pn` floats;
    /// element (row, col) at row * pn + (col / pn) * (mt * 64 * pn) + col % pn. The buffer
    /// must hold [`Panels::c_len`] floats.
    pub fn packed_tiles(pan: &Panels) -> Epilogue {
        Epilogue {
            map: Affine {
                off: 0,
                major: pan.pn,
                div: pan.pn,
                s_div: pan.mt * PM * pan.pn,
                s_mod: 1,
            },
            bias_mode: 0,
            accumulate: false,
            packed: true,
        }
    }
}

/// The micro-kernel: C (M x N, through `epi`) = packed A x packed B.
#[allow(clippy::too_many_arguments)]
pub fn multiply(
    gpu: &Gpu,
    kernel: Kernel,
    pan: &Panels,
    ap: &Tensor,
    bp: &Tensor,
    m: usize,
    n: usize,
    k: usize,
    c: &Tensor,
    epi: Epilogue,
    bias: Option<&Tensor>,
) -> Result<Dispatch> {
    if !kernel.supported(gpu) {
        bail!("gemm kernel {kernel:?} is not supported on this adapter");
    }
    ensure!(kernel.panel_width() == pan.pn, "gemm: panels packed for another kernel");
    let params = epilogue_params(pan, m, n, c, &epi)?;
    let bias_buf = match (epi.bias_mode, bias) {
        (0, _) => &ap.buffer,
        (1, Some(b)) if b.len() >= n => &b.buffer,
        _ => bail!("gemm: bias mode {} needs a bias of the right length", epi.bias_mode),
    };
    // Tiles of C: 64 rows each, but 128 for the 128 x 128 kernel (two A panels).
    let row_tiles = if kernel == Kernel::Tiled128x128 {
        pan.mt.div_ceil(2)
    } else {
        pan.mt
    };
    let groups = row_tiles * pan.nt;
    let (shader, entry, constants) = match kernel {
        Kernel::Tiled64x64 => ("gemm", "gemm_64x64", &[][..]),
        Kernel::Tiled128x128 => ("gemm", "gemm_128x128", &[][..]),
        _ => lanes8::pipeline(kernel, pan, m, n, &epi),
    };
    let d = gpu.dispatch(
        shader,
        entry,
        constants,
        Some(&params),
        &[&ap.buffer, &bp.buffer, &c.buffer, bias_buf],
        grid(groups as u32),
    )?;
    let flops = 2.0 * (m * n * k) as f64;
    let bytes = ((pan.mt * pan.nt) * (PM + pan.pn) * pan.k4 * 16 + m * n * 4) as f64;
    Ok(d.with_cost(flops, bytes))
}

/// The uniform parameters (GemmParams of gemm_common.wgsl) of a product writing C through
/// `epi`, after checking that C holds the view.
pub(crate) fn epilogue_params(pan: &Panels, m: usize, n: usize, c: &Tensor, epi: &Epilogue) -> Result<Params> {
    if epi.packed {
        ensure!(
            c.len() >= pan.c_len() && epi.map.major == pan.pn && !epi.accumulate && epi.bias_mode == 0,
            "gemm: packed-tile output needs {} floats and no bias or accumulation",
            pan.c_len()
        );
    }
    if m > 0 && n > 0 {
        ensure!(
            epi.map.max_index(m, n) < c.len(),
            "gemm: the C view ({m} x {n}, {:?}) exceeds tensor {} of shape {:?}",
            epi.map,
            c.label,
            c.shape
        );
    }
    let params = Params::new()
        .u(m)
        .u(n)
        .u(pan.k4)
        .u(pan.mt)
        .u(pan.nt)
        .u(epi.map.off)
        .u(epi.map.major)
        .u(epi.map.div)
        .u(epi.map.s_div)
        .u(epi.map.s_mod)
        .u(epi.bias_mode as usize)
        .u(epi.accumulate as usize)
        .u((pan.mt * PM > pan.nt * pan.pn) as usize);
    Ok(params)
}

/// Scratch panels for a product.
pub fn panels(gpu: &Gpu, pan: &Panels, what: &str) -> Result<(Tensor, Tensor)> {
    Ok((
        gpu.zeros(&format!("{what} packed A"), &[pan.a_len()])?,
        gpu.zeros(&format!("{what} packed B"), &[pan.b_len()])?,
    ))
}

/// C[M, N] = A[M, K] B[K, N], all row-major; C is overwritten.
pub fn sgemm(gpu: &Gpu, a: &Tensor, b: &Tensor, c: &Tensor, m: usize, n: usize, k: usize) -> Result<Op> {
    sgemm_with(gpu, Kernel::choose(gpu, m, n, k), a, b, c, m, n, k)
}

/// [`sgemm`] with a given micro-kernel.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_with(
    gpu: &Gpu,
    kernel: Kernel,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
) -> Result<Op> {
    ensure!(a.len() >= m * k, "sgemm: A {:?} holds fewer than {m} x {k}", a.shape);
    ensure!(b.len() >= k * n, "sgemm: B {:?} holds fewer than {k} x {n}", b.shape);
    ensure!(c.len() >= m * n, "sgemm: C {:?} holds fewer than {m} x {n}", c.shape);
    let pan = Panels::new(kernel, m, n, k);
    let (ap, bp) = panels(gpu, &pan, "sgemm")?;
    let d1 = pack_a(gpu, &pan, a, &Gather::row_major_a(k), m, k, &ap)?;
    let d2 = pack_b(gpu, &pan, b, &Gather::row_major_b(n), k, n, &bp)?;
    let d3 = multiply(
        gpu,
        kernel,
        &pan,
        &ap,
        &bp,
        m,
        n,
        k,
        c,
        Epilogue::store(Affine::row_major(n)),
        None,
    )?;
    Ok(Op::new(vec![d1, d2, d3]).with_scratch(ap).with_scratch(bp))
}

/// The plain-Rust twin (f64 accumulation).
pub mod cpu {
    /// C[M, N] = A[M, K] B[K, N], row-major.
    pub fn sgemm(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut c = vec![0f64; m * n];
        for i in 0..m {
            for p in 0..k {
                let av = a[i * k + p] as f64;
                let brow = &b[p * n..p * n + n];
                let crow = &mut c[i * n..i * n + n];
                for (cv, &bv) in crow.iter_mut().zip(brow) {
                    *cv += av * bv as f64;
                }
            }
        }
        c.into_iter().map(|v| v as f32).collect()
    }
}
