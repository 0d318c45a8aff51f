//! The per-channel affine kernel (batch norm in eval mode) against its CPU twin, in both
//! elementwise layouts; the fold of batch-norm statistics against batch norm itself.
mod common;
use abprop::ops::affine::{self, cpu};
use abprop::ops::batch_norm::{self, BnShape};
use common::*;

#[test]
fn gpu_matches_cpu_with_and_without_bias() {
    let mut r = rng(3);
    let shapes = [(1, 1, 1), (2, 3, 5), (3, 7, 1), (4, 64, 16), (2, 5, 4 * 256 * 8 + 3)];
    for g in gpus_each_layout() {
        for &(batch, channels, spatial) in &shapes {
            let s = BnShape {
                batch,
                channels,
                spatial,
            };
            let x = uniform(&mut r, s.len(), -2.0, 2.0);
            let a = uniform(&mut r, channels, -1.5, 1.5);
            let b = uniform(&mut r, channels, -1.0, 1.0);
            let (tx, ta, tb) = (
                g.upload("x", &[s.len()], &x).unwrap(),
                g.upload("a", &[channels], &a).unwrap(),
                g.upload("b", &[channels], &b).unwrap(),
            );
            let (ty, tz) = (g.zeros("y", &[s.len()]).unwrap(), g.zeros("z", &[s.len()]).unwrap());
            let f = affine::forward(g, &s, &tx, &ta, Some(&tb), &ty).unwrap();
            let d = affine::forward(g, &s, &tx, &ta, None, &tz).unwrap();
            g.run(&[&f, &d]).unwrap();
            let what = format!("{s:?} slots={}", g.slots);
            assert_close(
                &what,
                &g.read::<f32>(&ty).unwrap(),
                &cpu::forward(&s, &x, &a, Some(&b)),
                1e-6,
                1e-6,
            );
            assert_close(
                &what,
                &g.read::<f32>(&tz).unwrap(),
                &cpu::forward(&s, &x, &a, None),
                1e-6,
                1e-6,
            );
        }
    }
}

#[test]
fn folded_statistics_equal_batch_norm_on_them() {
    // Batch norm of a batch, and the affine map folded from the same batch's mean and variance,
    // agree: eval mode with population statistics equal to a batch's is that batch's norm.
    let mut r = rng(4);
    let s = BnShape {
        batch: 3,
        channels: 4,
        spatial: 10,
    };
    let x = uniform(&mut r, s.len(), -3.0, 3.0);
    let gamma = uniform(&mut r, 4, 0.5, 2.0);
    let beta = uniform(&mut r, 4, -1.0, 1.0);
    let eps = 1e-4;
    let (y, stats) = batch_norm::cpu::forward(&s, eps, &x, &gamma, &beta);
    let mean = &stats[..4];
    let var: Vec<f32> = stats[4..].iter().map(|&inv| 1.0 / (inv * inv) - eps).collect();
    let (a, b) = cpu::fold(&gamma, &beta, mean, &var, eps);
    assert_close("fold", &cpu::forward(&s, &x, &a, Some(&b)), &y, 1e-4, 1e-5);
    // A wrong shape is an error, not a panic.
    let g = gpu();
    let t = g.zeros("t", &[5]).unwrap();
    let err = match affine::forward(g, &s, &t, &t, None, &t) {
        Ok(_) => panic!("a 5-element tensor was taken for 120"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("must hold 120 elements"), "{err}");
}
