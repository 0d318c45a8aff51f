//! A short autotune of the GEMM micro-kernel per adapter and product shape, as a step of its
//! own ([`tuned`]): ops are built once with the choices made so far (held by the [`Gpu`],
//! read by [`Kernel::choose`], which records the shapes it found no choice for); then every
//! candidate kernel multiplies a matrix of each new shape a few times, the fastest is kept and
//! cached on disk (`autotune.json`, one table per adapter and driver) so that later runs skip
//! the timing, and the ops are built again if a choice changed. Only this module writes the
//! choices; src/ops/gemm only reads them.
//!
//! `ABPROP_AUTOTUNE=1` (or `on`) turns it on, `0` (or `off`) off; by default it runs on hardware
//! adapters only: on software adapters [`Kernel::choose`]'s rules were measured, and runs (and
//! tests) should pick the same kernels every time. The cache lives in `$ABPROP_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/abprop`, else `~/.cache/abprop`; a missing or unreadable cache is rebuilt.

use super::gemm::{self, Kernel};
use crate::gpu::{Gpu, Timer};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Whether the tuning step runs on this adapter.
pub fn enabled(gpu: &Gpu) -> bool {
    match std::env::var("ABPROP_AUTOTUNE").map(|v| v.to_lowercase()).as_deref() {
        Ok("1" | "on" | "true" | "yes") => true,
        Ok("0" | "off" | "false" | "no") => false,
        _ => !gpu.is_software(),
    }
}

/// The cache file (None where no folder can be named).
pub fn cache_path() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let dir = var("ABPROP_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("abprop")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("abprop")))?;
    Some(dir.join("autotune.json"))
}

/// adapter key -> shape "MxNxK" -> kernel name.
type Table = BTreeMap<String, BTreeMap<String, String>>;

/// The tables read so far, by cache file (None: no file, memory only).
static TABLES: Mutex<BTreeMap<Option<PathBuf>, Table>> = Mutex::new(BTreeMap::new());

fn adapter_key(gpu: &Gpu) -> String {
    let i = &gpu.info;
    format!("{} | {:?} | {} {}", i.name, i.backend, i.driver, i.driver_info)
}

fn read(path: Option<&Path>) -> Table {
    path.and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Seconds per product with `kernel` (the best of three short timings after a warm-up); None
/// if the product cannot be built (e.g. too large for one binding).
fn measure(gpu: &Gpu, kernel: Kernel, m: usize, n: usize, k: usize) -> Option<f64> {
    let a = gpu.zeros("autotune A", &[m * k]).ok()?;
    let b = gpu.zeros("autotune B", &[k * n]).ok()?;
    let c = gpu.zeros("autotune C", &[m * n]).ok()?;
    let op = gemm::sgemm_with(gpu, kernel, &a, &b, &c, m, n, k).ok()?;
    let seq = op.seq();
    let timer = Timer::new(gpu);
    timer.time(gpu, &seq, 1).ok()?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        best = best.min(timer.time(gpu, &seq, 2).ok()?);
    }
    Some(best)
}

/// The fastest of `candidates` for an M x N x K product on this adapter, from the table
/// cached in `cache` or timed now (and cached); None: keep the choices in memory only. None
/// when there is nothing to choose from.
pub fn pick_in(cache: Option<&Path>, gpu: &Gpu, m: usize, n: usize, k: usize, candidates: &[Kernel]) -> Option<Kernel> {
    let candidates: Vec<Kernel> = candidates.iter().copied().filter(|c| c.supported(gpu)).collect();
    if candidates.len() < 2 {
        return candidates.first().copied();
    }
    let shape = gemm::shape_key(m, n, k);
    let adapter = adapter_key(gpu);
    let mut tables = TABLES.lock().unwrap_or_else(|e| e.into_inner());
    let table = tables
        .entry(cache.map(Path::to_path_buf))
        .or_insert_with(|| read(cache));
    let known = table.get(&adapter).and_then(|t| t.get(&shape));
    if let Some(c) = known
        .and_then(|name| Kernel::named(name))
        .filter(|c| candidates.contains(c))
    {
        return Some(c);
    }
    let timed: Vec<(Kernel, f64)> = candidates
        .iter()
        .filter_map(|&c| measure(gpu, c, m, n, k).map(|t| (c, t)))
        .collect();
    let best = timed.iter().min_by(|a, b| a.1.total_cmp(&b.1))?.0;
    table.entry(adapter).or_default().insert(shape, format!("{best:?}"));
    if let Some(path) = cache {
        let saved = serde_json::to_vec_pretty(&*table)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| crate::io::checkpoint::write_atomic(path, &bytes));
        if let Err(e) = saved {
            eprintln!("abprop: autotune cache not saved ({e:#}); choices are kept for this run only");
        }
    }
    Some(best)
}

/// The tuning step around `build` (which builds ops, e.g. a whole network): where the
/// autotune is on, the choices cached for this adapter are handed to [`Kernel::choose`], `build`
/// runs, the products it asked for without a choice are timed, and `build` runs again when one
/// of those choices differs from the kernel it took. Elsewhere `build` runs once, on the rules.
pub fn tuned<T>(gpu: &Gpu, mut build: impl FnMut() -> Result<T>) -> Result<T> {
    if !enabled(gpu) {
        return build();
    }
    start(gpu, cache_path().as_deref());
    let built = build()?;
    if step(gpu, cache_path().as_deref()) {
        return build();
    }
    Ok(built)
}

/// Turns the choice table of `gpu` on, with the choices cached in `cache` for this adapter.
pub fn start(gpu: &Gpu, cache: Option<&Path>) {
    let adapter = adapter_key(gpu);
    let mut tables = TABLES.lock().unwrap_or_else(|e| e.into_inner());
    let table = tables
        .entry(cache.map(Path::to_path_buf))
        .or_insert_with(|| read(cache));
    let mut c = gpu.choices.lock().unwrap_or_else(|e| e.into_inner());
    c.active = true;
    if let Some(t) = table.get(&adapter) {
        c.made.extend(t.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// Chooses (from `cache` or by timing, see [`pick_in`]) a kernel for every product shape asked
/// for without a choice since the last step, and hands the choices to `gpu`. True when some
/// choice differs from the rule that the ops built meanwhile used.
pub fn step(gpu: &Gpu, cache: Option<&Path>) -> bool {
    let missed = std::mem::take(&mut gpu.choices.lock().unwrap_or_else(|e| e.into_inner()).missed);
    let mut changed = false;
    for key in missed {
        let dims: Vec<usize> = key.split('x').filter_map(|d| d.parse().ok()).collect();
        let &[m, n, k] = dims.as_slice() else {
            continue;
        };
        let Some(best) = pick_in(cache, gpu, m, n, k, &Kernel::candidates(gpu)) else {
            continue;
        };
        changed |= best != Kernel::rule(gpu, m, n);
        let mut c = gpu.choices.lock().unwrap_or_else(|e| e.into_inner());
        c.made.insert(key, format!("{best:?}"));
    }
    changed
}
