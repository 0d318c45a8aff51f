//! A whole network on the GPU against its plain-Rust twin (`model::reference`): forward, the
//! back-propagation to the input (Z, or the data for an encoder) and to the weights. Works for
//! every network, heads (an encoder with levels, whose output is the heads' row) included.

use super::*;
use abprop::model::reference::{Reference, Trace};
use abprop::model::{init_params, Generator, HostParams, Spec};

/// Parameters of `spec` uniform in [-scale, scale) (weights and biases alike), so every
/// layer matters.
pub fn random_params(spec: &Spec, seed: u64, scale: f32) -> HostParams {
    let mut r = rng(seed);
    init_params(spec, 5)
        .unwrap()
        .into_iter()
        .map(|(n, s, v)| {
            let w = uniform(&mut r, v.len(), -scale, scale);
            (n, s, w)
        })
        .collect()
}

/// Runs `spec` with `params` for `batch` examples on the GPU and on the CPU and compares the
/// output, the gradient w.r.t. the input and every parameter gradient (tolerance `rtol` of
/// each tensor's largest value). The output and the input's gradient start as NaN on the
/// GPU, so every element must be written; the learning sequence runs from a fresh network
/// and must leave the input's gradient alone (it skips what only that needs).
pub fn gpu_matches_reference(name: &str, spec: &Spec, batch: usize, params: &HostParams, rtol: f32) {
    let g = gpu();
    let mut r = rng(11);
    let cpu = Reference::new(spec, batch, params).unwrap();
    let input: usize = spec.latent_dim() * batch;
    let z = uniform(&mut r, input, -1.5, 1.5);
    let per: usize = spec.output().unwrap().iter().product();
    let dout = uniform(&mut r, per * batch, -1.0, 1.0);
    let nan = |n: usize| vec![f32::NAN; n];

    let gen = Generator::new(g, spec, batch, params).unwrap();
    assert_eq!(gen.output().len(), per * batch, "{name}: output size");
    g.write(gen.latent(), &z).unwrap();
    g.write(gen.output(), &nan(per * batch)).unwrap();
    g.write(gen.latent_grad(), &nan(input)).unwrap();
    g.write(gen.output_grad(), &dout).unwrap();
    let mut seq = gen.forward_seq();
    seq.extend(gen.to_latent_seq());
    g.run(&seq).unwrap();
    let trace = cpu.forward(&z);
    assert_close(
        &format!("{name}: forward"),
        &g.read::<f32>(gen.output()).unwrap(),
        trace.acts.last().unwrap(),
        rtol,
        1e-6,
    );
    // The backward passes given the GPU's own forward trace (see tests/networks.rs).
    let mut gpu_trace = Trace {
        acts: vec![z.clone()],
        stats: Vec::new(),
    };
    for (i, &(_, o)) in gen.layer_io().iter().enumerate() {
        gpu_trace.acts.push(g.read(gen.activation(o)).unwrap());
        gpu_trace.stats.push(gen.stats(i).map(|t| g.read(t).unwrap()));
    }
    if spec.has_heads() {
        gpu_trace.acts.push(g.read(gen.output()).unwrap());
    }
    let (dz, dparams) = cpu.backward(&gpu_trace, &dout);
    assert_close(
        &format!("{name}: gradient w.r.t. the input"),
        &g.read::<f32>(gen.latent_grad()).unwrap(),
        &dz,
        rtol,
        1e-6,
    );

    // The learning sequence alone, on a fresh network.
    let fresh = Generator::new(g, spec, batch, params).unwrap();
    g.write(fresh.latent(), &z).unwrap();
    g.write(fresh.latent_grad(), &nan(input)).unwrap();
    g.write(fresh.output_grad(), &dout).unwrap();
    let mut seq = fresh.forward_seq();
    seq.extend(fresh.to_weights_seq());
    g.run(&seq).unwrap();
    let untouched: Vec<f32> = g.read(fresh.latent_grad()).unwrap();
    assert!(
        untouched.iter().all(|v| v.is_nan()),
        "{name}: the learning sequence wrote the input's gradient"
    );
    // And after the sequence to the input, on the first network (the output gradient is intact).
    g.run(&gen.to_weights_seq()).unwrap();
    for net in [&fresh, &gen] {
        let got = net.read_grads(g).unwrap();
        assert_eq!(got.len(), dparams.len());
        for (p, want) in got.iter().zip(&dparams) {
            assert_close(&format!("{name}: gradient w.r.t. {}", p.0), &p.2, want, rtol, 1e-6);
        }
    }
}
