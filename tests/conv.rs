//! Convolutions (through the transposed-convolution kernels) against their CPU twin, with every
//! GEMM kernel this adapter supports and both settings of the phase paths; the twin's gradients
//! against central finite differences; the spec's conv2d, conv1d and flatten layers.
mod common;
use abprop::gpu::Gpu;
use abprop::model::{Layer, Spec};
use abprop::ops::conv::{self, cpu, ConvShape, Options};
use abprop::ops::gemm::Kernel;
use common::*;

/// Relative tolerance (of the reference's largest magnitude): f32 sums of up to ~2000 products
/// against an f64 reference (as tests/conv_transpose.rs).
const RTOL: f32 = 2e-5;

fn shapes() -> Vec<(&'static str, ConvShape)> {
    vec![
        // Odd input sizes, every kernel / stride / padding in turn.
        ("7x9 k3 s1 p1", ConvShape::conv2d(1, 3, 5, 7, 9, 3, 1, 1)),
        ("7x9 k4 s2 p1 batch 3", ConvShape::conv2d(3, 4, 6, 7, 9, 4, 2, 1)),
        ("7x9 k5 s3 p2 batch 2", ConvShape::conv2d(2, 5, 3, 7, 9, 5, 3, 2)),
        ("7x9 k3 s2 p0", ConvShape::conv2d(2, 2, 7, 7, 9, 3, 2, 0)),
        ("7x9 k5 s1 p0", ConvShape::conv2d(1, 3, 4, 7, 9, 5, 1, 0)),
        ("7x9 k4 s3 p2", ConvShape::conv2d(2, 3, 4, 7, 9, 4, 3, 2)),
        // Padding as large as the kernel, and a kernel smaller than the stride (some inputs
        // are never read: their gradient is 0).
        ("7x9 k3 s1 p2", ConvShape::conv2d(1, 2, 3, 7, 9, 3, 1, 2)),
        ("7x9 k2 s3 p1", ConvShape::conv2d(2, 3, 2, 7, 9, 2, 3, 1)),
        ("5x5 k1 s2 p0", ConvShape::conv2d(1, 4, 3, 5, 5, 1, 2, 0)),
        // The kernel as large as the padded input: one output.
        ("4x4 k6 s2 p1", ConvShape::conv2d(2, 3, 5, 4, 4, 6, 2, 1)),
        // The encoder's layers (tests/networks.rs) at a smaller batch, with channels that
        // fill the 64-row tiles of the window GEMMs on 8-lane adapters.
        ("28x28 k4 s2 p1 1->32", ConvShape::conv2d(2, 1, 32, 28, 28, 4, 2, 1)),
        ("14x14 k4 s2 p1 32->64", ConvShape::conv2d(2, 32, 64, 14, 14, 4, 2, 1)),
        ("13x11 k5 s2 p2 64->70", ConvShape::conv2d(1, 64, 70, 13, 11, 5, 2, 2)),
        // 1-D.
        ("1d len 9 k3 s1 p1", ConvShape::conv1d(1, 3, 4, 9, 3, 1, 1)),
        ("1d len 23 k4 s2 p1 batch 3", ConvShape::conv1d(3, 5, 6, 23, 4, 2, 1)),
        ("1d len 31 k5 s3 p2 batch 2", ConvShape::conv1d(2, 4, 3, 31, 5, 3, 2)),
        ("1d len 17 k2 s3 p0", ConvShape::conv1d(2, 3, 2, 17, 2, 3, 0)),
        (
            "1d len 61 k25 s10 p8 65->31",
            ConvShape::conv1d(2, 65, 31, 61, 25, 10, 8),
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
    let f = conv::forward_with(g, o, s, &tx, &tw, &tb, &ty).unwrap();
    let bi = conv::backward_input_with(g, o, s, &tdy, &tw, &tdx).unwrap();
    let bw = conv::backward_weights_with(g, o, s, &tx, &tdy, &tdw, &tdb).unwrap();
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
        // The default choice, on both layouts of the elementwise kernels (the bias, the
        // transposed convolution's scatter).
        for g in gpus_each_layout() {
            run_case(g, name, s, &Options::default(), i as u64);
        }
        for &k in &kernels {
            run_case(gpu(), name, s, &Options::kernel(k), 100 + i as u64);
            if s.h_in == 1 || k == Kernel::Sg64x64 {
                // The phase split (1-D: backward_input) and the window GEMMs (8-lane adapters:
                // every pass) forced on and off, whatever the cost rules pick.
                for phase in [false, true] {
                    let o = Options {
                        phase: Some(phase),
                        ..Options::kernel(k)
                    };
                    run_case(gpu(), name, s, &o, 200 + i as u64);
                }
            }
        }
    }
}

#[test]
fn batch_chunks_match_cpu() {
    // A scratch budget of a few hundred floats forces one batch element per chunk, so the
    // chunked paths (and the accumulation of dw over chunks) are exercised.
    let s = ConvShape::conv2d(3, 5, 4, 7, 9, 4, 2, 1);
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
    let s = ConvShape::conv1d(4, 3, 5, 40, 5, 3, 2);
    for phase in [false, true] {
        let o = Options {
            kernel: None,
            scratch_floats: 300,
            phase: Some(phase),
        };
        run_case(gpu(), "chunked 1d", &s, &o, 98);
    }
}

#[test]
fn the_encoder_layer_at_batch_64_matches_cpu() {
    // The second layer of the MNIST encoder at a training batch (default kernel choice).
    let s = ConvShape::conv2d(64, 32, 64, 14, 14, 4, 2, 1);
    run_case(gpu(), "encoder layer 2", &s, &Options::default(), 5);
}

#[test]
fn shapes_and_validation() {
    // PyTorch's floor((n + 2p - k) / s) + 1.
    let s = ConvShape::conv2d(1, 1, 32, 28, 28, 4, 2, 1);
    assert_eq!((s.h_out(), s.w_out()), (14, 14));
    let s = ConvShape::conv2d(1, 3, 3, 7, 9, 5, 3, 2);
    assert_eq!((s.h_out(), s.w_out()), (3, 3));
    assert_eq!(s.flops(), 2.0 * 3.0 * 3.0 * 9.0 * 25.0);
    let s = ConvShape::conv2d(1, 3, 3, 7, 9, 4, 3, 2);
    assert_eq!((s.h_out(), s.w_out()), (3, 4));
    let s = ConvShape::conv2d(1, 3, 3, 7, 9, 3, 2, 0);
    assert_eq!((s.h_out(), s.w_out()), (3, 4));
    let s = ConvShape::conv1d(1, 2, 3, 31, 5, 3, 2);
    assert_eq!((s.h_out(), s.w_out()), (1, 11));
    // The transposed view gives back the input size, whatever the remainder of the stride.
    for (_, s) in shapes() {
        let t = s.transposed();
        assert_eq!(
            (t.h_in, t.w_in, t.c_in, t.c_out),
            (s.h_out(), s.w_out(), s.c_out, s.c_in)
        );
        assert_eq!((t.h_out(), t.w_out()), (s.h_in, s.w_in), "{s:?} -> {t:?}");
        t.validate().unwrap();
    }
    assert!(ConvShape::conv2d(1, 3, 3, 4, 4, 3, 1, 1).validate().is_ok());
    let e = ConvShape::conv2d(1, 3, 3, 4, 4, 7, 1, 1)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(e.contains("larger than the padded input 6x6"), "{e}");
    assert!(
        ConvShape::conv2d(0, 3, 3, 4, 4, 3, 1, 1).validate().is_err(),
        "empty batch"
    );
    assert!(
        ConvShape::conv2d(1, 3, 3, 4, 4, 3, 0, 1).validate().is_err(),
        "zero stride"
    );
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<ConvShape>(&json).unwrap(), s);
    // Wrong tensor sizes are errors naming the convolution, not panics.
    let g = gpu();
    let s = ConvShape::conv2d(1, 2, 3, 4, 4, 3, 1, 1);
    let t = g.zeros("t", &[5]).unwrap();
    let e = conv::forward(g, &s, &t, &t, &t, &t).err().unwrap().to_string();
    assert!(e.starts_with("conv ") && e.contains("x t has shape"), "{e}");
    assert!(conv::backward_input(g, &s, &t, &t, &t).is_err());
    assert!(conv::backward_weights(g, &s, &t, &t, &t, &t).is_err());
}

#[test]
fn bias_add_adds_per_channel() {
    for g in gpus_each_layout() {
        let (batch, channels, spatial) = (3, 5, 7);
        let n = batch * channels * spatial;
        let mut r = rng(4);
        let y0 = uniform(&mut r, n, -1.0, 1.0);
        let b = uniform(&mut r, channels, -1.0, 1.0);
        let ty = g.upload("y", &[n], &y0).unwrap();
        let tb = g.upload("b", &[channels], &b).unwrap();
        let d = conv::bias_add(g, batch, channels, spatial, &tb, &ty).unwrap();
        g.run(&[&d]).unwrap();
        let want: Vec<f32> = (0..n).map(|i| y0[i] + b[(i / spatial) % channels]).collect();
        assert_eq!(g.read::<f32>(&ty).unwrap(), want);
        assert!(conv::bias_add(g, batch, channels + 1, spatial, &tb, &ty).is_err());
    }
}

/// L = sum(y * r) for the CPU forward, in f64.
fn loss(s: &ConvShape, x: &[f64], w: &[f64], b: &[f64], r: &[f32]) -> f64 {
    let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let y = cpu::forward(s, &f(x), &f(w), &f(b));
    y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
}

fn check_gradients(s: &ConvShape, seed: u64) {
    let mut rg = rng(seed);
    let f64s = |v: Vec<f32>| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let x = f64s(uniform(&mut rg, s.x_len(), -1.0, 1.0));
    let w = f64s(uniform(&mut rg, s.w_len(), -1.0, 1.0));
    let b = f64s(uniform(&mut rg, s.c_out, -1.0, 1.0));
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
    // Every coordinate: the shapes are small, and the corners (padding) matter.
    for (i, &g) in dx.iter().enumerate() {
        close("dx", i, fd(&mut |v| loss(s, v, &w, &b, &r), &x, i, h), g);
    }
    for (i, &g) in dw.iter().enumerate() {
        close("dw", i, fd(&mut |v| loss(s, &x, v, &b, &r), &w, i, h), g);
    }
    for (i, &g) in db.iter().enumerate() {
        close("db", i, fd(&mut |v| loss(s, &x, &w, v, &r), &b, i, h), g);
    }
    assert_eq!((dx.len(), dw.len(), db.len()), (x.len(), w.len(), b.len()));
}

#[test]
fn cpu_gradients_match_finite_differences() {
    check_gradients(&ConvShape::conv2d(2, 2, 3, 7, 9, 4, 2, 1), 11);
    check_gradients(&ConvShape::conv2d(1, 2, 2, 7, 9, 5, 3, 2), 12);
    check_gradients(&ConvShape::conv2d(1, 3, 2, 5, 4, 2, 3, 1), 13);
    check_gradients(&ConvShape::conv1d(2, 3, 2, 17, 5, 2, 2), 14);
}

#[test]
fn cpu_twin_is_the_transposed_convolutions_backward() {
    // The identities of src/ops/conv.rs on the CPU twins alone: conv = T's backward_input,
    // conv's backward_input = T's forward (zero bias), conv's dw = T's dw with x and dy swapped.
    use abprop::ops::conv_transpose::cpu as tcpu;
    for (i, (name, s)) in shapes().iter().enumerate() {
        let t = s.transposed();
        let mut r = rng(300 + i as u64);
        let x = uniform(&mut r, s.x_len(), -1.0, 1.0);
        let w = uniform(&mut r, s.w_len(), -1.0, 1.0);
        let dy = uniform(&mut r, s.y_len(), -1.0, 1.0);
        let zero_b = vec![0.0; s.c_out];
        let y = cpu::forward(s, &x, &w, &zero_b);
        assert_close(name, &y, &tcpu::backward_input(&t, &x, &w), 1e-6, 1e-6);
        let dx = cpu::backward_input(s, &dy, &w);
        assert_close(name, &dx, &tcpu::forward(&t, &dy, &w, &vec![0.0; s.c_in]), 1e-6, 1e-6);
        let (dw, _) = cpu::backward_weights(s, &x, &dy);
        assert_close(name, &dw, &tcpu::backward_weights(&t, &dy, &x).0, 1e-6, 1e-6);
    }
}

#[test]
fn spec_layers_conv2d_conv1d_flatten() {
    let spec = Spec::from_json(
        r#"{"latent": [1, 28, 28], "layers": [
            {"type": "conv2d", "channels": 32, "kernel": 4, "stride": 2, "padding": 1},
            {"type": "leaky_relu"},
            {"type": "conv2d", "channels": 64, "kernel": 4, "stride": 2, "padding": 1},
            {"type": "flatten"},
            {"type": "dense", "out": 20}]}"#,
    )
    .unwrap();
    assert_eq!(
        spec.shapes().unwrap(),
        vec![
            [1, 28, 28],
            [32, 14, 14],
            [32, 14, 14],
            [64, 7, 7],
            [64 * 49, 1, 1],
            [20, 1, 1]
        ]
    );
    assert_eq!(
        spec.layers[0],
        Layer::Conv2d {
            channels: 32,
            kernel: 4,
            stride: 2,
            padding: 1
        }
    );
    // Round trip through JSON.
    assert_eq!(Spec::from_json(&spec.to_json()).unwrap(), spec);
    // Parameters in PyTorch's layout and names.
    let p = abprop::model::init_params(&spec, 1).unwrap();
    let names: Vec<(&str, &[usize])> = p.iter().map(|(n, s, _)| (n.as_str(), s.as_slice())).collect();
    assert_eq!(
        names,
        vec![
            ("0.weight", &[32, 1, 4, 4][..]),
            ("0.bias", &[32][..]),
            ("2.weight", &[64, 32, 4, 4][..]),
            ("2.bias", &[64][..]),
            ("4.weight", &[20, 64 * 49][..]),
            ("4.bias", &[20][..]),
        ]
    );
    // Only a fully convolutional model takes another input size.
    assert!(spec.with_latent([1, 32, 32]).is_err());

    let s1 = Spec::from_json(
        r#"{"latent": [2, 1, 31], "layers": [
            {"type": "conv1d", "channels": 3, "kernel": 5, "stride": 3, "padding": 2}, {"type": "flatten"}]}"#,
    )
    .unwrap();
    assert_eq!(s1.shapes().unwrap(), vec![[2, 1, 31], [3, 1, 11], [33, 1, 1]]);
    let p = abprop::model::init_params(&s1, 1).unwrap();
    assert_eq!((p[0].0.as_str(), p[0].1.as_slice()), ("0.weight", &[3, 2, 5][..]));

    // Shape errors name the layer and the problem.
    let err = |json: &str| Spec::from_json(json).unwrap_err().to_string();
    let e = err(
        r#"{"latent": [1, 3, 3], "layers": [{"type": "conv2d", "channels": 2, "kernel": 6, "stride": 1, "padding": 1}]}"#,
    );
    assert!(
        e.contains("layer 0 (conv2d)") && e.contains("kernel 6 is larger than the padded input 5x5"),
        "{e}"
    );
    let e = err(
        r#"{"latent": [1, 2, 8], "layers": [{"type": "conv1d", "channels": 2, "kernel": 3, "stride": 1, "padding": 0}]}"#,
    );
    assert!(
        e.contains("layer 0 (conv1d)") && e.contains("[channels, 1, length]"),
        "{e}"
    );
    let e = err(
        r#"{"latent": [1, 1, 4], "layers": [{"type": "conv1d", "channels": 2, "kernel": 7, "stride": 1, "padding": 1}]}"#,
    );
    assert!(e.contains("larger than the padded input of length 6"), "{e}");
    let e = err(
        r#"{"latent": [1, 4, 4], "layers": [{"type": "conv2d", "channels": 2, "kernel": 3, "stride": 0, "padding": 0}]}"#,
    );
    assert!(e.contains("must be positive"), "{e}");
}
