//! Training end to end on the shipped real data: the reconstruction error falls for each kind
//! of network, runs are reproducible bit for bit, and a resumed run equals an uninterrupted one.
mod common;
use abprop::abp::{preset, Hyper, Trainer};
use abprop::data::{self, Dataset, LoadOptions};
use abprop::io::checkpoint::Checkpoint;
use abprop::model::Spec;
use common::*;
use std::path::Path;

fn load(path: &str, shape: [usize; 3]) -> Dataset {
    let opt = LoadOptions {
        shape,
        resize: true,
        resample: false,
        rate: 11025,
        limit: None,
    };
    data::load(Path::new(env!("CARGO_MANIFEST_DIR")).join(path).as_path(), &opt).unwrap()
}

/// 32x32 crops of a shipped photograph as a small set of "object" images.
fn crops(n: usize) -> Dataset {
    let full = load("assets/grass.png", [1, 128, 128]);
    let mut values = Vec::new();
    for k in 0..n {
        let (oy, ox) = ((k / 4) * 32, (k % 4) * 32);
        for y in 0..32 {
            values.extend_from_slice(&full.values[(oy + y) * 128 + ox..(oy + y) * 128 + ox + 32]);
        }
    }
    Dataset {
        shape: [1, 32, 32],
        values,
        names: (0..n).map(|k| format!("crop{k}")).collect(),
        rate: None,
    }
}

fn train(spec: &Spec, hyper: &Hyper, data: &Dataset) -> Vec<f64> {
    let mut t = Trainer::new(gpu(), spec, hyper, data, &abprop::abp::Observation::Full, None).unwrap();
    (0..hyper.iterations).map(|_| t.iterate().unwrap()).collect()
}

#[track_caller]
fn assert_learns(what: &str, errors: &[f64], factor: f64) {
    let (first, last) = (errors[0], *errors.last().unwrap());
    assert!(errors.iter().all(|e| e.is_finite()), "{what}: {errors:?}");
    assert!(
        last < first * factor,
        "{what}: error went from {first} to {last}, not below {factor} of it: {errors:?}"
    );
}

#[test]
fn texture_quick_learns_brick() {
    let p = preset("texture-quick").unwrap();
    let data = load("assets/brick.png", p.spec.output().unwrap());
    let mut h = p.hyper.clone();
    h.iterations = 25;
    assert_learns("texture-quick on brick.png", &train(&p.spec, &h, &data), 0.3);
}

#[test]
fn object_quick_learns_crops() {
    let p = preset("object-quick").unwrap();
    let data = crops(16);
    let mut h = p.hyper.clone();
    h.iterations = 12;
    h.batch = 8;
    h.langevin_steps = 5;
    assert_learns("object-quick on 16 crops", &train(&p.spec, &h, &data), 0.5);
}

#[test]
fn sound_quick_learns_a_clip() {
    let p = preset("sound-quick").unwrap();
    let data = load("assets/lunar_land.wav", p.spec.output().unwrap());
    assert_eq!(data.len(), 1);
    let mut h = p.hyper.clone();
    h.iterations = 25;
    assert_learns("sound-quick on lunar_land.wav", &train(&p.spec, &h, &data), 0.85);
}

#[test]
fn gradient_descent_and_fresh_chains_also_learn() {
    let p = preset("texture-quick").unwrap();
    let data = load("assets/gravel.png", p.spec.output().unwrap());
    let mut h = p.hyper.clone();
    h.iterations = 20;
    h.noise = false;
    assert_learns("Algorithm 1 (no noise)", &train(&p.spec, &h, &data), 0.5);
    h.noise = true;
    h.chains = abprop::abp::Chains::Fresh;
    // Short-run chains from N(0, I) learn more slowly than persistent ones, and their error
    // alternates from one iteration to the next (momentum 0.5): 30 iterations, not 20, so the
    // trend and not the draw of the random streams decides.
    h.iterations = 30;
    assert_learns("fresh chains", &train(&p.spec, &h, &data), 0.95);
}

fn small() -> (Spec, Hyper, Dataset) {
    let p = preset("object-quick").unwrap();
    let mut h = p.hyper.clone();
    h.batch = 4;
    h.langevin_steps = 3;
    h.iterations = 4;
    (p.spec, h, crops(8))
}

#[test]
fn an_iteration_is_one_submit_and_one_read_back() {
    // A device of its own, so that the other tests' work does not move its counters. Two
    // batches per iteration, each with three Langevin steps and a learning step: still one
    // submit (everything recorded into one encoder) and one read-back (the loss).
    use std::sync::atomic::Ordering::Relaxed;
    let g = abprop::gpu::Gpu::new().unwrap();
    let (spec, h, data) = small();
    let mut t = Trainer::new(&g, &spec, &h, &data, &abprop::abp::Observation::Full, None).unwrap();
    t.iterate().unwrap();
    let (s0, r0) = (g.submits.load(Relaxed), g.readbacks.load(Relaxed));
    for _ in 0..3 {
        t.iterate().unwrap();
    }
    assert_eq!(g.submits.load(Relaxed) - s0, 3, "submits in three iterations");
    assert_eq!(g.readbacks.load(Relaxed) - r0, 3, "read-backs in three iterations");
}

#[test]
fn hmc_is_one_submit_one_read_back_and_resumes_exactly() {
    // HMC's accept/reject runs on the GPU: still one submit and one read-back per iteration,
    // which carries the acceptance rate with the loss; a resumed run equals an uninterrupted one.
    use std::sync::atomic::Ordering::Relaxed;
    let g = abprop::gpu::Gpu::new().unwrap();
    let (spec, mut h, data) = small();
    h.sampler = abprop::abp::Sampler::Hmc { leapfrog: 2 };
    let new = |c: Option<&Checkpoint>| Trainer::new(&g, &spec, &h, &data, &abprop::abp::Observation::Full, c).unwrap();
    let mut t = new(None);
    t.iterate().unwrap();
    let half = t.checkpoint().unwrap();
    let (s0, r0) = (g.submits.load(Relaxed), g.readbacks.load(Relaxed));
    for _ in 0..3 {
        t.iterate().unwrap();
        let a = t.last_acceptance.expect("HMC reports its acceptance");
        assert!(
            (0.0..=1.0).contains(&a) && a * 24.0 == (a * 24.0).round(),
            "acceptance {a} of 8 x 3 transitions"
        );
        eprintln!("object-quick HMC (K = 2, D = 0.3): acceptance {a:.3}");
    }
    assert_eq!(g.submits.load(Relaxed) - s0, 3, "submits in three iterations");
    assert_eq!(g.readbacks.load(Relaxed) - r0, 3, "read-backs in three iterations");
    // One step of the GPU counter per transition: 2 batches x 3 transitions per iteration.
    assert_eq!(counter(&t.checkpoint().unwrap(), "langevin_step"), 4 * 2 * 3);
    let full = t.checkpoint().unwrap();
    let mut r = new(Some(&half));
    for _ in 0..3 {
        r.iterate().unwrap();
    }
    assert_eq!(
        r.checkpoint().unwrap().tensors,
        full.tensors,
        "a resumed HMC run differs"
    );
    assert!(full.meta("hyper").unwrap().contains("hmc"));
}

fn counter(c: &Checkpoint, name: &str) -> u32 {
    c.get(name).unwrap().u32().unwrap()[0]
}

#[test]
fn same_seed_same_bits_and_resume_is_exact() {
    let g = gpu();
    let (spec, h, data) = small();
    let run = |iters: usize| {
        let mut t = Trainer::new(g, &spec, &h, &data, &abprop::abp::Observation::Full, None).unwrap();
        for _ in 0..iters {
            t.iterate().unwrap();
        }
        t
    };
    let a = run(4).checkpoint().unwrap();
    let b = run(4).checkpoint().unwrap();
    assert_eq!(a.tensors, b.tensors, "two runs with the same seed differ");

    // Two iterations, a checkpoint through bytes, two more from it.
    let half = run(2).checkpoint().unwrap();
    let back = Checkpoint::from_bytes(&half.to_bytes().unwrap(), "test").unwrap();
    assert_eq!(back, half);
    let mut t = Trainer::new(g, &spec, &h, &data, &abprop::abp::Observation::Full, Some(&back)).unwrap();
    assert_eq!(t.iteration, 2);
    t.iterate().unwrap();
    t.iterate().unwrap();
    let resumed = t.checkpoint().unwrap();
    assert_eq!(
        resumed.tensors, a.tensors,
        "a resumed run differs from an uninterrupted one"
    );
    assert_eq!(resumed.meta("iteration").unwrap(), "4");

    // Another seed gives another run.
    let mut h2 = h.clone();
    h2.seed = 2.into();
    let mut t = Trainer::new(g, &spec, &h2, &data, &abprop::abp::Observation::Full, None).unwrap();
    t.iterate().unwrap();
    assert_ne!(
        t.checkpoint().unwrap().tensors.get("z"),
        run(1).checkpoint().unwrap().tensors.get("z")
    );
}

#[test]
fn divergence_is_an_error_and_keeps_the_last_checkpoint() {
    let g = gpu();
    let (spec, mut h, data) = small();
    let dir = tempfile::tempdir().unwrap();
    let opts = abprop::abp::TrainOptions {
        out: dir.path().to_path_buf(),
        checkpoint_every: 1,
        snapshot_every: 0,
        progress: false,
    };
    h.iterations = 2;
    let mut t = Trainer::new(g, &spec, &h, &data, &abprop::abp::Observation::Full, None).unwrap();
    t.run(&opts).unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    let good = std::fs::read(&path).unwrap();
    // A learning rate that overflows the weights.
    h.iterations = 5;
    h.optimizer = abprop::ops::optim::Optimizer::Sgd {
        lr: 1e38,
        momentum: 0.5,
        weight_decay: 0.0,
    };
    h.clip = abprop::ops::optim::Clip::None;
    let c = Checkpoint::load(&path).unwrap();
    let mut t = Trainer::new(g, &spec, &h, &data, &abprop::abp::Observation::Full, Some(&c)).unwrap();
    let err = t.run(&opts).unwrap_err().to_string();
    assert!(err.contains("diverged"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        good,
        "the last good checkpoint was overwritten"
    );
}
