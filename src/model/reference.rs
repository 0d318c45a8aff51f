//! The plain-Rust twin of `Generator`: the same network built from the ops' CPU twins, for
//! tests of whole networks (GPU against CPU) and of the trainer's gradients.

use super::generator::Population;
use super::generator::{concat, kinds, param_shapes, HostParams, Kind};
use super::spec::Spec;
use crate::ops::{activation, affine, batch_norm, conv, conv_transpose, dense, strided};
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
    /// Activations at each layer boundary (`layers + 1`), [batch, ...] flattened; with heads
    /// (an encoder with levels) one more, the heads' row [batch, 2 D] (the output).
    pub acts: Vec<Vec<f32>>,
    /// Batch-norm statistics per layer.
    pub stats: Vec<Option<Vec<f32>>>,
}

impl Reference {
    pub fn new(spec: &Spec, batch: usize, params: &HostParams) -> Result<Reference> {
        let shapes = spec.shapes()?;
        let kinds = kinds(spec, &shapes, batch)?;
        let mut first = Vec::new();
        let mut k = 0;
        for kd in &kinds {
            first.push(k);
            k += param_shapes(kd).len();
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

    /// The heads' row [batch, 2 D] when the network has heads.
    fn heads(&self) -> Option<Vec<f32>> {
        self.spec
            .has_heads()
            .then(|| vec![0.0; self.batch * 2 * self.spec.levels_dim().unwrap_or(0)])
    }

    /// The take, inject and head layers' forward (None for the others): `z` is Z, `x` the
    /// layer's input; a head writes its values into `heads`.
    fn level_forward(&self, i: usize, z: &[f32], x: &[f32], heads: &mut Option<Vec<f32>>) -> Option<Vec<f32>> {
        Some(match &self.kinds[i] {
            Kind::Take(l) => strided::cpu::copied(&l.z_slice(), z, l.batch * l.d),
            Kind::Inject(l, d, features) => {
                let zl = strided::cpu::copied(&l.z_slice(), z, l.batch * l.d);
                let u = dense::cpu::forward(d, &zl, self.p(i, 0), self.p(i, 1));
                let (first, second) = concat(d.batch, *features, d.d_out);
                let mut y = vec![0.0; d.batch * (features + d.d_out)];
                strided::cpu::copy(&first, x, &mut y);
                strided::cpu::copy(&second, &u, &mut y);
                y
            }
            Kind::Head(l, d) => {
                let y = dense::cpu::forward(d, x, self.p(i, 0), self.p(i, 1));
                strided::cpu::copy(&l.head_slots(), &y, heads.as_mut().expect("a head has the heads' row"));
                x.to_vec()
            }
            _ => return None,
        })
    }

    pub fn forward(&self, z: &[f32]) -> Trace {
        let mut acts = vec![z.to_vec()];
        let mut stats = Vec::new();
        let mut heads = self.heads();
        for (i, k) in self.kinds.iter().enumerate() {
            let x = acts.last().unwrap();
            if let Some(y) = self.level_forward(i, z, x, &mut heads) {
                acts.push(y);
                stats.push(None);
                continue;
            }
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
                Kind::Take(..) | Kind::Inject(..) | Kind::Head(..) => unreachable!("level layers run above"),
            };
            acts.push(y);
            stats.push(st);
        }
        acts.extend(heads);
        Trace { acts, stats }
    }

    /// The output in eval mode: each batch norm applies the population statistics `pop`
    /// (PyTorch's `BatchNorm` in `eval()` with `running_mean` and `running_var`).
    pub fn forward_eval(&self, z: &[f32], pop: &Population) -> Result<Vec<f32>> {
        let mut x = z.to_vec();
        let mut heads = self.heads();
        for (i, k) in self.kinds.iter().enumerate() {
            if let Some(y) = self.level_forward(i, z, &x, &mut heads) {
                x = y;
                continue;
            }
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
                Kind::Take(..) | Kind::Inject(..) | Kind::Head(..) => unreachable!("level layers run above"),
            };
        }
        Ok(heads.unwrap_or(x))
    }

    /// Back-propagates `dout` (the gradient w.r.t. the output; with heads, w.r.t. the heads'
    /// row) to Z and to every parameter (returned in `params` order).
    pub fn backward(&self, t: &Trace, dout: &[f32]) -> (Vec<f32>, Vec<Vec<f32>>) {
        let mut grads: Vec<Vec<f32>> = self.params.iter().map(|p| vec![0.0; p.2.len()]).collect();
        let layers = self.kinds.len();
        // With heads the features above the last layer have no use but the heads: gradient 0.
        let (mut g, dheads) = match self.spec.has_heads() {
            true => (vec![0.0; t.acts[layers].len()], Some(dout)),
            false => (dout.to_vec(), None),
        };
        // With levels, Z's gradient gathers each level's slice.
        let mut dz = vec![0.0; t.acts[0].len()];
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
                Kind::Take(l) => {
                    strided::cpu::copy(&l.z_slice().reversed(), &g, &mut dz);
                    dz.clone()
                }
                Kind::Inject(l, d, features) => {
                    let (first, second) = concat(d.batch, *features, d.d_out);
                    let du = strided::cpu::copied(&second.reversed(), &g, d.batch * d.d_out);
                    let zl = strided::cpu::copied(&l.z_slice(), &t.acts[0], l.batch * l.d);
                    let (dw, db) = dense::cpu::backward_weights(d, &zl, &du);
                    grads[f] = dw;
                    grads[f + 1] = db;
                    let dzl = dense::cpu::backward_input(d, &du, self.p(i, 0));
                    strided::cpu::copy(&l.z_slice().reversed(), &dzl, &mut dz);
                    strided::cpu::copied(&first.reversed(), &g, d.batch * features)
                }
                Kind::Head(l, d) => {
                    let dh = dheads.expect("a head has the heads' row");
                    let dy = strided::cpu::copied(&l.head_slots().reversed(), dh, d.batch * d.d_out);
                    let (dw, db) = dense::cpu::backward_weights(d, x, &dy);
                    grads[f] = dw;
                    grads[f + 1] = db;
                    strided::cpu::accumulate(&dense::cpu::backward_input(d, &dy, self.p(i, 0)), &mut g);
                    g
                }
            };
        }
        (g, grads)
    }
}
