//! IABP's initializing and the encoder's learning (Sun, Liu and Zhou 2021): a bottom-up network
//! q_phi(z|x) = N(mu_phi(x), sigma_phi(x)^2) proposes each Langevin chain's start
//! z_0 = mu + sigma eps; after the T Langevin steps (the improving, `abp::infer`) phi takes one
//! step on `|z_T - mu|^2 / (2 sigma^2) + (1/2) log sigma^2` with z_T held fixed, averaged over the
//! batch and applied by the same optimizer as the generator's (`abp::learn`).
//!
//! The encoder is a `model::Generator` built from `Spec::encoder_spec` (a sequential network
//! like the generator; its "latent" is the data), so its forward and weight-gradient passes are
//! the generator's kernels. Everything is recorded into the iteration's one submit.

use super::learn::Learning;
use crate::gpu::{Dispatch, Gpu, Op, Tensor};
use crate::model::{Generator, HostParams, Spec};
use crate::ops::optim::{Clip, Optimizer};
use crate::ops::{langevin, proposal};
use anyhow::{Context, Result};

/// The prefix of the encoder's tensors in checkpoints: `encoder.{i}.weight`, `encoder.{i}.bias`
/// (PyTorch `nn.Sequential` names and layouts under a module named `encoder`).
pub const PREFIX: &str = "encoder.";

pub struct Encoder {
    /// The encoder's own network: input the data [batch, c, h, w], output [batch, 2d].
    pub net: Generator,
    /// d, the latent values per example.
    pub d: usize,
    /// One proposal per batch of training examples (their noise offsets differ).
    propose: Vec<Op>,
    fit: Op,
    pub learning: Learning,
    /// The GPU counter of proposals (saved in checkpoints as `propose_step`).
    pub step: Tensor,
    advance: Op,
}

impl Encoder {
    /// The encoder of `spec` for `gen`'s batch, with `params` (see [`Encoder::init`]), writing
    /// its proposals into `gen.latent()`; `batches` proposal ops with noise offsets
    /// `b * batch * d`, the Philox `key`, and the counter's start `step`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        spec: &Spec,
        gen: &Generator,
        params: &HostParams,
        optimizer: &Optimizer,
        clip: Clip,
        batches: usize,
        key: [u32; 2],
        step: u32,
    ) -> Result<Encoder> {
        let enc_spec = spec.encoder_spec()?.context(
            "this model has no encoder: --init encoder needs one (the iabp presets, or an \"encoder\" in the spec)",
        )?;
        let net = Generator::new(gpu, &enc_spec, gen.batch, params)?;
        let d = spec.latent_dim();
        let step = gpu.upload::<u32>("propose step", &[1], &[step])?;
        let z = gen.latent();
        let propose = (0..batches)
            .map(|b| proposal::propose(gpu, net.output(), z, d, &step, true, key, (b * gen.batch * d) as u32))
            .collect::<Result<Vec<_>>>()?;
        let fit = proposal::fit(gpu, net.output(), z, d, net.output_grad())?;
        let learning = Learning::new(gpu, &net, optimizer, clip)?;
        let advance = langevin::advance(gpu, &step)?;
        Ok(Encoder {
            net,
            d,
            propose,
            fit,
            learning,
            step,
            advance,
        })
    }

    /// Fresh encoder parameters: the generator's initialization from the encoder's own stream.
    pub fn init(spec: &Spec, seed: crate::seed::Seed) -> Result<HostParams> {
        let enc = spec.encoder_spec()?.context("this model has no encoder")?;
        crate::model::init_params_in(&enc, seed, crate::seed::Stream::EncoderWeights)
    }

    /// The data of the batch go to `self.net.latent()` (a buffer copy by the caller); then this
    /// appends the encoder's forward pass and batch `b`'s proposal into the generator's Z.
    pub fn propose_seq<'a>(&'a self, b: usize, seq: &mut Vec<&'a Dispatch>) {
        seq.extend(self.net.forward_seq());
        seq.extend(self.propose[b].seq());
    }

    /// After the improving steps, with the encoder's forward pass of [`Encoder::propose_seq`]
    /// still in place: the fit's gradient at the generator's Z (= z_T), back-propagation to the
    /// encoder's weights and the optimizer.
    pub fn learn_seq<'a>(&'a self, seq: &mut Vec<&'a Dispatch>) {
        seq.extend(self.fit.seq());
        seq.extend(self.net.to_weights_seq());
        self.learning.apply_seq(seq);
    }

    /// Advances the proposal counter (once per iteration, after every batch's proposal).
    pub fn advance_seq<'a>(&'a self, seq: &mut Vec<&'a Dispatch>) {
        seq.extend(self.advance.seq());
    }

    /// The encoder's parameters named as in checkpoints.
    pub fn read_params(&self, gpu: &Gpu) -> Result<HostParams> {
        Ok(self
            .net
            .read_params(gpu)?
            .into_iter()
            .map(|(n, s, v)| (format!("{PREFIX}{n}"), s, v))
            .collect())
    }
}
