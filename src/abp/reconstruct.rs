//! Reconstruction of data the model never saw (the paper's Experiment 7): Z inferred from
//! N(0, I) by Langevin dynamics (or HMC) with W fixed, then f(Z; W) and the per-example error. A
//! model with an encoder can start each chain at the encoder's mean mu(Y) instead: `[E]` with
//! no Langevin steps, `[E+L]` with T of them (the HiABP paper's evaluations).

use super::config::Sampler;
use super::infer::{Inference, Langevin};
use super::observe::{Observation, ObservedShared};
use crate::data::Dataset;
use crate::gpu::{Dispatch, Gpu};
use crate::model::{Generator, HostParams, Norm, Spec};
use crate::ops::{philox, proposal};
use crate::seed::{Seed, Stream};
use anyhow::{bail, Context, Result};

#[derive(Clone, Copy, Debug)]
pub struct ReconstructOptions<'a> {
    pub steps: usize,
    pub delta: f32,
    pub sigma: f32,
    pub noise: bool,
    /// Langevin (its noise from `Stream::Reconstruct`) or HMC (`Stream::Momentum`, `Accept`);
    /// `steps` counts HMC transitions.
    pub sampler: Sampler,
    pub seed: Seed,
    pub batch: usize,
    /// The batch norms: the model's population statistics (eval mode: each example's Z is
    /// inferred as if alone) or the statistics of each batch of examples.
    pub norm: Norm<'a>,
    /// Start each chain at the encoder's mean mu(Y), the encoder's parameters given (as its
    /// own network names them, see `checkpoint::encoder_params_from`), instead of N(0, I).
    pub encoder: Option<&'a HostParams>,
    /// Start chain i at row i of these Z ([n, latent...]) instead of N(0, I) (`eval dynamic` and
    /// `dynamics fit` start every frame's chain at one common Z).
    pub start: Option<&'a [f32]>,
}

impl Default for ReconstructOptions<'_> {
    fn default() -> Self {
        ReconstructOptions {
            steps: 300,
            delta: 0.05,
            sigma: 0.3,
            noise: true,
            sampler: Sampler::Langevin,
            seed: Seed(1),
            batch: 100,
            norm: Norm::Batch,
            encoder: None,
            start: None,
        }
    }
}

pub struct Reconstruction {
    /// [n, c, h, w]
    pub outputs: Vec<f32>,
    /// [n, latent...]
    pub z: Vec<f32>,
    /// Mean squared error per value, per example.
    pub mse: Vec<f64>,
    /// HMC: the fraction of all transitions that were accepted.
    pub acceptance: Option<f64>,
}

/// Infers Z for every example of `data` (what is observed of it through `observation`) and
/// reconstructs f(Z). One submit per batch. `mse` is over the observed values.
pub fn reconstruct(
    gpu: &Gpu,
    spec: &Spec,
    params: &HostParams,
    data: &Dataset,
    observation: &Observation,
    o: &ReconstructOptions,
) -> Result<Reconstruction> {
    let masks = match observation {
        Observation::Mask(m) => Some(m.as_slice()),
        _ => None,
    };
    if let Observation::Sensing { k, .. } = observation {
        if data.per_example() != *k {
            bail!(
                "the data hold {} values per example but the sensing matrix makes {k}",
                data.per_example()
            );
        }
    } else if spec.output()? != data.shape {
        bail!(
            "the data's examples are {:?} but the model makes {:?}",
            data.shape,
            spec.output()?
        );
    }
    let n = data.len();
    let per = data.per_example();
    let d = spec.latent_dim();
    if let Some(s) = o.start {
        if o.encoder.is_some() {
            bail!("a chain starts at the encoder's proposal or at a given Z, not both");
        }
        if s.len() != n * d {
            bail!("{} starting values given for {n} chains of {d} factors", s.len());
        }
    }
    let mut out = Reconstruction {
        outputs: Vec::new(),
        z: Vec::new(),
        mse: Vec::new(),
        acceptance: None,
    };
    let mut accepted = 0f64;
    let mut start = 0;
    let mut gen: Option<(Generator, ObservedShared)> = None;
    let mut enc: Option<(Generator, crate::gpu::Op)> = None;
    let enc_spec = match o.encoder {
        Some(_) => Some(
            spec.encoder_spec()?
                .context("the model has no encoder to start the chains")?,
        ),
        None => None,
    };
    while start < n {
        let b = (n - start).min(o.batch);
        if gen.as_ref().is_none_or(|g| g.0.batch != b) {
            let g = Generator::with_norm(gpu, spec, b, params, o.norm)?;
            let shared = ObservedShared::new(gpu, &g, observation)?;
            gen = Some((g, shared));
        }
        let (g, shared) = gen.as_ref().unwrap();
        if let (Some(es), Some(ep)) = (&enc_spec, o.encoder) {
            if enc.as_ref().is_none_or(|e| e.0.batch != b) {
                let net = Generator::new(gpu, es, b, ep)?;
                let step = gpu.upload::<u32>("step", &[1], &[0])?;
                let mean = proposal::propose(gpu, net.output(), g.latent(), d, &step, false, [0, 0], 0)?;
                enc = Some((net, mean));
            }
        }
        let shape = [b, data.shape[0], data.shape[1], data.shape[2]];
        let y = gpu.upload("y", &shape, &data.values[start * per..(start + b) * per])?;
        let mask = masks
            .map(|m| gpu.upload("mask", &shape, &m[start * per..(start + b) * per]))
            .transpose()?;
        let sse = gpu.zeros("sse", &[b])?;
        let step = gpu.upload::<u32>("step", &[1], &[0])?;
        let dynamics = Langevin {
            sigma: o.sigma,
            delta: o.delta,
            noise: o.noise,
            key: o.seed.key(Stream::Reconstruct),
        }
        .with_sampler(o.sampler, o.seed);
        let inf = Inference::new(gpu, g, shared, &y, mask.as_ref(), &sse, &step, start * d, dynamics)?;
        let init = philox::normal_range(
            gpu,
            g.latent(),
            b * d,
            o.seed.key(Stream::InitZ),
            &step,
            (start * d) as u32,
        )?;
        let mut seq: Vec<&Dispatch> = match (&enc, o.start) {
            (Some((net, mean)), _) => {
                gpu.write(net.latent(), &data.values[start * per..(start + b) * per])?;
                let mut v = net.forward_seq();
                v.extend(mean.seq());
                v
            }
            (None, Some(s)) => {
                gpu.write(g.latent(), &s[start * d..(start + b) * d])?;
                Vec::new()
            }
            (None, None) => init.seq(),
        };
        inf.steps(g, o.steps, &mut seq);
        seq.extend(g.forward_seq());
        seq.extend(inf.residual().seq());
        gpu.run(&seq)?;
        out.outputs.extend(gpu.read::<f32>(g.output())?);
        out.z.extend(gpu.read::<f32>(g.latent())?);
        let observed: Vec<f64> = match masks {
            Some(m) => (0..b)
                .map(|i| {
                    m[(start + i) * per..(start + i + 1) * per]
                        .iter()
                        .map(|&v| v as f64)
                        .sum::<f64>()
                        .max(1.0)
                })
                .collect(),
            None => vec![per as f64; b],
        };
        out.mse.extend(
            gpu.read::<f32>(&sse)?
                .iter()
                .zip(&observed)
                .map(|(&s, &k)| s as f64 / k),
        );
        if let Some(acc) = inf.accepted() {
            accepted += gpu.read::<f32>(acc)?.iter().map(|&v| v as f64).sum::<f64>();
        }
        start += b;
    }
    if matches!(o.sampler, Sampler::Hmc { .. }) && o.steps > 0 && n > 0 {
        out.acceptance = Some(accepted / (n * o.steps) as f64);
    }
    Ok(out)
}

impl Reconstruction {
    /// The mean of the per-example errors.
    pub fn mean_mse(&self) -> f64 {
        self.mse.iter().sum::<f64>() / self.mse.len().max(1) as f64
    }

    /// `errors.json` (written atomically): the mean and per-example errors of the examples
    /// `names`, with the inference settings.
    pub fn write_errors(&self, path: &std::path::Path, names: &[String], o: &ReconstructOptions) -> Result<()> {
        let rows: Vec<_> = names
            .iter()
            .zip(&self.mse)
            .map(|(name, e)| serde_json::json!({"example": name, "mse": e}))
            .collect();
        let report = serde_json::json!({
            "examples": self.mse.len(),
            "mean_mse": self.mean_mse(),
            "steps": o.steps,
            "delta": o.delta,
            "sampler": o.sampler,
            "acceptance": self.acceptance,
            "per_example": rows,
        });
        crate::io::checkpoint::write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())
    }
}
