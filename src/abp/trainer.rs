//! The training loop, the one in abprop: all Y_i, Z_i and W resident on the GPU; one submit and
//! one small read-back (the per-example squared errors, and with HMC the accepted counts) per
//! iteration. `train`, the evaluations and the benchmark all run [`Trainer::train`] and differ
//! only in the hook it calls after every iteration (logs, checkpoints, snapshots, curves, timing).

use super::checkpoint::{self, params_from, Saved};
use super::config::{Chains, Hyper};
use super::encoder::{self, Encoder};
use super::infer::{Inference, Langevin};
use super::learn::Learning;
use super::observe::{Observation, ObservedShared};
use crate::data::Dataset;
use crate::gpu::{Dispatch, Gpu, Op, Tensor};
use crate::io::checkpoint::{Checkpoint, HostTensor};
use crate::model::{init_params, Generator, HostParams, Population, Spec};
use crate::ops::philox;
use crate::seed::Stream;
use anyhow::{bail, Result};
use std::path::Path;
use std::time::Instant;

pub struct Trainer<'g> {
    gpu: &'g Gpu,
    pub spec: Spec,
    pub hyper: Hyper,
    pub gen: Generator,
    /// Examples trained on (a whole number of batches).
    pub n: usize,
    pub rate: Option<u32>,
    /// The preset the network came from, if any (recorded in checkpoints).
    pub preset: Option<String>,
    /// Further metadata recorded in checkpoints (`sequence` for the frames of a clip).
    pub metadata: std::collections::BTreeMap<String, String>,
    pub names: Vec<String>,
    z: Vec<Tensor>,
    y: Vec<Tensor>,
    _masks: Vec<Tensor>,
    _shared: ObservedShared,
    /// Values observed in all (for the mean error).
    observed_count: f64,
    sse: Tensor,
    /// [n] per-example squared errors, then with HMC [n] accepted counts: one read-back.
    sse_all: Tensor,
    /// The GPU counters of Langevin steps and fresh-chain draws (saved in checkpoints).
    step: Tensor,
    fresh_step: Tensor,
    infers: Vec<Inference>,
    fresh: Vec<Op>,
    fresh_advance: Option<Op>,
    pub learning: Learning,
    /// The encoder that proposes each chain's start (`Chains::Encoder`: IABP/HiABP).
    pub encoder: Option<Encoder>,
    pub iteration: usize,
    /// Mean squared reconstruction error per value of the last iteration.
    pub last_error: Option<f64>,
    /// HMC: the fraction of the last iteration's transitions that were accepted.
    pub last_acceptance: Option<f64>,
}

/// What the loop reports to its hook after each iteration (also a line of `log.jsonl`).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Step {
    pub iteration: usize,
    /// Mean squared reconstruction error per observed value.
    pub mse: f64,
    /// Seconds since this call of [`Trainer::train`] began.
    pub seconds: f64,
    /// HMC: the fraction of this iteration's transitions that were accepted (absent with
    /// Langevin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<f64>,
}

impl<'g> Trainer<'g> {
    /// A new run on `data`, or a resumed one when `resume` is given (its checkpoint, see
    /// [`super::checkpoint`]). `data` holds what is observed of each example through
    /// `observation`: the whole output (shaped as the model's output, possibly with a mask of
    /// the observed values) or its projection S Y.
    pub fn new(
        gpu: &'g Gpu,
        spec: &Spec,
        hyper: &Hyper,
        data: &Dataset,
        observation: &Observation,
        resume: Option<&Checkpoint>,
    ) -> Result<Trainer<'g>> {
        hyper.validate()?;
        let out_shape = spec.output()?;
        if let Observation::Sensing { k, .. } = observation {
            if data.per_example() != *k {
                bail!(
                    "the data hold {} values per example but the sensing matrix makes {k}",
                    data.per_example()
                );
            }
        } else if out_shape != data.shape {
            bail!(
                "the data's examples are {:?} but the model makes {:?}",
                data.shape,
                out_shape
            );
        }
        let batch = hyper.batch.min(data.len());
        let batches = data.len() / batch;
        let n = batches * batch;
        if n < data.len() {
            eprintln!(
                "abprop: training on the first {n} of {} examples (a whole number of batches of {batch})",
                data.len()
            );
        }
        let params: HostParams = match resume {
            Some(c) => params_from(c, spec)?,
            None => init_params(spec, hyper.seed)?,
        };
        let gen = Generator::new(gpu, spec, batch, &params)?;
        let d = spec.latent_dim();
        let per = data.per_example();
        let mut hyper = hyper.clone();
        hyper.batch = batch;

        // Z of every example: from the checkpoint, or N(0, I).
        let mut z = Vec::new();
        let latent_shape = |b| vec![b, spec.latent[0], spec.latent[1], spec.latent[2]];
        let all_z: Option<Vec<f32>> = match resume {
            Some(c) => {
                let t = c.get("z")?;
                if t.shape() != latent_shape(n).as_slice() {
                    bail!(
                        "the checkpoint's z is {:?} but this run needs {:?}: resume with the same data",
                        t.shape(),
                        latent_shape(n)
                    );
                }
                Some(t.f32()?.to_vec())
            }
            None => None,
        };
        let mut init_ops = Vec::new();
        let zero_step = gpu.upload::<u32>("zero step", &[1], &[0])?;
        for b in 0..batches {
            let t = match &all_z {
                Some(v) => gpu.upload("z", &latent_shape(batch), &v[b * batch * d..(b + 1) * batch * d])?,
                None => {
                    let t = gpu.zeros("z", &latent_shape(batch))?;
                    init_ops.push(philox::normal_range(
                        gpu,
                        &t,
                        t.len(),
                        hyper.seed.key(Stream::InitZ),
                        &zero_step,
                        (b * batch * d) as u32,
                    )?);
                    t
                }
            };
            z.push(t);
        }
        let init_seq: Vec<&Dispatch> = init_ops.iter().flat_map(|o| o.seq()).collect();
        gpu.run(&init_seq)?;

        let shape4 = [batch, data.shape[0], data.shape[1], data.shape[2]];
        let mut y = Vec::new();
        let mut mk = Vec::new();
        let mut observed_count = (n * per) as f64;
        if let Observation::Mask(m) = observation {
            if m.len() != data.values.len() {
                bail!("{} mask values given for {} data values", m.len(), data.values.len());
            }
            observed_count = m[..n * per].iter().filter(|&&v| v != 0.0).count().max(1) as f64;
        }
        for b in 0..batches {
            y.push(gpu.upload("y", &shape4, &data.values[b * batch * per..(b + 1) * batch * per])?);
            if let Observation::Mask(m) = observation {
                mk.push(gpu.upload("mask", &shape4, &m[b * batch * per..(b + 1) * batch * per])?);
            }
        }
        let shared = ObservedShared::new(gpu, &gen, observation)?;
        let sse = gpu.zeros("sse", &[batch])?;
        let hmc = matches!(hyper.sampler, super::config::Sampler::Hmc { .. });
        let sse_all = gpu.zeros("sse all", &[if hmc { 2 * n } else { n }])?;
        let counter = |k: &str| -> Result<u32> { resume.map_or(Ok(0), |c| checkpoint::counter(c, k)) };
        let step = gpu.upload::<u32>("langevin step", &[1], &[counter("langevin_step")?])?;
        let fresh_step = gpu.upload::<u32>("fresh step", &[1], &[counter("fresh_step")?])?;
        let dynamics = Langevin {
            sigma: hyper.sigma,
            delta: hyper.delta,
            noise: hyper.noise,
            key: hyper.seed.key(Stream::Langevin),
        }
        .with_sampler(hyper.sampler, hyper.seed);
        let mut infers = Vec::new();
        let mut fresh = Vec::new();
        for (b, yb) in y.iter().enumerate().take(batches) {
            infers.push(Inference::new(
                gpu,
                &gen,
                &shared,
                yb,
                mk.get(b),
                &sse,
                &step,
                b * batch * d,
                dynamics,
            )?);
            if hyper.chains == Chains::Fresh {
                fresh.push(philox::normal_range(
                    gpu,
                    gen.latent(),
                    gen.latent().len(),
                    hyper.seed.key(Stream::FreshZ),
                    &fresh_step,
                    (b * batch * d) as u32,
                )?);
            }
        }
        let fresh_advance = if fresh.is_empty() {
            None
        } else {
            Some(crate::ops::langevin::advance(gpu, &fresh_step)?)
        };
        let learning = Learning::new(gpu, &gen, &hyper.optimizer, hyper.clip)?;
        let encoder = if hyper.chains == Chains::Encoder {
            if !matches!(observation, Observation::Full) {
                bail!("--init encoder learns from fully observed data (the encoder reads each whole example)");
            }
            let params = match resume {
                Some(c) => checkpoint::encoder_params_from(c, spec)?,
                None => Encoder::init(spec, hyper.seed)?,
            };
            Some(Encoder::new(
                gpu,
                spec,
                &gen,
                &params,
                &hyper.optimizer,
                hyper.clip,
                batches,
                hyper.seed.key(Stream::Propose),
                counter("propose_step")?,
            )?)
        } else {
            None
        };
        let mut t = Trainer {
            gpu,
            spec: spec.clone(),
            hyper,
            gen,
            n,
            rate: data.rate,
            preset: None,
            metadata: Default::default(),
            names: data.names[..n].to_vec(),
            z,
            y,
            _masks: mk,
            _shared: shared,
            observed_count,
            sse,
            sse_all,
            step,
            fresh_step,
            infers,
            fresh_advance,
            fresh,
            learning,
            encoder,
            iteration: 0,
            last_error: None,
            last_acceptance: None,
        };
        if let Some(c) = resume {
            t.restore(c)?;
        }
        Ok(t)
    }

    /// Everything needed to resume exactly or to use the model (see [`super::checkpoint`]).
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let gpu = self.gpu;
        let mut optim = Vec::new();
        for (p, st) in self.gen.params.iter().zip(&self.learning.states) {
            for (slot, t) in st.tensors() {
                let v = if slot == "step" {
                    HostTensor::U32(t.shape.clone(), gpu.read(t)?)
                } else {
                    HostTensor::F32(t.shape.clone(), gpu.read(t)?)
                };
                optim.push((p.name.clone(), slot, v));
            }
        }
        let mut encoder_params = Vec::new();
        if let Some(e) = &self.encoder {
            for (p, st) in e.net.params.iter().zip(&e.learning.states) {
                for (slot, t) in st.tensors() {
                    let v = if slot == "step" {
                        HostTensor::U32(t.shape.clone(), gpu.read(t)?)
                    } else {
                        HostTensor::F32(t.shape.clone(), gpu.read(t)?)
                    };
                    optim.push((format!("{}{}", encoder::PREFIX, p.name), slot, v));
                }
            }
            encoder_params = e.read_params(gpu)?;
        }
        let (params, z) = (self.gen.read_params(gpu)?, self.latents()?);
        Saved {
            spec: &self.spec,
            hyper: &self.hyper,
            population: Population::measure(gpu, &self.spec, &params, &z, self.gen.batch)?,
            params,
            z,
            optim,
            langevin_step: gpu.read::<u32>(&self.step)?[0],
            fresh_step: gpu.read::<u32>(&self.fresh_step)?[0],
            encoder: encoder_params,
            propose_step: match &self.encoder {
                Some(e) => Some(gpu.read::<u32>(&e.step)?[0]),
                None => None,
            },
            iteration: self.iteration,
            names: &self.names,
            rate: self.rate,
            preset: self.preset.as_deref(),
            extra: &self.metadata,
        }
        .into_checkpoint()
    }

    /// Writes the checkpoint atomically to `path`, unless a tensor holds NaN or Inf: then the
    /// file already there is kept and training stops with an error.
    pub fn save(&self, path: &Path) -> Result<()> {
        checkpoint::save_finite(&self.checkpoint()?, path, self.iteration)
    }

    /// The iteration count and the optimizer's state of a resumed run (the weights, Z and the
    /// counters are uploaded by `new`).
    fn restore(&mut self, c: &Checkpoint) -> Result<()> {
        self.iteration = checkpoint::iteration(c)?;
        let mut states: Vec<(String, &crate::ops::optim::OptimState)> = Vec::new();
        for (p, st) in self.gen.params.iter().zip(&self.learning.states) {
            states.push((p.name.clone(), st));
        }
        if let Some(e) = &self.encoder {
            for (p, st) in e.net.params.iter().zip(&e.learning.states) {
                states.push((format!("{}{}", encoder::PREFIX, p.name), st));
            }
        }
        for (name, st) in states {
            for (slot, t) in st.tensors() {
                match c.get(&checkpoint::optim_key(&name, slot))? {
                    HostTensor::F32(_, v) => self.gpu.write(t, v)?,
                    HostTensor::U32(_, v) => self.gpu.write(t, v)?,
                }
            }
        }
        Ok(())
    }

    /// One iteration: for every batch, L Langevin steps on its Z then one learning step on W;
    /// one submit, one read-back. Returns the mean squared reconstruction error per value.
    pub fn iterate(&mut self) -> Result<f64> {
        let gpu = self.gpu;
        let mut enc = gpu.encoder();
        let batch = self.gen.batch;
        for (b, inf) in self.infers.iter().enumerate() {
            let zb = &self.z[b];
            if self.hyper.chains == Chains::Persistent {
                gpu.copy(&mut enc, zb, self.gen.latent());
            }
            if let Some(e) = &self.encoder {
                gpu.copy(&mut enc, &self.y[b], e.net.latent());
            }
            let mut seq = self.infer_seq(b);
            self.learning
                .step(&self.gen, inf.residual(), self.hyper.langevin_steps > 0, &mut seq);
            if let Some(e) = &self.encoder {
                e.learn_seq(&mut seq);
            }
            gpu.record(&mut enc, &seq);
            gpu.copy(&mut enc, self.gen.latent(), zb);
            enc.copy_buffer_to_buffer(
                &self.sse.buffer,
                0,
                &self.sse_all.buffer,
                (b * batch * 4) as u64,
                (batch * 4) as u64,
            );
            if let Some(acc) = inf.accepted() {
                let at = (self.n + b * batch) * 4;
                enc.copy_buffer_to_buffer(&acc.buffer, 0, &self.sse_all.buffer, at as u64, (batch * 4) as u64);
            }
        }
        if let Some(adv) = &self.fresh_advance {
            gpu.record(&mut enc, &adv.seq());
        }
        if let Some(e) = &self.encoder {
            let mut seq = Vec::new();
            e.advance_seq(&mut seq);
            gpu.record(&mut enc, &seq);
        }
        let named =
            |e: anyhow::Error| e.context(format!("in a training iteration, whose kernels are {}", self.kernels()));
        gpu.submit(enc, "a training iteration").map_err(named)?;
        let all: Vec<f32> = gpu.read(&self.sse_all).map_err(named)?;
        let (sse, accepted) = all.split_at(self.n);
        let total: f64 = sse.iter().map(|&v| v as f64).sum();
        let mse = total / self.observed_count;
        if !mse.is_finite() {
            bail!(
                "the reconstruction error became {mse} at iteration {}: training diverged (try a smaller --lr or --delta); the last checkpoint is kept",
                self.iteration + 1
            );
        }
        self.iteration += 1;
        self.last_error = Some(mse);
        let transitions = (self.n * self.hyper.langevin_steps) as f64;
        self.last_acceptance = (!accepted.is_empty() && transitions > 0.0)
            .then(|| accepted.iter().map(|&v| v as f64).sum::<f64>() / transitions);
        Ok(mse)
    }

    /// The training loop: iterates until `hyper.iterations`, calling `hook` after every
    /// iteration with the trainer and that iteration's [`Step`]. A hook's error ends the loop.
    pub fn train(&mut self, mut hook: impl FnMut(&Trainer<'g>, &Step) -> Result<()>) -> Result<()> {
        let start = Instant::now();
        while self.iteration < self.hyper.iterations {
            let mse = self.iterate()?;
            let step = Step {
                iteration: self.iteration,
                mse,
                seconds: start.elapsed().as_secs_f64(),
                acceptance: self.last_acceptance,
            };
            hook(self, &step)?;
        }
        Ok(())
    }

    /// The dispatches of batch `b`'s inference (the chains' start: a fresh draw or the
    /// encoder's proposal, whose input the caller copies; then its L Langevin steps), for timing.
    pub fn infer_seq(&self, b: usize) -> Vec<&Dispatch> {
        let mut seq = Vec::new();
        if let Some(f) = self.fresh.get(b) {
            seq.extend(f.seq());
        }
        if let Some(e) = &self.encoder {
            e.propose_seq(b, &mut seq);
        }
        self.infers[b].steps(&self.gen, self.hyper.langevin_steps, &mut seq);
        seq
    }

    /// The distinct kernels of an iteration, for error messages.
    fn kernels(&self) -> String {
        let mut names: Vec<&str> = self
            .infer_seq(0)
            .into_iter()
            .chain(self.learn_seq(0))
            .map(|d| d.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names.join(", ")
    }

    /// The dispatches of batch `b`'s learning step, for timing (with the weights' packing).
    pub fn learn_seq(&self, b: usize) -> Vec<&Dispatch> {
        let mut seq = Vec::new();
        self.learning
            .step(&self.gen, self.infers[b].residual(), false, &mut seq);
        seq
    }

    /// The batch norms' population statistics over every example's Z with the current W
    /// (see `model::Population`), as checkpoints store them.
    pub fn population(&self) -> Result<Population> {
        let params = self.gen.read_params(self.gpu)?;
        Population::measure(self.gpu, &self.spec, &params, &self.latents()?, self.gen.batch)
    }

    /// Z of every example, [n, latent...].
    pub fn latents(&self) -> Result<Vec<f32>> {
        let mut v = Vec::new();
        for t in &self.z {
            v.extend(self.gpu.read::<f32>(t)?);
        }
        Ok(v)
    }

    /// f(Z_i; W) for the examples of batch `b`, [batch, c, h, w].
    pub fn reconstructions(&self, b: usize) -> Result<Vec<f32>> {
        let mut enc = self.gpu.encoder();
        self.gpu.copy(&mut enc, &self.z[b], self.gen.latent());
        self.gpu.record(&mut enc, &self.gen.forward_seq());
        self.gpu.submit(enc, "reconstruction")?;
        self.gpu.read(self.gen.output())
    }

    /// f(Z; W) for one batch of Z ~ N(0, I) drawn from the run's seed.
    pub fn samples(&self) -> Result<Vec<f32>> {
        let op = philox::normal(self.gpu, self.gen.latent(), self.hyper.seed.key(Stream::Synthesize), 0)?;
        let mut seq = op.seq();
        seq.extend(self.gen.forward_seq());
        self.gpu.run(&seq)?;
        self.gpu.read(self.gen.output())
    }
}
