//! HiABP's latent levels (Sun, Liu and Zhou 2021): the strided copy and accumulation kernels
//! against their CPU twin; the plain-Rust twin of `take`, `inject` and `head` layers against
//! finite differences; a 3-level generator and a 3-head encoder on the GPU against the twin
//! (forward, back-propagation to the input and to the weights); the HiABP MNIST preset; the
//! spec's checks of the levels; and a few iterations of the trainer with the preset and its
//! encoder (`--init encoder`), every head and inject layer learning.
mod common;
use abprop::model::reference::Reference;
use abprop::model::{presets, Layer, Spec};
use abprop::ops::strided::{self, cpu, Layout, Strided};
use common::nets::{gpu_matches_reference, random_params};
use common::*;

// ---- kernels ----

fn copy_cases() -> Vec<(&'static str, Strided, usize, usize)> {
    let s = |rows, blocks, cols, src: (usize, usize, usize), dst: (usize, usize, usize)| Strided {
        rows,
        blocks,
        cols,
        src: Layout {
            off: src.0,
            row: src.1,
            block: src.2,
        },
        dst: Layout {
            off: dst.0,
            row: dst.1,
            block: dst.2,
        },
    };
    vec![
        // A level of Z [1, 18] (offset 4, 6 values) to its own buffer.
        (
            "take batch 1",
            Strided::columns(1, 6, Layout::columns(18, 4), Layout::columns(6, 0)),
            18,
            6,
        ),
        (
            "take batch 5",
            Strided::columns(5, 6, Layout::columns(18, 4), Layout::columns(6, 0)),
            90,
            30,
        ),
        (
            "into Z's slice",
            Strided::columns(7, 5, Layout::columns(5, 0), Layout::columns(13, 3)),
            35,
            91,
        ),
        // A head's (mu, log-variance) into the heads' row of D = 18.
        ("head batch 1", s(1, 2, 6, (0, 12, 6), (4, 36, 18)), 12, 36),
        ("head batch 3", s(3, 2, 7, (0, 14, 7), (11, 36, 18)), 42, 108),
        ("head backwards batch 3", s(3, 2, 7, (11, 36, 18), (0, 14, 7)), 108, 42),
        // A concatenation's second part, a large one over many workgroups.
        (
            "concat 3 x 1000",
            Strided::columns(3, 1000, Layout::columns(1000, 0), Layout::columns(2333, 1333)),
            3000,
            6999,
        ),
        ("odd offsets", s(9, 3, 1, (1, 5, 2), (2, 7, 2)), 46, 65),
    ]
}

#[test]
fn strided_copy_matches_the_twin() {
    for g in gpus_each_layout() {
        for (k, (name, s, src_len, dst_len)) in copy_cases().into_iter().enumerate() {
            let mut r = rng(k as u64);
            let src = uniform(&mut r, src_len, -1.0, 1.0);
            // The destination's other elements must stay as they were.
            let before = uniform(&mut r, dst_len, 5.0, 6.0);
            let ts = g.upload("src", &[src_len], &src).unwrap();
            let td = g.upload("dst", &[dst_len], &before).unwrap();
            let d = strided::copy(g, &s, &ts, &td).unwrap();
            g.run(&[&d]).unwrap();
            let mut want = before.clone();
            cpu::copy(&s, &src, &mut want);
            let got: Vec<f32> = g.read(&td).unwrap();
            assert_eq!(got, want, "{name} (slots {})", g.slots);
            assert_eq!(
                want.iter().zip(&before).filter(|(a, b)| a != b).count(),
                s.len(),
                "{name}: the twin writes each element once"
            );
        }
    }
}

#[test]
fn accumulate_matches_the_twin() {
    for g in gpus_each_layout() {
        for n in [1usize, 3, 7, 256, 2049, 10007] {
            let mut r = rng(n as u64);
            let a = uniform(&mut r, n, -1.0, 1.0);
            let b = uniform(&mut r, n, -1.0, 1.0);
            let ta = g.upload("a", &[n], &a).unwrap();
            let tb = g.upload("b", &[n], &b).unwrap();
            g.run(&[&strided::accumulate(g, &ta, &tb).unwrap()]).unwrap();
            let mut want = b.clone();
            cpu::accumulate(&a, &mut want);
            assert_eq!(g.read::<f32>(&tb).unwrap(), want, "accumulate {n} (slots {})", g.slots);
        }
    }
}

#[test]
fn bad_copies_are_errors() {
    let g = gpu();
    let t = g.zeros("t", &[20]).unwrap();
    let u = g.zeros("u", &[20]).unwrap();
    let ok = Strided::columns(2, 5, Layout::columns(10, 0), Layout::columns(10, 5));
    assert!(strided::copy(g, &ok, &t, &u).is_ok());
    let past_end = Strided::columns(2, 5, Layout::columns(10, 6), Layout::columns(10, 0));
    assert!(strided::copy(g, &past_end, &t, &u).is_err(), "reads past the end");
    assert!(
        strided::copy(g, &past_end.reversed(), &t, &u).is_err(),
        "writes past the end"
    );
    let overlap = Strided::columns(2, 5, Layout::columns(10, 0), Layout::columns(3, 0));
    assert!(
        strided::copy(g, &overlap, &t, &u).is_err(),
        "rows overlap in the destination"
    );
    let empty = Strided::columns(0, 5, Layout::columns(10, 0), Layout::columns(10, 0));
    assert!(strided::copy(g, &empty, &t, &u).is_err(), "empty copy");
    let v = g.zeros("v", &[19]).unwrap();
    assert!(strided::accumulate(g, &t, &v).is_err(), "sizes differ");
}

// ---- networks ----

fn spec(json: &str) -> Spec {
    Spec::from_json(json).unwrap_or_else(|e| panic!("{e:#}\n{json}"))
}

/// A small 3-level model with smooth activations (for finite differences): levels [2, 3, 4],
/// output [1, 4, 4]; the encoder's first head reads the data directly and two heads share
/// their features.
fn small_model() -> Spec {
    spec(
        r#"{ "latent": [9, 1, 1], "levels": [2, 3, 4],
             "layers": [
               {"type": "take", "level": 3}, {"type": "dense", "out": 8},
               {"type": "reshape", "shape": [2, 2, 2]}, {"type": "tanh"},
               {"type": "inject", "level": 2, "channels": 1},
               {"type": "conv_transpose2d", "channels": 2, "kernel": 4, "stride": 2, "padding": 1},
               {"type": "inject", "level": 1, "channels": 2},
               {"type": "conv_transpose2d", "channels": 1, "kernel": 3, "stride": 1, "padding": 1},
               {"type": "sigmoid"} ],
             "encoder": [
               {"type": "head", "level": 1}, {"type": "dense", "out": 6}, {"type": "tanh"},
               {"type": "head", "level": 2}, {"type": "reshape", "shape": [3, 2, 1]},
               {"type": "head", "level": 3} ] }"#,
    )
}

/// Checks the twin's gradients of L = sum(out * r) w.r.t. the input (all of it) and a sample
/// of every parameter by central differences.
fn check_reference_gradients(name: &str, spec: &Spec, batch: usize, seed: u64) {
    let params = random_params(spec, seed, 0.7);
    let net = Reference::new(spec, batch, &params).unwrap();
    let mut r = rng(seed + 1);
    let x = uniform(&mut r, batch * spec.latent_dim(), -1.0, 1.0);
    let t = net.forward(&x);
    let out = t.acts.last().unwrap();
    assert_eq!(out.len(), batch * spec.output().unwrap().iter().product::<usize>());
    let rr = uniform(&mut r, out.len(), -1.0, 1.0);
    let (dx, dparams) = net.backward(&t, &rr);
    let loss = |net: &Reference, x: &[f32]| -> f64 {
        let t = net.forward(x);
        t.acts
            .last()
            .unwrap()
            .iter()
            .zip(&rr)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    };
    let h = 1e-2;
    let close = |what: &str, num: f64, ana: f32| {
        assert!(
            (num - ana as f64).abs() <= 2e-3 * (1.0 + num.abs()),
            "{name}: {what}: finite difference {num} vs back-propagation {ana}"
        );
    };
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for (i, &ana) in dx.iter().enumerate() {
        let num = fd(
            &mut |v| loss(&net, &v.iter().map(|&a| a as f32).collect::<Vec<_>>()),
            &x64,
            i,
            h,
        );
        close(&format!("input[{i}]"), num, ana);
    }
    for (k, (pname, _, v)) in params.iter().enumerate() {
        let v64: Vec<f64> = v.iter().map(|&a| a as f64).collect();
        for j in 0..v.len().min(6) {
            let i = (j * 7919) % v.len();
            let num = fd(
                &mut |w| {
                    let mut p = params.clone();
                    p[k].2 = w.iter().map(|&a| a as f32).collect();
                    loss(&Reference::new(spec, batch, &p).unwrap(), &x)
                },
                &v64,
                i,
                h,
            );
            close(&format!("{pname}[{i}]"), num, dparams[k][i]);
        }
    }
}

#[test]
fn reference_gradients_match_finite_differences() {
    let model = small_model();
    for batch in [1, 3] {
        check_reference_gradients("generator", &model, batch, 20 + batch as u64);
        let enc = model.encoder_spec().unwrap().unwrap();
        assert_eq!(enc.output().unwrap(), [18, 1, 1]);
        check_reference_gradients("encoder", &enc, batch, 30 + batch as u64);
    }
}

#[test]
fn the_reference_places_levels_and_heads() {
    // Z's slices and the heads' row by hand: a generator [take 2, inject 1] whose weights
    // pick coordinates, an encoder whose heads copy their features.
    let model = spec(
        r#"{ "latent": [3, 1, 1], "levels": [1, 2],
             "layers": [ {"type": "take", "level": 2}, {"type": "inject", "level": 1, "channels": 1} ],
             "encoder": [ {"type": "dense", "out": 2}, {"type": "head", "level": 2},
                          {"type": "dense", "out": 2}, {"type": "head", "level": 1} ] }"#,
    );
    assert_eq!(model.shapes().unwrap(), vec![[3, 1, 1], [2, 1, 1], [3, 1, 1]]);
    let mut p = random_params(&model, 1, 1.0);
    p[0].2 = vec![2.0]; // u = 2 z^1 + 0.5
    p[1].2 = vec![0.5];
    let net = Reference::new(&model, 2, &p).unwrap();
    let z = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let t = net.forward(&z);
    assert_eq!(t.acts[1], vec![2.0, 3.0, 5.0, 6.0], "z^2 of each example");
    assert_eq!(
        t.acts[2],
        vec![2.0, 3.0, 2.5, 5.0, 6.0, 8.5],
        "concat(z^2, 2 z^1 + 0.5)"
    );
    let (dz, grads) = net.backward(&t, &[1.0, 1.0, 1.0, 10.0, 10.0, 10.0]);
    assert_eq!(dz, vec![2.0, 1.0, 1.0, 20.0, 10.0, 10.0], "dZ = [2 du | dz^2]");
    assert_eq!(grads[0], vec![1.0 + 40.0], "dW = sum du z^1");
    assert_eq!(grads[1], vec![11.0]);

    let enc = model.encoder_spec().unwrap().unwrap();
    assert_eq!(enc.output().unwrap(), [6, 1, 1]);
    // Head 2 (layer 1) reads dense 0's [a, b]: mu^2 = a, log var^2 = b; head 1 (layer 3)
    // reads dense 2's [c, e]: mu^1 = c, log var^1 = e. Identity weights, zero biases.
    let mut p = random_params(&enc, 2, 1.0);
    let eye = |n: usize, m: usize| {
        (0..n * m)
            .map(|i| ((i / m) == (i % m)) as u8 as f32)
            .collect::<Vec<_>>()
    };
    p[0].2 = eye(2, 3);
    p[1].2 = vec![0.0; 2];
    p[2].2 = eye(4, 2); // head 2: [mu, logvar] = [a, b] (2 d = 4 rows, only the first 2 active)
    p[3].2 = vec![0.0; 4];
    p[4].2 = vec![1.0, 0.0, 0.0, 1.0];
    p[5].2 = vec![0.0; 2];
    p[6].2 = vec![1.0, 0.0, 0.0, 1.0]; // head 1: [mu, logvar] = [c, e]
    p[7].2 = vec![0.0; 2];
    let net = Reference::new(&enc, 1, &p).unwrap();
    let t = net.forward(&[1.0, 2.0, 3.0]);
    // Features after layer 0: [1, 2]; head 2 = [1, 2, 0, 0] -> mu^2 = [1, 2], logvar^2 = [0, 0];
    // features after layer 2: [1, 2]; head 1 = [1, 2] -> mu^1 = 1, logvar^1 = 2.
    // Row: [mu^1 | mu^2 | logvar^1 | logvar^2] = [1, 1, 2, 2, 0, 0].
    assert_eq!(t.acts.last().unwrap(), &vec![1.0, 1.0, 2.0, 2.0, 0.0, 0.0]);
}

/// The brief's 3-level generator (levels [4, 6, 8]) at odd sizes and its 3-head encoder.
fn three_level_model() -> Spec {
    spec(
        r#"{ "latent": [18, 1, 1], "levels": [4, 6, 8],
             "layers": [
               {"type": "take", "level": 3}, {"type": "dense", "out": 45},
               {"type": "reshape", "shape": [5, 3, 3]}, {"type": "leaky_relu", "slope": 0.1},
               {"type": "conv_transpose2d", "channels": 6, "kernel": 4, "stride": 2, "padding": 1},
               {"type": "inject", "level": 2, "channels": 3},
               {"type": "conv_transpose2d", "channels": 4, "kernel": 4, "stride": 2, "padding": 1},
               {"type": "inject", "level": 1, "channels": 2},
               {"type": "conv_transpose2d", "channels": 1, "kernel": 3, "stride": 1, "padding": 1},
               {"type": "sigmoid"} ],
             "encoder": [
               {"type": "dense", "out": 20}, {"type": "leaky_relu", "slope": 0.1},
               {"type": "head", "level": 1},
               {"type": "dense", "out": 12}, {"type": "reshape", "shape": [3, 2, 2]},
               {"type": "leaky_relu", "slope": 0.1}, {"type": "head", "level": 2},
               {"type": "dense", "out": 7}, {"type": "leaky_relu", "slope": 0.1},
               {"type": "head", "level": 3} ] }"#,
    )
}

#[test]
fn three_level_generator_and_encoder_gpu_match_cpu() {
    let model = three_level_model();
    let shapes = model.shapes().unwrap();
    assert_eq!(shapes[1], [8, 1, 1]);
    assert_eq!(shapes[6], [9, 6, 6]);
    assert_eq!(shapes[8], [6, 12, 12]);
    assert_eq!(model.output().unwrap(), [1, 12, 12]);
    let enc = model.encoder_spec().unwrap().unwrap();
    assert_eq!(enc.output().unwrap(), [36, 1, 1]);
    for batch in [1, 3] {
        let p = random_params(&model, batch as u64, 0.5);
        gpu_matches_reference(&format!("3-level generator, batch {batch}"), &model, batch, &p, 1e-4);
        let p = random_params(&enc, 10 + batch as u64, 0.5);
        gpu_matches_reference(&format!("3-head encoder, batch {batch}"), &enc, batch, &p, 1e-4);
    }
    // The small model: a head on the data itself and heads sharing features.
    let small = small_model();
    let enc = small.encoder_spec().unwrap().unwrap();
    let p = random_params(&small, 3, 0.7);
    gpu_matches_reference("small generator", &small, 2, &p, 1e-4);
    let p = random_params(&enc, 4, 0.7);
    gpu_matches_reference("small encoder", &enc, 2, &p, 1e-4);
}

#[test]
fn hiabp_mnist_preset() {
    for levels in [vec![5], vec![4, 6], vec![4, 6, 8], vec![2, 3, 4, 5]] {
        let m = presets::hiabp_mnist_net(&levels, [8, 16]);
        m.validate().unwrap_or_else(|e| panic!("{levels:?}: {e:#}"));
        let d: usize = levels.iter().sum();
        assert_eq!(m.latent, [d, 1, 1]);
        assert_eq!(m.output().unwrap(), [1, 28, 28]);
        assert_eq!(m.range(), abprop::model::Range::Unit);
        let enc = m.encoder_spec().unwrap().unwrap();
        assert_eq!(enc.output().unwrap(), [2 * d, 1, 1]);
        let heads = enc.layers.iter().filter(|l| matches!(l, Layer::Head { .. })).count();
        assert_eq!(heads, levels.len());
        assert_eq!(Spec::from_json(&m.to_json()).unwrap(), m, "JSON round trip");
    }
    // Injections at 7x7 (level 2) and 14x14 (level 1).
    let m = presets::hiabp_mnist_net(&[4, 6, 8], [8, 16]);
    let shapes = m.shapes().unwrap();
    let at = |l: usize| {
        let i = m.layers.iter().position(|x| x.level() == Some(l)).unwrap();
        (shapes[i], shapes[i + 1])
    };
    assert_eq!(at(2), ([16, 7, 7], [20, 7, 7]));
    assert_eq!(at(1), ([8, 14, 14], [10, 14, 14]));
    // On the GPU at its real shapes.
    let p = random_params(&m, 8, 0.2);
    gpu_matches_reference("hiabp mnist generator", &m, 2, &p, 1e-4);
    let enc = m.encoder_spec().unwrap().unwrap();
    let p = random_params(&enc, 9, 0.1);
    gpu_matches_reference("hiabp mnist encoder", &enc, 2, &p, 1e-4);
}

// ---- the spec's checks ----

/// The spec with generator `layers` (JSON list bodies), `levels` and `latent`, and its error.
fn error(latent: &str, levels: &str, layers: &str, encoder: Option<&str>) -> String {
    let enc = encoder.map(|e| format!(r#", "encoder": [{e}]"#)).unwrap_or_default();
    let levels = if levels.is_empty() {
        String::new()
    } else {
        format!(r#", "levels": {levels}"#)
    };
    let json = format!(r#"{{ "latent": {latent}{levels}, "layers": [{layers}]{enc} }}"#);
    match Spec::from_json(&json) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => format!("{e:#}"),
    }
}

const TAIL: &str = r#"{"type": "dense", "out": 4}, {"type": "reshape", "shape": [1, 2, 2]}"#;

#[track_caller]
fn says(e: &str, parts: &[&str]) {
    for p in parts {
        assert!(e.contains(p), "error {e:?} does not say {p:?}");
    }
}

#[test]
fn the_spec_checks_the_levels() {
    let take = r#"{"type": "take", "level": 2}"#;
    let inj = |l: usize| format!(r#"{{"type": "inject", "level": {l}, "channels": 1}}"#);
    // A good one, to start from.
    let good = format!(
        r#"{{ "latent": [5, 1, 1], "levels": [2, 3], "layers": [{take}, {TAIL}, {}] }}"#,
        inj(1)
    );
    let s = Spec::from_json(&good).unwrap();
    assert_eq!(s.output().unwrap(), [2, 2, 2]);
    assert_eq!(s.level_slice(1).unwrap(), (0, 2));
    assert_eq!(s.level_slice(2).unwrap(), (2, 3));
    assert!(s.to_json().contains("\"levels\""));
    // Specs without levels serialize as before.
    assert!(!presets::object_net(10, 1).to_json().contains("levels"));

    // A level used by no layer.
    says(
        &error("[5, 1, 1]", "[2, 3]", &format!("{take}, {TAIL}"), None),
        &["level 1", "used by no layer"],
    );
    // A level used twice.
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &format!("{take}, {TAIL}, {}, {}", inj(1), inj(1)),
            None,
        ),
        &["layer 4 (inject)", "level 1", "layer 3 already uses"],
    );
    // The top level injected as well as taken.
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &format!("{take}, {TAIL}, {}, {}", inj(1), inj(2)),
            None,
        ),
        &["layer 4 (inject)", "top level 2"],
    );
    // Take not first.
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &format!(r#"{{"type": "dense", "out": 5}}, {take}, {TAIL}, {}"#, inj(1)),
            None,
        ),
        &["layer 0 must be", "take", "not dense"],
    );
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &format!(r#"{take}, {TAIL}, {}, {{"type": "take", "level": 1}}"#, inj(1)),
            None,
        ),
        &["layer 4 (take)", "first layer"],
    );
    // Take of a lower level.
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &format!(r#"{{"type": "take", "level": 1}}, {TAIL}, {}"#, inj(2)),
            None,
        ),
        &["layer 0 (take) takes level 1", "top level 2"],
    );
    // The latent not [D, 1, 1].
    says(
        &error("[1, 1, 5]", "[2, 3]", &format!("{take}, {TAIL}, {}", inj(1)), None),
        &["latent must be [5, 1, 1]", "[1, 1, 5]"],
    );
    says(
        &error("[6, 1, 1]", "[2, 3]", &format!("{take}, {TAIL}, {}", inj(1)), None),
        &["latent must be [5, 1, 1]"],
    );
    // A level that does not exist, empty and zero levels.
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &format!("{take}, {TAIL}, {}, {}", inj(1), inj(3)),
            None,
        ),
        &["layer 4 (inject) uses level 3", "1..=2"],
    );
    says(&error("[0, 1, 1]", "[]", take, None), &["levels []"]);
    says(&error("[3, 1, 1]", "[3, 0]", take, None), &["levels [3, 0]"]);
    // Level layers without levels.
    says(
        &error("[5, 1, 1]", "", &format!("{take}, {TAIL}"), None),
        &["layer 0 (take)", "no \"levels\""],
    );
    // Heads in the generator, take or inject in the encoder.
    let ok = format!("{take}, {TAIL}, {}", inj(1));
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &format!(r#"{ok}, {{"type": "head", "level": 1}}"#),
            None,
        ),
        &["layer 4 (head)", "encoder"],
    );
    let head = |l: usize| format!(r#"{{"type": "head", "level": {l}}}"#);
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &ok,
            Some(&format!("{}, {}, {}", inj(1), head(1), head(2))),
        ),
        &["encoder layer 0 (inject)", "generator"],
    );
    // Encoder heads: each level once, the last layer a head.
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &ok,
            Some(&format!(r#"{}, {{"type": "dense", "out": 3}}, {}"#, head(1), head(1))),
        ),
        &["encoder layer 2 (head)", "level 1", "encoder layer 0 already has"],
    );
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &ok,
            Some(&format!(r#"{{"type": "dense", "out": 3}}, {}"#, head(2))),
        ),
        &["level 1", "no head"],
    );
    says(
        &error(
            "[5, 1, 1]",
            "[2, 3]",
            &ok,
            Some(&format!(r#"{}, {}, {{"type": "dense", "out": 10}}"#, head(1), head(2))),
        ),
        &["encoder layer 2 (dense)", "after the last head"],
    );
    says(
        &error("[5, 1, 1]", "[2, 3]", &ok, Some(&format!("{}, {}", head(1), head(3)))),
        &["encoder layer 1 (head)", "level 3"],
    );
    // An encoder without heads still ends in [2 D, 1, 1] (one proposal for all of Z).
    let flat = format!(
        r#"{{ "latent": [5, 1, 1], "levels": [2, 3], "layers": [{ok}], "encoder": [{{"type": "dense", "out": 10}}] }}"#
    );
    let s = Spec::from_json(&flat).unwrap();
    assert_eq!(s.encoder_spec().unwrap().unwrap().output().unwrap(), [10, 1, 1]);
    says(
        &error("[5, 1, 1]", "[2, 3]", &ok, Some(r#"{"type": "dense", "out": 9}"#)),
        &["must give [2 d, 1, 1] = [10, 1, 1]"],
    );
    // The single-level IABP encoder is unchanged.
    let iabp = presets::iabp_mnist_net(16, [8, 16]);
    iabp.validate().unwrap();
    assert_eq!(iabp.encoder_spec().unwrap().unwrap().output().unwrap(), [32, 1, 1]);
    // Another latent size is refused with levels.
    assert!(s.with_latent([6, 1, 1]).is_err());
}

// ---- with the trainer ----

/// `n` 28x28 images in [0, 1]: a Gaussian blob each, at a random place and width.
fn blobs(n: usize, seed: u64) -> abprop::data::Dataset {
    let mut r = rng(seed);
    let mut values = Vec::with_capacity(n * 784);
    for _ in 0..n {
        let p = uniform(&mut r, 3, 0.0, 1.0);
        let (cy, cx, s) = (7.0 + 14.0 * p[0], 7.0 + 14.0 * p[1], 2.5 + 3.0 * p[2]);
        for y in 0..28 {
            for x in 0..28 {
                let d2 = (y as f32 - cy).powi(2) + (x as f32 - cx).powi(2);
                values.push((-d2 / (2.0 * s * s)).exp());
            }
        }
    }
    abprop::data::Dataset {
        shape: [1, 28, 28],
        values,
        names: (0..n).map(|i| format!("blob{i}")).collect(),
        rate: None,
    }
}

#[test]
fn a_hiabp_model_trains_with_its_encoder() {
    use abprop::abp::{config, Observation, Trainer};
    let g = gpu();
    let spec = presets::hiabp_mnist_net(&[4, 6, 8], [8, 16]);
    let mut h = config::preset("iabp-mnist-quick").unwrap().hyper;
    assert_eq!(h.chains, config::Chains::Encoder);
    h.iterations = 15;
    h.batch = 10;
    h.langevin_steps = 5;
    let data = blobs(40, 3);
    let mut t = Trainer::new(g, &spec, &h, &data, &Observation::Full, None).unwrap();
    let before = t.checkpoint().unwrap();
    let mut first = None;
    t.train(|_, s| {
        first.get_or_insert(s.mse);
        Ok(())
    })
    .unwrap();
    let (first, last) = (first.unwrap(), t.last_error.unwrap());
    println!("HiABP training mse {first:.4} -> {last:.4}");
    assert!(
        last.is_finite() && last < 0.8 * first,
        "training error {first} -> {last}"
    );
    let after = t.checkpoint().unwrap();
    // Every head's weights are saved and learn; so do the inject layers'.
    let enc = spec.encoder.as_ref().unwrap();
    for (i, l) in enc.iter().enumerate().filter(|(_, l)| matches!(l, Layer::Head { .. })) {
        let k = format!("encoder.{i}.weight");
        assert_ne!(after.tensors[&k], before.tensors[&k], "{k} ({l:?}) did not move");
    }
    for (i, l) in spec
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Layer::Inject { .. }))
    {
        let k = format!("{i}.weight");
        assert_ne!(after.tensors[&k], before.tensors[&k], "{k} ({l:?}) did not move");
    }
}
