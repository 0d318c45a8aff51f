//! Hamiltonian Monte Carlo on the latent factors (shaders/hmc.wgsl): the kernels of one
//! transition per example, all on the GPU, with nothing read back.
//!
//! The target of example b is p(z | y) ∝ exp(-U(z)) with
//! `U(z) = sse / (2 s^2) + |z|^2 / 2`, where `sse` is the example's squared error over its
//! observed values as `ops::loss::residual` writes it (not divided by s^2), and the latent
//! gradient `g = J^T (y - f) / s^2` that back-propagation leaves gives `-dU/dz = g - z`.
//! `H(z, p) = U(z) + |p|^2 / 2`. A transition with K leapfrog steps of size `eps` is
//!
//! ```text
//! begin                      p ~ N(0, I), z0 = z
//! evaluate at z              (forward, residual, back-propagation to z: sse and g)
//! energy                     h0 = H(z0, p)
//! K x [ leap                 p += a (g - z); z += eps p   (a = eps / 2, then eps)
//!       evaluate at z ]
//! accept                     H1 with the last half kick p + (eps / 2) (g - z); accept with
//!                            probability min(1, exp(h0 - H1)), else z = z0
//! ```
//!
//! The momenta of global latent element `e = index_offset + i` are the N(0, 1) samples of the
//! momentum key at counter `(e / 4, step[0], 0, 0)` (as `ops::philox`); the uniform of global
//! example `x = example_offset + b` is word `x % 4` of Philox at counter `(x / 4, step[0], 0, 0)`
//! with the accept key, mapped by `philox::cpu::uniform_open`. Neither depends on how examples
//! are batched. The accepted transitions of each example are counted (f32) in `accepted`,
//! which `clear` zeroes.

use crate::gpu::{grid, Gpu, Op, Params, Tensor};
use anyhow::{ensure, Result};

/// The per-batch state of the sampler: the momenta and the saved start `z0` ([batch * d]),
/// the start's Hamiltonian `h0` and the accepted count of each example ([batch]).
pub struct State {
    pub batch: usize,
    pub d: usize,
    pub p: Tensor,
    pub z0: Tensor,
    pub h0: Tensor,
    pub accepted: Tensor,
}

impl State {
    pub fn new(gpu: &Gpu, batch: usize, d: usize) -> Result<State> {
        ensure!(batch > 0 && d > 0, "hmc: empty shape [{batch}, {d}]");
        ensure!(
            batch * d + 8 < u32::MAX as usize,
            "hmc: [{batch}, {d}] latent values exceed 32-bit indices"
        );
        Ok(State {
            batch,
            d,
            p: gpu.zeros("hmc momentum", &[batch, d])?,
            z0: gpu.zeros("hmc start", &[batch, d])?,
            h0: gpu.zeros("hmc start energy", &[batch])?,
            accepted: gpu.zeros("hmc accepted", &[batch])?,
        })
    }

    fn n(&self) -> usize {
        self.batch * self.d
    }

    fn check(&self, what: &str, z: &Tensor, g: Option<&Tensor>, sse: Option<&Tensor>) -> Result<()> {
        let n = self.n();
        ensure!(
            z.len() >= n,
            "hmc::{what}: z {:?} holds fewer than [{}, {}]",
            z.shape,
            self.batch,
            self.d
        );
        if let Some(g) = g {
            ensure!(g.len() >= n, "hmc::{what}: g {:?} holds fewer than z", g.shape);
        }
        if let Some(s) = sse {
            ensure!(
                s.len() >= self.batch,
                "hmc::{what}: sse {:?} holds fewer than {} values",
                s.shape,
                self.batch
            );
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn params(&self, a: f32, eps: f32, sigma: f32, key: [u32; 2], index_offset: u32, example_offset: u32) -> Params {
        let n = self.n();
        Params::new()
            .u(n)
            .u(n.div_ceil(4))
            .u(self.d)
            .u(self.batch)
            .f(a)
            .f(eps)
            .f(1.0 / (2.0 * sigma * sigma))
            .u(key[0] as usize)
            .u(key[1] as usize)
            .u(index_offset as usize)
            .u(example_offset as usize)
    }

    /// The buffers in binding order (1..8): step, z, g, p, z0, sse, h0, accepted.
    fn buffers<'a>(&'a self, step: &'a Tensor, z: &'a Tensor, g: &'a Tensor, sse: &'a Tensor) -> [&'a wgpu::Buffer; 8] {
        [
            &step.buffer,
            &z.buffer,
            &g.buffer,
            &self.p.buffer,
            &self.z0.buffer,
            &sse.buffer,
            &self.h0.buffer,
            &self.accepted.buffer,
        ]
    }
}

/// `p <- N(0, I)` (the momentum key, elements from `index_offset`, at `step[0]`) and `z0 <- z`.
pub fn begin(gpu: &Gpu, s: &State, z: &Tensor, step: &Tensor, key: [u32; 2], index_offset: u32) -> Result<Op> {
    s.check("begin", z, None, None)?;
    ensure!(!step.is_empty(), "hmc::begin: the step tensor is empty");
    ensure!(
        index_offset as u64 + s.n() as u64 + 8 <= u32::MAX as u64,
        "hmc::begin: element indices {index_offset} + {} exceed 32 bits",
        s.n()
    );
    let n = s.n();
    let prm = s.params(0.0, 0.0, 1.0, key, index_offset, 0);
    let d = gpu.elementwise(
        "hmc",
        "begin",
        &[super::philox::aligned(index_offset)],
        &prm,
        &s.buffers(step, z, z, z),
        n.div_ceil(4),
    )?;
    let nf = n as f64;
    Ok(d.with_cost(nf * 80.0, nf * 12.0).into())
}

/// One kick and drift: `p <- p + a (g - z)`, then `z <- z + eps p`.
pub fn leap(gpu: &Gpu, s: &State, z: &Tensor, g: &Tensor, a: f32, eps: f32) -> Result<Op> {
    s.check("leap", z, Some(g), None)?;
    let n = s.n();
    let prm = s.params(a, eps, 1.0, [0, 0], 0, 0);
    // `leap` reads neither step, sse, z0, h0 nor accepted: any buffer fills their slots.
    let d = gpu.elementwise("hmc", "leap", &[], &prm, &s.buffers(z, z, g, z), n.div_ceil(4))?;
    let nf = n as f64;
    Ok(d.with_cost(nf * 5.0, nf * 20.0).into())
}

/// `h0[b] = sse[b] / (2 sigma^2) + (|z_b|^2 + |p_b|^2) / 2` for every example b.
pub fn energy(gpu: &Gpu, s: &State, z: &Tensor, g: &Tensor, sse: &Tensor, sigma: f32) -> Result<Op> {
    s.check("energy", z, Some(g), Some(sse))?;
    ensure!(
        sigma > 0.0 && sigma.is_finite(),
        "hmc::energy: sigma {sigma} must be positive"
    );
    let prm = s.params(0.0, 0.0, sigma, [0, 0], 0, 0);
    let d = gpu.dispatch(
        "hmc",
        "energy",
        &[],
        Some(&prm),
        &s.buffers(z, z, g, sse),
        grid(s.batch as u32),
    )?;
    let nf = s.n() as f64;
    Ok(d.with_cost(nf * 6.0, nf * 12.0).into())
}

/// The accept/reject of every example: `H1 = sse / (2 sigma^2) + (|z|^2 + |p + a (g - z)|^2) / 2`
/// (a: the last half kick, eps / 2, or 0 after no leapfrog step), accept when
/// `ln u < h0 - H1` for the example's uniform u (the accept key, at `step[0]`), counting it in
/// `accepted`; else `z <- z0`.
#[allow(clippy::too_many_arguments)]
pub fn accept(
    gpu: &Gpu,
    s: &State,
    z: &Tensor,
    g: &Tensor,
    sse: &Tensor,
    step: &Tensor,
    sigma: f32,
    a: f32,
    key: [u32; 2],
    example_offset: u32,
) -> Result<Op> {
    s.check("accept", z, Some(g), Some(sse))?;
    ensure!(!step.is_empty(), "hmc::accept: the step tensor is empty");
    ensure!(
        sigma > 0.0 && sigma.is_finite(),
        "hmc::accept: sigma {sigma} must be positive"
    );
    ensure!(
        example_offset as u64 + s.batch as u64 + 8 <= u32::MAX as u64,
        "hmc::accept: example indices {example_offset} + {} exceed 32 bits",
        s.batch
    );
    let prm = s.params(a, 0.0, sigma, key, 0, example_offset);
    let d = gpu.dispatch(
        "hmc",
        "accept",
        &[],
        Some(&prm),
        &s.buffers(step, z, g, sse),
        grid(s.batch as u32),
    )?;
    let nf = s.n() as f64;
    Ok(d.with_cost(nf * 8.0 + s.batch as f64 * 200.0, nf * 20.0).into())
}

/// `accepted <- 0`.
pub fn clear(gpu: &Gpu, s: &State) -> Result<Op> {
    let prm = s.params(0.0, 0.0, 1.0, [0, 0], 0, 0);
    let t = &s.accepted;
    let d = gpu.dispatch(
        "hmc",
        "clear",
        &[],
        Some(&prm),
        &s.buffers(t, t, t, t),
        grid((s.batch as u32).div_ceil(64)),
    )?;
    Ok(d.with_cost(0.0, s.batch as f64 * 4.0).into())
}

/// The plain-Rust twin, kernel by kernel, and a whole transition.
pub mod cpu {
    use crate::ops::philox::cpu::{ln, normal, philox4x32_10, uniform_open};

    /// `(p, z0)` of [`super::begin`].
    pub fn begin(z: &[f32], key: [u32; 2], step: u32, index_offset: u32) -> (Vec<f32>, Vec<f32>) {
        (normal(z.len(), key, step, index_offset), z.to_vec())
    }

    /// [`super::leap`] in place.
    pub fn leap(z: &mut [f32], p: &mut [f32], g: &[f32], a: f32, eps: f32) {
        for ((zi, pi), &gi) in z.iter_mut().zip(p.iter_mut()).zip(g) {
            *pi += a * (gi - *zi);
            *zi += eps * *pi;
        }
    }

    /// `H` of every example with the momentum `p + a (g - z)` (f64 sums).
    pub fn hamiltonian(z: &[f32], p: &[f32], g: &[f32], a: f32, sse: &[f32], d: usize, sigma: f32) -> Vec<f32> {
        sse.iter()
            .enumerate()
            .map(|(b, &s)| {
                let mut acc = 0f64;
                for j in b * d..(b + 1) * d {
                    let pj = p[j] + a * (g[j] - z[j]);
                    acc += z[j] as f64 * z[j] as f64 + pj as f64 * pj as f64;
                }
                (s as f64 / (2.0 * sigma as f64 * sigma as f64) + 0.5 * acc) as f32
            })
            .collect()
    }

    /// The accept uniform of global example `x` at `step`.
    pub fn uniform_at(key: [u32; 2], step: u32, x: u32) -> f32 {
        uniform_open(philox4x32_10([x / 4, step, 0, 0], key)[(x % 4) as usize])
    }

    /// [`super::accept`] in place: whether each example accepted (and `accepted` counted it).
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        z: &mut [f32],
        z0: &[f32],
        h1: &[f32],
        h0: &[f32],
        accepted: &mut [f32],
        d: usize,
        key: [u32; 2],
        step: u32,
        example_offset: u32,
    ) -> Vec<bool> {
        (0..h0.len())
            .map(|b| {
                let u = uniform_at(key, step, example_offset + b as u32);
                let yes = ln(u) < h0[b] - h1[b];
                if yes {
                    accepted[b] += 1.0;
                } else {
                    z[b * d..(b + 1) * d].copy_from_slice(&z0[b * d..(b + 1) * d]);
                }
                yes
            })
            .collect()
    }

    /// A CPU model: z -> (g, sse) of every example.
    pub type Eval<'a> = dyn FnMut(&[f32]) -> (Vec<f32>, Vec<f32>) + 'a;

    /// What one transition computes, for a CPU model: `eval(z)` gives `(g, sse)` of every
    /// example (the latent gradient J^T (y - f) / s^2 and the squared errors). Returns, per
    /// example, `(h0 - h1, u)` of the decision (the GPU decides `ln u < h0 - h1`).
    #[allow(clippy::too_many_arguments)]
    pub fn transition(
        z: &mut [f32],
        accepted: &mut [f32],
        d: usize,
        sigma: f32,
        eps: f32,
        leapfrog: usize,
        keys: ([u32; 2], [u32; 2]),
        step: u32,
        index_offset: u32,
        eval: &mut Eval,
    ) -> Vec<(f32, f32)> {
        let batch = z.len() / d;
        let (mut p, z0) = begin(z, keys.0, step, index_offset);
        let (mut g, mut sse) = eval(z);
        let h0 = hamiltonian(z, &p, &g, 0.0, &sse, d, sigma);
        for k in 0..leapfrog {
            leap(z, &mut p, &g, if k == 0 { eps / 2.0 } else { eps }, eps);
            (g, sse) = eval(z);
        }
        let a = if leapfrog > 0 { eps / 2.0 } else { 0.0 };
        let h1 = hamiltonian(z, &p, &g, a, &sse, d, sigma);
        let example_offset = index_offset / d as u32;
        accept(z, &z0, &h1, &h0, accepted, d, keys.1, step, example_offset);
        (0..batch)
            .map(|b| (h0[b] - h1[b], uniform_at(keys.1, step, example_offset + b as u32)))
            .collect()
    }
}
