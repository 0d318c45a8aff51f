//! The one home of abprop's checkpoints: what a run saves, how it is loaded to resume the run
//! exactly or to use the learned model, and the rules of resuming. The file is safetensors
//! (`io::checkpoint`, written atomically) with these entries:
//!
//! | name | what |
//! |---|---|
//! | `{i}.weight`, `{i}.bias` | layer i's parameters, PyTorch `nn.Sequential` names and layouts |
//! | `z` | the inferred Z of every training example, [n, latent...] |
//! | `optim.{param}.{slot}` | the optimizer's state (momentum, Adam moments, step) |
//! | `langevin_step`, `fresh_step` | the GPU counters of the Langevin noise and fresh chains |
//!
//! and the metadata `format` ([`FORMAT`]), `abprop_version`, `spec` (the model's JSON),
//! `hyper` (the hyperparameters' JSON), `iteration`, `examples` (the examples' names), `rate`
//! (sound), `preset` (when trained from one).

use super::config::Hyper;
use super::trainer::Trainer;
use crate::io::checkpoint::{Checkpoint, HostTensor};
use crate::model::{init_params, HostParams, Spec};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const FORMAT: &str = "abprop-checkpoint-1";

/// The checkpoint's file name in a run's folder.
pub const FILE: &str = "checkpoint.safetensors";

impl Trainer<'_> {
    /// Everything needed to resume exactly or to use the model.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let gpu = self.gpu;
        let mut tensors = BTreeMap::new();
        for (name, shape, v) in self.gen.read_params(gpu)? {
            tensors.insert(name, HostTensor::F32(shape, v));
        }
        let l = self.spec.latent;
        tensors.insert(
            "z".into(),
            HostTensor::F32(vec![self.n, l[0], l[1], l[2]], self.latents()?),
        );
        for (p, st) in self.gen.params.iter().zip(&self.learning.states) {
            for (slot, t) in st.tensors() {
                let key = format!("optim.{}.{}", p.name, slot);
                let v = if slot == "step" {
                    HostTensor::U32(t.shape.clone(), gpu.read(t)?)
                } else {
                    HostTensor::F32(t.shape.clone(), gpu.read(t)?)
                };
                tensors.insert(key, v);
            }
        }
        tensors.insert("langevin_step".into(), HostTensor::U32(vec![1], gpu.read(&self.step)?));
        tensors.insert(
            "fresh_step".into(),
            HostTensor::U32(vec![1], gpu.read(&self.fresh_step)?),
        );
        let mut metadata = HashMap::new();
        metadata.insert("format".into(), FORMAT.into());
        metadata.insert("abprop_version".into(), env!("CARGO_PKG_VERSION").into());
        metadata.insert("spec".into(), serde_json::to_string(&self.spec)?);
        metadata.insert("hyper".into(), serde_json::to_string(&self.hyper)?);
        metadata.insert("iteration".into(), self.iteration.to_string());
        metadata.insert("examples".into(), serde_json::to_string(&self.names)?);
        if let Some(r) = self.rate {
            metadata.insert("rate".into(), r.to_string());
        }
        if let Some(p) = &self.preset {
            metadata.insert("preset".into(), p.clone());
        }
        Ok(Checkpoint { tensors, metadata })
    }

    /// Writes the checkpoint atomically to `path`, unless a tensor holds NaN or Inf: then the
    /// file already there is kept and training stops with an error.
    pub fn save(&self, path: &Path) -> Result<()> {
        let c = self.checkpoint()?;
        if let Some(name) = c
            .tensors
            .iter()
            .find(|(_, t)| t.f32().is_ok_and(|v| v.iter().any(|x| !x.is_finite())))
            .map(|(n, _)| n)
        {
            bail!(
                "tensor {name} holds NaN or Inf after iteration {}: training diverged (try a smaller --lr or --delta); the last checkpoint is kept",
                self.iteration
            );
        }
        c.save(path)
    }

    /// The iteration count and the optimizer's state of a resumed run (the weights, Z and the
    /// counters were uploaded by `Trainer::new`).
    pub(super) fn restore(&mut self, c: &Checkpoint) -> Result<()> {
        self.iteration = c.meta("iteration")?.parse().context("checkpoint metadata iteration")?;
        for (p, st) in self.gen.params.iter().zip(&self.learning.states) {
            for (slot, t) in st.tensors() {
                match c.get(&format!("optim.{}.{}", p.name, slot))? {
                    HostTensor::F32(_, v) => self.gpu.write(t, v)?,
                    HostTensor::U32(_, v) => self.gpu.write(t, v)?,
                }
            }
        }
        Ok(())
    }
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
        let iteration = checkpoint
            .meta("iteration")?
            .parse()
            .context("checkpoint metadata iteration")?;
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
            rate,
            z,
            names,
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
