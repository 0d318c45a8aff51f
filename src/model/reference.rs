//! The plain-Rust twin of `Generator`: the same network built from the ops' CPU twins, for
//! tests of whole networks (GPU against CPU) and of the trainer's gradients.

use super::generator::Population;
use super::generator::{kind, param_shapes, HostParams, Kind};
use super::spec::Spec;
use crate::ops::{activation, affine, batch_norm, conv, conv_transpose, dense};
use anyhow::Result;

pub struct Reference {
    pub spec: Spec,
    pub batch: usize,
    kinds: Vec<Kind>,
    /// The first parameter of each layer in `params`.
    first: Vec<usize>,
    pub params: HostParams,
}

/// Everything the forward pass leaves for the backward pass.
pub struct Trace {
    /// Activations at each layer boundary (`layers + 1`), [batch, ...] flattened.
    pub acts: Vec<Vec<f32>>,
    /// Batch-norm statistics per layer.
    pub stats: Vec<Option<Vec<f32>>>,
}

impl Reference {
    pub fn new(spec: &Spec, batch: usize, params: &HostParams) -> Result<Reference> {
        let shapes = spec.shapes()?;
        let mut kinds = Vec::new();
        let mut first = Vec::new();
        let mut k = 0;
        for (i, l) in spec.layers.iter().enumerate() {
            let kd = kind(l, shapes[i], shapes[i + 1], batch);
            first.push(k);
            k += param_shapes(&kd).len();
            kinds.push(kd);
        }
        anyhow::ensure!(
            k == params.len(),
            "{} parameters given, the network has {k}",
            params.len()
        );
        Ok(Reference {
            spec: spec.clone(),
            batch,
            kinds,
            first,
            params: params.clone(),
        })
    }

    fn p(&self, layer: usize, j: usize) -> &[f32] {
        &self.params[self.first[layer] + j].2
    }

    pub fn forward(&self, z: &[f32]) -> Trace {
        let mut acts = vec![z.to_vec()];
        let mut stats = Vec::new();
        for (i, k) in self.kinds.iter().enumerate() {
            let x = acts.last().unwrap();
            let (y, st) = match k {
                Kind::Dense(s) => (dense::cpu::forward(s, x, self.p(i, 0), self.p(i, 1)), None),
                Kind::Conv(s) => (conv_transpose::cpu::forward(s, x, self.p(i, 0), self.p(i, 1)), None),
                Kind::Strided(s, _) => (conv::cpu::forward(s, x, self.p(i, 0), self.p(i, 1)), None),
                Kind::Bn(s, eps) => {
                    let (y, st) = batch_norm::cpu::forward(s, *eps, x, self.p(i, 0), self.p(i, 1));
                    (y, Some(st))
                }
                Kind::Act(a) => (activation::cpu::forward(*a, x), None),
                Kind::Reshape => (x.clone(), None),
            };
            acts.push(y);
            stats.push(st);
        }
        Trace { acts, stats }
    }

    /// The output in eval mode: each batch norm applies the population statistics `pop`
    /// (PyTorch's `BatchNorm` in `eval()` with `running_mean` and `running_var`).
    pub fn forward_eval(&self, z: &[f32], pop: &Population) -> Result<Vec<f32>> {
        let mut x = z.to_vec();
        for (i, k) in self.kinds.iter().enumerate() {
            x = match k {
                Kind::Dense(s) => dense::cpu::forward(s, &x, self.p(i, 0), self.p(i, 1)),
                Kind::Conv(s) => conv_transpose::cpu::forward(s, &x, self.p(i, 0), self.p(i, 1)),
                Kind::Strided(s, _) => conv::cpu::forward(s, &x, self.p(i, 0), self.p(i, 1)),
                Kind::Bn(s, eps) => {
                    let (mean, var) = pop.layer(i)?;
                    let (a, b) = affine::cpu::fold(self.p(i, 0), self.p(i, 1), mean, var, *eps);
                    affine::cpu::forward(s, &x, &a, Some(&b))
                }
                Kind::Act(a) => activation::cpu::forward(*a, &x),
                Kind::Reshape => x,
            };
        }
        Ok(x)
    }

    /// Back-propagates `dout` (the gradient w.r.t. the output) to Z and to every parameter
    /// (returned in `params` order).
    pub fn backward(&self, t: &Trace, dout: &[f32]) -> (Vec<f32>, Vec<Vec<f32>>) {
        let mut grads: Vec<Vec<f32>> = self.params.iter().map(|p| vec![0.0; p.2.len()]).collect();
        let mut g = dout.to_vec();
        for (i, k) in self.kinds.iter().enumerate().rev() {
            let (x, y) = (&t.acts[i], &t.acts[i + 1]);
            let f = self.first[i];
            g = match k {
                Kind::Dense(s) => {
                    let (dw, db) = dense::cpu::backward_weights(s, x, &g);
                    grads[f] = dw;
                    grads[f + 1] = db;
                    dense::cpu::backward_input(s, &g, self.p(i, 0))
                }
                Kind::Conv(s) => {
                    let (dw, db) = conv_transpose::cpu::backward_weights(s, x, &g);
                    grads[f] = dw;
                    grads[f + 1] = db;
                    conv_transpose::cpu::backward_input(s, &g, self.p(i, 0))
                }
                Kind::Strided(s, _) => {
                    let (dw, db) = conv::cpu::backward_weights(s, x, &g);
                    grads[f] = dw;
                    grads[f + 1] = db;
                    conv::cpu::backward_input(s, &g, self.p(i, 0))
                }
                Kind::Bn(s, _) => {
                    let (dx, dg, db) = batch_norm::cpu::backward(s, x, self.p(i, 0), t.stats[i].as_ref().unwrap(), &g);
                    grads[f] = dg;
                    grads[f + 1] = db;
                    dx
                }
                Kind::Act(a) => activation::cpu::backward(*a, y, &g),
                Kind::Reshape => g,
            };
        }
        (g, grads)
    }
}
