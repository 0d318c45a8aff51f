//! Optimizer steps recorded back to back against the CPU twin; Adam on a quadratic.
mod common;
use abprop::gpu::{Gpu, Timer};
use abprop::ops::optim::{self, cpu, Clip, OptimState, Optimizer};
use common::*;

const SGD: Optimizer = Optimizer::Sgd {
    lr: 0.05,
    momentum: 0.5,
    weight_decay: 0.01,
};
const ADAM: Optimizer = Optimizer::Adam {
    lr: 0.01,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.02,
};

/// `steps` steps with fixed gradients recorded in one submit vs the CPU twin: params and state.
fn check(g: &Gpu, opt: Optimizer, clip: Clip, grad_scale: f32, n: usize, steps: u32) {
    let mut r = rng(n as u64);
    let w0 = uniform(&mut r, n, -1.0, 1.0);
    let mut grad = uniform(&mut r, n, -10.0, 10.0);
    // Elements above every clip threshold used below, after grad_scale.
    grad[n / 2] = 95.0;
    if n > 2 {
        grad[1] = -70.0;
    }
    let tw = g.upload("w", &[n], &w0).unwrap();
    let tg = g.upload("g", &[n], &grad).unwrap();
    let st = OptimState::new(g, &opt, n).unwrap();
    let op = optim::step(g, &opt, clip, grad_scale, &tw, &tg, &st).unwrap();
    let mut seq = Vec::new();
    for _ in 0..steps {
        seq.extend(op.seq());
    }
    g.run(&seq).unwrap();
    let mut w = w0.clone();
    let mut cs = cpu::State::new(&opt, n);
    for _ in 0..steps {
        cpu::step(&opt, clip, grad_scale, &mut w, &grad, &mut cs);
    }
    let what = format!("{opt:?} {clip:?} scale {grad_scale} n={n} slots={}", g.slots);
    assert_close(&format!("{what}: w"), &g.read::<f32>(&tw).unwrap(), &w, 1e-5, 1e-6);
    assert_close(&format!("{what}: m"), &g.read::<f32>(&st.m).unwrap(), &cs.m, 1e-5, 1e-6);
    if let Some(v) = &st.v {
        assert_close(&format!("{what}: v"), &g.read::<f32>(v).unwrap(), &cs.v, 1e-5, 1e-6);
    }
    let s = g.read::<u32>(&st.step).unwrap();
    assert_eq!(s[0], steps, "{what}: step count");
    assert_eq!(f32::from_bits(s[1]), cs.pow1, "{what}: b1^t");
    assert_eq!(f32::from_bits(s[2]), cs.pow2, "{what}: b2^t");
    // The step moved every parameter.
    assert!(
        w.iter().zip(&w0).all(|(a, b)| a != b),
        "{what}: a parameter did not move"
    );
}

#[test]
fn sgd_and_adam_match_cpu_for_every_clip_mode() {
    for opt in [SGD, ADAM] {
        for clip in [Clip::None, Clip::Value(30.0), Clip::MaxAbs(30.0)] {
            for (scale, n) in [(1.0f32, 1usize), (-0.5, 7), (1.0, 1030), (-2.0, 20_001)] {
                for g in gpus_each_layout() {
                    check(g, opt, clip, scale, n, 4);
                }
            }
        }
    }
}

#[test]
fn adamax_matches_cpu_and_decreases_a_quadratic() {
    let opt = Optimizer::Adamax {
        lr: 0.05,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
    };
    for clip in [Clip::None, Clip::Value(30.0), Clip::MaxAbs(30.0)] {
        for (scale, n) in [(1.0f32, 1usize), (-0.5, 7), (-2.0, 20_001)] {
            for g in gpus_each_layout() {
                check(g, opt, clip, scale, n, 4);
            }
        }
    }
    // On loss(w) = 1/2 sum a_i (w_i - c_i)^2 from w = 0, 200 steps bring the loss down by
    // more than 100x (the gradient uploaded each step).
    let g = gpu();
    let n = 50;
    let mut r = rng(9);
    let a = uniform(&mut r, n, 0.5, 5.0);
    let c = uniform(&mut r, n, -2.0, 2.0);
    let loss = |w: &[f32]| -> f64 {
        (0..n)
            .map(|i| 0.5 * (a[i] * (w[i] - c[i]) * (w[i] - c[i])) as f64)
            .sum()
    };
    let opt = Optimizer::Adamax {
        lr: 0.05,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let (tw, tg) = (g.zeros("w", &[n]).unwrap(), g.zeros("g", &[n]).unwrap());
    let st = OptimState::new(g, &opt, n).unwrap();
    let op = optim::step(g, &opt, Clip::None, 1.0, &tw, &tg, &st).unwrap();
    let l0 = loss(&vec![0.0; n]);
    for _ in 0..200 {
        let w: Vec<f32> = g.read(&tw).unwrap();
        let grad: Vec<f32> = (0..n).map(|i| a[i] * (w[i] - c[i])).collect();
        g.write(&tg, &grad).unwrap();
        g.run(&op.seq()).unwrap();
    }
    let l1 = loss(&g.read::<f32>(&tw).unwrap());
    assert!(l1 < l0 / 100.0, "Adamax took the loss from {l0} to {l1}");
}

#[test]
fn clipping_modes_behave() {
    // One SGD step, lr 1, no momentum or decay: w1 = w0 - clipped(scale * g).
    let g = gpu();
    let opt = Optimizer::Sgd {
        lr: 1.0,
        momentum: 0.0,
        weight_decay: 0.0,
    };
    let grad = vec![10.0f32, -80.0, 40.0, 1.0, 0.0];
    for (clip, want) in [
        (Clip::None, vec![-5.0f32, 40.0, -20.0, -0.5, 0.0]),
        (Clip::Value(30.0), vec![-5.0, 30.0, -20.0, -0.5, 0.0]),
        (Clip::MaxAbs(30.0), vec![-3.75, 30.0, -15.0, -0.375, 0.0]),
        (Clip::MaxAbs(50.0), vec![-5.0, 40.0, -20.0, -0.5, 0.0]),
    ] {
        let tw = g.zeros("w", &[5]).unwrap();
        let tg = g.upload("g", &[5], &grad).unwrap();
        let st = OptimState::new(g, &opt, 5).unwrap();
        let op = optim::step(g, &opt, clip, -0.5, &tw, &tg, &st).unwrap();
        g.run(&op.seq()).unwrap();
        // w1 = -clipped(-0.5 g)
        let neg: Vec<f32> = want.iter().map(|v| -v).collect();
        assert_close(&format!("{clip:?}"), &g.read::<f32>(&tw).unwrap(), &neg, 0.0, 1e-6);
    }
}

#[test]
fn weight_decay_shrinks_parameters() {
    let g = gpu();
    let n = 9;
    let w0: Vec<f32> = (0..n).map(|i| i as f32 - 4.0).collect();
    let opt = Optimizer::Sgd {
        lr: 0.1,
        momentum: 0.5,
        weight_decay: 0.5,
    };
    let tw = g.upload("w", &[n], &w0).unwrap();
    let tg = g.zeros("g", &[n]).unwrap();
    let st = OptimState::new(g, &opt, n).unwrap();
    let op = optim::step(g, &opt, Clip::default(), 1.0, &tw, &tg, &st).unwrap();
    g.run(&op.seq()).unwrap();
    // zero gradient: w1 = w0 - 0.1 * 0.5 * w0
    let want: Vec<f32> = w0.iter().map(|w| w * 0.95).collect();
    assert_close("decay", &g.read::<f32>(&tw).unwrap(), &want, 1e-6, 0.0);
}

/// Adam with the usual betas (0.9, 0.999) and eps 1e-8.
fn adam(lr: f32) -> Optimizer {
    Optimizer::Adam {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    }
}

#[test]
fn adam_decreases_a_quadratic() {
    // loss(w) = 1/2 sum a_i (w_i - c_i)^2; the gradient is computed on the CPU each step and
    // uploaded (the step op itself is built once).
    let g = gpu();
    let n = 100;
    let mut r = rng(5);
    let a = uniform(&mut r, n, 0.5, 5.0);
    let c = uniform(&mut r, n, -2.0, 2.0);
    let loss = |w: &[f32]| -> f64 {
        (0..n)
            .map(|i| 0.5 * a[i] as f64 * (w[i] - c[i]) as f64 * (w[i] - c[i]) as f64)
            .sum()
    };
    let opt = adam(0.05);
    let tw = g.zeros("w", &[n]).unwrap();
    let tg = g.zeros("g", &[n]).unwrap();
    let st = OptimState::new(g, &opt, n).unwrap();
    let op = optim::step(g, &opt, Clip::default(), 1.0, &tw, &tg, &st).unwrap();
    let l0 = loss(&vec![0.0; n]);
    let mut last = l0;
    for it in 0..200 {
        let w = g.read::<f32>(&tw).unwrap();
        let l = loss(&w);
        if it % 50 == 0 {
            assert!(l <= last, "step {it}: loss went up from {last} to {l}");
            last = l;
        }
        let grad: Vec<f32> = (0..n).map(|i| a[i] * (w[i] - c[i])).collect();
        g.write(&tg, &grad).unwrap();
        g.run(&op.seq()).unwrap();
    }
    let lf = loss(&g.read::<f32>(&tw).unwrap());
    assert!(lf < 0.01 * l0, "Adam: loss {l0} -> {lf}");
    assert_eq!(g.read::<u32>(&st.step).unwrap()[0], 200);
}

#[test]
fn state_round_trips_through_serde_and_tensors() {
    let g = gpu();
    let json = serde_json::to_string(&ADAM).unwrap();
    assert_eq!(serde_json::from_str::<Optimizer>(&json).unwrap(), ADAM);
    let cj = serde_json::to_string(&Clip::MaxAbs(30.0)).unwrap();
    assert_eq!(serde_json::from_str::<Clip>(&cj).unwrap(), Clip::MaxAbs(30.0));
    let st = OptimState::new(g, &ADAM, 10).unwrap();
    let names: Vec<&str> = st.tensors().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["m", "v", "step"]);
    let st = OptimState::new(g, &SGD, 10).unwrap();
    let names: Vec<&str> = st.tensors().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["velocity", "step"]);
}

/// GB/s of the steps (`cargo test --test optim -- --ignored --nocapture`).
#[test]
#[ignore]
fn bench_step() {
    let g = gpu();
    let n = 1 << 22;
    let tw = g.zeros("w", &[n]).unwrap();
    let tg = g.zeros("g", &[n]).unwrap();
    let timer = Timer::new(g);
    // The ABP release's SGD (lr 1e-4, momentum 0.5) and Adam.
    let abp_sgd = Optimizer::Sgd {
        lr: 1e-4,
        momentum: 0.5,
        weight_decay: 0.0,
    };
    for opt in [abp_sgd, adam(1e-3)] {
        for clip in [Clip::Value(30.0), Clip::MaxAbs(30.0)] {
            let st = OptimState::new(g, &opt, n).unwrap();
            let op = optim::step(g, &opt, clip, 1.0, &tw, &tg, &st).unwrap();
            let s = timer.time(g, &op.seq(), 10).unwrap();
            eprintln!(
                "{opt:?} {clip:?} n={n}: {:.3} ms, {:.2} GB/s ({})",
                s * 1e3,
                op.bytes() / s / 1e9,
                timer.method
            );
        }
    }
}
