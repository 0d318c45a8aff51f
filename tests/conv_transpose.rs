//! Transposed convolutions against their CPU twin, with every GEMM kernel this adapter supports;
//! the twin's gradients against central finite differences.
mod common;
use abprop::gpu::Gpu;
use abprop::ops::conv_transpose::{self, cpu, ConvShape, Options};
use abprop::ops::gemm::Kernel;
use common::*;

/// Relative tolerance (of the reference's largest magnitude): f32 sums of up to ~2000 products
/// against an f64 reference.
const RTOL: f32 = 2e-5;

fn shapes() -> Vec<(&'static str, ConvShape)> {
    vec![
        ("k5 s2 p2 op1", ConvShape::conv2d(1, 3, 5, 7, 6, 5, 2, 2, 1)),
        ("k5 s2 p2 op1 batch 3", ConvShape::conv2d(3, 7, 9, 4, 5, 5, 2, 2, 1)),
        ("k3 s1 p1 op0", ConvShape::conv2d(2, 5, 3, 6, 5, 3, 1, 1, 0)),
        ("k4 s2 p1 op0", ConvShape::conv2d(2, 4, 7, 5, 5, 4, 2, 1, 0)),
        ("1d k25 s10 p8 op1", ConvShape::conv1d(2, 3, 5, 7, 25, 10, 8, 1)),
        ("1d k3 s1 p1", ConvShape::conv1d(1, 6, 4, 9, 3, 1, 1, 0)),
        ("k5 s2 p2 op1 64->33", ConvShape::conv2d(2, 64, 33, 14, 13, 5, 2, 2, 1)),
        (
            "1d k25 s10 p8 op1 65->31",
            ConvShape::conv1d(3, 65, 31, 23, 25, 10, 8, 1),
        ),
    ]
}

fn run_case(g: &Gpu, name: &str, s: &ConvShape, o: &Options, seed: u64) {
    let mut r = rng(seed);
    let x = uniform(&mut r, s.x_len(), -1.0, 1.0);
    let w = uniform(&mut r, s.w_len(), -1.0, 1.0);
    let b = uniform(&mut r, s.c_out, -1.0, 1.0);
    let dy = uniform(&mut r, s.y_len(), -1.0, 1.0);
    let nan = |n: usize| vec![f32::NAN; n];
    let tx = g.upload("x", &[s.x_len()], &x).unwrap();
    let tw = g.upload("w", &[s.w_len()], &w).unwrap();
    let tb = g.upload("b", &[s.c_out], &b).unwrap();
    let tdy = g.upload("dy", &[s.y_len()], &dy).unwrap();
    // Outputs start as NaN: every element must be overwritten.
    let ty = g.upload("y", &[s.y_len()], &nan(s.y_len())).unwrap();
    let tdx = g.upload("dx", &[s.x_len()], &nan(s.x_len())).unwrap();
    let tdw = g.upload("dw", &[s.w_len()], &nan(s.w_len())).unwrap();
    let tdb = g.upload("db", &[s.c_out], &nan(s.c_out)).unwrap();
    let f = conv_transpose::forward_with(g, o, s, &tx, &tw, &tb, &ty).unwrap();
    let bi = conv_transpose::backward_input_with(g, o, s, &tdy, &tw, &tdx).unwrap();
    let bw = conv_transpose::backward_weights_with(g, o, s, &tx, &tdy, &tdw, &tdb).unwrap();
    let mut seq = f.seq();
    seq.extend(bi.seq());
    seq.extend(bw.seq());
    g.run(&seq).unwrap();
    let what = format!("{name} {s:?} {o:?}");
    let y = cpu::forward(s, &x, &w, &b);
    assert_close(&format!("forward {what}"), &g.read::<f32>(&ty).unwrap(), &y, RTOL, 1e-6);
    let dx = cpu::backward_input(s, &dy, &w);
    assert_close(
        &format!("backward_input {what}"),
        &g.read::<f32>(&tdx).unwrap(),
        &dx,
        RTOL,
        1e-6,
    );
    let (dw, db) = cpu::backward_weights(s, &x, &dy);
    assert_close(
        &format!("backward_weights dw {what}"),
        &g.read::<f32>(&tdw).unwrap(),
        &dw,
        RTOL,
        1e-6,
    );
    assert_close(
        &format!("backward_weights db {what}"),
        &g.read::<f32>(&tdb).unwrap(),
        &db,
        RTOL,
        1e-6,
    );
}

#[test]
fn gpu_matches_cpu_every_kernel() {
    let kernels = Kernel::available(gpu());
    eprintln!("kernels: {kernels:?}");
    for (i, (name, s)) in shapes().iter().enumerate() {
        for &k in &kernels {
            run_case(gpu(), name, s, &Options::kernel(k), i as u64);
            if s.h_in == 1 || k == Kernel::Sg64x64 {
                // The forward by phases (1-D: packed B; 2-D: B gathered in the GEMM, subgroup
                // adapters) and by col2im, whatever the cost rule picks.
                // Both layouts of the scatter after the phase GEMMs (`Gpu::slots`).
                for phase in [false, true] {
                    let o = Options {
                        phase: Some(phase),
                        ..Options::kernel(k)
                    };
                    for g in gpus_each_layout() {
                        run_case(g, name, s, &o, i as u64);
                    }
                }
            }
        }
    }
}

#[test]
fn batch_chunks_match_cpu() {
    // A scratch budget of a few hundred floats forces one batch element per chunk, so the
    // chunked paths (and the accumulation of dw over chunks) are exercised.
    let s = ConvShape::conv2d(3, 5, 4, 3, 4, 5, 2, 2, 1);
    for k in Kernel::available(gpu()) {
        let o = Options {
            kernel: Some(k),
            scratch_floats: 200,
            ..Options::default()
        };
        run_case(gpu(), "chunked", &s, &o, 99);
        if k == Kernel::Sg64x64 {
            let o = Options { phase: Some(true), ..o };
            run_case(gpu(), "chunked by phases", &s, &o, 96);
        }
    }
    let s = ConvShape::conv1d(5, 3, 2, 6, 25, 10, 8, 1);
    run_case(
        gpu(),
        "chunked 1d",
        &s,
        &Options {
            kernel: None,
            scratch_floats: 1000,
            phase: Some(false),
        },
        98,
    );
    run_case(
        gpu(),
        "chunked 1d by phases",
        &s,
        &Options {
            kernel: None,
            scratch_floats: 300,
            phase: Some(true),
        },
        97,
    );
}

#[test]
fn heavy_layer_matches_cpu() {
    // One texture-net layer at full size (default kernel choice).
    let s = ConvShape::conv2d(1, 256, 128, 14, 14, 5, 2, 2, 1);
    run_case(gpu(), "texture layer", &s, &Options::default(), 5);
}

#[test]
fn results_are_deterministic() {
    let g = gpu();
    let s = ConvShape::conv2d(2, 9, 6, 5, 5, 5, 2, 2, 1);
    let mut r = rng(3);
    let tx = g
        .upload("x", &[s.x_len()], &uniform(&mut r, s.x_len(), -1.0, 1.0))
        .unwrap();
    let tdy = g
        .upload("dy", &[s.y_len()], &uniform(&mut r, s.y_len(), -1.0, 1.0))
        .unwrap();
    let tdw = g.zeros("dw", &[s.w_len()]).unwrap();
    let tdb = g.zeros("db", &[s.c_out]).unwrap();
    let o = Options {
        kernel: None,
        scratch_floats: 500,
        ..Options::default()
    };
    let op = conv_transpose::backward_weights_with(g, &o, &s, &tx, &tdy, &tdw, &tdb).unwrap();
    g.run(&op.seq()).unwrap();
    let first: Vec<u32> = g.read(&tdw).unwrap();
    g.run(&op.seq()).unwrap();
    assert_eq!(first, g.read::<u32>(&tdw).unwrap());
}

#[test]
fn shapes_and_validation() {
    let s = ConvShape::conv2d(1, 512, 256, 14, 14, 5, 2, 2, 1);
    assert_eq!((s.h_out(), s.w_out()), (28, 28));
    let s = ConvShape::conv1d(1, 128, 64, 600, 25, 10, 8, 1);
    assert_eq!((s.h_out(), s.w_out()), (1, 6000));
    assert_eq!(s.flops(), 2.0 * 128.0 * 64.0 * 600.0 * 25.0);
    assert!(ConvShape::conv2d(1, 3, 3, 4, 4, 3, 1, 1, 0).validate().is_ok());
    assert!(
        ConvShape::conv2d(1, 3, 3, 4, 4, 3, 2, 1, 2).validate().is_err(),
        "output padding >= stride"
    );
    assert!(
        ConvShape::conv2d(0, 3, 3, 4, 4, 3, 1, 1, 0).validate().is_err(),
        "empty batch"
    );
    assert!(
        ConvShape::conv2d(1, 3, 3, 1, 1, 1, 1, 1, 0).validate().is_err(),
        "empty output"
    );
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<ConvShape>(&json).unwrap(), s);
    // Wrong tensor sizes are errors, not panics.
    let g = gpu();
    let s = ConvShape::conv2d(1, 2, 3, 4, 4, 3, 1, 1, 0);
    let t = g.zeros("t", &[5]).unwrap();
    assert!(conv_transpose::forward(g, &s, &t, &t, &t, &t).is_err());
}

/// L = sum(y * r) for the CPU forward, in f64.
fn loss(s: &ConvShape, x: &[f64], w: &[f64], b: &[f64], r: &[f32]) -> f64 {
    let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let y = cpu::forward(s, &f(x), &f(w), &f(b));
    y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
}

fn check_gradients(s: &ConvShape, seed: u64) {
    let mut rg = rng(seed);
    let x: Vec<f64> = uniform(&mut rg, s.x_len(), -1.0, 1.0)
        .iter()
        .map(|&v| v as f64)
        .collect();
    let w: Vec<f64> = uniform(&mut rg, s.w_len(), -1.0, 1.0)
        .iter()
        .map(|&v| v as f64)
        .collect();
    let b: Vec<f64> = uniform(&mut rg, s.c_out, -1.0, 1.0).iter().map(|&v| v as f64).collect();
    let r = uniform(&mut rg, s.y_len(), -1.0, 1.0);
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let dx = cpu::backward_input(s, &r, &f32s(&w));
    let (dw, db) = cpu::backward_weights(s, &f32s(&x), &r);
    let h = 0.25; // L is linear in each argument: the central difference is exact up to rounding.
    let close = |what: &str, i: usize, num: f64, ana: f32| {
        assert!(
            (num - ana as f64).abs() <= 1e-3 * (1.0 + num.abs()),
            "{s:?} {what}[{i}]: finite difference {num} vs {ana}"
        );
    };
    let n = 12;
    for j in 0..n {
        let i = (j * 7919) % x.len();
        close("dx", i, fd(&mut |v| loss(s, v, &w, &b, &r), &x, i, h), dx[i]);
        let i = (j * 104729) % w.len();
        close("dw", i, fd(&mut |v| loss(s, &x, v, &b, &r), &w, i, h), dw[i]);
        let i = j % b.len();
        close("db", i, fd(&mut |v| loss(s, &x, &w, v, &r), &b, i, h), db[i]);
    }
}

#[test]
fn cpu_gradients_match_finite_differences() {
    check_gradients(&ConvShape::conv2d(2, 3, 4, 4, 3, 5, 2, 2, 1), 11);
    check_gradients(&ConvShape::conv2d(1, 2, 3, 3, 3, 4, 2, 1, 0), 12);
    check_gradients(&ConvShape::conv1d(2, 3, 2, 5, 25, 10, 8, 1), 13);
}
