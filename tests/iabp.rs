//! IABP (Sun, Liu and Zhou 2021): the encoder's proposal and fit kernels against their CPU twin
//! (the twin's gradient by finite differences), and training with `--init encoder`: an
//! iteration stays one submit and one read-back, same seed same bits, resume exact with the
//! encoder, and on real Fashion-MNIST digits test reconstructions from the encoder improved
//! by Langevin steps ([E+L]) beat the encoder alone ([E]).

mod common;
use abprop::abp::config::{preset, Chains, Hyper};
use abprop::abp::reconstruct::{reconstruct, ReconstructOptions};
use abprop::abp::{Observation, Trainer};
use abprop::data::{self, Dataset, LoadOptions};
use abprop::io::checkpoint::Checkpoint;
use abprop::model::{Norm, Spec};
use abprop::ops::proposal;
use common::*;

/// The tests of this binary one at a time: a training test's submits can hold GL's one context
/// for seconds, longer than wgpu's GL backend waits for it in another thread.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn proposal_kernels_match_the_cpu_twin() {
    let _serial = one_at_a_time();
    for g in gpus_each_layout() {
        for (batch, d, offset) in [(1usize, 3usize, 0u32), (5, 7, 13), (4, 16, 64)] {
            let mut r = rng(d as u64);
            let enc = uniform(&mut r, batch * 2 * d, -2.0, 2.0);
            let key = [0x1234, 0xabcd];
            let et = g.upload("enc", &[batch, 2 * d], &enc).unwrap();
            let zt = g.zeros("z", &[batch, d]).unwrap();
            let step = g.upload::<u32>("step", &[1], &[5]).unwrap();
            for noise in [true, false] {
                let op = proposal::propose(g, &et, &zt, d, &step, noise, key, offset).unwrap();
                g.run(&op.seq()).unwrap();
                let want = proposal::cpu::propose(&enc, d, noise, key, 5, offset);
                let got: Vec<f32> = g.read(&zt).unwrap();
                assert_close(&format!("propose b{batch} d{d} noise {noise}"), &got, &want, 1e-5, 1e-6);
                if !noise {
                    for i in 0..batch * d {
                        assert_eq!(got[i], enc[(i / d) * 2 * d + i % d], "z = mu without noise");
                    }
                }
            }
            // The fit's gradient at some z.
            let z = uniform(&mut r, batch * d, -2.0, 2.0);
            g.write(&zt, &z).unwrap();
            let gt = g.zeros("grad", &[batch, 2 * d]).unwrap();
            let op = proposal::fit(g, &et, &zt, d, &gt).unwrap();
            g.run(&op.seq()).unwrap();
            let want = proposal::cpu::fit(&enc, &z, d);
            assert_close(
                &format!("fit b{batch} d{d}"),
                &g.read::<f32>(&gt).unwrap(),
                &want,
                1e-5,
                1e-6,
            );
        }
    }
}

#[test]
fn the_fit_gradient_is_minus_the_loss_derivative() {
    let _serial = one_at_a_time();
    let (batch, d) = (3, 4);
    let mut r = rng(7);
    let enc: Vec<f64> = uniform(&mut r, batch * 2 * d, -1.5, 1.5)
        .iter()
        .map(|&v| v as f64)
        .collect();
    let z = uniform(&mut r, batch * d, -2.0, 2.0);
    let enc32: Vec<f32> = enc.iter().map(|&v| v as f32).collect();
    let g = proposal::cpu::fit(&enc32, &z, d);
    let mut loss = |e: &[f64]| {
        let e32: Vec<f32> = e.iter().map(|&v| v as f32).collect();
        proposal::cpu::loss(&e32, &z, d)
    };
    for (i, &gi) in g.iter().enumerate() {
        let num = -fd(&mut loss, &enc, i, 1e-2);
        assert!(
            (num - gi as f64).abs() <= 2e-3 * (1.0 + num.abs()),
            "element {i}: finite difference {num}, twin {gi}"
        );
    }
}

/// A small IABP model on 28x28 gray images in [0, 1]: the quick preset's network.
fn quick() -> (Spec, Hyper) {
    let p = preset("iabp-mnist-quick").unwrap();
    assert_eq!(p.hyper.chains, Chains::Encoder);
    (p.spec, p.hyper)
}

fn fashion(limit: usize, test: bool) -> Dataset {
    let file = if test {
        "t10k-images-idx3-ubyte.gz"
    } else {
        "train-images-idx3-ubyte.gz"
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/fashion-mnist")
        .join(file);
    let mut d = data::load(
        &path,
        &LoadOptions {
            shape: [1, 28, 28],
            resize: false,
            resample: false,
            rate: 11025,
            limit: Some(limit),
        },
    )
    .expect("Fashion-MNIST (bash scripts/fetch-data.sh fashion-mnist)");
    abprop::model::Range::Unit.data(&mut d.values);
    d
}

#[test]
fn an_encoder_iteration_is_one_submit_and_one_read_back_and_resume_is_exact() {
    let _serial = one_at_a_time();
    use std::sync::atomic::Ordering::Relaxed;
    let g = abprop::gpu::Gpu::new().unwrap();
    let (spec, mut h) = quick();
    h.batch = 4;
    h.langevin_steps = 3;
    h.iterations = 4;
    let data = fashion(8, false);
    let mut t = Trainer::new(&g, &spec, &h, &data, &Observation::Full, None).unwrap();
    assert!(t.encoder.is_some());
    t.iterate().unwrap();
    let (s0, r0) = (g.submits.load(Relaxed), g.readbacks.load(Relaxed));
    t.iterate().unwrap();
    assert_eq!(g.submits.load(Relaxed) - s0, 1, "submits in an iteration");
    assert_eq!(g.readbacks.load(Relaxed) - r0, 1, "read-backs in an iteration");

    let run = |iters: usize, resume: Option<&Checkpoint>| {
        let mut t = Trainer::new(&g, &spec, &h, &data, &Observation::Full, resume).unwrap();
        while t.iteration < iters {
            t.iterate().unwrap();
        }
        t.checkpoint().unwrap()
    };
    let a = run(4, None);
    assert!(
        a.tensors.contains_key("encoder.0.weight"),
        "the encoder's tensors are saved"
    );
    assert!(a.tensors.contains_key("propose_step"));
    assert_eq!(a.tensors, run(4, None).tensors, "two runs with the same seed differ");
    let half = Checkpoint::from_bytes(&run(2, None).to_bytes().unwrap(), "test").unwrap();
    let resumed = run(4, Some(&half));
    assert_eq!(
        resumed.tensors, a.tensors,
        "a resumed run differs from an uninterrupted one"
    );
    // The encoder learns: its weights moved from their start.
    let w0 = run(0, None).tensors["encoder.0.weight"].clone();
    assert_ne!(a.tensors["encoder.0.weight"], w0);
}

#[test]
fn iabp_on_fashion_mnist_langevin_improves_the_encoders_reconstructions() {
    let _serial = one_at_a_time();
    let g = gpu();
    let (spec, mut h) = quick();
    h.iterations = 12;
    h.batch = 20;
    let train = fashion(200, false);
    let test = fashion(100, true);
    let mut t = Trainer::new(g, &spec, &h, &train, &Observation::Full, None).unwrap();
    let mut first = None;
    t.train(|_, s| {
        first.get_or_insert(s.mse);
        Ok(())
    })
    .unwrap();
    let last = t.last_error.unwrap();
    println!("IABP training mse {:.4} -> {last:.4}", first.unwrap());
    assert!(
        last < 0.6 * first.unwrap(),
        "training error {} -> {last}",
        first.unwrap()
    );
    let params = t.gen.read_params(g).unwrap();
    let enc: Vec<_> = t.encoder.as_ref().unwrap().net.read_params(g).unwrap();
    let pop = t.population().unwrap();
    let o = |steps| ReconstructOptions {
        steps,
        delta: h.delta,
        sigma: h.sigma,
        noise: false,
        seed: h.seed,
        batch: 100,
        norm: Norm::Population(&pop),
        encoder: Some(&enc),
        sampler: h.sampler,
        start: None,
    };
    let e = reconstruct(g, &spec, &params, &test, &Observation::Full, &o(0))
        .unwrap()
        .mean_mse();
    let el = reconstruct(g, &spec, &params, &test, &Observation::Full, &o(h.langevin_steps))
        .unwrap()
        .mean_mse();
    let prior = reconstruct(
        g,
        &spec,
        &params,
        &test,
        &Observation::Full,
        &ReconstructOptions {
            encoder: None,
            ..o(h.langevin_steps)
        },
    )
    .unwrap()
    .mean_mse();
    println!("test mse: [E] {e:.4}, [E+L] {el:.4}, Langevin from N(0, I) {prior:.4}");
    assert!(el < e, "[E+L] {el} is not below [E] {e}");
}
