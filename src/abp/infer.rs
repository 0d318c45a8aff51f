//! Inferential back-propagation: L steps of Langevin dynamics (or gradient descent) on the
//! latent factors of one batch,
//!   Z <- Z + (D^2/2) [ (1/s^2) J^T (Y - f(Z)) - Z ] + D N(0, I),
//! recorded into the caller's compute pass; nothing is read back or allocated per step.

use super::observe::ObservedShared;
use crate::gpu::{Dispatch, Gpu, Op, Tensor};
use crate::model::Generator;
use crate::ops::langevin;
use anyhow::Result;

/// The dispatches of one Langevin step for one batch whose observations are `y` (and `mask`,
/// or seen through the shared observation operator).
pub struct Inference {
    residual: Op,
    update: Op,
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

impl Inference {
    /// `index_offset`: the position of this batch's first latent value among all examples'
    /// (so the noise of example i never depends on how examples are batched); `step`: the
    /// GPU counter of Langevin steps, advanced after every step; `sse`: per-example squared
    /// error scratch \[batch\].
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
        dyn_: Langevin,
    ) -> Result<Inference> {
        let residual = observed.batch(gpu, gen, y, mask, dyn_.sigma, sse)?;
        let n = gen.latent().len();
        let update = langevin::update(
            gpu,
            n,
            gen.latent(),
            gen.latent_grad(),
            step,
            dyn_.delta,
            dyn_.noise,
            dyn_.key,
            index_offset as u32,
        )?;
        let advance = langevin::advance(gpu, step)?;
        Ok(Inference {
            residual,
            update,
            advance,
        })
    }

    /// The dispatches of the residual alone (used by learning and evaluation).
    pub fn residual(&self) -> &Op {
        &self.residual
    }

    /// Appends `steps` Langevin steps to `seq` (the weights are packed once, before the first).
    pub fn steps<'a>(&'a self, gen: &'a Generator, steps: usize, seq: &mut Vec<&'a Dispatch>) {
        for i in 0..steps {
            if i == 0 {
                seq.extend(gen.forward_seq());
            } else {
                seq.extend(gen.forward_prepared_seq());
            }
            seq.extend(self.residual.seq());
            seq.extend(gen.to_latent_seq());
            seq.extend(self.update.seq());
            seq.extend(self.advance.seq());
        }
    }
}
