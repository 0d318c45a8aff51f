//! Writing results: image panels (rows of original, occluded or observed, and recovered
//! images), the Markdown table and the JSON file.

use crate::io::checkpoint::write_atomic;
use crate::io::media;
use anyhow::{Context, Result};
use std::path::Path;

/// One row of a panel: `k` grayscale images [k, h, w] in [-1, 1], with occluded pixels (mask
/// 0) painted red when a mask is given.
pub struct Row<'a> {
    pub values: &'a [f32],
    pub masks: Option<&'a [f32]>,
}

impl<'a> Row<'a> {
    /// Images as they are.
    pub fn plain(values: &'a [f32]) -> Row<'a> {
        Row { values, masks: None }
    }
    /// Images with their missing pixels (mask 0) shown in red.
    pub fn masked(values: &'a [f32], masks: &'a [f32]) -> Row<'a> {
        Row {
            values,
            masks: Some(masks),
        }
    }
}

/// Writes rows of `k` grayscale h x w images as one RGB grid (one row per `Row`).
pub fn panel(path: &Path, rows: &[Row], k: usize, h: usize, w: usize) -> Result<()> {
    let per = h * w;
    let mut rgb = Vec::with_capacity(rows.len() * k * 3 * per);
    for r in rows {
        for i in 0..k {
            let v = &r.values[i * per..(i + 1) * per];
            let m = r.masks.map(|m| &m[i * per..(i + 1) * per]);
            for ch in 0..3 {
                for p in 0..per {
                    let hidden = m.is_some_and(|m| m[p] == 0.0);
                    rgb.push(if hidden {
                        if ch == 0 {
                            1.0
                        } else {
                            -1.0
                        }
                    } else {
                        v[p]
                    });
                }
            }
        }
    }
    media::write_grid(path, &rgb, rows.len() * k, 3, h, w, k)
}

/// A Markdown table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n", header.join(" | "));
    s += &format!("|{}\n", header.iter().map(|_| "---|").collect::<String>());
    for r in rows {
        s += &format!("| {} |\n", r.join(" | "));
    }
    s
}

/// Writes `results.md` and `results.json` in `dir`.
pub fn write(dir: &Path, markdown: &str, json: &serde_json::Value) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomic(&dir.join("results.md"), markdown.as_bytes())?;
    write_atomic(
        &dir.join("results.json"),
        serde_json::to_string_pretty(json)?.as_bytes(),
    )
}

/// An error as the tables show it.
pub fn num(v: f64) -> String {
    format!("{v:.4}")
}
