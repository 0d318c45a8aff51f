//! The JSON description of a generator network and its shape inference.
//!
//! ```json
//! { "latent": [1, 7, 7],
//!   "layers": [ {"type": "conv_transpose2d", "channels": 512, "kernel": 5, "stride": 2, "padding": 2, "output_padding": 1},
//!               {"type": "batch_norm"}, {"type": "relu"}, ... ] }
//! ```
//! `latent` is the per-example shape of Z as [channels, height, width]: `[d, 1, 1]` for a vector
//! of d factors, `[1, h, w]` for an image of factors, `[1, 1, t]` for a sequence.
//!
//! The same description serves bottom-up networks (an encoder from an image to its factors),
//! whose input shape is then `latent`, with the layers `conv2d`, `conv1d` (PyTorch's Conv2d and
//! Conv1d, no output padding) and `flatten`:
//! ```json
//! { "latent": [1, 28, 28],
//!   "layers": [ {"type": "conv2d", "channels": 32, "kernel": 4, "stride": 2, "padding": 1},
//!               {"type": "leaky_relu"}, {"type": "flatten"}, {"type": "dense", "out": 20} ] }
//! ```
//!
//! An optional `encoder` (IABP, Sun, Liu and Zhou 2021) is a bottom-up network of the same layer
//! types from the generator's output shape to `[2 d, 1, 1]`: per example the mean mu(x) (the
//! first d values) and the log-variance log sigma(x)^2 (the next d) of the proposal
//! q(z|x) = N(mu, sigma^2) that starts each Langevin chain (`--init encoder`).
//!
//! Optional `levels` (HiABP, Sun, Liu and Zhou 2021): the sizes [d_1, ..., d_L] of a
//! hierarchy of latent levels, bottom first, z^L the top. Then `latent` is [D, 1, 1] with
//! D = d_1 + ... + d_L and each example's Z is [z^1 | z^2 | ... | z^L] (level l at offset
//! off_l = d_1 + ... + d_{l-1}). The generator's first layer is `{"type": "take", "level": L}`
//! (z^L as [d_L, 1, 1]); every other level enters through one
//! `{"type": "inject", "level": l, "channels": c'}`, which appends a linear map of z^l
//! reshaped to [c', H, W] to the features [c, H, W] coming down (output [c + c', H, W]). An
//! encoder may then give each level its own `{"type": "head", "level": l}`: the features pass
//! through unchanged and a linear map of them gives (mu^l, log sigma^l^2), written at offsets
//! off_l and D + off_l of the encoder's output row [2 D]; its last layer is a head, and its
//! output is that row. An encoder without heads ends in [2 D, 1, 1] as before.
//!
//! ```json
//! { "latent": [18, 1, 1], "levels": [4, 6, 8],
//!   "layers": [ {"type": "take", "level": 3}, {"type": "dense", "out": 512}, ...,
//!               {"type": "inject", "level": 2, "channels": 16}, ... ],
//!   "encoder": [ {"type": "dense", "out": 512}, {"type": "leaky_relu", "slope": 0.1},
//!                {"type": "head", "level": 1}, ..., {"type": "head", "level": 3} ] }
//! ```

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Per-example shape [channels, height, width].
pub type Shape = [usize; 3];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Layer {
    /// Fully connected: flattens its input and produces `out` values.
    Dense {
        out: usize,
    },
    /// Reinterprets the values as [channels, height, width] (sizes must agree).
    Reshape {
        shape: Shape,
    },
    ConvTranspose2d {
        channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        #[serde(default)]
        output_padding: usize,
    },
    /// Along the width axis of a [channels, 1, length] tensor.
    ConvTranspose1d {
        channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        #[serde(default)]
        output_padding: usize,
    },
    /// Convolution (PyTorch's Conv2d, square kernel): out = floor((n + 2 padding - kernel) /
    /// stride) + 1 along each spatial axis.
    Conv2d {
        channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// Convolution along the width axis of a [channels, 1, length] tensor (PyTorch's Conv1d).
    Conv1d {
        channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// [c, h, w] -> [c h w, 1, 1] (the values stay where they are).
    Flatten,
    BatchNorm {
        #[serde(default = "default_eps")]
        eps: f32,
    },
    Relu,
    LeakyRelu {
        #[serde(default = "default_slope")]
        slope: f32,
    },
    Tanh,
    Sigmoid,
    /// HiABP: z^`level` from Z, as [d_level, 1, 1]; the generator's first layer, of the top
    /// level (see the module's header).
    Take {
        level: usize,
    },
    /// HiABP: [c, H, W] -> [c + channels, H, W], the input followed by a linear map of
    /// z^`level` (weight [channels * H * W, d_level], bias [channels * H * W]) reshaped to
    /// [channels, H, W].
    Inject {
        level: usize,
        channels: usize,
    },
    /// HiABP, encoders only: passes its input through and writes a linear map of it (weight
    /// [2 d_level, c * H * W], bias [2 d_level]) to level `level`'s mean and log-variance in
    /// the encoder's output.
    Head {
        level: usize,
    },
}

fn default_eps() -> f32 {
    1e-4
}
fn default_slope() -> f32 {
    0.2
}

/// The range of a model's outputs and so of the data it learns: [0, 1] after a final sigmoid
/// (the HiABP paper's convention), [-1, 1] otherwise (the ABP paper's, after tanh). Data are
/// read in [-1, 1] and media are written from [-1, 1]; `data` and `media` convert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    Symmetric,
    Unit,
}

impl Range {
    /// Values read in [-1, 1] to this range, in place.
    pub fn data(self, v: &mut [f32]) {
        if self == Range::Unit {
            v.iter_mut().for_each(|x| *x = (*x + 1.0) * 0.5);
        }
    }

    /// Values of this range to [-1, 1] for the media writers.
    pub fn media(self, v: &[f32]) -> std::borrow::Cow<'_, [f32]> {
        match self {
            Range::Symmetric => std::borrow::Cow::Borrowed(v),
            Range::Unit => std::borrow::Cow::Owned(v.iter().map(|x| 2.0 * x - 1.0).collect()),
        }
    }

    /// The width of the range (squared errors scale with its square).
    pub fn width(self) -> f32 {
        match self {
            Range::Symmetric => 2.0,
            Range::Unit => 1.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub latent: Shape,
    pub layers: Vec<Layer>,
    /// The bottom-up network that proposes each chain's start (see the module's header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<Vec<Layer>>,
    /// HiABP's latent levels [d_1, ..., d_L], bottom first (see the module's header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<usize>>,
}

/// A convolution's output size floor((n + 2p - k) / s) + 1, None when the kernel is larger
/// than the padded input.
fn strided_out(n: usize, k: usize, s: usize, p: usize) -> Option<usize> {
    Some((n + 2 * p).checked_sub(k)? / s + 1)
}

fn conv_out(n: usize, k: usize, s: usize, p: usize, op: usize) -> Option<usize> {
    ((n.checked_sub(1)?) * s + k + op).checked_sub(2 * p).filter(|&v| v > 0)
}

impl Layer {
    /// The output shape for input `x`, or an error saying why the layer cannot take it.
    pub fn output(&self, x: Shape) -> Result<Shape> {
        let [c, h, w] = x;
        Ok(match *self {
            Layer::Dense { out } => {
                if out == 0 {
                    bail!("a dense layer needs out > 0");
                }
                [out, 1, 1]
            }
            Layer::Reshape { shape } => {
                if shape.iter().product::<usize>() != c * h * w {
                    bail!("cannot reshape {x:?} ({} values) to {shape:?}", c * h * w);
                }
                shape
            }
            Layer::ConvTranspose2d {
                channels,
                kernel,
                stride,
                padding,
                output_padding,
            } => {
                if channels == 0 || kernel == 0 || stride == 0 {
                    bail!("channels, kernel and stride must be positive");
                }
                if output_padding >= stride.max(1) && output_padding > 0 {
                    bail!("output_padding {output_padding} must be smaller than the stride {stride}");
                }
                match (
                    conv_out(h, kernel, stride, padding, output_padding),
                    conv_out(w, kernel, stride, padding, output_padding),
                ) {
                    (Some(ho), Some(wo)) => [channels, ho, wo],
                    _ => bail!("padding {padding} leaves no output for input {x:?}"),
                }
            }
            Layer::ConvTranspose1d {
                channels,
                kernel,
                stride,
                padding,
                output_padding,
            } => {
                if h != 1 {
                    bail!("a 1-D transposed convolution needs input [channels, 1, length], got {x:?}");
                }
                if channels == 0 || kernel == 0 || stride == 0 {
                    bail!("channels, kernel and stride must be positive");
                }
                if output_padding >= stride && output_padding > 0 {
                    bail!("output_padding {output_padding} must be smaller than the stride {stride}");
                }
                match conv_out(w, kernel, stride, padding, output_padding) {
                    Some(wo) => [channels, 1, wo],
                    None => bail!("padding {padding} leaves no output for input {x:?}"),
                }
            }
            Layer::Conv2d {
                channels,
                kernel,
                stride,
                padding,
            } => {
                if channels == 0 || kernel == 0 || stride == 0 {
                    bail!("channels, kernel and stride must be positive");
                }
                match (
                    strided_out(h, kernel, stride, padding),
                    strided_out(w, kernel, stride, padding),
                ) {
                    (Some(ho), Some(wo)) => [channels, ho, wo],
                    _ => bail!(
                        "kernel {kernel} is larger than the padded input {}x{} (input {h}x{w}, padding {padding})",
                        h + 2 * padding,
                        w + 2 * padding
                    ),
                }
            }
            Layer::Conv1d {
                channels,
                kernel,
                stride,
                padding,
            } => {
                if h != 1 {
                    bail!("a 1-D convolution needs input [channels, 1, length], got {x:?}");
                }
                if channels == 0 || kernel == 0 || stride == 0 {
                    bail!("channels, kernel and stride must be positive");
                }
                match strided_out(w, kernel, stride, padding) {
                    Some(wo) => [channels, 1, wo],
                    None => bail!(
                        "kernel {kernel} is larger than the padded input of length {} (length {w}, padding {padding})",
                        w + 2 * padding
                    ),
                }
            }
            Layer::Flatten => [c * h * w, 1, 1],
            Layer::BatchNorm { eps } => {
                // NaN fails too.
                if eps.is_nan() || eps <= 0.0 {
                    bail!("batch norm eps must be positive");
                }
                x
            }
            Layer::LeakyRelu { slope } => {
                if !slope.is_finite() {
                    bail!("leaky relu slope must be finite");
                }
                x
            }
            Layer::Relu | Layer::Tanh | Layer::Sigmoid => x,
            // Its size is the level's (see `Spec::shapes`).
            Layer::Take { .. } => bail!("a take layer's shape is that of its level (the spec's levels)"),
            Layer::Inject { channels, .. } => {
                if channels == 0 {
                    bail!("an inject layer needs channels > 0");
                }
                [c + channels, h, w]
            }
            Layer::Head { .. } => x,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Layer::Dense { .. } => "dense",
            Layer::Reshape { .. } => "reshape",
            Layer::ConvTranspose2d { .. } => "conv_transpose2d",
            Layer::ConvTranspose1d { .. } => "conv_transpose1d",
            Layer::Conv2d { .. } => "conv2d",
            Layer::Conv1d { .. } => "conv1d",
            Layer::Flatten => "flatten",
            Layer::BatchNorm { .. } => "batch_norm",
            Layer::Relu => "relu",
            Layer::LeakyRelu { .. } => "leaky_relu",
            Layer::Tanh => "tanh",
            Layer::Sigmoid => "sigmoid",
            Layer::Take { .. } => "take",
            Layer::Inject { .. } => "inject",
            Layer::Head { .. } => "head",
        }
    }

    /// The latent level a take, inject or head layer uses.
    pub fn level(&self) -> Option<usize> {
        match *self {
            Layer::Take { level } | Layer::Inject { level, .. } | Layer::Head { level } => Some(level),
            _ => None,
        }
    }
}

impl Spec {
    pub fn from_json(text: &str) -> Result<Spec> {
        let spec: Spec = serde_json::from_str(text).map_err(|e| anyhow::anyhow!("model spec: {e}"))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the generator's and the encoder's shapes (errors name the layer).
    pub fn validate(&self) -> Result<()> {
        self.check_levels()?;
        self.shapes()?;
        self.encoder_spec()?;
        Ok(())
    }

    /// The levels' sizes, checked (an error when the spec has none).
    fn level_sizes(&self) -> Result<&[usize]> {
        match &self.levels {
            None => bail!("the spec has no levels"),
            Some(l) if l.is_empty() || l.contains(&0) => {
                bail!("model spec: levels {l:?}: there must be at least one and each must be positive")
            }
            Some(l) => Ok(l),
        }
    }

    /// Level `level`'s (offset, size) in each example's Z (level 1 at offset 0).
    pub fn level_slice(&self, level: usize) -> Result<(usize, usize)> {
        let sizes = self.level_sizes()?;
        if level == 0 || level > sizes.len() {
            bail!(
                "level {level} is not one of the spec's levels 1..={} (levels {sizes:?})",
                sizes.len()
            );
        }
        Ok((sizes[..level - 1].iter().sum(), sizes[level - 1]))
    }

    /// D, the sum of the levels (None without levels).
    pub fn levels_dim(&self) -> Option<usize> {
        self.levels.as_ref().map(|l| l.iter().sum())
    }

    /// Whether the layers include heads (an encoder's network of its own, see `encoder_spec`).
    pub fn has_heads(&self) -> bool {
        self.layers.iter().any(|l| matches!(l, Layer::Head { .. }))
    }

    /// The generator's and the encoder's use of the levels: with levels, the latent is
    /// [D, 1, 1], layer 0 takes the top level, every other level is injected exactly once,
    /// heads only in the encoder (whose heads `encoder_spec` checks); without levels, no take,
    /// inject or head layer.
    fn check_levels(&self) -> Result<()> {
        if let Some((i, l)) = self
            .layers
            .iter()
            .enumerate()
            .find(|(_, l)| matches!(l, Layer::Head { .. }))
        {
            bail!(
                "model spec: layer {i} ({}): head layers belong to the encoder, not the generator",
                l.name()
            );
        }
        if self.levels.is_none() {
            let uses = self.layers.iter().enumerate().map(|(i, l)| ("layer", i, l));
            let enc = self
                .encoder
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, l)| ("encoder layer", i, l));
            if let Some((what, i, l)) = uses.chain(enc).find(|(_, _, l)| l.level().is_some()) {
                bail!(
                    "model spec: {what} {i} ({}) uses a latent level, but the spec has no \"levels\"",
                    l.name()
                );
            }
            return Ok(());
        }
        let sizes = self.level_sizes()?;
        let top = sizes.len();
        let d: usize = sizes.iter().sum();
        if self.latent != [d, 1, 1] {
            bail!(
                "model spec: with levels {sizes:?} the latent must be [{d}, 1, 1] (D = the sum of the levels, Z = [z^1 | ... | z^L]), not {:?}",
                self.latent
            );
        }
        match self.layers.first() {
            Some(Layer::Take { level }) if *level == top => {}
            Some(Layer::Take { level }) => bail!(
                "model spec: layer 0 (take) takes level {level}, but the first layer must take the top level {top} (the others are injected)"
            ),
            Some(l) => bail!(
                "model spec: with levels, layer 0 must be {{\"type\": \"take\", \"level\": {top}}} (the top level), not {}",
                l.name()
            ),
            None => bail!("model spec: no layers"),
        }
        let mut user: Vec<Option<usize>> = vec![None; top];
        for (i, l) in self.layers.iter().enumerate() {
            let Some(level) = l.level() else { continue };
            if matches!(l, Layer::Take { .. }) && i > 0 {
                bail!("model spec: layer {i} (take): a take layer must be the generator's first layer (only the top level is taken)");
            }
            if level == 0 || level > top {
                bail!(
                    "model spec: layer {i} ({}) uses level {level}, but the levels are 1..={top} (levels {sizes:?})",
                    l.name()
                );
            }
            if matches!(l, Layer::Inject { .. }) && level == top {
                bail!("model spec: layer {i} (inject): the top level {top} is taken by layer 0, not injected");
            }
            if let Some(j) = user[level - 1] {
                bail!(
                    "model spec: layer {i} ({}) uses level {level}, which layer {j} already uses: each level is used exactly once",
                    l.name()
                );
            }
            user[level - 1] = Some(i);
        }
        if let Some(k) = user.iter().position(|u| u.is_none()) {
            bail!(
                "model spec: level {} (of {top}) is used by no layer: each level below the top needs an inject layer",
                k + 1
            );
        }
        Ok(())
    }

    /// The encoder as a network of its own, from the generator's output shape to
    /// `[2 d, 1, 1]` (None when the model has no encoder). Batch norm is not supported there
    /// (proposals must not depend on the other examples of a batch). With heads (one per
    /// level, the last layer a head) its `output()` is the heads' row [2 D, 1, 1] and its
    /// `levels` those of the model; without, its last layer gives [2 D, 1, 1].
    pub fn encoder_spec(&self) -> Result<Option<Spec>> {
        let Some(layers) = &self.encoder else {
            return Ok(None);
        };
        let enc = Spec {
            latent: self.output()?,
            layers: layers.clone(),
            encoder: None,
            levels: self.levels.clone(),
        };
        if let Some(i) = layers.iter().position(|l| matches!(l, Layer::BatchNorm { .. })) {
            bail!("model spec: encoder layer {i} (batch_norm): an encoder cannot use batch norm (each proposal must depend on its own example only)");
        }
        if let Some((i, l)) = layers
            .iter()
            .enumerate()
            .find(|(_, l)| matches!(l, Layer::Take { .. } | Layer::Inject { .. }))
        {
            bail!(
                "model spec: encoder layer {i} ({}): take and inject layers belong to the generator, not the encoder",
                l.name()
            );
        }
        if enc.has_heads() {
            let top = self
                .levels
                .as_ref()
                .map(|l| l.len())
                .context("model spec: the encoder has head layers, but the spec has no \"levels\"")?;
            check_heads(layers, top)?;
        }
        let shapes = enc.shapes_of("encoder layer")?;
        let want = [2 * self.latent_dim(), 1, 1];
        let got = if enc.has_heads() {
            enc.output()?
        } else {
            *shapes.last().unwrap()
        };
        if got != want {
            bail!(
                "model spec: the encoder ends in {got:?} but must give [2 d, 1, 1] = {want:?} (the mean and the log-variance of each of the d = {} latent factors)",
                self.latent_dim()
            );
        }
        Ok(Some(enc))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("spec serializes")
    }

    /// The per-example shape before each layer and after the last: `layers.len() + 1` shapes.
    pub fn shapes(&self) -> Result<Vec<Shape>> {
        self.shapes_of("layer")
    }

    /// `shapes`, with errors naming a layer as `what` i.
    fn shapes_of(&self, what: &str) -> Result<Vec<Shape>> {
        if self.latent.contains(&0) {
            bail!("model spec: the latent shape {:?} has a zero size", self.latent);
        }
        if self.layers.is_empty() {
            bail!("model spec: no layers");
        }
        let mut out = vec![self.latent];
        for (i, l) in self.layers.iter().enumerate() {
            let s = self.layer_output(l, *out.last().unwrap()).map_err(|e| {
                anyhow::anyhow!(
                    "model spec: {what} {i} ({}) does not fit its input {:?}: {e}",
                    l.name(),
                    out.last().unwrap()
                )
            })?;
            out.push(s);
        }
        Ok(out)
    }

    /// `l.output(x)`, with the levels for the layers that use them.
    fn layer_output(&self, l: &Layer, x: Shape) -> Result<Shape> {
        if let Some(level) = l.level() {
            let (_, d) = self.level_slice(level)?;
            if let Layer::Take { .. } = l {
                let total = self.levels_dim().unwrap_or(0);
                if x != [total, 1, 1] {
                    bail!("a take layer reads Z, [D, 1, 1] = [{total}, 1, 1], not {x:?} (it must be the first layer)");
                }
                return Ok([d, 1, 1]);
            }
        }
        l.output(x)
    }

    /// The output shape per example: with heads (an encoder with levels), the head row
    /// [2 D, 1, 1] (see the module's header).
    pub fn output(&self) -> Result<Shape> {
        let last = *self.shapes()?.last().unwrap();
        if self.has_heads() {
            let d = self
                .levels_dim()
                .context("model spec: head layers need the spec's \"levels\"")?;
            return Ok([2 * d, 1, 1]);
        }
        Ok(last)
    }

    /// The same network with another latent shape (fully convolutional models only), e.g. a
    /// 14x14 z for a 448x448 texture from a model learned with a 7x7 z.
    pub fn with_latent(&self, latent: Shape) -> Result<Spec> {
        if self
            .layers
            .iter()
            .any(|l| matches!(l, Layer::Dense { .. } | Layer::Reshape { .. } | Layer::Flatten))
            && latent != self.latent
        {
            bail!("only fully convolutional models accept another latent size (this one has a dense, reshape or flatten layer)");
        }
        if self.levels.is_some() && latent != self.latent {
            bail!("a model with latent levels has the one latent shape [D, 1, 1]");
        }
        let s = Spec {
            latent,
            layers: self.layers.clone(),
            encoder: None,
            levels: self.levels.clone(),
        };
        s.shapes()?;
        Ok(s)
    }

    /// The same network with `channels` output channels (its last transposed convolution or
    /// dense layer changed), e.g. 1 for grayscale data with a preset made for RGB.
    pub fn with_output_channels(&self, channels: usize) -> Result<Spec> {
        let mut s = self.clone();
        match s
            .layers
            .iter_mut()
            .rev()
            .find(|l| !matches!(l, Layer::Tanh | Layer::Sigmoid | Layer::Relu | Layer::LeakyRelu { .. }))
        {
            Some(Layer::ConvTranspose2d { channels: c, .. }) | Some(Layer::ConvTranspose1d { channels: c, .. }) => {
                *c = channels
            }
            _ => bail!("the network does not end in a transposed convolution: cannot change its output channels"),
        }
        s.shapes()?;
        Ok(s)
    }

    /// The range of the outputs: [0, 1] when the last layer is a sigmoid.
    pub fn range(&self) -> Range {
        match self.layers.last() {
            Some(Layer::Sigmoid) => Range::Unit,
            _ => Range::Symmetric,
        }
    }

    pub fn latent_dim(&self) -> usize {
        self.latent.iter().product()
    }
}

/// An encoder's heads: one per level 1..=`top`, and the last layer a head (its output is the
/// head row).
fn check_heads(layers: &[Layer], top: usize) -> Result<()> {
    let mut user: Vec<Option<usize>> = vec![None; top];
    let mut any = false;
    for (i, l) in layers.iter().enumerate() {
        let Layer::Head { level } = *l else { continue };
        any = true;
        if level == 0 || level > top {
            bail!("model spec: encoder layer {i} (head) is of level {level}, but the levels are 1..={top}");
        }
        if let Some(j) = user[level - 1] {
            bail!("model spec: encoder layer {i} (head) is of level {level}, which encoder layer {j} already has: each level has exactly one head");
        }
        user[level - 1] = Some(i);
    }
    if !any {
        return Ok(());
    }
    if let Some(k) = user.iter().position(|u| u.is_none()) {
        bail!(
            "model spec: level {} (of {top}) has no head in the encoder: an encoder with heads needs one per level",
            k + 1
        );
    }
    if !matches!(layers.last(), Some(Layer::Head { .. })) {
        bail!(
            "model spec: encoder layer {} ({}) comes after the last head: an encoder with heads ends in a head (its output is the heads' row [2 D])",
            layers.len() - 1,
            layers.last().unwrap().name()
        );
    }
    Ok(())
}
