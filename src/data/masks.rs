//! Occlusion masks of the paper's Experiment 5: salt-and-pepper occlusion built from randomly
//! placed 3x3 blocks covering a fraction of the pixels (P.5, P.7, P.9), and one randomly placed
//! square region per image (M20, M30: 20x20 and 30x30 on 64x64 images, the same fraction of
//! the side on other sizes). Masks hold 1 for observed and 0 for occluded values, one mask per
//! image drawn from a seed (image i's mask depends only on the seed and i). `occlude` makes
//! the occluded copy of a data set, as `abprop train --occlude` and `abprop eval occlusion`
//! learn from it.

use super::Dataset;
use crate::seed::{Seed, Stream};
use anyhow::{bail, Result};
use rand::{rngs::StdRng, Rng};
use std::fmt;

/// Side of the salt-and-pepper blocks.
pub const BLOCK: usize = 3;

/// One occlusion setting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Occlusion {
    /// 3x3 blocks at random places until about this fraction of the pixels is covered.
    Pepper { fraction: f64 },
    /// One square of this side on a 64x64 image (scaled with the image), at a random place.
    Region { side64: usize },
}

/// The paper's five settings, in its order.
pub const PAPER_SETTINGS: &[&str] = &["P.5", "P.7", "P.9", "M20", "M30"];

const HELP: &str = "use P.5, P.7 or P.9 (salt-and-pepper 3x3 blocks over 50%, 70%, 90% of the pixels; any P.<digits> works) or M20, M30 (one square of that side on 64x64 images, scaled on other sizes; any M<1..63> works)";

impl Occlusion {
    pub fn parse(s: &str) -> Result<Occlusion> {
        let t = s.trim();
        let mut chars = t.chars();
        let kind = chars.next().map(|c| c.to_ascii_uppercase());
        let rest = chars.as_str();
        match kind {
            Some('P') if rest.starts_with('.') || rest.starts_with("0.") => {
                let digits = rest.trim_start_matches('0');
                let f: f64 = format!("0{digits}")
                    .parse()
                    .map_err(|_| anyhow::anyhow!("unknown occlusion {s:?}: {HELP}"))?;
                if !(f > 0.0 && f < 1.0) {
                    bail!("occlusion {s:?}: the covered fraction must be between 0 and 1; {HELP}");
                }
                Ok(Occlusion::Pepper { fraction: f })
            }
            Some('M') if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) => {
                let side: usize = rest
                    .parse()
                    .map_err(|_| anyhow::anyhow!("unknown occlusion {s:?}: {HELP}"))?;
                if side == 0 || side >= 64 {
                    bail!("occlusion {s:?}: the square's side on a 64x64 image must be 1 to 63; {HELP}");
                }
                Ok(Occlusion::Region { side64: side })
            }
            _ => bail!("unknown occlusion {s:?}: {HELP}"),
        }
    }

    /// A comma-separated list of settings.
    pub fn parse_list(s: &str) -> Result<Vec<Occlusion>> {
        let v: Vec<Occlusion> = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Occlusion::parse)
            .collect::<Result<_>>()?;
        if v.is_empty() {
            bail!("no occlusion settings given: {HELP}");
        }
        Ok(v)
    }

    /// The fraction of the pixels this setting occludes on an h x w image (the target for
    /// salt-and-pepper masks, exact for region masks).
    pub fn fraction(&self, h: usize, w: usize) -> f64 {
        match *self {
            Occlusion::Pepper { fraction } => fraction,
            Occlusion::Region { side64 } => {
                let (sh, sw) = self.region_side(h, w).unwrap_or((side64, side64));
                (sh * sw) as f64 / (h * w) as f64
            }
        }
    }

    /// The region's height and width on an h x w image.
    pub fn region_side(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        match *self {
            Occlusion::Region { side64 } => {
                let scale = |n: usize| ((side64 * n) as f64 / 64.0).round().clamp(1.0, n as f64) as usize;
                Some((scale(h), scale(w)))
            }
            _ => None,
        }
    }

    /// One h x w mask (1 observed, 0 occluded).
    pub fn mask(&self, h: usize, w: usize, rng: &mut StdRng) -> Result<Vec<f32>> {
        let mut m = vec![1f32; h * w];
        match *self {
            Occlusion::Pepper { fraction } => {
                if h < BLOCK || w < BLOCK {
                    bail!("salt-and-pepper occlusion needs images of at least {BLOCK}x{BLOCK}, not {h}x{w}");
                }
                let target = (fraction * (h * w) as f64).round() as usize;
                let mut covered = 0;
                while covered < target {
                    let (y0, x0) = (rng.random_range(0..=h - BLOCK), rng.random_range(0..=w - BLOCK));
                    let fresh: Vec<usize> = (0..BLOCK * BLOCK)
                        .map(|k| (y0 + k / BLOCK) * w + x0 + k % BLOCK)
                        .filter(|&p| m[p] != 0.0)
                        .collect();
                    // Stop before or after the last block, whichever lands nearer the target.
                    if covered + fresh.len() > target && covered + fresh.len() - target > target - covered {
                        break;
                    }
                    for p in fresh {
                        m[p] = 0.0;
                        covered += 1;
                    }
                }
            }
            Occlusion::Region { .. } => {
                let (sh, sw) = self.region_side(h, w).unwrap();
                let (y0, x0) = (rng.random_range(0..=h - sh), rng.random_range(0..=w - sw));
                for y in y0..y0 + sh {
                    for x in x0..x0 + sw {
                        m[y * w + x] = 0.0;
                    }
                }
            }
        }
        Ok(m)
    }

    /// Masks for `n` training images of shape [c, h, w] (the same mask on every channel),
    /// [n, c, h, w]. Image i's mask is drawn from (seed, i) alone.
    pub fn masks(&self, n: usize, shape: [usize; 3], seed: impl Into<Seed>) -> Result<Vec<f32>> {
        self.masks_in(n, shape, seed.into(), Stream::TrainMasks)
    }

    /// [`Occlusion::masks`] from another stream (the test images' masks).
    pub fn masks_in(&self, n: usize, shape: [usize; 3], seed: Seed, stream: Stream) -> Result<Vec<f32>> {
        let [c, h, w] = shape;
        let mut out = Vec::with_capacity(n * c * h * w);
        for i in 0..n {
            let mut rng = seed.rng_at(stream, i as u64);
            let m = self.mask(h, w, &mut rng)?;
            for _ in 0..c {
                out.extend_from_slice(&m);
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Occlusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Occlusion::Pepper { fraction } => {
                let s = format!("{fraction}");
                write!(f, "P{}", s.trim_start_matches('0'))
            }
            Occlusion::Region { side64 } => write!(f, "M{side64}"),
        }
    }
}

/// `values` with every occluded value (mask 0) set to 0, so nothing of it reaches a learner.
pub fn hide(values: &[f32], masks: &[f32]) -> Vec<f32> {
    values
        .iter()
        .zip(masks)
        .map(|(&v, &m)| if m != 0.0 { v } else { 0.0 })
        .collect()
}

/// The fraction of occluded values.
pub fn coverage(masks: &[f32]) -> f64 {
    masks.iter().filter(|&&m| m == 0.0).count() as f64 / masks.len().max(1) as f64
}

/// The occluded copy of training images `data` (occluded values zeroed) and its masks
/// (stream `TrainMasks` of `seed`).
pub fn occlude(data: &Dataset, occ: &Occlusion, seed: impl Into<Seed>) -> Result<(Dataset, Vec<f32>)> {
    occlude_in(data, occ, seed.into(), Stream::TrainMasks)
}

/// [`occlude`] for test images (stream `TestMasks`: other masks than the training images').
pub fn occlude_test(data: &Dataset, occ: &Occlusion, seed: Seed) -> Result<(Dataset, Vec<f32>)> {
    occlude_in(data, occ, seed, Stream::TestMasks)
}

fn occlude_in(data: &Dataset, occ: &Occlusion, seed: Seed, stream: Stream) -> Result<(Dataset, Vec<f32>)> {
    let m = occ.masks_in(data.len(), data.shape, seed, stream)?;
    let mut d = data.clone();
    d.values = hide(&data.values, &m);
    Ok((d, m))
}

/// `abprop train --occlude SPEC`: the occluded training data (masks from the run's seed, as
/// `abprop eval occlusion` draws them) and the masks.
pub fn occlude_training(data: &Dataset, spec: &str, seed: Seed) -> Result<(Dataset, Vec<f32>)> {
    occlude(data, &Occlusion::parse(spec)?, seed)
}
