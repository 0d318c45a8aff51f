//! Latent dynamics of a dynamic texture (the ABP paper's Experiment 4): the frames Y_t of a
//! clip are learned as independent examples, then their inferred Z_t are treated as a time
//! series with
//!
//! Z_{t+1} - m = A (Z_t - m) + eta_t,   eta_t ~ N(0, Q),
//!
//! fitted by least squares (nalgebra's SVD) as Doretto et al. (2003) fit their linear dynamic
//! system; m is the mean of the Z_t (zero for the ABP prior's Z up to what training left). The
//! same fit on the PCA coefficients of the frames is Doretto's linear dynamic system (LDS), the
//! baseline: y_t = mean frame + C x_t with C the first d principal directions ([`Lds`]; the PCA
//! itself is `eval::pca`, above this module).
//!
//! The states ABP's dynamics are fitted on are, by default, not the persistent chains' last
//! states (the checkpoint's `z`: posterior samples, each with its own Langevin noise, so that
//! the noise rather than the clip's motion dominates the small differences between frames) but
//! each frame's Z inferred anew with W fixed by noiseless Langevin steps (gradient descent on
//! the posterior) from one common start, Z = 0 ([`StateInference`], [`infer_states`]): the
//! same frame always gives the same state and nearby frames nearby ones. `--states chains`
//! fits the chains' states as they are.
//!
//! A synthesized sequence starts from Z_0 ~ N(m, S) (S: the covariance of the fitted states;
//! about I for ABP's Z) and follows the dynamics with innovations drawn from
//! `seed.rng_at(Stream::Dynamics, tile)` (`Stream::LdsDynamics` for the baseline) on the CPU;
//! the first `burn_in` states are discarded. Covariances are factored by their symmetric
//! eigendecomposition (a PSD square root), so singular ones (fewer states than d, a direction
//! the fit explains exactly) work. A fully convolutional model renders larger frames from a
//! larger latent map: the map is tiled with blocks of the training latent's size, each block
//! an independent sequence of the fitted dynamics ([`Linear::simulate_tiles`],
//! [`tile_states`]). Everything is in f64 on the CPU: d is 10 to 100.

use crate::seed::{Seed, Stream};
use anyhow::{bail, Context, Result};
use nalgebra::{DMatrix, DVector};
use rand::Rng;
use rand_distr::StandardNormal;

/// A spectral radius at which sequences neither die out nor blow up quickly: `--stabilize`
/// scales A to it.
pub const STABLE_RADIUS: f64 = 0.99;

/// Linear Gaussian dynamics of d-dimensional states.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    /// The states' mean m, \[d\].
    pub mean: DVector<f64>,
    /// The transition matrix A, d x d.
    pub a: DMatrix<f64>,
    /// The innovations' covariance Q, d x d.
    pub q: DMatrix<f64>,
    /// The covariance S of the fitted states (Z_0 ~ N(m, S)), d x d.
    pub cov: DMatrix<f64>,
    pub info: FitInfo,
}

/// What a fit reports (stored in the checkpoint's metadata as JSON).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitInfo {
    /// State dimension d.
    pub d: usize,
    /// States the fit saw (T; T - 1 transitions).
    pub states: usize,
    /// The relative residual of the fit: sum |Z_{t+1} - m - A (Z_t - m)|^2 over
    /// sum |Z_{t+1} - m|^2 (0: the states follow A exactly; 1: A explains nothing).
    pub residual: f64,
    /// A's spectral radius as fitted.
    pub fitted_radius: f64,
    /// A's spectral radius now (after `--stabilize`).
    pub radius: f64,
    /// Whether A was scaled to radius [`STABLE_RADIUS`].
    pub stabilized: bool,
    /// How ABP's states were obtained: inferred anew with W fixed (these settings), or the
    /// chains' last states (`None`; also the LDS's PCA coefficients).
    #[serde(default)]
    pub inferred: Option<StateInference>,
}

/// Inference of a frame's state for the dynamics: `steps` noiseless Langevin steps of size
/// `delta` (gradient descent on the posterior, the model's s) from Z = 0 with W fixed, batch
/// norms on the population statistics (each frame's state depends on that frame alone).
/// `delta` None: the model's own Langevin step size D (D^2 / s^2 as it was trained with).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StateInference {
    pub steps: usize,
    pub delta: Option<f32>,
}

impl Default for StateInference {
    fn default() -> Self {
        StateInference {
            steps: 300,
            delta: None,
        }
    }
}

impl StateInference {
    /// The step size for a model trained with Langevin step size `model_delta`.
    pub fn delta_for(self, model_delta: f32) -> f32 {
        self.delta.unwrap_or(model_delta)
    }

    /// These settings with the step size for such a model filled in (what a fit records).
    pub fn with_model_delta(self, model_delta: f32) -> StateInference {
        StateInference {
            delta: Some(self.delta_for(model_delta)),
            ..self
        }
    }
}

/// Where the states of ABP's dynamics come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum States {
    /// Each frame's Z inferred anew ([`StateInference`]).
    Inferred(StateInference),
    /// The persistent chains' last states (the checkpoint's `z`).
    Chains,
}

/// What the states come from, as a command-line choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StateSource {
    /// Each frame's Z inferred anew with W fixed, noiselessly from Z = 0.
    Inferred,
    /// The persistent chains' last states (the checkpoint's `z`).
    Chains,
}

/// The states' flags of `dynamics fit` and `eval dynamic`.
#[derive(clap::Args, Clone, Debug)]
pub struct StateArgs {
    /// The states ABP's dynamics are fitted on: each frame's Z inferred anew with W fixed
    /// (noiseless Langevin steps from Z = 0: the same frame gives the same state), or the
    /// persistent chains' last states.
    #[arg(long, value_enum, default_value_t = StateSource::Inferred)]
    pub states: StateSource,
    /// Noiseless Langevin steps inferring a frame's state with W fixed.
    #[arg(long, default_value_t = StateInference::default().steps)]
    pub infer_steps: usize,
    /// Step size of that inference (default: the model's Langevin step size D).
    #[arg(long)]
    pub infer_delta: Option<f32>,
}

impl StateArgs {
    /// The choice, checked.
    pub fn states(&self) -> Result<States> {
        if self.infer_steps == 0 || self.infer_delta.is_some_and(|d| !(d > 0.0 && d.is_finite())) {
            bail!("--infer-steps and --infer-delta must be positive");
        }
        Ok(match self.states {
            StateSource::Chains => States::Chains,
            StateSource::Inferred => States::Inferred(self.inference()),
        })
    }

    /// The inference of held-out frames' states (`eval dynamic`), whatever `--states` says.
    pub fn inference(&self) -> StateInference {
        StateInference {
            steps: self.infer_steps,
            delta: self.infer_delta,
        }
    }
}

/// The states of `frames` ([n, c, h, w], in time order) inferred as `inference` says, for a
/// model trained with `hyper` (its s, and its D unless `inference` gives one):
/// their Z ([n, latent...]) and the reconstruction f(Z). One common start (Z = 0) and no noise,
/// so that the same frame gives the same state.
pub fn infer_states(
    gpu: &crate::gpu::Gpu,
    spec: &crate::model::Spec,
    params: &crate::model::HostParams,
    pop: &crate::model::Population,
    hyper: &super::config::Hyper,
    frames: &crate::data::Dataset,
    inference: StateInference,
) -> Result<super::reconstruct::Reconstruction> {
    use super::reconstruct::{reconstruct, ReconstructOptions};
    let start = vec![0f32; frames.len() * spec.latent_dim()];
    let o = ReconstructOptions {
        steps: inference.steps,
        delta: inference.delta_for(hyper.delta),
        sigma: hyper.sigma,
        noise: false,
        batch: super::synthesis::chunk_for(spec)?.min(frames.len().max(1)),
        norm: crate::model::Norm::Population(pop),
        start: Some(&start),
        ..Default::default()
    };
    reconstruct(gpu, spec, params, frames, &super::observe::Observation::Full, &o)
        .context("inferring the frames' states")
}

/// A square root L (L L^T = m) of a symmetric positive semi-definite matrix from its
/// eigendecomposition; eigenvalues below zero by rounding (down to -1e-5 times the largest)
/// count as zero.
pub fn sqrt_psd(m: &DMatrix<f64>, what: &str) -> Result<DMatrix<f64>> {
    let e = ((m + m.transpose()) * 0.5).symmetric_eigen();
    let top = e.eigenvalues.iter().fold(0.0f64, |a, &l| a.max(l.abs()));
    // Checkpoints hold covariances in f32: eigenvalues of zero come back as small negative
    // ones of about f32's rounding times the largest.
    if let Some(l) = e.eigenvalues.iter().find(|&&l| l < -1e-5 * top || !l.is_finite()) {
        bail!("the {what} covariance is not positive semi-definite (eigenvalue {l:.3e}, the largest {top:.3e})");
    }
    let roots = e.eigenvalues.map(|l| l.max(0.0).sqrt());
    Ok(&e.eigenvectors * DMatrix::from_diagonal(&roots))
}

/// The largest |eigenvalue| of a square matrix (nalgebra's Schur decomposition).
pub fn spectral_radius(a: &DMatrix<f64>) -> f64 {
    a.complex_eigenvalues().iter().map(|l| l.norm()).fold(0.0, f64::max)
}

impl Linear {
    /// Fits the dynamics of `states` ([t, d] row-major, in time order) by least squares:
    /// A = argmin sum_t |x_{t+1} - A x_t|^2 over the centred states (SVD solve, the minimum-norm
    /// solution when the transitions do not determine A), Q the covariance of the residuals.
    pub fn fit(states: &[f64], d: usize) -> Result<Linear> {
        if d == 0 || !states.len().is_multiple_of(d) {
            bail!("{} state values are not a whole number of states of {d}", states.len());
        }
        let t = states.len() / d;
        if t < 3 {
            bail!("fitting dynamics needs at least 3 states in time order, {t} given");
        }
        if let Some(i) = states.iter().position(|v| !v.is_finite()) {
            bail!("state {} holds {} (value {})", i / d, states[i], i % d);
        }
        let x = DMatrix::<f64>::from_fn(d, t, |r, c| states[c * d + r]);
        let mean = x.column_mean();
        let xc = DMatrix::from_fn(d, t, |r, c| x[(r, c)] - mean[r]);
        let x0 = xc.columns(0, t - 1).into_owned();
        let x1 = xc.columns(1, t - 1).into_owned();
        // A x0 = x1  <=>  x0^T A^T = x1^T.
        let svd = x0.transpose().svd(true, true);
        let tol = svd.singular_values.max() * 1e-10 * (t as f64);
        let at = svd
            .solve(&x1.transpose(), tol)
            .map_err(|e| anyhow::anyhow!("least squares for A: {e}"))?;
        let a = at.transpose();
        let cov = &xc * xc.transpose() / t as f64;
        let mut lin = Linear {
            mean,
            q: DMatrix::zeros(d, d),
            a,
            cov,
            info: FitInfo {
                d,
                states: t,
                residual: 0.0,
                fitted_radius: 0.0,
                radius: 0.0,
                stabilized: false,
                inferred: None,
            },
        };
        lin.refit_noise(&x0, &x1);
        lin.info.fitted_radius = lin.info.radius;
        Ok(lin)
    }

    /// Q, the residual and the radius for the current A.
    fn refit_noise(&mut self, x0: &DMatrix<f64>, x1: &DMatrix<f64>) {
        let e = x1 - &self.a * x0;
        let n = x0.ncols() as f64;
        self.q = &e * e.transpose() / n;
        self.info.residual = e.norm_squared() / x1.norm_squared().max(1e-300);
        self.info.radius = spectral_radius(&self.a);
    }

    /// Scales A to spectral radius [`STABLE_RADIUS`] when it is larger (and Q to the
    /// residuals of the scaled A on `states`, the states it was fitted on). Returns whether it
    /// changed A.
    pub fn stabilize(&mut self, states: &[f64]) -> bool {
        let r = spectral_radius(&self.a);
        if r <= STABLE_RADIUS {
            return false;
        }
        self.a *= STABLE_RADIUS / r;
        let d = self.info.d;
        let t = states.len() / d;
        let xc = DMatrix::<f64>::from_fn(d, t, |r, c| states[c * d + r] - self.mean[r]);
        let (x0, x1) = (xc.columns(0, t - 1).into_owned(), xc.columns(1, t - 1).into_owned());
        self.refit_noise(&x0, &x1);
        self.info.stabilized = true;
        true
    }

    /// The one-step prediction m + A (z - m) of each state of `states` ([n, d]).
    pub fn predict(&self, states: &[f64]) -> Vec<f64> {
        let d = self.info.d;
        states
            .chunks(d)
            .flat_map(|z| {
                let v = DVector::from_fn(d, |i, _| z[i] - self.mean[i]);
                let p = &self.a * v + &self.mean;
                p.iter().copied().collect::<Vec<_>>()
            })
            .collect()
    }

    /// A sequence of `frames` states ([frames, d]) after `burn_in` discarded ones: Z_0 ~ N(m, S),
    /// then the dynamics, every draw from `seed`'s `stream` (its item 0).
    pub fn simulate(&self, frames: usize, burn_in: usize, seed: Seed, stream: Stream) -> Result<Vec<f64>> {
        self.simulate_tiles(frames, burn_in, seed, stream, 1)
    }

    /// `tiles` independent sequences of `frames` states each ([frames, tiles, d]: frame by frame,
    /// the tiles' states in order), tile k's draws from item k of `seed`'s `stream`, so that
    /// tile k is the same sequence whatever the number of tiles.
    pub fn simulate_tiles(
        &self,
        frames: usize,
        burn_in: usize,
        seed: Seed,
        stream: Stream,
        tiles: usize,
    ) -> Result<Vec<f64>> {
        let d = self.info.d;
        let (ls, lq) = (sqrt_psd(&self.cov, "state")?, sqrt_psd(&self.q, "innovation")?);
        let mut out = vec![0.0; frames * tiles * d];
        for tile in 0..tiles {
            let mut rng = seed.rng_at(stream, tile as u64);
            let mut draw = |l: &DMatrix<f64>| -> DVector<f64> {
                let e = DVector::from_fn(d, |_, _| rng.sample::<f64, _>(StandardNormal));
                l * e
            };
            let mut z = draw(&ls);
            for k in 0..burn_in + frames {
                if k > 0 {
                    z = &self.a * z + draw(&lq);
                }
                if k >= burn_in {
                    let at = ((k - burn_in) * tiles + tile) * d;
                    for (o, (v, m)) in out[at..at + d].iter_mut().zip(z.iter().zip(self.mean.iter())) {
                        *o = v + m;
                    }
                }
            }
        }
        if out.iter().any(|v| !v.is_finite()) {
            bail!(
                "the synthesized states overflowed: A's spectral radius is {:.4}; refit with `abprop dynamics fit --stabilize`",
                self.info.radius
            );
        }
        Ok(out)
    }

    /// Says so when A makes sequences diverge.
    pub fn warning(&self, what: &str) -> Option<String> {
        (self.info.radius >= 1.0 && !self.info.stabilized).then(|| {
            format!(
                "{what}: A's spectral radius is {:.4} >= 1, so synthesized sequences diverge; `abprop dynamics fit --stabilize` scales A to radius {STABLE_RADIUS}",
                self.info.radius
            )
        })
    }
}

/// Doretto's linear dynamic system: y_t = mean + C x_t with C's columns the first d principal
/// directions of the frames and x_t following [`Linear`] dynamics.
#[derive(Clone, Debug, PartialEq)]
pub struct Lds {
    /// The mean frame, [c * h * w].
    pub frame_mean: Vec<f64>,
    /// C: the d principal directions as columns, [c * h * w, d].
    pub basis: DMatrix<f64>,
    pub dynamics: Linear,
}

impl Lds {
    /// The PCA coefficients C^T (y - mean) of `frames` ([n, c * h * w]), [n, d].
    pub fn project(&self, frames: &[f32]) -> Vec<f64> {
        Lds::coefficients(&self.frame_mean, &self.basis, frames)
    }

    /// C^T (y - mean) of `frames` ([n, dim]) for a basis C ([dim, d]), [n, d].
    pub fn coefficients(mean: &[f64], basis: &DMatrix<f64>, frames: &[f32]) -> Vec<f64> {
        let dim = mean.len();
        let n = frames.len() / dim;
        let y = DMatrix::<f64>::from_fn(dim, n, |j, i| frames[i * dim + j] as f64 - mean[j]);
        let x = basis.transpose() * y;
        (0..n)
            .flat_map(|i| x.column(i).iter().copied().collect::<Vec<_>>())
            .collect()
    }

    /// The frames mean + C x of `states` ([n, d]), [n, c * h * w].
    pub fn render(&self, states: &[f64]) -> Vec<f32> {
        let d = self.basis.ncols();
        let n = states.len() / d;
        let x = DMatrix::<f64>::from_fn(d, n, |r, c| states[c * d + r]);
        let y = &self.basis * x;
        (0..n)
            .flat_map(|i| {
                y.column(i)
                    .iter()
                    .zip(&self.frame_mean)
                    .map(|(v, m)| (v + m) as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// The fitted dynamics a checkpoint holds: ABP's on the frames' states, and the LDS baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Dynamics {
    pub abp: Linear,
    pub lds: Option<Lds>,
    /// The states ABP's dynamics were fitted on, [frames, d] in time order.
    pub states: Vec<f64>,
}

/// How many tiles of a model's latent map `latent` ([c, h, w]) make the larger map `big`
/// ([c, H, W], H and W multiples of h and w): (H / h, W / w).
pub fn tiles_of(latent: [usize; 3], big: [usize; 3]) -> Result<[usize; 2]> {
    let [c, h, w] = latent;
    let [bc, bh, bw] = big;
    if bc != c || bh == 0 || bw == 0 || bh % h != 0 || bw % w != 0 {
        bail!(
            "a sequence on a {bh}x{bw} latent map is made of tiles of the model's {h}x{w} map, each following the fitted dynamics: give a multiple of {h}x{w}"
        );
    }
    Ok([bh / h, bw / w])
}

/// Lays the states of [`Linear::simulate_tiles`] ([frames, tiles, c * h * w], tiles in row
/// order) out as latent maps [frames, c, H, W] of `big`, tile (i, j) at rows i h.. and
/// columns j w...
pub fn tile_states(states: &[f64], latent: [usize; 3], big: [usize; 3]) -> Result<Vec<f64>> {
    let [ty, tx] = tiles_of(latent, big)?;
    let [c, h, w] = latent;
    let (bh, bw) = (big[1], big[2]);
    let d = c * h * w;
    let frames = states.len() / (ty * tx * d);
    let mut out = vec![0.0; frames * c * bh * bw];
    for f in 0..frames {
        for (k, tile) in states[f * ty * tx * d..(f + 1) * ty * tx * d].chunks(d).enumerate() {
            let (i, j) = (k / tx, k % tx);
            for ch in 0..c {
                for y in 0..h {
                    let src = &tile[(ch * h + y) * w..(ch * h + y + 1) * w];
                    let at = ((f * c + ch) * bh + i * h + y) * bw + j * w;
                    out[at..at + w].copy_from_slice(src);
                }
            }
        }
    }
    Ok(out)
}

/// Which frames of a sequence of `frames` a strip shows: every `every`-th (default: ten frames).
pub fn strip_frames(frames: usize, every: Option<usize>) -> Vec<usize> {
    let k = every.unwrap_or((frames / 10).max(1)).max(1);
    (0..frames).step_by(k).collect()
}

/// Writes a synthesized sequence in `dir`: `frames/NNNN.png`, `sequence.gif` (`fps` frames a
/// second), `strip.png` (the frames `strip`, in one row) and `latents.safetensors` (tensor `z`,
/// the states [frames, latent...], `latent` the shape of one state).
pub fn write_sequence(
    dir: &std::path::Path,
    x: &[f32],
    shape: crate::model::Shape,
    states: &[f64],
    latent: &[usize],
    strip: &[usize],
    fps: u32,
) -> Result<()> {
    use crate::io::media;
    use anyhow::Context;
    let [c, h, w] = shape;
    let per = c * h * w;
    let n = x.len() / per;
    let fdir = dir.join("frames");
    std::fs::create_dir_all(&fdir).with_context(|| format!("cannot create {}", fdir.display()))?;
    for k in 0..n {
        media::write_png(&fdir.join(format!("{k:04}.png")), &x[k * per..(k + 1) * per], c, h, w)?;
    }
    media::write_gif(&dir.join("sequence.gif"), x, n, c, h, w, 1000 / fps.max(1))?;
    let row: Vec<f32> = strip.iter().flat_map(|&k| x[k * per..(k + 1) * per].to_vec()).collect();
    media::write_grid(&dir.join("strip.png"), &row, strip.len(), c, h, w, strip.len())?;
    let mut shape_z = vec![n];
    shape_z.extend_from_slice(latent);
    let mut tensors = std::collections::BTreeMap::new();
    tensors.insert(
        "z".to_string(),
        crate::io::checkpoint::HostTensor::F32(shape_z, states.iter().map(|&v| v as f32).collect()),
    );
    crate::io::checkpoint::Checkpoint {
        tensors,
        metadata: Default::default(),
    }
    .save(&dir.join("latents.safetensors"))
}
