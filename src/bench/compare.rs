//! `abprop bench compare`: the JSON lines of several runs of `abprop bench kernels --json` or
//! `abprop bench train --json` (one file per machine, driver or build) side by side, each rate
//! beside its ratio to the first run's.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

/// One run: a label (the adapter and backend its lines name, else the file name) and its lines.
pub struct Run {
    pub label: String,
    pub lines: Vec<Value>,
}

/// Reads one run's file: every line that starts with `{` is a JSON object (other lines, such as
/// notes on stderr captured with the output, are skipped).
pub fn read(path: &Path) -> Result<Run> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if !l.starts_with('{') {
            continue;
        }
        let v: Value = serde_json::from_str(l)
            .with_context(|| format!("{} line {}: not a JSON object of abprop bench", path.display(), i + 1))?;
        lines.push(v);
    }
    if lines.is_empty() {
        bail!(
            "{}: no lines of `abprop bench kernels --json` or `abprop bench train --json`",
            path.display()
        );
    }
    let named = |k: &str| lines[0].get(k).and_then(Value::as_str).map(str::to_string);
    let label = match (named("adapter"), named("backend")) {
        (Some(a), Some(b)) => format!("{a} ({b})"),
        _ => file_name(path),
    };
    Ok(Run { label, lines })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Reads every run's file ([`read`]); runs whose labels coincide (two files from one adapter)
/// get their file names appended.
pub fn read_all(paths: &[std::path::PathBuf]) -> Result<Vec<Run>> {
    let mut runs = paths.iter().map(|p| read(p)).collect::<Result<Vec<_>>>()?;
    let labels: Vec<String> = runs.iter().map(|r| r.label.clone()).collect();
    for (run, path) in runs.iter_mut().zip(paths) {
        let name = file_name(path);
        if labels.iter().filter(|l| **l == run.label).count() > 1 && run.label != name {
            run.label = format!("{} [{name}]", run.label);
        }
    }
    Ok(runs)
}

/// What a line measures: (kernel or "train <preset>", shape or "batch <n>", unit, value,
/// whether higher is better).
fn measure(v: &Value) -> Option<(String, String, &'static str, f64, bool)> {
    let num = |k: &str| v.get(k).and_then(Value::as_f64);
    if let Some(kernel) = v.get("kernel").and_then(Value::as_str) {
        let shape = v.get("shape").and_then(Value::as_str).unwrap_or("").to_string();
        let (unit, value) = if kernel == "sgemm" || super::kernels::gemm_class(kernel) {
            ("GFLOP/s", num("gflops")?)
        } else {
            ("GB/s", num("gbps")?)
        };
        return Some((kernel.to_string(), shape, unit, value, true));
    }
    let preset = v.get("preset").and_then(Value::as_str)?;
    let batch = num("batch").map_or(String::new(), |b| format!("batch {b}"));
    Some((format!("train {preset}"), batch, "s/iter", num("iter_s")?, false))
}

/// The runs side by side: one row per (kernel, shape) or trained preset, in the order they first
/// appear, one column per run; after the first run's column each value carries its ratio to
/// the first ("2.0x": twice the rate, or half the seconds per iteration). A run's repeated row
/// keeps its first value; a row a run lacks shows "-".
pub fn table(runs: &[Run]) -> String {
    type Key = (String, String, &'static str, bool);
    let mut keys: Vec<Key> = Vec::new();
    let mut values: Vec<Vec<Option<f64>>> = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        for line in &run.lines {
            let Some((kernel, shape, unit, value, higher)) = measure(line) else {
                continue;
            };
            let key = (kernel, shape, unit, higher);
            let row = match keys.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    keys.push(key);
                    values.push(vec![None; runs.len()]);
                    keys.len() - 1
                }
            };
            values[row][r].get_or_insert(value);
        }
    }
    let width = runs.iter().map(|r| r.label.len()).max().unwrap_or(0).max(16);
    let mut s = format!("{:<32} {:<44} {:<8}", "kernel", "shape", "unit");
    for run in runs {
        s.push_str(&format!(" {:>width$}", run.label));
    }
    s.push('\n');
    for (key, vals) in keys.iter().zip(&values) {
        let mut line = format!("{:<32} {:<44} {:<8}", key.0, key.1, key.2);
        for (r, v) in vals.iter().enumerate() {
            let cell = match (v, vals[0]) {
                (None, _) => "-".to_string(),
                (Some(v), Some(first)) if r > 0 && first > 0.0 && *v > 0.0 => {
                    let ratio = if key.3 { v / first } else { first / v };
                    format!("{v:.3} ({ratio:.2}x)")
                }
                (Some(v), _) => format!("{v:.3}"),
            };
            line.push_str(&format!(" {cell:>width$}"));
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}
