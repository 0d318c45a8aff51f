//! A short autotune of the GEMM micro-kernel per adapter and product shape: at the first use
//! of a shape every candidate kernel multiplies a matrix of that shape a few times, the fastest
//! is kept, and the choice is cached on disk (`autotune.json`, one table per adapter and
//! driver) so that later runs skip the timing.
//!
//! `ABPROP_AUTOTUNE=1` (or `on`) turns it on, `0` (or `off`) off; by default it runs on hardware
//! adapters only: on software adapters [`Kernel::choose`]'s rules were measured, and runs (and
//! tests) should pick the same kernels every time. The cache lives in `$ABPROP_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/abprop`, else `~/.cache/abprop`; a missing or unreadable cache is rebuilt.

use super::gemm::{self, Kernel};
use crate::gpu::{Gpu, Timer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Whether [`Kernel::choose`] consults the autotune on this adapter.
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

/// The fastest of `candidates` for an M x N x K product on this adapter, from the cache at
/// [`cache_path`] or timed now (and cached). None when there is nothing to choose from.
pub fn pick(gpu: &Gpu, m: usize, n: usize, k: usize, candidates: &[Kernel]) -> Option<Kernel> {
    pick_in(cache_path().as_deref(), gpu, m, n, k, candidates)
}

/// [`pick`] with a given cache file (None: keep the choices in memory only).
pub fn pick_in(cache: Option<&Path>, gpu: &Gpu, m: usize, n: usize, k: usize, candidates: &[Kernel]) -> Option<Kernel> {
    let candidates: Vec<Kernel> = candidates.iter().copied().filter(|c| c.supported(gpu)).collect();
    if candidates.len() < 2 {
        return candidates.first().copied();
    }
    let shape = format!("{m}x{n}x{k}");
    let adapter = adapter_key(gpu);
    let mut tables = TABLES.lock().unwrap_or_else(|e| e.into_inner());
    let table = tables
        .entry(cache.map(Path::to_path_buf))
        .or_insert_with(|| read(cache));
    let known = table.get(&adapter).and_then(|t| t.get(&shape));
    if let Some(c) = known.and_then(|name| candidates.iter().find(|c| format!("{c:?}") == *name)) {
        return Some(*c);
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
