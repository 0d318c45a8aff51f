//! How the data observe the generator's output: fully, through a mask of observed values
//! (occlusion, the paper's Experiment 5), or through a fixed linear map S (compressed sensing,
//! Experiment 6: each example is seen only as S Y, and S acts as a fixed dense layer under
//! the generator, so the residual is S Y - S f(Z)).

use crate::gpu::{Gpu, Op, Tensor};
use crate::model::Generator;
use crate::ops::{dense, dense::DenseShape, loss};
use anyhow::{bail, Result};

/// The host-side description, shared by all examples.
#[derive(Clone, Debug, Default)]
pub enum Observation {
    #[default]
    Full,
    /// 1 for observed, 0 for missing values, one mask per example, shaped like the data.
    Mask(Vec<f32>),
    /// S as [k, d] row-major, d the values of one output; the data hold S Y, [n, k].
    Sensing { k: usize, matrix: Vec<f32> },
}

/// Resources shared by every batch (S on the GPU and its scratch).
pub struct ObservedShared {
    sensing: Option<(DenseShape, Tensor, Tensor, Tensor, Tensor)>,
}

impl ObservedShared {
    pub fn new(gpu: &Gpu, gen: &Generator, obs: &Observation) -> Result<ObservedShared> {
        let per = gen.output().len() / gen.batch;
        Ok(ObservedShared {
            sensing: match obs {
                Observation::Sensing { k, matrix } => {
                    if matrix.len() != k * per {
                        bail!("the sensing matrix holds {} values, not {k} x {per}", matrix.len());
                    }
                    let s = DenseShape {
                        batch: gen.batch,
                        d_in: per,
                        d_out: *k,
                    };
                    Some((
                        s,
                        gpu.upload("sensing matrix", &[*k, per], matrix)?,
                        gpu.zeros("sensing bias", &[*k])?,
                        gpu.zeros("S f(Z)", &[gen.batch, *k])?,
                        gpu.zeros("S residual", &[gen.batch, *k])?,
                    ))
                }
                _ => None,
            },
        })
    }

    /// The residual op for one batch whose observed values are `y` ([batch, observed]) and
    /// mask `mask`: the residual of the observed values and its back-propagation to the
    /// gradient w.r.t. f(Z), as one op; `sse` receives the per-example squared error of the
    /// observed values.
    pub fn batch(
        &self,
        gpu: &Gpu,
        gen: &Generator,
        y: &Tensor,
        mask: Option<&Tensor>,
        sigma: f32,
        sse: &Tensor,
    ) -> Result<Op> {
        let per = gen.output().len() / gen.batch;
        Ok(match &self.sensing {
            None => loss::residual(
                gpu,
                gen.batch,
                per,
                y,
                gen.output(),
                mask,
                sigma,
                gen.output_grad(),
                sse,
            )?,
            Some((s, m, b, proj, r)) => dense::forward(gpu, s, gen.output(), m, b, proj)?
                .then(loss::residual(gpu, gen.batch, s.d_out, y, proj, None, sigma, r, sse)?)
                .then(dense::backward_input(gpu, s, r, m, gen.output_grad())?),
        })
    }
}
