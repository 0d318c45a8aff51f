//! The generator network f(Z; W) on the GPU: its weights, the activations of one batch, and
//! the three op sequences ABP needs, built once: forward, back-propagation to Z (for the
//! Langevin inference) and back-propagation to W (for learning). The network is any sequential
//! stack of the spec's layers: a bottom-up one (conv2d, flatten, dense) serves as an encoder,
//! its "latent" the image it reads and `to_latent_seq` its back-propagation to that image.

use super::spec::{Layer, Shape, Spec};
use crate::gpu::{Dispatch, Gpu, Op, Tensor};
use crate::ops::activation::{self, Activation};
use crate::ops::affine;
use crate::ops::batch_norm::{self, BnShape};
use crate::ops::conv;
use crate::ops::conv_transpose::{self, ConvShape};
use crate::ops::dense::{self, DenseShape};
use crate::ops::strided::{self, Layout, Strided};
use crate::seed::{Seed, Stream};
use anyhow::{Context, Result};
use rand_distr::{Distribution, Normal};
use std::collections::BTreeMap;

/// A learnable tensor of the network with its gradient, named as in a PyTorch
/// `nn.Sequential` state dict (`"{layer}.weight"`, `"{layer}.bias"`).
pub struct Param {
    pub name: String,
    pub value: Tensor,
    pub grad: Tensor,
}

/// The host-side values of the parameters, in `Generator::params` order.
pub type HostParams = Vec<(String, Vec<usize>, Vec<f32>)>;

pub struct Generator {
    pub spec: Spec,
    pub batch: usize,
    /// Per-example shapes at each layer boundary (`layers + 1`).
    pub shapes: Vec<Shape>,
    pub params: Vec<Param>,
    /// Activations at each distinct boundary; `io[i]` gives a layer's (input, output) index.
    acts: Vec<Tensor>,
    grads: Vec<Tensor>,
    io: Vec<(usize, usize)>,
    /// Batch-norm statistics per layer (None for other layers).
    stats: Vec<Option<Tensor>>,
    /// In eval mode ([`Norm::Population`]): each batch norm's folded (a, b), see `ops::affine`.
    affine: Vec<Option<(Tensor, Tensor)>>,
    forward: Vec<Op>,
    /// Every backward op, once; the two sequences below index into it.
    backward: Vec<Op>,
    to_latent: Vec<usize>,
    to_weights: Vec<usize>,
    /// The buffers of inject and head layers beyond their activations (None for others).
    sides: Vec<Option<Side>>,
}

/// An inject layer's z^l [batch, d_l] gathered from Z, its linear map u [batch, c' H W], and
/// their gradients; a head layer's values y [batch, 2 d_l], their gradient, and (but for the
/// last layer) the features' gradient through the head before it is added to the one from
/// above.
enum Side {
    Inject {
        z: Tensor,
        u: Tensor,
        du: Tensor,
        dz: Tensor,
    },
    Head {
        y: Tensor,
        dy: Tensor,
        dx: Option<Tensor>,
    },
}

/// A latent level's place in each example's row: `d` values at `off` of rows `width` wide
/// (Z: width D; the encoder's head row: the means at `off`, the log-variances at D + `off`,
/// width 2 D), for `batch` examples.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LevelSlice {
    pub batch: usize,
    pub d: usize,
    pub off: usize,
    pub width: usize,
}

impl LevelSlice {
    /// The copy of z^l [batch, d] out of Z [batch, D] (reversed: dz^l into dZ).
    pub fn z_slice(self) -> Strided {
        Strided::columns(
            self.batch,
            self.d,
            Layout::columns(self.width, self.off),
            Layout::columns(self.d, 0),
        )
    }
    /// The copy of a head's [batch, 2 d] (mu then log-variance) to their places in the heads'
    /// row [batch, 2 D] (reversed: their gradient out of the row's).
    pub fn head_slots(self) -> Strided {
        let total = self.width / 2;
        Strided {
            rows: self.batch,
            blocks: 2,
            cols: self.d,
            src: Layout {
                off: 0,
                row: 2 * self.d,
                block: self.d,
            },
            dst: Layout {
                off: self.off,
                row: self.width,
                block: total,
            },
        }
    }
}

/// The concatenation of features [batch, c, H, W] (`first` = c H W values per example) and
/// u [batch, c', H, W] (`second` = c' H W) along the channels: (h -> output, u -> output).
pub(crate) fn concat(batch: usize, first: usize, second: usize) -> (Strided, Strided) {
    let w = first + second;
    (
        Strided::columns(batch, first, Layout::columns(first, 0), Layout::columns(w, 0)),
        Strided::columns(batch, second, Layout::columns(second, 0), Layout::columns(w, first)),
    )
}

/// The layer kinds with parameters and how their shapes map to the ops' shapes.
pub(crate) enum Kind {
    Dense(DenseShape),
    /// A transposed convolution.
    Conv(ConvShape),
    /// A convolution; `true` for 1-D (weight [out, in, k]), `false` for 2-D ([out, in, k, k]).
    Strided(conv::ConvShape, bool),
    Bn(BnShape, f32),
    Act(Activation),
    Reshape,
    /// HiABP's take: z^l from Z (see `Layer::Take`).
    Take(LevelSlice),
    /// HiABP's inject: the level's slice of Z, the dense map z^l -> c' H W, and c H W of the
    /// features (see `Layer::Inject`).
    Inject(LevelSlice, DenseShape, usize),
    /// HiABP's encoder head: the level's slice of the head row and the dense map of the
    /// features to its 2 d_l values (see `Layer::Head`).
    Head(LevelSlice, DenseShape),
}

pub(crate) fn kind(layer: &Layer, input: Shape, output: Shape, batch: usize) -> Kind {
    let [c, h, w] = input;
    match *layer {
        Layer::Dense { out } => Kind::Dense(DenseShape {
            batch,
            d_in: c * h * w,
            d_out: out,
        }),
        Layer::Reshape { .. } => Kind::Reshape,
        Layer::ConvTranspose2d {
            channels,
            kernel,
            stride,
            padding,
            output_padding,
        } => Kind::Conv(ConvShape::conv2d(
            batch,
            c,
            channels,
            h,
            w,
            kernel,
            stride,
            padding,
            output_padding,
        )),
        Layer::ConvTranspose1d {
            channels,
            kernel,
            stride,
            padding,
            output_padding,
        } => Kind::Conv(ConvShape::conv1d(
            batch,
            c,
            channels,
            w,
            kernel,
            stride,
            padding,
            output_padding,
        )),
        Layer::Conv2d {
            channels,
            kernel,
            stride,
            padding,
        } => Kind::Strided(
            conv::ConvShape::conv2d(batch, c, channels, h, w, kernel, stride, padding),
            false,
        ),
        Layer::Conv1d {
            channels,
            kernel,
            stride,
            padding,
        } => Kind::Strided(
            conv::ConvShape::conv1d(batch, c, channels, w, kernel, stride, padding),
            true,
        ),
        Layer::Flatten => Kind::Reshape,
        Layer::BatchNorm { eps } => Kind::Bn(
            BnShape {
                batch,
                channels: output[0],
                spatial: output[1] * output[2],
            },
            eps,
        ),
        Layer::Relu => Kind::Act(Activation::Relu),
        Layer::LeakyRelu { slope } => Kind::Act(Activation::LeakyRelu { slope }),
        Layer::Tanh => Kind::Act(Activation::Tanh),
        Layer::Sigmoid => Kind::Act(Activation::Sigmoid),
        Layer::Take { .. } | Layer::Inject { .. } | Layer::Head { .. } => {
            panic!(
                "{} layers use the spec's levels: map them with layer_kind",
                layer.name()
            )
        }
    }
}

/// The kind of layer `i` of `spec` (`shapes` from `spec.shapes()`), levels included.
pub(crate) fn layer_kind(spec: &Spec, i: usize, shapes: &[Shape], batch: usize) -> Result<Kind> {
    let (layer, input, output) = (&spec.layers[i], shapes[i], shapes[i + 1]);
    let Some(level) = layer.level() else {
        return Ok(kind(layer, input, output, batch));
    };
    let (off, d) = spec.level_slice(level)?;
    let total = spec.levels_dim().unwrap_or(0);
    let slice = |width| LevelSlice { batch, d, off, width };
    let features: usize = input.iter().product();
    Ok(match *layer {
        Layer::Take { .. } => Kind::Take(slice(total)),
        Layer::Inject { .. } => {
            let added = output.iter().product::<usize>() - features;
            Kind::Inject(
                slice(total),
                DenseShape {
                    batch,
                    d_in: d,
                    d_out: added,
                },
                features,
            )
        }
        Layer::Head { .. } => Kind::Head(
            slice(2 * total),
            DenseShape {
                batch,
                d_in: features,
                d_out: 2 * d,
            },
        ),
        _ => unreachable!("only take, inject and head layers have a level"),
    })
}

/// Every layer's kind (`layer_kind`).
pub(crate) fn kinds(spec: &Spec, shapes: &[Shape], batch: usize) -> Result<Vec<Kind>> {
    (0..spec.layers.len())
        .map(|i| layer_kind(spec, i, shapes, batch))
        .collect()
}

/// Parameter shapes of a layer: (suffix, shape), in state-dict order.
pub(crate) fn param_shapes(k: &Kind) -> Vec<(&'static str, Vec<usize>)> {
    match k {
        Kind::Dense(s) => vec![("weight", vec![s.d_out, s.d_in]), ("bias", vec![s.d_out])],
        // PyTorch's ConvTranspose2d [in, out, kh, kw] and ConvTranspose1d [in, out, k] (2-D kernels
        // are square, so kh = 1 < kw only in 1-D).
        Kind::Conv(s) if s.kh == 1 && s.kw > 1 => {
            vec![("weight", vec![s.c_in, s.c_out, s.kw]), ("bias", vec![s.c_out])]
        }
        Kind::Conv(s) => vec![("weight", vec![s.c_in, s.c_out, s.kh, s.kw]), ("bias", vec![s.c_out])],
        // PyTorch's Conv1d [out, in, k] and Conv2d [out, in, kh, kw].
        Kind::Strided(s, true) => vec![("weight", vec![s.c_out, s.c_in, s.kw]), ("bias", vec![s.c_out])],
        Kind::Strided(s, false) => vec![("weight", vec![s.c_out, s.c_in, s.kh, s.kw]), ("bias", vec![s.c_out])],
        Kind::Bn(s, _) => vec![("weight", vec![s.channels]), ("bias", vec![s.channels])],
        // As a dense layer: weight [d_out, d_in], bias [d_out].
        Kind::Inject(_, s, _) | Kind::Head(_, s) => vec![("weight", vec![s.d_out, s.d_in]), ("bias", vec![s.d_out])],
        _ => vec![],
    }
}

/// Initial parameters as in the authors' release: weights N(0, 0.005^2), biases 0, batch-norm
/// scale 1 and shift 0.
pub fn init_params(spec: &Spec, seed: impl Into<Seed>) -> Result<HostParams> {
    init_params_in(spec, seed.into(), Stream::Weights)
}

/// [`init_params`] drawn from another stream of the seed (the encoder's weights).
pub fn init_params_in(spec: &Spec, seed: Seed, stream: Stream) -> Result<HostParams> {
    let shapes = spec.shapes()?;
    let mut rng = seed.rng(stream);
    let normal = Normal::new(0.0f32, 0.005).unwrap();
    let mut out = Vec::new();
    for (i, k) in kinds(spec, &shapes, 1)?.into_iter().enumerate() {
        for (suffix, shape) in param_shapes(&k) {
            let n: usize = shape.iter().product();
            let v = match (&k, suffix) {
                (Kind::Bn(..), "weight") => vec![1.0; n],
                (_, "weight") => (0..n).map(|_| normal.sample(&mut rng)).collect(),
                _ => vec![0.0; n],
            };
            out.push((format!("{i}.{suffix}"), shape, v));
        }
    }
    Ok(out)
}

/// For each batch-norm layer (by index): the mean and the (biased) variance of its input per
/// channel, stored in checkpoints as `{i}.running_mean` and `{i}.running_var`; measured by
/// `Population::measure` (model/population.rs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Population(pub BTreeMap<usize, (Vec<f32>, Vec<f32>)>);

impl Population {
    /// Layer `i`'s (mean, var).
    pub fn layer(&self, i: usize) -> Result<(&[f32], &[f32])> {
        let (m, v) = self
            .0
            .get(&i)
            .with_context(|| format!("no population statistics for batch-norm layer {i}"))?;
        Ok((m, v))
    }
}

/// How the batch norms normalize.
#[derive(Clone, Copy, Debug)]
pub enum Norm<'a> {
    /// With the statistics of the current batch, as in training (the authors' release).
    Batch,
    /// With fixed population statistics (eval mode, as PyTorch's `model.eval()`): every output
    /// depends on its own Z alone. Such a generator infers Z but does not learn (its batch
    /// norms have no weight gradients).
    Population(&'a Population),
}

impl Generator {
    /// Builds the network for `batch` examples with the given parameter values (see
    /// `init_params`) and batch norms on batch statistics; allocates every buffer and records
    /// nothing yet. The GEMM kernels are those of the tuning step (src/ops/tune.rs: on GPUs it
    /// may time new shapes and build again).
    pub fn new(gpu: &Gpu, spec: &Spec, batch: usize, values: &HostParams) -> Result<Generator> {
        Self::with_norm(gpu, spec, batch, values, Norm::Batch)
    }

    /// [`Generator::new`] with batch norms as `norm` says.
    pub fn with_norm(gpu: &Gpu, spec: &Spec, batch: usize, values: &HostParams, norm: Norm) -> Result<Generator> {
        crate::ops::tune::tuned(gpu, || Self::new_untuned(gpu, spec, batch, values, norm))
    }

    fn new_untuned(gpu: &Gpu, spec: &Spec, batch: usize, values: &HostParams, norm: Norm) -> Result<Generator> {
        let shapes = spec.shapes()?;
        let mut acts: Vec<Tensor> = Vec::new();
        let mut grads: Vec<Tensor> = Vec::new();
        let full = |s: Shape| vec![batch, s[0], s[1], s[2]];
        acts.push(gpu.zeros("z", &full(shapes[0]))?);
        grads.push(gpu.zeros("dz", &full(shapes[0]))?);
        let mut io = Vec::new();
        let mut params = Vec::new();
        let mut stats = Vec::new();
        let mut affine = Vec::new();
        let mut kinds = Vec::new();
        let mut sides = Vec::new();
        let mut vi = values.iter();
        let last = spec.layers.len() - 1;
        for (i, k) in self::kinds(spec, &shapes, batch)?.into_iter().enumerate() {
            let input = acts.len() - 1;
            // A head passes its input through, as a reshape does.
            let output = if matches!(k, Kind::Reshape | Kind::Head(..)) {
                input
            } else {
                acts.push(gpu.zeros(&format!("act{i}"), &full(shapes[i + 1]))?);
                grads.push(gpu.zeros(&format!("grad{i}"), &full(shapes[i + 1]))?);
                acts.len() - 1
            };
            io.push((input, output));
            let mut own = Vec::new();
            for (suffix, shape) in param_shapes(&k) {
                let name = format!("{i}.{suffix}");
                let (vname, vshape, v) = vi
                    .next()
                    .with_context(|| format!("no value given for parameter {name}"))?;
                anyhow::ensure!(
                    *vname == name && *vshape == shape,
                    "parameter {name} {shape:?} expected, got {vname} {vshape:?}"
                );
                params.push(Param {
                    value: gpu.upload(&name, &shape, v)?,
                    grad: gpu.zeros(&format!("d{name}"), &shape)?,
                    name,
                });
                own.push(v.as_slice());
            }
            stats.push(match k {
                Kind::Bn(s, _) => Some(gpu.zeros(&format!("bn{i} stats"), &[2, s.channels])?),
                _ => None,
            });
            affine.push(match (&k, norm) {
                (Kind::Bn(_, eps), Norm::Population(pop)) => {
                    let (mean, var) = pop.layer(i)?;
                    let (a, b) = affine::cpu::fold(own[0], own[1], mean, var, *eps);
                    Some((
                        gpu.upload(&format!("bn{i} a"), &[a.len()], &a)?,
                        gpu.upload(&format!("bn{i} b"), &[b.len()], &b)?,
                    ))
                }
                _ => None,
            });
            sides.push(match &k {
                Kind::Inject(l, d, _) => Some(Side::Inject {
                    z: gpu.zeros(&format!("inject{i} z"), &[batch, l.d])?,
                    u: gpu.zeros(&format!("inject{i} u"), &[batch, d.d_out])?,
                    du: gpu.zeros(&format!("inject{i} du"), &[batch, d.d_out])?,
                    dz: gpu.zeros(&format!("inject{i} dz"), &[batch, l.d])?,
                }),
                Kind::Head(_, d) => Some(Side::Head {
                    y: gpu.zeros(&format!("head{i} y"), &[batch, d.d_out])?,
                    dy: gpu.zeros(&format!("head{i} dy"), &[batch, d.d_out])?,
                    dx: (i != last)
                        .then(|| gpu.zeros(&format!("head{i} dx"), &[batch, d.d_in]))
                        .transpose()?,
                }),
                _ => None,
            });
            kinds.push(k);
        }
        anyhow::ensure!(vi.next().is_none(), "more parameter values given than the network has");
        if spec.has_heads() {
            // The network's output: the heads' row [batch, 2 D] (see `Spec::output`).
            let [d2, _, _] = spec.output()?;
            acts.push(gpu.zeros("heads", &[batch, d2, 1, 1])?);
            grads.push(gpu.zeros("dheads", &[batch, d2, 1, 1])?);
        }
        let mut g = Generator {
            spec: spec.clone(),
            batch,
            shapes,
            params,
            acts,
            grads,
            io,
            stats,
            affine,
            forward: Vec::new(),
            backward: Vec::new(),
            to_latent: Vec::new(),
            to_weights: Vec::new(),
            sides,
        };
        g.build(gpu, &kinds)?;
        Ok(g)
    }

    fn build(&mut self, gpu: &Gpu, kinds: &[Kind]) -> Result<()> {
        let mut pi = 0;
        let mut first_param = Vec::new();
        for k in kinds {
            first_param.push(pi);
            pi += param_shapes(k).len();
        }
        for (i, k) in kinds.iter().enumerate() {
            let (a, o) = (&self.acts[self.io[i].0], &self.acts[self.io[i].1]);
            let p = &self.params[first_param[i]..];
            let op = match k {
                Kind::Dense(s) => dense::forward(gpu, s, a, &p[0].value, &p[1].value, o)?,
                Kind::Conv(s) => conv_transpose::forward(gpu, s, a, &p[0].value, &p[1].value, o)?,
                Kind::Strided(s, _) => conv::forward(gpu, s, a, &p[0].value, &p[1].value, o)?,
                Kind::Bn(s, _) if self.affine[i].is_some() => {
                    let (fa, fb) = self.affine[i].as_ref().unwrap();
                    Op::from(affine::forward(gpu, s, a, fa, Some(fb), o)?)
                }
                Kind::Bn(s, eps) => batch_norm::forward(
                    gpu,
                    s,
                    *eps,
                    a,
                    &p[0].value,
                    &p[1].value,
                    o,
                    self.stats[i].as_ref().unwrap(),
                )?,
                Kind::Act(act) => Op::from(activation::forward(gpu, *act, a, o)?),
                Kind::Reshape => continue,
                Kind::Take(l) => Op::from(strided::copy(gpu, &l.z_slice(), &self.acts[0], o)?),
                Kind::Inject(l, d, features) => {
                    let Some(Side::Inject { z, u, .. }) = &self.sides[i] else {
                        unreachable!("an inject layer has its buffers")
                    };
                    let (first, second) = concat(d.batch, *features, d.d_out);
                    Op::from(strided::copy(gpu, &l.z_slice(), &self.acts[0], z)?)
                        .then(dense::forward(gpu, d, z, &p[0].value, &p[1].value, u)?)
                        .then(Op::from(strided::copy(gpu, &first, a, o)?))
                        .then(Op::from(strided::copy(gpu, &second, u, o)?))
                }
                Kind::Head(l, d) => {
                    let Some(Side::Head { y, .. }) = &self.sides[i] else {
                        unreachable!("a head layer has its buffers")
                    };
                    let heads = self.acts.last().unwrap();
                    dense::forward(gpu, d, a, &p[0].value, &p[1].value, y)?.then(Op::from(strided::copy(
                        gpu,
                        &l.head_slots(),
                        y,
                        heads,
                    )?))
                }
            };
            self.forward.push(op);
        }
        for (i, k) in kinds.iter().enumerate().rev() {
            let (ai, oi) = self.io[i];
            let (a, o) = (&self.acts[ai], &self.acts[oi]);
            let (gi, go) = (&self.grads[ai], &self.grads[oi]);
            let p = &self.params[first_param[i]..];
            // Each backward op is built once; the two sequences list the ones they need.
            // Back-propagation to Z needs every input gradient; learning needs the weight
            // gradients and every input gradient except the one w.r.t. Z.
            let (to_input, to_w) = match k {
                Kind::Dense(s) => (
                    Some(dense::backward_input(gpu, s, go, &p[0].value, gi)?),
                    Some(dense::backward_weights(gpu, s, a, go, &p[0].grad, &p[1].grad)?),
                ),
                Kind::Conv(s) => (
                    Some(conv_transpose::backward_input(gpu, s, go, &p[0].value, gi)?),
                    Some(conv_transpose::backward_weights(gpu, s, a, go, &p[0].grad, &p[1].grad)?),
                ),
                Kind::Strided(s, _) => (
                    Some(conv::backward_input(gpu, s, go, &p[0].value, gi)?),
                    Some(conv::backward_weights(gpu, s, a, go, &p[0].grad, &p[1].grad)?),
                ),
                Kind::Bn(s, _) if self.affine[i].is_some() => {
                    // Eval mode: dx = a dy; no weight gradients.
                    let fa = &self.affine[i].as_ref().unwrap().0;
                    self.backward.push(Op::from(affine::forward(gpu, s, go, fa, None, gi)?));
                    self.to_latent.push(self.backward.len() - 1);
                    continue;
                }
                Kind::Bn(s, _) => {
                    // One op computes the input and the parameter gradients: both sequences use it.
                    let st = self.stats[i].as_ref().unwrap();
                    let bn = batch_norm::backward(gpu, s, a, &p[0].value, st, go, gi, &p[0].grad, &p[1].grad)?;
                    self.backward.push(bn);
                    self.to_latent.push(self.backward.len() - 1);
                    self.to_weights.push(self.backward.len() - 1);
                    continue;
                }
                Kind::Act(act) => (Some(Op::from(activation::backward(gpu, *act, o, go, gi)?)), None),
                Kind::Reshape => continue,
                // dZ's slice of the level: back-propagation to Z only (layer 0 reads Z).
                Kind::Take(l) => (
                    Some(Op::from(strided::copy(
                        gpu,
                        &l.z_slice().reversed(),
                        go,
                        &self.grads[0],
                    )?)),
                    None,
                ),
                Kind::Inject(l, d, features) => {
                    let Some(Side::Inject { z, du, dz, .. }) = &self.sides[i] else {
                        unreachable!("an inject layer has its buffers")
                    };
                    let (first, second) = concat(d.batch, *features, d.d_out);
                    // du, the last c' channels of the output's gradient: both sequences.
                    self.backward
                        .push(Op::from(strided::copy(gpu, &second.reversed(), go, du)?));
                    self.to_latent.push(self.backward.len() - 1);
                    self.to_weights.push(self.backward.len() - 1);
                    // dz^l = du W into Z's gradient: back-propagation to Z only.
                    let to_z = dense::backward_input(gpu, d, du, &p[0].value, dz)?.then(Op::from(strided::copy(
                        gpu,
                        &l.z_slice().reversed(),
                        dz,
                        &self.grads[0],
                    )?));
                    self.backward.push(to_z);
                    self.to_latent.push(self.backward.len() - 1);
                    (
                        Some(Op::from(strided::copy(gpu, &first.reversed(), go, gi)?)),
                        Some(dense::backward_weights(gpu, d, z, du, &p[0].grad, &p[1].grad)?),
                    )
                }
                Kind::Head(l, d) => {
                    let Some(Side::Head { dy, dx, .. }) = &self.sides[i] else {
                        unreachable!("a head layer has its buffers")
                    };
                    let dheads = self.grads.last().unwrap();
                    // The head's gradient from the heads' row: both sequences.
                    self.backward
                        .push(Op::from(strided::copy(gpu, &l.head_slots().reversed(), dheads, dy)?));
                    self.to_latent.push(self.backward.len() - 1);
                    self.to_weights.push(self.backward.len() - 1);
                    // The features' gradient: the last layer's is the head's alone; below it,
                    // the head's is added to the one the layers above left in `gi` (= `go`).
                    let to_input = match dx {
                        None => dense::backward_input(gpu, d, dy, &p[0].value, gi)?,
                        Some(dx) => dense::backward_input(gpu, d, dy, &p[0].value, dx)?
                            .then(Op::from(strided::accumulate(gpu, dx, gi)?)),
                    };
                    (
                        Some(to_input),
                        Some(dense::backward_weights(gpu, d, a, dy, &p[0].grad, &p[1].grad)?),
                    )
                }
            };
            if let Some(w) = to_w {
                self.backward.push(w);
                self.to_weights.push(self.backward.len() - 1);
            }
            if let Some(x) = to_input {
                self.backward.push(x);
                self.to_latent.push(self.backward.len() - 1);
                if ai != 0 {
                    self.to_weights.push(self.backward.len() - 1);
                }
            }
        }
        Ok(())
    }

    /// Z, [batch, latent...]: written by the caller (or the Langevin update) before `forward`.
    pub fn latent(&self) -> &Tensor {
        &self.acts[0]
    }
    /// The gradient w.r.t. Z left by `to_latent`.
    pub fn latent_grad(&self) -> &Tensor {
        &self.grads[0]
    }
    /// f(Z; W), [batch, c, h, w], left by `forward`; for a network with heads (an encoder
    /// with levels) the heads' row [batch, 2 D, 1, 1].
    pub fn output(&self) -> &Tensor {
        self.acts.last().unwrap()
    }
    /// Where the caller puts the gradient w.r.t. the output before a backward sequence.
    pub fn output_grad(&self) -> &Tensor {
        self.grads.last().unwrap()
    }
    /// Activation at boundary `i` of the distinct boundaries (for tests); with heads, the last
    /// is the heads' row.
    pub fn activation(&self, i: usize) -> &Tensor {
        &self.acts[i]
    }

    /// The gradient at distinct boundary `i` (for tests).
    pub fn gradient(&self, i: usize) -> &Tensor {
        &self.grads[i]
    }
    /// The batch-norm statistics [2, channels] of layer `i`, if it is a batch norm (for tests).
    pub fn stats(&self, i: usize) -> Option<&Tensor> {
        self.stats[i].as_ref()
    }
    /// The distinct boundary index of each layer's (input, output).
    pub fn layer_io(&self) -> &[(usize, usize)] {
        &self.io
    }

    /// Packs the weights for every op (see `Op::prep`): needed once after the weights change.
    pub fn prepare_seq(&self) -> Vec<&Dispatch> {
        self.forward
            .iter()
            .chain(self.backward.iter())
            .flat_map(|o| o.prep.iter())
            .collect()
    }
    /// f(Z; W): the preparation, then the forward pass.
    pub fn forward_seq(&self) -> Vec<&Dispatch> {
        let mut v = self.prepare_seq();
        v.extend(self.forward_prepared_seq());
        v
    }
    /// The forward pass alone, when `prepare_seq` (or `forward_seq`) has run since the weights
    /// last changed: the Langevin steps after the first.
    pub fn forward_prepared_seq(&self) -> Vec<&Dispatch> {
        self.forward.iter().flat_map(|o| o.dispatches.iter()).collect()
    }
    /// Back-propagation of `output_grad` to `latent_grad` (the inferential back-propagation);
    /// after a `forward_seq` with the same weights.
    pub fn to_latent_seq(&self) -> Vec<&Dispatch> {
        self.to_latent
            .iter()
            .flat_map(|&k| self.backward[k].dispatches.iter())
            .collect()
    }
    /// Back-propagation of `output_grad` to every parameter's `grad` (the learning
    /// back-propagation); after a `forward_seq` with the same weights.
    pub fn to_weights_seq(&self) -> Vec<&Dispatch> {
        self.to_weights
            .iter()
            .flat_map(|&k| self.backward[k].dispatches.iter())
            .collect()
    }

    /// Reads the parameters back (for checkpoints).
    pub fn read_params(&self, gpu: &Gpu) -> Result<HostParams> {
        self.params
            .iter()
            .map(|p| Ok((p.name.clone(), p.value.shape.clone(), gpu.read(&p.value)?)))
            .collect()
    }
    pub fn read_grads(&self, gpu: &Gpu) -> Result<HostParams> {
        self.params
            .iter()
            .map(|p| Ok((p.name.clone(), p.grad.shape.clone(), gpu.read(&p.grad)?)))
            .collect()
    }
}

/// The shape of every transposed convolution of `spec` at `batch` examples, in layer order
/// (for benchmarks and tests of the ops at a network's shapes).
pub fn conv_shapes(spec: &Spec, batch: usize) -> Result<Vec<ConvShape>> {
    let shapes = spec.shapes()?;
    Ok(kinds(spec, &shapes, batch)?
        .into_iter()
        .filter_map(|k| match k {
            Kind::Conv(s) => Some(s),
            _ => None,
        })
        .collect())
}
