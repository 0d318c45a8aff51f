//! The one home of abprop's checkpoints: what a run saves, how it is loaded to resume the run
//! exactly or to use the learned model, and the rules of resuming. The file is safetensors
//! (`io::checkpoint`, written atomically) with these entries:
//!
//! | name | what |
//! |---|---|
//! | `{i}.weight`, `{i}.bias` | layer i's parameters, PyTorch `nn.Sequential` names and layouts |
//! | `{i}.running_mean`, `{i}.running_var` | batch norm i's population statistics (`model::Population`) |
//! | `z` | the inferred Z of every training example, [n, latent...] |
//! | `optim.{param}.{slot}` | the optimizer's state (momentum, Adam moments, step) |
//! | `langevin_step`, `fresh_step` | the GPU counters of the Langevin noise and fresh chains |
//!
//! and the metadata `format` ([`FORMAT`]), `abprop_version`, `spec` (the model's JSON),
//! `hyper` (the hyperparameters' JSON), `iteration`, `examples` (the examples' names), `rate`
//! (sound), `preset` (when trained from one).

use super::config::Hyper;
use super::synthesis::BnMode;
use crate::gpu::Gpu;
use crate::io::checkpoint::{Checkpoint, HostTensor};
use crate::model::{init_params, HostParams, Layer, Norm, Population, Spec};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const FORMAT: &str = "abprop-checkpoint-1";

/// The checkpoint's file name in a run's folder.
pub const FILE: &str = "checkpoint.safetensors";

/// What a run saves, as `Trainer::checkpoint` gathers it from the GPU.
pub struct Saved<'a> {
    pub spec: &'a Spec,
    pub hyper: &'a Hyper,
    pub params: HostParams,
    pub population: Population,
    /// Z of every example, [n, latent...].
    pub z: Vec<f32>,
    /// (parameter name, slot, state) of the optimizer.
    pub optim: Vec<(String, &'static str, HostTensor)>,
    pub langevin_step: u32,
    pub fresh_step: u32,
    pub iteration: usize,
    pub names: &'a [String],
    pub rate: Option<u32>,
    pub preset: Option<&'a str>,
}

impl Saved<'_> {
    pub fn into_checkpoint(self) -> Result<Checkpoint> {
        let mut tensors = BTreeMap::new();
        for (name, shape, v) in self.params {
            tensors.insert(name, HostTensor::F32(shape, v));
        }
        for (i, (mean, var)) in self.population.0 {
            tensors.insert(format!("{i}.running_mean"), HostTensor::F32(vec![mean.len()], mean));
            tensors.insert(format!("{i}.running_var"), HostTensor::F32(vec![var.len()], var));
        }
        let l = self.spec.latent;
        let n = self.names.len();
        tensors.insert("z".into(), HostTensor::F32(vec![n, l[0], l[1], l[2]], self.z));
        for (param, slot, t) in self.optim {
            tensors.insert(optim_key(&param, slot), t);
        }
        tensors.insert(
            "langevin_step".into(),
            HostTensor::U32(vec![1], vec![self.langevin_step]),
        );
        tensors.insert("fresh_step".into(), HostTensor::U32(vec![1], vec![self.fresh_step]));
        let mut metadata = HashMap::new();
        metadata.insert("format".into(), FORMAT.into());
        metadata.insert("abprop_version".into(), env!("CARGO_PKG_VERSION").into());
        metadata.insert("spec".into(), serde_json::to_string(self.spec)?);
        metadata.insert("hyper".into(), serde_json::to_string(self.hyper)?);
        metadata.insert("iteration".into(), self.iteration.to_string());
        metadata.insert("examples".into(), serde_json::to_string(self.names)?);
        if let Some(r) = self.rate {
            metadata.insert("rate".into(), r.to_string());
        }
        if let Some(p) = self.preset {
            metadata.insert("preset".into(), p.to_string());
        }
        Ok(Checkpoint { tensors, metadata })
    }
}

/// The name of an optimizer state tensor.
pub fn optim_key(param: &str, slot: &str) -> String {
    format!("optim.{param}.{slot}")
}

/// The iteration a checkpoint was written after.
pub fn iteration(c: &Checkpoint) -> Result<usize> {
    c.meta("iteration")?.parse().context("checkpoint metadata iteration")
}

/// A GPU counter (`langevin_step`, `fresh_step`) stored in a checkpoint.
pub fn counter(c: &Checkpoint, name: &str) -> Result<u32> {
    c.get(name)?
        .u32()?
        .first()
        .copied()
        .with_context(|| format!("checkpoint tensor {name} is empty"))
}

/// Writes `c` atomically to `path`, unless a tensor holds NaN or Inf: then the file already
/// there is kept and the error says training diverged after `iteration`.
pub fn save_finite(c: &Checkpoint, path: &Path, iteration: usize) -> Result<()> {
    if let Some(name) = c
        .tensors
        .iter()
        .find(|(_, t)| t.f32().is_ok_and(|v| v.iter().any(|x| !x.is_finite())))
        .map(|(n, _)| n)
    {
        bail!(
            "tensor {name} holds NaN or Inf after iteration {iteration}: training diverged (try a smaller --lr or --delta); the last checkpoint is kept"
        );
    }
    c.save(path)
}

/// The parameters of `spec` from a checkpoint, checked against its shapes.
pub fn params_from(c: &Checkpoint, spec: &Spec) -> Result<HostParams> {
    let want = init_params(spec, crate::seed::Seed(0))?;
    want.into_iter()
        .map(|(name, shape, _)| {
            let t = c.get(&name)?;
            if t.shape() != shape.as_slice() {
                bail!(
                    "checkpoint tensor {name} is {:?}, the model needs {:?}",
                    t.shape(),
                    shape
                );
            }
            Ok((name, shape, t.f32()?.to_vec()))
        })
        .collect()
}

/// The population statistics of `spec`'s batch norms stored in a checkpoint (None when it has
/// none: checkpoints of abprop before they were added).
pub fn population_from(c: &Checkpoint, spec: &Spec) -> Result<Option<Population>> {
    let mut pop = Population::default();
    for (i, l) in spec.layers.iter().enumerate() {
        if !matches!(l, Layer::BatchNorm { .. }) {
            continue;
        }
        let (m, v) = (format!("{i}.running_mean"), format!("{i}.running_var"));
        if !c.tensors.contains_key(&m) {
            return Ok(None);
        }
        let (mean, var) = (c.get(&m)?.f32()?.to_vec(), c.get(&v)?.f32()?.to_vec());
        if mean.len() != var.len() || var.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
            bail!("checkpoint tensors {m} and {v} are not a mean and a variance per channel");
        }
        pop.0.insert(i, (mean, var));
    }
    Ok(Some(pop))
}

/// The model spec and hyperparameters stored in a checkpoint.
pub fn spec_from(c: &Checkpoint) -> Result<(Spec, Hyper)> {
    if c.meta("format").ok() != Some(FORMAT) {
        bail!("not an abprop checkpoint (metadata format is not {FORMAT})");
    }
    let spec: Spec = serde_json::from_str(c.meta("spec")?).context("checkpoint spec")?;
    spec.shapes()?;
    let hyper: Hyper = serde_json::from_str(c.meta("hyper")?).context("checkpoint hyperparameters")?;
    Ok((spec, hyper))
}

/// A run to resume: its checkpoint and what it says of the run.
pub struct Resume {
    pub checkpoint: Checkpoint,
    pub spec: Spec,
    pub hyper: Hyper,
    pub rate: Option<u32>,
    /// The preset it was trained from (checkpoints of abprop before 0.1 do not say).
    pub preset: Option<String>,
    pub iteration: usize,
}

impl Resume {
    pub fn load(path: &Path) -> Result<Resume> {
        let checkpoint = Checkpoint::load(path)?;
        let (spec, hyper) = spec_from(&checkpoint).with_context(|| format!("{}", path.display()))?;
        let iteration = iteration(&checkpoint)?;
        Ok(Resume {
            rate: checkpoint.meta("rate").ok().and_then(|r| r.parse().ok()),
            preset: checkpoint.meta("preset").ok().map(str::to_string),
            spec,
            hyper,
            iteration,
            checkpoint,
        })
    }

    /// The checkpoint's network in words, for error messages.
    pub fn network(&self) -> String {
        match &self.preset {
            Some(p) => format!("preset {p}"),
            None => "the spec stored in its checkpoint".into(),
        }
    }
}

/// A learned model read from a checkpoint, to synthesize, interpolate or reconstruct with.
pub struct Model {
    pub spec: Spec,
    pub hyper: Hyper,
    pub params: HostParams,
    /// The batch norms' population statistics (see [`Model::population`]).
    population: Option<Population>,
    pub rate: Option<u32>,
    /// The inferred Z of the training examples, [n, latent...], and their names.
    pub z: Option<(Vec<usize>, Vec<f32>)>,
    pub names: Vec<String>,
}

impl Model {
    pub fn load(path: &Path) -> Result<Model> {
        let c = Checkpoint::load(path)?;
        let (spec, hyper) = spec_from(&c).with_context(|| format!("{}", path.display()))?;
        let params = params_from(&c, &spec).with_context(|| format!("{}", path.display()))?;
        let population = population_from(&c, &spec).with_context(|| format!("{}", path.display()))?;
        let z = c
            .get("z")
            .ok()
            .and_then(|t| Some((t.shape().to_vec(), t.f32().ok()?.to_vec())));
        let names = c
            .meta("examples")
            .ok()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let rate = c.meta("rate").ok().and_then(|r| r.parse().ok());
        Ok(Model {
            spec,
            hyper,
            params,
            population,
            rate,
            z,
            names,
        })
    }

    /// The population statistics of the batch norms: the checkpoint's or, for a checkpoint
    /// without them, measured now from its Z (said on stderr).
    pub fn population(&mut self, gpu: &Gpu) -> Result<&Population> {
        if self.population.is_none() {
            let (_, z) = self
                .z
                .as_ref()
                .context("the checkpoint has neither population statistics nor the Z to measure them")?;
            eprintln!("abprop: the checkpoint has no batch-norm population statistics; measuring them from its Z");
            self.population = Some(Population::measure(gpu, &self.spec, &self.params, z, self.hyper.batch)?);
        }
        Ok(self.population.as_ref().expect("measured above"))
    }

    /// The batch norms as `mode` says, measuring the population statistics first if the
    /// checkpoint lacks them (see [`Model::population`]).
    pub fn norm(&mut self, gpu: &Gpu, mode: BnMode) -> Result<Norm<'_>> {
        Ok(match mode {
            BnMode::Batch => Norm::Batch,
            BnMode::Population => Norm::Population(self.population(gpu)?),
        })
    }

    /// Z of training example `i`.
    pub fn example_z(&self, i: usize) -> Result<Vec<f32>> {
        let (shape, v) = self.z.as_ref().context("the checkpoint holds no inferred Z")?;
        let d: usize = shape[1..].iter().product();
        if i >= shape[0] {
            bail!(
                "example {i} out of range: the model was trained on {} examples",
                shape[0]
            );
        }
        Ok(v[i * d..(i + 1) * d].to_vec())
    }
}
