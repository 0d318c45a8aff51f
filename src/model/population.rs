//! Population statistics of the batch norms: the mean and variance of each batch norm's input
//! over all training examples' inferred Z, so that a generator in eval mode
//! ([`super::generator::Norm::Population`]) renders each Z alone, whatever else is in its batch
//! (PyTorch's `model.eval()` with `track_running_stats`). The network runs as in training
//! (batch statistics, batches of the training batch size, in order); each batch's per-channel
//! statistics are read back and merged on the host in f64 (Chan et al.'s pairwise formula),
//! in a fixed order: no float atomics, the same bits every time.

use super::generator::{Generator, Population};
use super::spec::Spec;
use super::HostParams;
use crate::gpu::Gpu;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

impl Population {
    /// The statistics of `spec`'s batch norms over the examples `z` ([n, latent...]), in
    /// batches of `batch` (the last one may be smaller).
    pub fn measure(gpu: &Gpu, spec: &Spec, params: &HostParams, z: &[f32], batch: usize) -> Result<Population> {
        let d = spec.latent_dim();
        if z.is_empty() || !z.len().is_multiple_of(d) {
            bail!(
                "population statistics need the Z of at least one example ({} values of {d})",
                z.len()
            );
        }
        let n = z.len() / d;
        let batch = batch.clamp(1, n);
        let bns: Vec<(usize, f64)> = spec
            .layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match l {
                super::Layer::BatchNorm { eps } => Some((i, *eps as f64)),
                _ => None,
            })
            .collect();
        // Per layer and channel: (count, mean, M2).
        let mut acc: BTreeMap<usize, Vec<(f64, f64, f64)>> = BTreeMap::new();
        let mut gen: Option<Generator> = None;
        let mut start = 0;
        while start < n {
            let b = (n - start).min(batch);
            if gen.as_ref().is_none_or(|g| g.batch != b) {
                gen = Some(Generator::new(gpu, spec, b, params)?);
            }
            let g = gen.as_ref().unwrap();
            gpu.write(g.latent(), &z[start * d..(start + b) * d])?;
            gpu.run(&g.forward_seq())?;
            for &(i, eps) in &bns {
                let st: Vec<f32> = gpu.read(g.stats(i).context("a batch norm without statistics")?)?;
                let c = st.len() / 2;
                let spatial = {
                    let [ch, h, w] = g.shapes[i + 1];
                    debug_assert_eq!(ch, c);
                    h * w
                };
                let count = (b * spatial) as f64;
                let entry = acc.entry(i).or_insert_with(|| vec![(0.0, 0.0, 0.0); c]);
                for (ch, e) in entry.iter_mut().enumerate() {
                    let mean = st[ch] as f64;
                    let inv = st[c + ch] as f64;
                    let var = (1.0 / (inv * inv) - eps).max(0.0);
                    // Chan et al.: merge (count, mean, M2) of the batch into the running one.
                    let (na, ma, m2a) = *e;
                    let nn = na + count;
                    let delta = mean - ma;
                    *e = (
                        nn,
                        ma + delta * count / nn,
                        m2a + var * count + delta * delta * na * count / nn,
                    );
                }
            }
            start += b;
        }
        Ok(Population(
            acc.into_iter()
                .map(|(i, v)| {
                    let mean = v.iter().map(|e| e.1 as f32).collect();
                    let var = v.iter().map(|e| (e.2 / e.0) as f32).collect();
                    (i, (mean, var))
                })
                .collect(),
        ))
    }
}
