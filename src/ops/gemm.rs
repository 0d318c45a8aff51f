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
//! [`Kernel::choose`] picks per adapter and shape: by rules measured on lavapipe and llvmpipe,
//! or by a short timing at first use, cached (src/ops/tune.rs; on by default on GPUs). Results
//! are deterministic: each element of C
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

    fn entry(self) -> (&'static str, &'static str) {
        match self {
            Kernel::Sg64x64 => ("gemm_sg", "gemm_64x64"),
            Kernel::Sg64x32 => ("gemm_sg", "gemm_64x32"),
            Kernel::Tiled64x64 => ("gemm", "gemm_64x64"),
            Kernel::Tiled128x128 => ("gemm", "gemm_128x128"),
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
    /// sg64x32, tiled, tiled128x128) overrides where supported. The subgroup kernels are preferred on software
    /// adapters (lavapipe); the choice between their panel widths minimises the padded work,
    /// counting the 64-wide one as about 10% faster per padded flop (measured on lavapipe).
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
        let subgroups = gpu.is_software() && Kernel::Sg64x64.supported(gpu);
        if super::tune::enabled(gpu) {
            let candidates: &[Kernel] = if subgroups {
                &[Kernel::Sg64x64, Kernel::Sg64x32]
            } else {
                &[Kernel::Tiled64x64, Kernel::Tiled128x128]
            };
            if let Some(k) = super::tune::pick(gpu, m, n, k, candidates) {
                return k;
            }
        }
        if subgroups {
            let w64 = n.div_ceil(64) * 64;
            let w32 = n.div_ceil(32) * 32;
            if (w32 as f64) * 1.1 < w64 as f64 {
                Kernel::Sg64x32
            } else {
                Kernel::Sg64x64
            }
        } else {
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
    }
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
    /// Whether the subgroup kernels may store whole tiles of width `pn` straight from
    /// registers (DIRECT in gemm_sg.wgsl): every tile's rows are contiguous, 16-byte aligned
    /// runs of C, and there is no bias or accumulation.
    fn direct(&self, pn: usize, n: usize) -> bool {
        let m = &self.map;
        !self.packed
            && !self.accumulate
            && self.bias_mode == 0
            && m.s_mod == 1
            && m.off.is_multiple_of(4)
            && m.major.is_multiple_of(4)
            && m.s_div.is_multiple_of(4)
            && (m.div >= n || m.div.is_multiple_of(pn))
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
    let (params, constants) = epilogue_setup(pan, m, n, c, &epi, Some(kernel))?;
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
    let (shader, entry) = kernel.entry();
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

/// C (through `epi`) = packed A x B, with B gathered on the fly from windows of `x` as `table`
/// describes (gemm_64x64_win in shaders/gemm_sg.wgsl: three header rows and one row per K
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
        Kernel::Sg64x64.supported(gpu) && pan.pn == Kernel::Sg64x64.panel_width(),
        "gemm: the window kernel needs subgroups of 8 and 64-wide panels"
    );
    ensure!(
        table.len() >= 4 * (3 + pan.k4 * 4),
        "gemm: the window table holds fewer than {} rows",
        pan.k4 * 4
    );
    let (params, constants) = epilogue_setup(pan, m, n, c, &epi, None)?;
    // Bindings 2 (B panel) and 4 (bias) are unused by this entry point.
    let d = gpu.dispatch(
        "gemm_sg",
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

/// The uniform parameters (GemmParams of gemm_common.wgsl) and the override constants of a
/// product writing C through `epi`; `kernel` None is the window kernel (a subgroup kernel).
fn epilogue_setup(
    pan: &Panels,
    m: usize,
    n: usize,
    c: &Tensor,
    epi: &Epilogue,
    kernel: Option<Kernel>,
) -> Result<(Params, &'static [(&'static str, f64)])> {
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
    const PACKED: &[(&str, f64)] = &[("PACKED", 1.0)];
    const DIRECT: &[(&str, f64)] = &[("DIRECT", 1.0)];
    const INTERIOR: &[(&str, f64)] = &[("DIRECT", 1.0), ("INTERIOR", 1.0)];
    let constants: &'static [(&'static str, f64)] = if kernel.is_some_and(|k| !k.is_subgroup()) {
        &[]
    } else if epi.packed {
        PACKED
    } else if epi.direct(pan.pn, n) && m.is_multiple_of(PM) && n.is_multiple_of(pan.pn) {
        // Every tile inside C: the edge epilogue is left out of the pipeline.
        INTERIOR
    } else if epi.direct(pan.pn, n) {
        DIRECT
    } else {
        &[]
    };
    Ok((params, constants))
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
