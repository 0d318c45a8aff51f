//! Inferential back-propagation: L steps of a sampler on the latent factors of one batch,
//! recorded into the caller's compute pass; nothing is read back or allocated per step.
//!
//! - Langevin dynamics (or gradient descent without noise), one update per step:
//!   Z <- Z + (D^2/2) [ (1/s^2) J^T (Y - f(Z)) - Z ] + D N(0, I).
//! - Hamiltonian Monte Carlo (`ops::hmc`), one transition per step: momenta p ~ N(0, I), K
//!   leapfrog steps of size D on H(Z, p) = U(Z) + |p|^2 / 2 with
//!   U(Z) = |Y - f(Z)|^2 / (2 s^2) + |Z|^2 / 2 (over the observed values, as the residual
//!   measures them), then each example's Metropolis accept/reject on the GPU (a rejected
//!   example returns to its start). A transition evaluates f and its gradient K + 1 times.
//!   With batch norms on batch statistics, f(Z_i) depends on the other examples of the batch,
//!   so U is not a sum of per-example terms and the per-example accept/reject only
//!   approximates the joint one; with population statistics (eval mode) or no batch norm it is
//!   exact.
//!
//! Both draw their randomness from the GPU step counter (advanced once per step) and the
//! examples' global indices, so nothing depends on how the examples are batched.

use super::config::Sampler;
use super::observe::ObservedShared;
use crate::gpu::{Dispatch, Gpu, Op, Tensor};
use crate::model::Generator;
use crate::ops::{hmc, langevin};
use crate::seed::{Seed, Stream};
use anyhow::{ensure, Result};

/// The dispatches of one sampler step for one batch whose observations are `y` (and `mask`,
/// or seen through the shared observation operator).
pub struct Inference {
    residual: Op,
    kind: Kind,
}

enum Kind {
    Langevin { update: Op, advance: Op },
    Hmc(Box<HmcOps>),
}

struct HmcOps {
    leapfrog: usize,
    state: hmc::State,
    clear: Op,
    begin: Op,
    energy: Op,
    /// The first leapfrog step (a half kick) and the later ones (a full kick each).
    first: Op,
    leap: Op,
    accept: Op,
    advance: Op,
}

/// Settings of the dynamics.
#[derive(Clone, Copy, Debug)]
pub struct Langevin {
    pub sigma: f32,
    pub delta: f32,
    pub noise: bool,
    /// The Philox key of the noise (`Seed::key` of the use's stream).
    pub key: [u32; 2],
}

/// Settings of Hamiltonian Monte Carlo.
#[derive(Clone, Copy, Debug)]
pub struct Hmc {
    pub sigma: f32,
    /// The leapfrog step size.
    pub delta: f32,
    /// Leapfrog steps per transition (0: every transition keeps Z, and accepts).
    pub leapfrog: usize,
    /// The Philox keys of the momenta and of the accept uniforms.
    pub momentum_key: [u32; 2],
    pub accept_key: [u32; 2],
}

/// The sampler of an inference and its settings.
#[derive(Clone, Copy, Debug)]
pub enum Dynamics {
    Langevin(Langevin),
    Hmc(Hmc),
}

impl From<Langevin> for Dynamics {
    fn from(l: Langevin) -> Dynamics {
        Dynamics::Langevin(l)
    }
}

impl From<Hmc> for Dynamics {
    fn from(h: Hmc) -> Dynamics {
        Dynamics::Hmc(h)
    }
}

impl Langevin {
    /// These settings under `sampler`: themselves for Langevin; for HMC the same sigma and step
    /// size (D the leapfrog step), the keys from `seed`'s streams `Momentum` and `Accept`
    /// (`noise` does not apply to HMC).
    pub fn with_sampler(self, sampler: Sampler, seed: Seed) -> Dynamics {
        match sampler {
            Sampler::Langevin => Dynamics::Langevin(self),
            Sampler::Hmc { leapfrog } => Dynamics::Hmc(Hmc {
                sigma: self.sigma,
                delta: self.delta,
                leapfrog,
                momentum_key: seed.key(Stream::Momentum),
                accept_key: seed.key(Stream::Accept),
            }),
        }
    }
}

impl Dynamics {
    fn sigma(&self) -> f32 {
        match self {
            Dynamics::Langevin(l) => l.sigma,
            Dynamics::Hmc(h) => h.sigma,
        }
    }
}

impl Inference {
    /// `index_offset`: the position of this batch's first latent value among all examples'
    /// (so the noise of example i never depends on how examples are batched); `step`: the
    /// GPU counter of Langevin steps, advanced after every step; `sse`: per-example squared
    /// error scratch \[batch\]. Langevin settings may be given as they are (see
    /// [`Langevin::with_sampler`] for the sampler of a `Hyper`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        gen: &Generator,
        observed: &ObservedShared,
        y: &Tensor,
        mask: Option<&Tensor>,
        sse: &Tensor,
        step: &Tensor,
        index_offset: usize,
        dyn_: impl Into<Dynamics>,
    ) -> Result<Inference> {
        let dyn_ = dyn_.into();
        let residual = observed.batch(gpu, gen, y, mask, dyn_.sigma(), sse)?;
        let (z, g) = (gen.latent(), gen.latent_grad());
        let n = z.len();
        let kind = match dyn_ {
            Dynamics::Langevin(l) => Kind::Langevin {
                update: langevin::update(gpu, n, z, g, step, l.delta, l.noise, l.key, index_offset as u32)?,
                advance: langevin::advance(gpu, step)?,
            },
            Dynamics::Hmc(h) => {
                let d = n / gen.batch;
                ensure!(
                    index_offset.is_multiple_of(d),
                    "HMC: the batch's first latent value {index_offset} is not an example's"
                );
                let state = hmc::State::new(gpu, gen.batch, d)?;
                let eps = h.delta;
                let last = if h.leapfrog > 0 { eps / 2.0 } else { 0.0 };
                let example = (index_offset / d) as u32;
                Kind::Hmc(Box::new(HmcOps {
                    leapfrog: h.leapfrog,
                    clear: hmc::clear(gpu, &state)?,
                    begin: hmc::begin(gpu, &state, z, step, h.momentum_key, index_offset as u32)?,
                    energy: hmc::energy(gpu, &state, z, g, sse, h.sigma)?,
                    first: hmc::leap(gpu, &state, z, g, eps / 2.0, eps)?,
                    leap: hmc::leap(gpu, &state, z, g, eps, eps)?,
                    accept: hmc::accept(gpu, &state, z, g, sse, step, h.sigma, last, h.accept_key, example)?,
                    advance: langevin::advance(gpu, step)?,
                    state,
                }))
            }
        };
        Ok(Inference { residual, kind })
    }

    /// HMC: each example's count of accepted transitions in the last [`Inference::steps`]
    /// (f32, \[batch\]); None for Langevin.
    pub fn accepted(&self) -> Option<&Tensor> {
        match &self.kind {
            Kind::Hmc(h) => Some(&h.state.accepted),
            Kind::Langevin { .. } => None,
        }
    }

    /// The dispatches of the residual alone (used by learning and evaluation).
    pub fn residual(&self) -> &Op {
        &self.residual
    }

    /// Appends `steps` sampler steps (Langevin updates or HMC transitions) to `seq` (the
    /// weights are packed once, before the first evaluation).
    pub fn steps<'a>(&'a self, gen: &'a Generator, steps: usize, seq: &mut Vec<&'a Dispatch>) {
        match &self.kind {
            Kind::Langevin { update, advance } => {
                for i in 0..steps {
                    self.evaluate(gen, i > 0, seq);
                    seq.extend(update.seq());
                    seq.extend(advance.seq());
                }
            }
            Kind::Hmc(h) => {
                seq.extend(h.clear.seq());
                let mut packed = false;
                for _ in 0..steps {
                    seq.extend(h.begin.seq());
                    self.evaluate(gen, packed, seq);
                    packed = true;
                    seq.extend(h.energy.seq());
                    for k in 0..h.leapfrog {
                        seq.extend(if k == 0 { h.first.seq() } else { h.leap.seq() });
                        self.evaluate(gen, true, seq);
                    }
                    seq.extend(h.accept.seq());
                    seq.extend(h.advance.seq());
                }
            }
        }
    }

    /// f(Z), the residual (sse and the output's gradient) and back-propagation to Z.
    fn evaluate<'a>(&'a self, gen: &'a Generator, packed: bool, seq: &mut Vec<&'a Dispatch>) {
        if packed {
            seq.extend(gen.forward_prepared_seq());
        } else {
            seq.extend(gen.forward_seq());
        }
        seq.extend(self.residual.seq());
        seq.extend(gen.to_latent_seq());
    }
}
