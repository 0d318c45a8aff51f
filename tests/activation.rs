//! Activation kernels (and the copy yardstick) against their CPU twin; the twin's derivative
//! against finite differences.
mod common;
use abprop::ops::activation::{self, cpu, Activation};
use abprop::ops::copy;
use common::*;

const ACTS: [Activation; 4] = [
    Activation::Relu,
    Activation::LeakyRelu { slope: 0.2 },
    Activation::Tanh,
    Activation::Sigmoid,
];

/// Elements over two workgroups of the elementwise layout with 8 vec4 slots per invocation
/// (256 invocations each) and part of a third.
const MULTI_GROUP: usize = 4 * 256 * 8 * 2 + 4 * 256 + 7;

#[test]
fn gpu_matches_cpu_forward_and_backward() {
    let mut r = rng(1);
    for (g, &n) in gpus_each_layout().into_iter().flat_map(|g| {
        [1usize, 3, 257, 1023, 4 * 256 * 3 + 5, MULTI_GROUP]
            .iter()
            .map(move |n| (g, n))
    }) {
        for act in ACTS {
            let x = uniform(&mut r, n, -3.0, 3.0);
            let dy = uniform(&mut r, n, -1.0, 1.0);
            let tx = g.upload("x", &[n], &x).unwrap();
            let ty = g.zeros("y", &[n]).unwrap();
            let tdy = g.upload("dy", &[n], &dy).unwrap();
            let tdx = g.zeros("dx", &[n]).unwrap();
            let f = activation::forward(g, act, &tx, &ty).unwrap();
            let b = activation::backward(g, act, &ty, &tdy, &tdx).unwrap();
            g.run(&[&f, &b]).unwrap();
            let y = cpu::forward(act, &x);
            // relative tolerance 1e-5 of the output scale: tanh/exp differ by a few ulps.
            assert_close(
                &format!("{act:?} forward n={n} slots={}", g.slots),
                &g.read::<f32>(&ty).unwrap(),
                &y,
                1e-5,
                1e-6,
            );
            assert_close(
                &format!("{act:?} backward n={n} slots={}", g.slots),
                &g.read::<f32>(&tdx).unwrap(),
                &cpu::backward(act, &y, &dy),
                1e-5,
                1e-6,
            );
        }
    }
}

#[test]
fn cpu_derivative_matches_finite_differences() {
    for act in ACTS {
        for &x in &[-2.5f32, -0.7, -0.01, 0.013, 0.4, 1.9] {
            let h = 1e-3f64;
            let f = |v: f64| cpu::apply(act, v as f32) as f64;
            let num = (f(x as f64 + h) - f(x as f64 - h)) / (2.0 * h);
            let ana = cpu::derivative_from_output(act, cpu::apply(act, x)) as f64;
            assert!((num - ana).abs() < 2e-3, "{act:?} at {x}: fd {num} vs {ana}");
        }
    }
}

#[test]
fn copy_matches_cpu() {
    let mut r = rng(2);
    for (g, &n) in gpus_each_layout().into_iter().flat_map(|g| {
        [1usize, 6, 1023, 4 * 256 * 3 + 5, MULTI_GROUP]
            .iter()
            .map(move |n| (g, n))
    }) {
        let x = uniform(&mut r, n, -3.0, 3.0);
        let tx = g.upload("x", &[n], &x).unwrap();
        let ty = g.zeros("y", &[n]).unwrap();
        g.run(&[&copy::copy(g, &tx, &ty).unwrap()]).unwrap();
        assert_close(
            &format!("copy n={n} slots={}", g.slots),
            &g.read::<f32>(&ty).unwrap(),
            &copy::cpu::copy(&x),
            0.0,
            0.0,
        );
    }
    let g = gpu();
    let short = g.zeros("short", &[5]).unwrap();
    let Err(err) = copy::copy(g, &short, &g.zeros("long", &[6]).unwrap()) else {
        panic!("copy between tensors of different sizes must fail");
    };
    assert!(err.to_string().contains("differ in size"), "{err}");
}
