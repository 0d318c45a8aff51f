//! The paper's networks end to end at their real shapes: forward, back-propagation to Z and
//! to the weights, GPU against the plain-Rust twin.
mod common;
use abprop::model::reference::Reference;
use abprop::model::{init_params, presets, Generator, Layer, Spec};
use common::*;

/// Relative to each tensor's largest value: ~20x the worst seen on lavapipe and llvmpipe GL
/// (6e-6, the forward pass of the object net), about that of one kernel's test; summation
/// orders differ between the GPU's blocked kernels and the CPU's loops.
const RTOL: f32 = 1e-4;

fn check(name: &str, spec: &Spec, batch: usize, rtol: f32) {
    let g = gpu();
    let mut r = rng(11);
    // Larger weights than the N(0, 0.005^2) initialization, so every layer matters.
    let params: Vec<_> = init_params(spec, 5)
        .unwrap()
        .into_iter()
        .map(|(n, s, v)| {
            let w = if n.ends_with("weight") && s.len() > 1 {
                v.iter().map(|x| x * 10.0).collect()
            } else {
                v
            };
            (n, s, w)
        })
        .collect();
    let gen = Generator::new(g, spec, batch, &params).unwrap();
    let cpu = Reference::new(spec, batch, &params).unwrap();
    let z = uniform(&mut r, batch * spec.latent_dim(), -2.0, 2.0);
    let out = gen.output().len();
    let dout = uniform(&mut r, out, -1.0, 1.0);
    g.write(gen.latent(), &z).unwrap();
    g.write(gen.output_grad(), &dout).unwrap();
    let mut seq = gen.forward_seq();
    seq.extend(gen.to_latent_seq());
    g.run(&seq).unwrap();
    let trace = cpu.forward(&z);
    let want_out = trace.acts.last().unwrap();
    assert_eq!(want_out.len(), out);
    assert_close(
        &format!("{name}: forward"),
        &g.read::<f32>(gen.output()).unwrap(),
        want_out,
        rtol,
        1e-6,
    );
    // The backward passes are compared given the GPU's own forward trace: where a ReLU's input
    // is within rounding of 0, the CPU's and GPU's forward values may fall on different sides
    // and the derivative differs there, which says nothing about the backward kernels.
    let mut gpu_trace = abprop::model::reference::Trace {
        acts: vec![z.clone()],
        stats: Vec::new(),
    };
    for (i, &(_, o)) in gen.layer_io().iter().enumerate() {
        gpu_trace.acts.push(g.read(gen.activation(o)).unwrap());
        gpu_trace.stats.push(gen.stats(i).map(|t| g.read(t).unwrap()));
    }
    let (dz, dparams) = cpu.backward(&gpu_trace, &dout);
    assert_close(
        &format!("{name}: gradient w.r.t. Z"),
        &g.read::<f32>(gen.latent_grad()).unwrap(),
        &dz,
        rtol,
        1e-6,
    );
    // The learning sequence: the output gradient is intact (nothing writes it). It skips the
    // gradient w.r.t. Z (the first layer's backward pass to its input): a sentinel there stays.
    let sentinel = vec![f32::NAN; gen.latent_grad().len()];
    g.write(gen.latent_grad(), &sentinel).unwrap();
    g.run(&gen.to_weights_seq()).unwrap();
    assert!(
        g.read::<f32>(gen.latent_grad()).unwrap().iter().all(|v| v.is_nan()),
        "{name}: learning wrote the gradient w.r.t. Z"
    );
    let got = gen.read_grads(g).unwrap();
    let scale = |v: &[f32]| v.iter().fold(0f32, |m, x| m.max(x.abs()));
    for (k, (p, want)) in got.iter().zip(&dparams).enumerate() {
        // A bias followed by batch norm has a gradient of exactly 0 in exact arithmetic (the
        // normalization removes it); both sides hold only rounding there, so it is held to
        // the scale of its layer's weight gradient.
        let layer = p.0.split('.').next().unwrap();
        let weight_scale = got
            .iter()
            .position(|q| q.0 == format!("{layer}.weight"))
            .map_or(0.0, |w| scale(&dparams[w]));
        let atol = if p.0.ends_with("bias") {
            2e-5 * weight_scale
        } else {
            1e-6
        };
        assert_close(
            &format!("{name}: gradient w.r.t. {} ({k})", p.0),
            &p.2,
            want,
            rtol,
            atol.max(1e-6),
        );
    }
}

#[test]
fn texture_net_224_gpu_matches_cpu() {
    let spec = presets::texture_net(3);
    assert_eq!(spec.output().unwrap(), [3, 224, 224]);
    // Long sums (K up to 12800) in f32 on the GPU against f64 on the CPU.
    check("texture", &spec, 1, RTOL);
}

#[test]
fn object_net_64_gpu_matches_cpu() {
    let spec = presets::object_net(100, 3);
    assert_eq!(spec.output().unwrap(), [3, 64, 64]);
    check("object", &spec, 3, RTOL);
}

#[test]
fn sound_net_60000_gpu_matches_cpu() {
    let spec = presets::sound_net();
    assert_eq!(spec.output().unwrap(), [1, 1, 60000]);
    check("sound", &spec, 1, RTOL);
}

/// The bottom-up encoder of the IABP/HiABP models on MNIST shapes: image -> 2 d values (the
/// mean and log-variance of q(z | y) for d = 10).
fn mnist_encoder(d: usize) -> Spec {
    let conv = |channels| Layer::Conv2d {
        channels,
        kernel: 4,
        stride: 2,
        padding: 1,
    };
    Spec {
        latent: [1, 28, 28],
        layers: vec![
            conv(32),
            Layer::LeakyRelu { slope: 0.2 },
            conv(64),
            Layer::LeakyRelu { slope: 0.2 },
            Layer::Flatten,
            Layer::Dense { out: 2 * d },
        ],
        encoder: None,
        levels: None,
    }
}

#[test]
fn mnist_encoder_gpu_matches_cpu() {
    let spec = mnist_encoder(10);
    let shapes = spec.shapes().unwrap();
    assert_eq!(shapes[1], [32, 14, 14]);
    assert_eq!(shapes[3], [64, 7, 7]);
    assert_eq!(shapes[5], [64 * 7 * 7, 1, 1]);
    assert_eq!(spec.output().unwrap(), [20, 1, 1]);
    // "Z" is the encoder's input, the image: its gradient is the encoder's back-propagation
    // to its input.
    check("mnist encoder", &spec, 5, RTOL);
    check("mnist encoder batch 1", &spec, 1, RTOL);
}

/// A 1-D encoder (conv1d, flatten) and a decoder that starts with a convolution, so that the
/// convolution's backward pass to its input is the one learning skips.
#[test]
fn conv1d_encoder_and_conv_first_nets_gpu_match_cpu() {
    let spec = Spec::from_json(
        r#"{"latent": [1, 1, 400], "layers": [
            {"type": "conv1d", "channels": 16, "kernel": 25, "stride": 10, "padding": 8},
            {"type": "leaky_relu"},
            {"type": "conv1d", "channels": 32, "kernel": 5, "stride": 2, "padding": 2},
            {"type": "tanh"},
            {"type": "flatten"},
            {"type": "dense", "out": 6}]}"#,
    )
    .unwrap();
    assert_eq!(spec.shapes().unwrap()[3], [32, 1, 20]);
    check("conv1d encoder", &spec, 3, RTOL);
    let spec = Spec::from_json(
        r#"{"latent": [3, 9, 7], "layers": [
            {"type": "conv2d", "channels": 8, "kernel": 3, "stride": 1, "padding": 1},
            {"type": "batch_norm"}, {"type": "relu"},
            {"type": "conv_transpose2d", "channels": 4, "kernel": 4, "stride": 2, "padding": 1},
            {"type": "conv2d", "channels": 2, "kernel": 5, "stride": 3, "padding": 2},
            {"type": "sigmoid"}]}"#,
    )
    .unwrap();
    assert_eq!(spec.output().unwrap(), [2, 6, 5]);
    check("conv first", &spec, 2, RTOL);
}

#[test]
fn larger_latents_give_larger_outputs() {
    let spec = presets::texture_net(3).with_latent([1, 14, 14]).unwrap();
    assert_eq!(spec.output().unwrap(), [3, 448, 448]);
    let s = presets::sound_net().with_latent([1, 1, 12]).unwrap();
    assert_eq!(s.output().unwrap(), [1, 1, 120000]);
    assert!(presets::object_net(100, 3).with_latent([50, 1, 1]).is_err());
}
