//! Optimizers, in place on the GPU (shaders/optim.wgsl): SGD with momentum, Adam and Adamax,
//! with gradient scaling, clipping and L2 weight decay inside the step.
//!
//! Per element, in order:
//! 1. `ge = grad_scale * grad` (e.g. `grad_scale = -1 / batch` turns a summed log-likelihood
//!    gradient into an averaged loss gradient);
//! 2. clipping ([`Clip`]): `Value(c)` clamps each element to `[-c, c]`; `MaxAbs(c)` rescales the
//!    whole gradient by `c / M` when `M = max|ge| > c` (M from `reduce::max_abs` on the GPU);
//! 3. `ge += weight_decay * w`;
//! 4. SGD: `vel = momentum * vel + ge; w -= lr * vel` (PyTorch's form; MatConvNet's
//!    `vel = momentum * vel - lr * ge; w += vel` is the same for a constant lr).
//!    Adam: `m = b1 m + (1 - b1) ge; v = b2 v + (1 - b2) ge^2;
//!    w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`, t counting from 1.
//!    Adamax (Kingma and Ba's infinity-norm Adam, as PyTorch's): `m = b1 m + (1 - b1) ge;
//!    u = max(b2 u, |ge| + eps); w -= lr / (1 - b1^t) * m / u` (u kept in the state's `v`).
//!
//! The step count and Adam's powers `b1^t`, `b2^t` live on the GPU in [`OptimState::step`]
//! and are advanced by a dispatch at the end of each step's op, so a training loop records the
//! same op again and again with no CPU writes. All state tensors are public, for checkpoints.

use crate::gpu::{Gpu, Op, Params, Tensor};
use crate::ops::reduce;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Optimizer {
    Sgd {
        lr: f32,
        momentum: f32,
        weight_decay: f32,
    },
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
    /// Adam with the infinity norm (the HiABP paper's optimizer, learning rate 3e-4 there).
    Adamax {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
}

impl Optimizer {
    /// (lr, beta1 or momentum, beta2, eps, weight decay); the betas SGD's advance multiplies by.
    fn scalars(&self) -> (f32, f32, f32, f32, f32, (f32, f32)) {
        match *self {
            Optimizer::Sgd {
                lr,
                momentum,
                weight_decay,
            } => (lr, momentum, 0.0, 0.0, weight_decay, (1.0, 1.0)),
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => (lr, beta1, beta2, eps, weight_decay, (beta1, beta2)),
            // u needs no bias correction: only b1^t advances.
            Optimizer::Adamax {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => (lr, beta1, beta2, eps, weight_decay, (beta1, 1.0)),
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        self.scalars().0
    }

    /// Whether the state has a second tensor (Adam's v, Adamax's u).
    fn second_moment(&self) -> bool {
        !matches!(self, Optimizer::Sgd { .. })
    }
}

/// Gradient clipping, applied after `grad_scale`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clip {
    None,
    /// Clamp each element to [-c, c].
    Value(f32),
    /// Rescale the whole gradient by c / max|g| when max|g| > c.
    MaxAbs(f32),
}

impl Default for Clip {
    /// `Value(30)`, as in the ABP release.
    fn default() -> Clip {
        Clip::Value(30.0)
    }
}

/// An optimizer's state for a parameter tensor of `n` elements, on the GPU.
pub struct OptimState {
    pub n: usize,
    /// SGD: the velocity; Adam: the first moment m. f32 \[n\].
    pub m: Tensor,
    /// Adam: the second moment v, f32 \[n\]; `None` for SGD.
    pub v: Option<Tensor>,
    /// u32 \[3\]: steps taken t, then the bits of the f32 powers b1^t and b2^t (1.0 for SGD).
    pub step: Tensor,
}

impl OptimState {
    /// Zero moments, t = 0.
    pub fn new(gpu: &Gpu, opt: &Optimizer, n: usize) -> Result<OptimState> {
        let m = gpu.zeros(
            if matches!(opt, Optimizer::Sgd { .. }) {
                "optim velocity"
            } else {
                "optim m"
            },
            &[n],
        )?;
        let v = if opt.second_moment() {
            Some(gpu.zeros("optim v", &[n])?)
        } else {
            None
        };
        let one = 1f32.to_bits();
        let step = gpu.upload::<u32>("optim step", &[3], &[0, one, one])?;
        Ok(OptimState { n, m, v, step })
    }

    /// The state tensors by name ("velocity" or "m", "v", "step"), for checkpoints.
    pub fn tensors(&self) -> Vec<(&'static str, &Tensor)> {
        let mut t = vec![(if self.v.is_some() { "m" } else { "velocity" }, &self.m)];
        if let Some(v) = &self.v {
            t.push(("v", v));
        }
        t.push(("step", &self.step));
        t
    }
}

/// One optimizer step of `param` (f32 \[n\]) with gradient `grad` (f32 \[n\]): the max |grad|
/// reduction (for `Clip::MaxAbs`), the update and the advance of `state.step`, in order.
/// Record the returned op once per training step; it needs nothing from the CPU.
pub fn step(
    gpu: &Gpu,
    opt: &Optimizer,
    clip: Clip,
    grad_scale: f32,
    param: &Tensor,
    grad: &Tensor,
    state: &OptimState,
) -> Result<Op> {
    let n = state.n;
    ensure!(
        param.len() == n && grad.len() == n,
        "optim::step: parameter {:?} and gradient {:?} must hold the state's {n} elements",
        param.shape,
        grad.shape
    );
    ensure!(
        opt.second_moment() == state.v.is_some(),
        "optim::step: the state was made for another optimizer"
    );
    let (lr, b1, b2, eps, wd, (a1, a2)) = opt.scalars();
    let (clip_kind, c) = match clip {
        Clip::None => (0.0, 0.0),
        Clip::Value(c) => (1.0, c),
        Clip::MaxAbs(c) => (2.0, c),
    };
    ensure!(
        clip_kind == 0.0 || c > 0.0,
        "optim::step: clip threshold {c} must be positive"
    );
    let mut op = Op::new(Vec::new());
    let mut gmax = None;
    if let Clip::MaxAbs(_) = clip {
        let t = gpu.zeros("optim max|g|", &[1])?;
        op = reduce::max_abs(gpu, grad, n, &t)?;
        gmax = Some(t);
    }
    let n4 = n.div_ceil(4);
    let params = Params::new()
        .u(n)
        .u(n4)
        .f(lr)
        .f(b1)
        .f(b2)
        .f(eps)
        .f(wd)
        .f(grad_scale)
        .f(c);
    let v = state.v.as_ref().unwrap_or(&state.m);
    // Without MaxAbs, binding 6 is never read: the (read-only) gradient stands in.
    let gm = gmax.as_ref().map(|t| &t.buffer).unwrap_or(&grad.buffer);
    let d = gpu.elementwise(
        "optim",
        match opt {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adam { .. } => "adam",
            Optimizer::Adamax { .. } => "adamax",
        },
        &[("CLIP", clip_kind)],
        &params,
        &[
            &state.step.buffer,
            &param.buffer,
            &grad.buffer,
            &state.m.buffer,
            &v.buffer,
            gm,
        ],
        n4,
    )?;
    let nf = n as f64;
    let d = if opt.second_moment() {
        d.with_cost(nf * 16.0, nf * 28.0)
    } else {
        d.with_cost(nf * 6.0, nf * 20.0)
    };
    let adv_params = Params::new().u(0).u(0).f(0.0).f(a1).f(a2).f(0.0).f(0.0).f(0.0).f(0.0);
    let adv = gpu.dispatch(
        "optim",
        "advance",
        &[],
        Some(&adv_params),
        &[&state.step.buffer],
        [1, 1, 1],
    )?;
    op.dispatches.push(d);
    op.dispatches.push(adv.with_cost(2.0, 24.0));
    if let Some(t) = gmax {
        op = op.with_scratch(t);
    }
    Ok(op)
}

/// The plain-Rust twin.
pub mod cpu {
    use super::{Clip, Optimizer};

    /// The CPU state: velocity or m, v (empty for SGD), steps taken and the powers b1^t, b2^t.
    #[derive(Clone, Debug)]
    pub struct State {
        pub m: Vec<f32>,
        pub v: Vec<f32>,
        pub step: u32,
        pub pow1: f32,
        pub pow2: f32,
    }

    impl State {
        pub fn new(opt: &Optimizer, n: usize) -> State {
            State {
                m: vec![0.0; n],
                v: if opt.second_moment() { vec![0.0; n] } else { Vec::new() },
                step: 0,
                pow1: 1.0,
                pow2: 1.0,
            }
        }
    }

    /// One step, as the shader computes it.
    pub fn step(opt: &Optimizer, clip: Clip, grad_scale: f32, param: &mut [f32], grad: &[f32], st: &mut State) {
        let (lr, b1, b2, eps, wd, (a1, a2)) = opt.scalars();
        let gmax = crate::ops::reduce::cpu::max_abs(grad) * grad_scale.abs();
        let bc1 = 1.0 - st.pow1 * b1;
        let bc2 = 1.0 - st.pow2 * b2;
        for i in 0..param.len() {
            let mut ge = grad_scale * grad[i];
            match clip {
                Clip::None => {}
                Clip::Value(c) => ge = ge.clamp(-c, c),
                Clip::MaxAbs(c) => {
                    if gmax > c {
                        ge *= c / gmax;
                    }
                }
            }
            ge += wd * param[i];
            match opt {
                Optimizer::Adam { .. } => {
                    st.m[i] = b1 * st.m[i] + (1.0 - b1) * ge;
                    st.v[i] = b2 * st.v[i] + (1.0 - b2) * (ge * ge);
                    param[i] -= lr * (st.m[i] / bc1) / ((st.v[i] / bc2).sqrt() + eps);
                }
                Optimizer::Adamax { .. } => {
                    st.m[i] = b1 * st.m[i] + (1.0 - b1) * ge;
                    st.v[i] = (b2 * st.v[i]).max(ge.abs() + eps);
                    param[i] -= (lr / bc1) * st.m[i] / st.v[i];
                }
                Optimizer::Sgd { .. } => {
                    st.m[i] = b1 * st.m[i] + ge;
                    param[i] -= lr * st.m[i];
                }
            }
        }
        st.step += 1;
        st.pow1 *= a1;
        st.pow2 *= a2;
    }
}
