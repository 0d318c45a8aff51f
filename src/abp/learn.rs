//! Learning back-propagation: one step on W with the gradient (1/s^2) sum_i J_W^T (Y_i - f(Z_i)),
//! averaged over the batch (the release's convention), clipped and applied by the optimizer.

use crate::gpu::{Dispatch, Gpu, Op};
use crate::model::Generator;
use crate::ops::optim::{self, Clip, OptimState, Optimizer};
use anyhow::Result;

pub struct Learning {
    pub states: Vec<OptimState>,
    steps: Vec<Op>,
}

impl Learning {
    pub fn new(gpu: &Gpu, gen: &Generator, opt: &Optimizer, clip: Clip) -> Result<Learning> {
        let mut states = Vec::new();
        let mut steps = Vec::new();
        for p in &gen.params {
            let st = OptimState::new(gpu, opt, p.value.len())?;
            // The back-propagated gradient ascends the log-likelihood summed over the batch;
            // the optimizer descends the loss averaged over it.
            steps.push(optim::step(
                gpu,
                opt,
                clip,
                -1.0 / gen.batch as f32,
                &p.value,
                &p.grad,
                &st,
            )?);
            states.push(st);
        }
        Ok(Learning { states, steps })
    }

    /// Appends the learning step to `seq`: forward, the residual (given), back-propagation to
    /// the weights, and the optimizer on every parameter. `packed`: the weights have been
    /// packed for the ops since they last changed (by the Langevin steps before, which use the
    /// same W), so the forward pass skips the packing; it is packed once per weight update.
    pub fn step<'a>(&'a self, gen: &'a Generator, residual: &'a Op, packed: bool, seq: &mut Vec<&'a Dispatch>) {
        if packed {
            seq.extend(gen.forward_prepared_seq());
        } else {
            seq.extend(gen.forward_seq());
        }
        seq.extend(residual.seq());
        seq.extend(gen.to_weights_seq());
        self.apply_seq(seq);
    }

    /// Appends the optimizer's step on every parameter (after their gradients are in place).
    pub fn apply_seq<'a>(&'a self, seq: &mut Vec<&'a Dispatch>) {
        for s in &self.steps {
            seq.extend(s.seq());
        }
    }
}
