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
//! | `dynamics.A`, `dynamics.Q` | [d, d]: Z_{t+1} - m = A (Z_t - m) + eta, eta ~ N(0, Q), fitted on `dynamics.states` |
//! | `dynamics.states` | [frames, d]: the frames' states in time order (inferred anew with W fixed, or `z`) |
//! | `dynamics.mean`, `dynamics.cov` | [d], [d, d]: m and the covariance of the fitted Z_t (Z_0 ~ N(m, cov)) |
//! | `lds.A`, `lds.Q`, `lds.mean`, `lds.cov` | the same for the LDS baseline's PCA coefficients x_t |
//! | `lds.frame_mean`, `lds.basis` | [c, h, w], [d, c, h, w]: the LDS frames are frame_mean + sum_k x_t[k] basis[k] |
//!
//! and the metadata `format` ([`FORMAT`]), `abprop_version`, `spec` (the model's JSON),
//! `hyper` (the hyperparameters' JSON), `iteration`, `examples` (the examples' names), `rate`
//! (sound), `preset` (when trained from one), `sequence` (a frame sequence's clip, JSON of
//! `data::video::Clip`: the examples are its frames in time order), and after `abprop dynamics
//! fit` `dynamics` and `lds` (JSON of `abp::dynamics::FitInfo`: d, states, residual, fitted and
//! current spectral radius, stabilized, how the states were inferred). The `dynamics.*` and `lds.*` tensors are written by
//! [`put_dynamics`] and read by [`dynamics_from`]; training again (`--resume`) drops them and
//! `train` fits them anew at the end.

use super::config::Hyper;
use super::dynamics::{Dynamics, FitInfo, Lds, Linear};
use super::synthesis::BnMode;
use crate::data::video::Clip;
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
    /// The encoder's parameters, named `encoder.{i}.*` (empty without one).
    pub encoder: HostParams,
    /// The encoder's proposal counter (None without one).
    pub propose_step: Option<u32>,
    pub iteration: usize,
    pub names: &'a [String],
    pub rate: Option<u32>,
    pub preset: Option<&'a str>,
    /// Further metadata (e.g. `sequence`).
    pub extra: &'a BTreeMap<String, String>,
}

impl Saved<'_> {
    pub fn into_checkpoint(self) -> Result<Checkpoint> {
        let mut tensors = BTreeMap::new();
        for (name, shape, v) in self.params.into_iter().chain(self.encoder) {
            tensors.insert(name, HostTensor::F32(shape, v));
        }
        if let Some(s) = self.propose_step {
            tensors.insert("propose_step".into(), HostTensor::U32(vec![1], vec![s]));
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
        metadata.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
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

/// The parameters of `spec` stored under `prefix` (their names in the network without it).
fn named_params(c: &Checkpoint, spec: &Spec, prefix: &str) -> Result<HostParams> {
    let want = init_params(spec, crate::seed::Seed(0))?;
    want.into_iter()
        .map(|(name, shape, _)| {
            let t = c.get(&format!("{prefix}{name}"))?;
            if t.shape() != shape.as_slice() {
                bail!(
                    "checkpoint tensor {prefix}{name} is {:?}, the model needs {:?}",
                    t.shape(),
                    shape
                );
            }
            Ok((name, shape, t.f32()?.to_vec()))
        })
        .collect()
}

/// The encoder's parameters (`encoder.{i}.*`) of `spec` from a checkpoint.
pub fn encoder_params_from(c: &Checkpoint, spec: &Spec) -> Result<HostParams> {
    let enc = spec.encoder_spec()?.context("the model has no encoder")?;
    let p = super::encoder::PREFIX;
    if !c.tensors.keys().any(|k| k.starts_with(p)) {
        bail!("the checkpoint holds no encoder (it was not trained with --init encoder)");
    }
    named_params(c, &enc, p)
}

/// The parameters of `spec` from a checkpoint, checked against its shapes.
pub fn params_from(c: &Checkpoint, spec: &Spec) -> Result<HostParams> {
    named_params(c, spec, "")
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
    spec.validate()?;
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
    /// The clip of a frame sequence.
    pub sequence: Option<Clip>,
    /// The fitted latent dynamics and the LDS baseline, after `abprop dynamics fit`.
    pub dynamics: Option<Dynamics>,
    /// The encoder's parameters (named as in its own network) of a model trained with
    /// `--init encoder`.
    pub encoder: Option<HostParams>,
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
        let dynamics = dynamics_from(&c).with_context(|| format!("{}", path.display()))?;
        let encoder = match spec.encoder.is_some() && c.tensors.keys().any(|k| k.starts_with(super::encoder::PREFIX)) {
            true => Some(encoder_params_from(&c, &spec).with_context(|| format!("{}", path.display()))?),
            false => None,
        };
        Ok(Model {
            spec,
            hyper,
            params,
            population,
            rate,
            z,
            names,
            sequence: sequence_from(&c)?,
            dynamics,
            encoder,
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
        if mode == BnMode::Population {
            self.population(gpu)?;
        }
        self.measured_norm(mode)
    }

    /// [`Model::norm`] once the population statistics are there (an error otherwise).
    pub fn measured_norm(&self, mode: BnMode) -> Result<Norm<'_>> {
        Ok(match mode {
            BnMode::Batch => Norm::Batch,
            BnMode::Population => Norm::Population(
                self.population
                    .as_ref()
                    .context("the population statistics are not measured yet")?,
            ),
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

/// The clip a checkpoint's examples are the frames of (metadata `sequence`), if any.
pub fn sequence_from(c: &Checkpoint) -> Result<Option<Clip>> {
    c.meta("sequence")
        .ok()
        .map(|s| serde_json::from_str(s).context("checkpoint metadata sequence"))
        .transpose()
}

fn mat(m: &nalgebra::DMatrix<f64>, shape: Vec<usize>) -> HostTensor {
    // Row-major, as safetensors (and PyTorch) store matrices.
    let v = (0..m.nrows())
        .flat_map(|r| (0..m.ncols()).map(move |c| m[(r, c)] as f32))
        .collect();
    HostTensor::F32(shape, v)
}

fn put_linear(c: &mut Checkpoint, prefix: &str, l: &Linear) -> Result<()> {
    let d = l.info.d;
    let t = &mut c.tensors;
    t.insert(format!("{prefix}.A"), mat(&l.a, vec![d, d]));
    t.insert(format!("{prefix}.Q"), mat(&l.q, vec![d, d]));
    t.insert(format!("{prefix}.cov"), mat(&l.cov, vec![d, d]));
    t.insert(
        format!("{prefix}.mean"),
        HostTensor::F32(vec![d], l.mean.iter().map(|&v| v as f32).collect()),
    );
    c.metadata.insert(prefix.into(), serde_json::to_string(&l.info)?);
    Ok(())
}

/// Stores `d` in `c` (replacing earlier fitted dynamics); `frame` is the shape of a frame.
pub fn put_dynamics(c: &mut Checkpoint, d: &Dynamics, frame: crate::model::Shape) -> Result<()> {
    c.tensors
        .retain(|k, _| !k.starts_with("dynamics.") && !k.starts_with("lds."));
    c.metadata.remove("lds");
    put_linear(c, "dynamics", &d.abp)?;
    let dim = d.abp.info.d;
    if d.states.len() != d.abp.info.states * dim {
        bail!(
            "{} state values for the {} states of {dim} the dynamics were fitted on",
            d.states.len(),
            d.abp.info.states
        );
    }
    c.tensors.insert(
        "dynamics.states".into(),
        HostTensor::F32(
            vec![d.abp.info.states, dim],
            d.states.iter().map(|&v| v as f32).collect(),
        ),
    );
    if let Some(l) = &d.lds {
        put_linear(c, "lds", &l.dynamics)?;
        let [ch, h, w] = frame;
        let k = l.basis.ncols();
        c.tensors.insert(
            "lds.frame_mean".into(),
            HostTensor::F32(vec![ch, h, w], l.frame_mean.iter().map(|&v| v as f32).collect()),
        );
        c.tensors
            .insert("lds.basis".into(), mat(&l.basis.transpose(), vec![k, ch, h, w]));
    }
    Ok(())
}

fn get_mat(c: &Checkpoint, name: &str, rows: usize, cols: usize) -> Result<nalgebra::DMatrix<f64>> {
    let t = c.get(name)?;
    let v = t.f32()?;
    if v.len() != rows * cols {
        bail!("checkpoint tensor {name} is {:?}, {rows} x {cols} expected", t.shape());
    }
    if v.iter().any(|x| !x.is_finite()) {
        bail!("checkpoint tensor {name} holds NaN or Inf");
    }
    Ok(nalgebra::DMatrix::from_fn(rows, cols, |r, k| v[r * cols + k] as f64))
}

fn get_linear(c: &Checkpoint, prefix: &str) -> Result<Linear> {
    let info: FitInfo =
        serde_json::from_str(c.meta(prefix)?).with_context(|| format!("checkpoint metadata {prefix}"))?;
    let d = info.d;
    Ok(Linear {
        a: get_mat(c, &format!("{prefix}.A"), d, d)?,
        q: get_mat(c, &format!("{prefix}.Q"), d, d)?,
        cov: get_mat(c, &format!("{prefix}.cov"), d, d)?,
        mean: get_mat(c, &format!("{prefix}.mean"), d, 1)?.column(0).into_owned(),
        info,
    })
}

/// The fitted dynamics stored in `c`, if any.
pub fn dynamics_from(c: &Checkpoint) -> Result<Option<Dynamics>> {
    if !c.metadata.contains_key("dynamics") {
        return Ok(None);
    }
    let abp = get_linear(c, "dynamics")?;
    // Fits before `dynamics.states` were made on `z`.
    let name = match c.tensors.contains_key("dynamics.states") {
        true => "dynamics.states",
        false => "z",
    };
    let states = get_mat(c, name, abp.info.states, abp.info.d)?;
    let states = states.transpose().iter().copied().collect();
    let lds = if c.metadata.contains_key("lds") {
        let dynamics = get_linear(c, "lds")?;
        let k = dynamics.info.d;
        let fm = c.get("lds.frame_mean")?.f32()?;
        let dim = fm.len();
        Some(Lds {
            frame_mean: fm.iter().map(|&v| v as f64).collect(),
            basis: get_mat(c, "lds.basis", k, dim)?.transpose(),
            dynamics,
        })
    } else {
        None
    };
    Ok(Some(Dynamics { abp, lds, states }))
}
