//! Single-precision GEMM on packed panels: the yardstick ("sgemm") and the engine of the
//! transposed convolutions and dense layers.
//!
//! Every product is three dispatches: two packs (shaders/gemm_pack.wgsl) that gather A and B
//! through an affine map into zero-padded panels, and a micro-kernel that multiplies the panels
//! and writes C through another affine map (shaders/gemm_common.wgsl). Two micro-kernel
//! families exist:
//! - [`Kernel::Sg64x64`], [`Kernel::Sg64x32`] (shaders/gemm_sg.wgsl): register blocks shared
//!   through `subgroupBroadcast`, no workgroup memory. Needs subgroups of exactly 8 lanes; it is
//!   the fast path on software Vulkan (lavapipe), where every storage load is a per-lane loop.
//! - [`Kernel::Tiled64x64`] (shaders/gemm.wgsl): workgroup-memory tiles; for GPUs and for
//!   adapters without subgroups (GL).
//!
//! [`Kernel::choose`] picks per adapter and shape. Results are deterministic: each element of C
//! is summed by one invocation in a fixed order.

use crate::gpu::{grid, Dispatch, Gpu, Op, Params, Tensor};
use anyhow::{bail, ensure, Result};

/// A GEMM micro-kernel (tile of C per subgroup or workgroup: 64 rows x the panel width).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// 64 x 64 tile per subgroup of 8 lanes (64 x 8 accumulators per lane).
    Sg64x64,
    /// 64 x 32 tile per subgroup of 8 lanes; less padding for narrow outputs.
    Sg64x32,
    /// 64 x 64 tile per workgroup of 256 through workgroup memory.
    Tiled64x64,
}

/// Rows per A panel (all kernels).
pub(crate) const PM: usize = 64;

impl Kernel {
    pub const ALL: [Kernel; 3] = [Kernel::Sg64x64, Kernel::Sg64x32, Kernel::Tiled64x64];

    /// Columns per B panel.
    pub fn panel_width(self) -> usize {
        match self {
            Kernel::Sg64x32 => 32,
            _ => 64,
        }
    }

    fn entry(self) -> (&'static str, &'static str) {
        match self {
            Kernel::Sg64x64 => ("gemm_sg", "gemm_64x64"),
            Kernel::Sg64x32 => ("gemm_sg", "gemm_64x32"),
            Kernel::Tiled64x64 => ("gemm", "gemm_64x64"),
        }
    }

    fn is_subgroup(self) -> bool {
        matches!(self, Kernel::Sg64x64 | Kernel::Sg64x32)
    }

    /// Whether this adapter can run the kernel (the subgroup kernels need subgroups of 8).
    pub fn supported(self, gpu: &Gpu) -> bool {
        !self.is_subgroup() || (gpu.has_subgroups() && gpu.subgroup_size == (8, 8))
    }

    /// The kernels this adapter can run.
    pub fn available(gpu: &Gpu) -> Vec<Kernel> {
        Kernel::ALL.into_iter().filter(|k| k.supported(gpu)).collect()
    }

    /// The kernel for an M x N x K product on this adapter. `ABPROP_GEMM_KERNEL` (sg64x64,
    /// sg64x32, tiled) overrides where supported. The subgroup kernels are preferred on software
    /// adapters (lavapipe); the choice between their panel widths minimises the padded work,
    /// counting the 64-wide one as about 10% faster per padded flop (measured on lavapipe).
    pub fn choose(gpu: &Gpu, _m: usize, n: usize, _k: usize) -> Kernel {
        if let Ok(s) = std::env::var("ABPROP_GEMM_KERNEL") {
            let k = match s.to_lowercase().as_str() {
                "sg64x64" => Some(Kernel::Sg64x64),
                "sg64x32" => Some(Kernel::Sg64x32),
                "tiled" | "tiled64x64" => Some(Kernel::Tiled64x64),
                _ => None,
            };
            if let Some(k) = k.filter(|k| k.supported(gpu)) {
                return k;
            }
        }
        if gpu.is_software() && Kernel::Sg64x64.supported(gpu) {
            let w64 = n.div_ceil(64) * 64;
            let w32 = n.div_ceil(32) * 32;
            if (w32 as f64) * 1.1 < w64 as f64 {
                Kernel::Sg64x32
            } else {
                Kernel::Sg64x64
            }
        } else {
            Kernel::Tiled64x64
        }
    }
}

/// How a GEMM operand is gathered from a tensor. For A: `A[m][k] = src[off + m * major +
/// (k / div) * s_div + (k % div) * s_mod]`; for B: `B[k][n] = src[off + k * major + (n / div)
/// * s_div + (n % div) * s_mod]`. For C (the epilogue) as for A with (row, col) for (m, k).
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
    /// Element (i, j) at j * ld + i (the transpose of a row-major matrix).
    pub fn transposed(ld: usize) -> Affine {
        Affine {
            off: 0,
            major: 1,
            div: u32::MAX as usize,
            s_div: 0,
            s_mod: ld,
        }
    }
    pub fn offset(mut self, off: usize) -> Affine {
        self.off = off;
        self
    }
    /// The largest source index reached for i < rows, j < cols (for bounds checks).
    fn max_index(&self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            return 0;
        }
        let j = cols - 1;
        let (jd, jm) = if self.div >= u32::MAX as usize {
            (0, j)
        } else {
            // The largest of (j / div) * s_div + (j % div) * s_mod over j < cols.
            let full = j / self.div;
            let a = full * self.s_div + (j % self.div) * self.s_mod;
            let b = if full > 0 {
                (full - 1) * self.s_div + (self.div - 1) * self.s_mod
            } else {
                0
            };
            return self.off + (rows - 1) * self.major + a.max(b);
        };
        self.off + (rows - 1) * self.major + jd * self.s_div + jm * self.s_mod
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
}

fn check_u32(what: &str, v: usize) -> Result<()> {
    ensure!(
        v <= u32::MAX as usize,
        "gemm: {what} = {v} exceeds the 32-bit index range"
    );
    Ok(())
}

/// Packs A (M x K) from `src` into `ap` (length >= `Panels::a_len`).
pub fn pack_a(gpu: &Gpu, pan: &Panels, src: &Tensor, g: Affine, m: usize, k: usize, ap: &Tensor) -> Result<Dispatch> {
    ensure!(ap.len() >= pan.a_len(), "gemm pack_a: panel buffer too small");
    if m > 0 && k > 0 {
        ensure!(
            g.max_index(m, k) < src.len(),
            "gemm pack_a: the A view ({m} x {k}, {g:?}) exceeds tensor {} of shape {:?}",
            src.label,
            src.shape
        );
    }
    let total = pan.mt * PM * pan.k4;
    check_u32("packed A", total * 4)?;
    let params = Params::new()
        .u(m)
        .u(k)
        .u(pan.k4)
        .u(total)
        .u(0)
        .u(g.off)
        .u(g.major)
        .u(g.div)
        .u(g.s_div)
        .u(g.s_mod);
    let d = gpu.dispatch(
        "gemm_pack",
        "pack_a",
        &[],
        Some(&params),
        &[&src.buffer, &ap.buffer],
        grid((total as u32).div_ceil(256)),
    )?;
    Ok(d.with_cost(0.0, (total * 16 + m * k * 4) as f64))
}

/// Packs B (K x N) from `src` into `bp` (length >= `Panels::b_len`).
pub fn pack_b(gpu: &Gpu, pan: &Panels, src: &Tensor, g: Affine, k: usize, n: usize, bp: &Tensor) -> Result<Dispatch> {
    ensure!(bp.len() >= pan.b_len(), "gemm pack_b: panel buffer too small");
    if n > 0 && k > 0 {
        ensure!(
            g.max_index(k, n) < src.len(),
            "gemm pack_b: the B view ({k} x {n}, {g:?}) exceeds tensor {} of shape {:?}",
            src.label,
            src.shape
        );
    }
    let total = pan.nt * (pan.pn / 4) * pan.k4 * 4;
    check_u32("packed B", total * 4)?;
    let params = Params::new()
        .u(n)
        .u(k)
        .u(pan.k4)
        .u(total)
        .u(pan.pn / 4)
        .u(g.off)
        .u(g.major)
        .u(g.div)
        .u(g.s_div)
        .u(g.s_mod);
    let d = gpu.dispatch(
        "gemm_pack",
        "pack_b",
        &[],
        Some(&params),
        &[&src.buffer, &bp.buffer],
        grid((total as u32).div_ceil(256)),
    )?;
    Ok(d.with_cost(0.0, (total * 16 + n * k * 4) as f64))
}

/// What the micro-kernel does with C: where it goes, bias, accumulation.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue {
    pub map: Affine,
    /// 0 none, 1 bias[col], 2 bias[row].
    pub bias_mode: u32,
    pub accumulate: bool,
}

impl Epilogue {
    pub fn store(map: Affine) -> Epilogue {
        Epilogue {
            map,
            bias_mode: 0,
            accumulate: false,
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
    if m > 0 && n > 0 {
        ensure!(
            epi.map.max_index(m, n) < c.len(),
            "gemm: the C view ({m} x {n}, {:?}) exceeds tensor {} of shape {:?}",
            epi.map,
            c.label,
            c.shape
        );
    }
    let bias_buf = match (epi.bias_mode, bias) {
        (0, _) => &ap.buffer,
        (1, Some(b)) if b.len() >= n => &b.buffer,
        (2, Some(b)) if b.len() >= m => &b.buffer,
        _ => bail!("gemm: bias mode {} needs a bias of the right length", epi.bias_mode),
    };
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
        .u(epi.accumulate as usize);
    let tiles = pan.mt * pan.nt;
    let groups = tiles;
    let (shader, entry) = kernel.entry();
    let d = gpu.dispatch(
        shader,
        entry,
        &[],
        Some(&params),
        &[&ap.buffer, &bp.buffer, &c.buffer, bias_buf],
        grid(groups as u32),
    )?;
    let flops = 2.0 * (m * n * k) as f64;
    let bytes = ((pan.mt * pan.nt) * (PM + pan.pn) * pan.k4 * 16 + m * n * 4) as f64;
    Ok(d.with_cost(flops, bytes))
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
    let d1 = pack_a(gpu, &pan, a, Affine::row_major(k), m, k, &ap)?;
    let d2 = pack_b(gpu, &pan, b, Affine::row_major(n), k, n, &bp)?;
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
