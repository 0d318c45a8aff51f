//! The paper's Experiments 5-7 (`abprop::eval`): occlusion masks, the masked loss, the sensing
//! projection, the PCA baseline, and short real runs on Fashion-MNIST (fetched by
//! scripts/fetch-data.sh) that must beat the simple baselines.
mod common;
use abprop::abp::reconstruct::{reconstruct, ReconstructOptions};
use abprop::abp::{preset, Observation, Trainer};
use abprop::data::masks::{self, Occlusion};
use abprop::data::Dataset;
use abprop::eval::source::{self, Split, SplitOptions};
use abprop::eval::{metrics, occlusion, pca::Pca, reconstruction, sensing, Net, Setup};
use abprop::model::presets::object_quick_net as quick_net;
use common::*;
use nalgebra::DMatrix;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---- masks ----

#[test]
fn occlusion_settings_parse_and_bad_ones_are_clear() {
    for (s, want) in [
        ("P.5", Occlusion::Pepper { fraction: 0.5 }),
        ("p.7", Occlusion::Pepper { fraction: 0.7 }),
        ("P0.9", Occlusion::Pepper { fraction: 0.9 }),
        ("M20", Occlusion::Region { side64: 20 }),
        ("m30", Occlusion::Region { side64: 30 }),
    ] {
        assert_eq!(Occlusion::parse(s).unwrap(), want, "{s}");
    }
    assert_eq!(Occlusion::parse("P.5").unwrap().to_string(), "P.5");
    assert_eq!(Occlusion::parse("M30").unwrap().to_string(), "M30");
    assert_eq!(Occlusion::parse_list("P.5,M20").unwrap().len(), 2);
    for bad in ["", "X", "P", "P.", "P1.5", "P.5x", "M", "M0", "M64", "M2x", "Q.5"] {
        let e = Occlusion::parse(bad).unwrap_err().to_string();
        assert!(e.contains("P.5") && e.contains("M20"), "{bad:?}: {e}");
    }
}

#[test]
fn pepper_masks_cover_the_requested_fraction() {
    for side in [16, 28, 32, 64] {
        for f in [0.3, 0.5, 0.7, 0.9] {
            let occ = Occlusion::Pepper { fraction: f };
            let m = occ.masks(40, [1, side, side], 7).unwrap();
            for (i, im) in m.chunks(side * side).enumerate() {
                assert!(im.iter().all(|&v| v == 0.0 || v == 1.0));
                let c = masks::coverage(im);
                assert!(
                    (c - f).abs() <= 0.02,
                    "{occ} on {side}x{side}, image {i}: {:.2}% occluded",
                    100.0 * c
                );
            }
            // Each image has its own mask; the same seed gives the same masks.
            assert_ne!(m[..side * side], m[side * side..2 * side * side]);
            assert_eq!(m, occ.masks(40, [1, side, side], 7).unwrap());
            assert_ne!(m, occ.masks(40, [1, side, side], 8).unwrap());
        }
    }
    // Occluded pixels come in 3x3 blocks: at 5% coverage nearly every occluded pixel has an
    // occluded neighbour on each axis within its block.
    let m = Occlusion::Pepper { fraction: 0.05 }.masks(1, [1, 64, 64], 3).unwrap();
    let hole = |y: i64, x: i64| (0..64).contains(&y) && (0..64).contains(&x) && m[(y * 64 + x) as usize] == 0.0;
    for y in 0..64 {
        for x in 0..64 {
            if hole(y, x) {
                assert!(hole(y - 1, x) || hole(y + 1, x), "lone occluded pixel at {y},{x}");
                assert!(hole(y, x - 1) || hole(y, x + 1), "lone occluded pixel at {y},{x}");
            }
        }
    }
    // Image i's mask does not depend on how many are drawn; channels share it.
    let occ = Occlusion::Pepper { fraction: 0.5 };
    let few = occ.masks(3, [1, 32, 32], 5).unwrap();
    let rgb = occ.masks(5, [3, 32, 32], 5).unwrap();
    for i in 0..3 {
        for ch in 0..3 {
            assert_eq!(
                few[i * 1024..(i + 1) * 1024],
                rgb[(i * 3 + ch) * 1024..(i * 3 + ch + 1) * 1024]
            );
        }
    }
    assert!(Occlusion::Pepper { fraction: 0.5 }
        .masks(1, [1, 1, 600], 1)
        .unwrap_err()
        .to_string()
        .contains("at least 3x3"));
}

#[test]
fn region_masks_are_squares_inside_the_image() {
    for (side64, size, want) in [
        (20, 64, 20),
        (30, 64, 30),
        (20, 32, 10),
        (30, 32, 15),
        (30, 28, 13),
        (20, 28, 9),
    ] {
        let occ = Occlusion::Region { side64 };
        let m = occ.masks(50, [1, size, size], 11).unwrap();
        let mut corners = std::collections::HashSet::new();
        for im in m.chunks(size * size) {
            let holes: Vec<(usize, usize)> = (0..size * size)
                .filter(|&p| im[p] == 0.0)
                .map(|p| (p / size, p % size))
                .collect();
            assert_eq!(holes.len(), want * want, "{occ} on {size}x{size}");
            let (y0, x0) = (
                holes.iter().map(|h| h.0).min().unwrap(),
                holes.iter().map(|h| h.1).min().unwrap(),
            );
            let (y1, x1) = (
                holes.iter().map(|h| h.0).max().unwrap(),
                holes.iter().map(|h| h.1).max().unwrap(),
            );
            // A full square (count = side^2 and bounding box side x side) inside the image.
            assert_eq!((y1 - y0 + 1, x1 - x0 + 1), (want, want));
            assert!(y1 < size && x1 < size);
            corners.insert((y0, x0));
        }
        assert!(corners.len() > 25, "{occ}: the squares do not move: {corners:?}");
        let f = occ.fraction(size, size);
        assert!((masks::coverage(&m) - f).abs() < 1e-9);
    }
}

// ---- the masked loss ----

fn tiny_setup(iterations: usize, batch: usize) -> Setup {
    let mut hyper = preset("object-quick").unwrap().hyper;
    hyper.iterations = iterations;
    hyper.batch = batch;
    hyper.langevin_steps = 10;
    Setup {
        size: 16,
        net: Net::Quick,
        d: 10,
        hyper,
        infer_steps: 100,
        infer_delta: 0.05,
        panel: 8,
        verbose: std::env::var_os("ABPROP_TEST_VERBOSE").is_some(),
    }
}

/// Random smooth-ish images [n, 1, 16, 16] in [-1, 1].
fn random_images(n: usize, seed: u64) -> Dataset {
    let mut r = rng(seed);
    let mut values = Vec::new();
    for _ in 0..n {
        let (a, b, c) = (
            r.random_range(0.5..3.0f32),
            r.random_range(0.5..3.0f32),
            r.random_range(0.0..6.0f32),
        );
        for y in 0..16 {
            for x in 0..16 {
                values.push(((a * x as f32 / 16.0 + c).sin() * (b * y as f32 / 16.0).cos()).clamp(-1.0, 1.0));
            }
        }
    }
    Dataset {
        shape: [1, 16, 16],
        values,
        names: (0..n).map(|i| format!("img{i}")).collect(),
        rate: None,
    }
}

#[test]
fn masked_loss_ignores_occluded_pixels_exactly() {
    let g = gpu();
    let s = tiny_setup(2, 4);
    let spec = quick_net(s.d, 16).unwrap();
    let data = random_images(8, 1);
    let (hidden, m) = masks::occlude(&data, &Occlusion::parse("P.5").unwrap(), 3).unwrap();
    // The same data with other values (huge ones, and the originals) at the occluded pixels.
    let mut r = rng(9);
    let mut noisy = hidden.clone();
    for (v, &k) in noisy.values.iter_mut().zip(&m) {
        if k == 0.0 {
            *v = r.random_range(-1000.0..1000.0);
        }
    }
    let obs = Observation::Mask(m.clone());
    let run = |d: &Dataset| {
        let mut t = Trainer::new(g, &spec, &s.hyper, d, &obs, None).unwrap();
        let e: Vec<f64> = (0..2).map(|_| t.iterate().unwrap()).collect();
        (e, t.checkpoint().unwrap().tensors)
    };
    let a = run(&hidden);
    assert_eq!(a, run(&noisy), "an occluded pixel changed training");
    assert_eq!(a, run(&data), "the occluded pixels' true values changed training");
    // Changing one visible pixel does change it (the comparison above is not vacuous).
    let mut one = hidden.clone();
    let p = m.iter().position(|&k| k != 0.0).unwrap();
    one.values[p] = -one.values[p] + 0.5;
    assert_ne!(a.0, run(&one).0, "a visible pixel changed nothing");

    // Inference with W fixed ignores them too.
    let params = abprop::model::init_params(&spec, 1).unwrap();
    let o = ReconstructOptions {
        steps: 5,
        batch: 4,
        ..Default::default()
    };
    let r1 = reconstruct(g, &spec, &params, &hidden, &obs, &o).unwrap();
    let r2 = reconstruct(g, &spec, &params, &noisy, &obs, &o).unwrap();
    assert_eq!(r1.outputs, r2.outputs);
    assert_eq!(r1.mse, r2.mse);
}

// ---- sensing ----

#[test]
fn gpu_projection_matches_the_cpu() {
    let g = gpu();
    // 300 examples: more than one GPU chunk.
    let data = random_images(300, 2);
    let (k, d) = (48, 256);
    let s = sensing::matrix(k, d, 5);
    let sd = (s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32).sqrt();
    assert!((sd - 0.5).abs() < 0.01, "white noise std {sd}");
    let gpu_y = sensing::project(g, k, &s, &data).unwrap();
    assert_eq!(gpu_y.shape, [k, 1, 1]);
    assert_eq!(gpu_y.len(), 300);
    assert_close("S Y", &gpu_y.values, &sensing::project_cpu(k, &s, &data), 1e-4, 1e-5);
    assert!(sensing::project(g, k + 1, &s, &data).is_err());
}

#[test]
fn pseudo_inverse_is_consistent_with_the_projections() {
    let data = random_images(20, 3);
    let (k, d) = (40, 256);
    let s = sensing::matrix(k, d, 6);
    let y = sensing::project_cpu(k, &s, &data);
    let x = sensing::pseudo_inverse_recovery(k, &s, &y, d).unwrap();
    // S (S^+ S Y) = S Y, and S^+ S Y is in S's row space: it is S's own minimum-norm answer,
    // so an image already in the row space comes back unchanged.
    let back = sensing::project_cpu(
        k,
        &s,
        &Dataset {
            values: x.clone(),
            ..data.clone()
        },
    );
    assert_close("S S^+ S Y", &back, &y, 1e-4, 1e-4);
    let a: Vec<f32> = (0..k).map(|i| (i as f32 * 0.37).sin() * 0.05).collect();
    let row: Vec<f32> = (0..d).map(|j| (0..k).map(|i| a[i] * s[i * d + j]).sum()).collect();
    let one = Dataset {
        shape: [1, 16, 16],
        values: row.clone(),
        names: vec!["row".into()],
        rate: None,
    };
    let rec = sensing::pseudo_inverse_recovery(k, &s, &sensing::project_cpu(k, &s, &one), d).unwrap();
    assert_close("row-space image", &rec, &row, 1e-4, 1e-5);
    // More measurements than pixels: the SVD pseudo-inverse recovers every image.
    let (k2, d2) = (300, 256);
    let s2 = sensing::matrix(k2, d2, 7);
    let y2 = sensing::project_cpu(k2, &s2, &data);
    let x2 = sensing::pseudo_inverse_recovery(k2, &s2, &y2, d2).unwrap();
    assert_close("overdetermined", &x2, &data.values, 1e-3, 1e-4);
}

// ---- PCA ----

/// PCA reconstruction computed directly: the SVD of the centred data, projection on the
/// first d right singular vectors.
fn direct_pca(train: &[f32], dim: usize, test: &[f32], d: usize) -> Vec<f32> {
    let n = train.len() / dim;
    let mean: Vec<f64> = (0..dim)
        .map(|j| (0..n).map(|i| train[i * dim + j] as f64).sum::<f64>() / n as f64)
        .collect();
    let x = DMatrix::<f64>::from_fn(n, dim, |i, j| train[i * dim + j] as f64 - mean[j]);
    let svd = x.svd(false, true);
    let vt = svd.v_t.unwrap();
    let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
    order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
    let m = test.len() / dim;
    let mut out = Vec::new();
    for i in 0..m {
        let y: Vec<f64> = (0..dim).map(|j| test[i * dim + j] as f64 - mean[j]).collect();
        let mut r = mean.clone();
        for &c in &order[..d] {
            let coef: f64 = (0..dim).map(|j| vt[(c, j)] * y[j]).sum();
            for j in 0..dim {
                r[j] += coef * vt[(c, j)];
            }
        }
        out.extend(r.iter().map(|&v| v as f32));
    }
    out
}

#[test]
fn pca_matches_a_direct_computation() {
    // Fewer examples than values (the Gram path) and more (the scatter path).
    for (n, dim) in [(30, 64), (120, 40)] {
        let mut r = rng(n as u64);
        let train = uniform(&mut r, n * dim, -1.0, 1.0);
        let test = uniform(&mut r, 10 * dim, -1.0, 1.0);
        let p = Pca::fit(&train, dim, 12).unwrap();
        assert_eq!(p.rank(), 12);
        assert!(p.eigenvalues.windows(2).all(|w| w[0] >= w[1]));
        for d in [1, 5, 12] {
            let got = p.reconstruct(&test, d).unwrap();
            let want = direct_pca(&train, dim, &test, d);
            assert_close(&format!("PCA n={n} dim={dim} d={d}"), &got, &want, 1e-5, 1e-5);
            assert!(
                (metrics::recovery_error(&test, &got, None) - metrics::recovery_error(&test, &want, None)).abs() < 1e-6
            );
        }
        // On the training data the squared error is the variance left out.
        let d = 5;
        let rec = p.reconstruct(&train, d).unwrap();
        let sse: f64 = train
            .iter()
            .zip(&rec)
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum();
        let left = if n <= dim {
            // All of the scatter's eigenvalues: the trace.
            let mean: Vec<f64> = (0..dim)
                .map(|j| (0..n).map(|i| train[i * dim + j] as f64).sum::<f64>() / n as f64)
                .collect();
            let total: f64 = (0..n * dim).map(|k| (train[k] as f64 - mean[k % dim]).powi(2)).sum();
            total - p.eigenvalues[..d].iter().sum::<f64>()
        } else {
            let full = Pca::fit(&train, dim, dim).unwrap();
            full.eigenvalues[d..].iter().sum()
        };
        assert!((sse - left).abs() < 1e-6 * left, "{sse} vs {left}");
    }
    assert!(Pca::fit(&[0.0; 10], 3, 2).is_err());
    let p = Pca::fit(&uniform(&mut rng(1), 40, 0.0, 1.0), 4, 10).unwrap();
    assert!(p.reconstruct(&[0.0; 4], p.rank() + 1).is_err());
}

// ---- short real runs (Fashion-MNIST) ----

/// data/fashion-mnist, fetched on first use (scripts/fetch-data.sh: Debian's
/// dataset-fashion-mnist package, 30 MB) so that `cargo test` needs no set-up step.
fn fashion() -> PathBuf {
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = root.join("data/fashion-mnist");
    let _one_at_a_time = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    if !p.join("train-images-idx3-ubyte.gz").exists() {
        let ok = std::process::Command::new("bash")
            .arg(root.join("scripts/fetch-data.sh"))
            .arg("fashion-mnist")
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok && p.join("train-images-idx3-ubyte.gz").exists(),
            "Fashion-MNIST is missing and scripts/fetch-data.sh fashion-mnist could not fetch it \
             (it runs `apt-get download dataset-fashion-mnist`; as root, `apt-get update` first)"
        );
    }
    p
}

fn fashion_split(train: usize, test: usize, category: Option<u8>, negative: Option<u8>) -> Split {
    let src = source::resolve(&fashion(), None).unwrap();
    assert!(src.test.is_some(), "the t10k files are beside the training files");
    source::split(
        &src,
        &SplitOptions {
            size: 16,
            train,
            test,
            category,
            negative,
            negatives: test,
        },
    )
    .unwrap()
}

#[test]
fn fashion_mnist_split_and_categories() {
    let s = fashion_split(50, 20, Some(0), Some(7));
    assert_eq!((s.train.len(), s.test.len()), (50, 20));
    assert_eq!(s.train.shape, [1, 16, 16]);
    assert!(s.train.values.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert!(s.train.names[0].starts_with("train-images") && s.test.names[0].starts_with("t10k-images"));
    let neg = s.negative.unwrap();
    assert_eq!(neg.len(), 20);
    // Sneakers (7) are darker on average than T-shirts (0): a real category split.
    let mean = |d: &Dataset| d.values.iter().map(|&v| v as f64).sum::<f64>() / d.values.len() as f64;
    assert!(
        mean(&neg) < mean(&s.train) - 0.1,
        "{} vs {}",
        mean(&neg),
        mean(&s.train)
    );
    let src = source::resolve(&fashion(), None).unwrap();
    let o = SplitOptions {
        size: 16,
        train: 10,
        test: 10,
        category: None,
        negative: Some(3),
        negatives: 10,
    };
    assert!(source::split(&src, &o).unwrap_err().to_string().contains("--category"));
    assert!(source::resolve(Path::new("/no/such/data"), None)
        .unwrap_err()
        .to_string()
        .contains("data not found"));
}

#[test]
fn short_occlusion_run_beats_the_mean_image() {
    let g = gpu();
    let split = fashion_split(64, 32, None, None);
    let mut s = tiny_setup(20, 32);
    s.infer_steps = 60;
    let dir = tempfile::tempdir().unwrap();
    let rows = occlusion::run(g, &s, &split, &[Occlusion::parse("P.5").unwrap()], dir.path()).unwrap();
    let r = &rows[0];
    assert!((r.coverage_train - 0.5).abs() < 0.02 && (r.coverage_test - 0.5).abs() < 0.02);
    assert!(
        r.errors.last().unwrap() < &(r.errors[0] * 0.5),
        "training did not learn: {:?}",
        r.errors
    );
    assert!(
        r.train_abp < 0.7 * r.train_mean_fill,
        "T1: ABP {} vs mean image {}",
        r.train_abp,
        r.train_mean_fill
    );
    assert!(
        r.test_abp < 0.85 * r.test_mean_fill,
        "T3: ABP {} vs mean image {}",
        r.test_abp,
        r.test_mean_fill
    );
    for f in [
        "P.5/panel-train.png",
        "P.5/panel-test.png",
        "P.5/samples.png",
        "P.5/log.jsonl",
        "training.png",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
}

#[test]
fn short_sensing_run_beats_the_pseudo_inverse() {
    let g = gpu();
    let split = fashion_split(64, 32, None, None);
    let mut s = tiny_setup(20, 32);
    s.infer_steps = 60;
    let dir = tempfile::tempdir().unwrap();
    let (rows, base) = sensing::run(g, &s, &split, 64, &[10], dir.path()).unwrap();
    let r = &rows[0];
    assert!(
        r.train_abp < 0.7 * base.train,
        "T1: ABP {} vs S^+ {}",
        r.train_abp,
        base.train
    );
    assert!(
        r.test_abp < 0.85 * base.test,
        "T3: ABP {} vs S^+ {}",
        r.test_abp,
        base.test
    );
    assert!(dir.path().join("d10/panel-test.png").exists());
}

#[test]
fn reconstruction_curves_and_pca_on_real_images() {
    let g = gpu();
    let split = fashion_split(64, 32, Some(0), Some(7));
    // PCA against the direct computation on real images.
    let p = Pca::fit(&split.train.values, 256, 10).unwrap();
    assert_close(
        "PCA on Fashion-MNIST",
        &p.reconstruct(&split.test.values, 10).unwrap(),
        &direct_pca(&split.train.values, 256, &split.test.values, 10),
        1e-4,
        1e-4,
    );
    let mut s = tiny_setup(6, 32);
    s.infer_steps = 60;
    let curves = reconstruction::Curves {
        every: 3,
        size: 16,
        steps: 30,
    };
    let dir = tempfile::tempdir().unwrap();
    let rows = reconstruction::run(g, &s, &split, &[8], &curves, dir.path()).unwrap();
    let r = &rows[0];
    assert_eq!(r.curves.iter().map(|c| c.iteration).collect::<Vec<_>>(), vec![3, 6]);
    // Another category reconstructs worse than held-out images of the trained one.
    let last = r.curves.last().unwrap();
    assert!(last.negative.unwrap() > last.test, "{:?}", r.curves);
    assert!(
        r.negative_abp.unwrap() > r.test_abp && r.negative_pca.unwrap() > r.test_pca,
        "{r:?}"
    );
    assert!(r.train_pca < r.test_pca);
    let log = std::fs::read_to_string(dir.path().join("d8/log.jsonl")).unwrap();
    assert_eq!(log.lines().filter(|l| l.contains("\"curve\"")).count(), 2);
    assert!(dir.path().join("d8/curves.png").exists() && dir.path().join("d8/panel-negative.png").exists());
}

// ---- the command line ----

fn abprop(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_abprop")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn eval_and_occlude_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    for (args, needle) in [
        (
            vec!["eval", "occlusion", "--settings", "P.5,Q3", "--out", &out],
            "unknown occlusion \"Q3\"",
        ),
        (
            vec!["eval", "sensing", "--data", "/no/such/data", "--out", &out],
            "data not found: /no/such/data",
        ),
        (
            vec!["eval", "reconstruction", "--category", "12", "--out", &out],
            "--category \"12\": expected a category 0-9",
        ),
        (
            vec![
                "eval",
                "reconstruction",
                "--category",
                "3",
                "--negative",
                "3",
                "--out",
                &out,
            ],
            "must differ",
        ),
        (
            vec!["eval", "occlusion", "--size", "28", "--out", &out],
            "side 8, 16, 32, 64 or 128",
        ),
        (
            vec![
                "train",
                "--preset",
                "object-quick",
                "--occlude",
                "P.95.1",
                "x.png",
                "--out",
                &out,
            ],
            "unknown occlusion",
        ),
    ] {
        let (ok, text) = abprop(&args);
        assert!(!ok, "{args:?} succeeded: {text}");
        assert!(text.contains(needle), "{args:?}: expected {needle:?} in:\n{text}");
        assert!(!text.contains("panicked"), "{args:?} panicked:\n{text}");
    }
}

#[test]
fn train_occlude_learns_from_the_visible_pixels_and_reports_t1() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("net.json");
    std::fs::write(&spec, quick_net(10, 16).unwrap().to_json()).unwrap();
    let data = fashion().join("train-images-idx3-ubyte.gz");
    let test = fashion().join("t10k-images-idx3-ubyte.gz");
    let out = dir.path().join("run");
    let args = [
        "train",
        "--spec",
        spec.to_str().unwrap(),
        data.to_str().unwrap(),
        "--resize",
        "--limit",
        "16",
        "--batch",
        "8",
        "--iterations",
        "3",
        "--langevin-steps",
        "3",
        "--occlude",
        "M30",
        "--test-data",
        test.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let (ok, text) = abprop(&args);
    assert!(ok, "{text}");
    assert!(text.contains("M30: recovery error of the occluded pixels"), "{text}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("recovery.json")).unwrap()).unwrap();
    // 30/64 of 16 is 7.5, rounded to 8: 64 of 256 pixels.
    assert_eq!(r["coverage"].as_f64().unwrap(), 0.25);
    assert_eq!(r["examples"].as_u64().unwrap(), 16);
    let e = r["recovery_error"].as_f64().unwrap();
    assert!(e.is_finite() && e > 0.0 && e < 1.0, "{r}");
    assert!(out.join("panel-train.png").exists() && out.join("checkpoint.safetensors").exists());
    // T3 on as many test images (--limit applies to both).
    assert_eq!(r["test_examples"].as_u64().unwrap(), 16);
    let t3 = r["test_recovery_error"].as_f64().unwrap();
    assert!(t3.is_finite() && t3 > 0.0 && t3 < 1.0, "{r}");
    assert!(out.join("panel-test.png").exists());
}

// ---- any source `abprop train` reads: an image folder ----

/// `n` colour PNGs of `w` x `h` (not square) in `dir/name`: a filled disc (`discs`) or a
/// rectangle of a random colour on a random background, at a random place.
fn shapes(dir: &Path, name: &str, n: usize, (w, h): (u32, u32), discs: bool, seed: u64) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let mut r = rng(seed);
    for k in 0..n {
        let mut colour = || image::Rgb([r.random::<u8>(), r.random::<u8>(), r.random::<u8>()]);
        let (bg, fg) = (colour(), colour());
        let (cx, cy, s) = (
            r.random_range(0.3..0.7) * w as f32,
            r.random_range(0.3..0.7) * h as f32,
            r.random_range(0.15..0.35) * h as f32,
        );
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let inside = if discs {
                dx * dx + dy * dy < s * s
            } else {
                dx.abs() < 1.5 * s && dy.abs() < 0.7 * s
            };
            if inside {
                fg
            } else {
                bg
            }
        });
        img.save(folder.join(format!("{name}-{k:03}.png"))).unwrap();
    }
    folder
}

fn results(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap()
}

#[test]
fn an_image_folder_is_split_in_grayscale_at_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let faces = shapes(dir.path(), "faces", 12, (45, 30), true, 1);
    let src = source::resolve(&faces, None).unwrap();
    assert_eq!(src.train, source::Source::Images(faces.clone()));
    assert!(src.test.is_none() && !src.train.has_categories());
    let o = SplitOptions {
        size: 16,
        train: 8,
        test: 4,
        category: None,
        negative: None,
        negatives: 0,
    };
    let s = source::split(&src, &o).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (8, 4));
    assert_eq!((s.train.shape, s.test.shape), ([1, 16, 16], [1, 16, 16]));
    // In name order, the test images after the training ones.
    assert_eq!(s.train.names[0], "faces-000.png");
    assert_eq!(s.test.names[0], "faces-008.png");
    assert!(s.negative.is_none());
    assert!(s.about.contains("no categories"), "{}", s.about);
    // Grayscale and resized as `abprop train --resize` reads them.
    let want = abprop::data::load(
        &faces.join("faces-008.png"),
        &abprop::data::LoadOptions {
            shape: [1, 16, 16],
            resize: true,
            resample: false,
            rate: 11025,
            limit: None,
        },
    )
    .unwrap();
    assert_eq!(s.test.example(0), &want.values[..]);
    assert!(s.train.values.iter().all(|v| (-1.0..=1.0).contains(v)));
    // Negative images from another folder: at most as many as asked for; a category of an
    // unlabelled folder is a clear error.
    let cars = shapes(dir.path(), "cars", 3, (20, 20), false, 2);
    let src = source::resolve(&faces, Some(&faces))
        .unwrap()
        .with_negative(Some(&cars))
        .unwrap();
    let s = source::split(
        &src,
        &SplitOptions {
            negatives: 4,
            ..o.clone()
        },
    )
    .unwrap();
    let neg = s.negative.unwrap();
    assert_eq!((neg.len(), neg.names[0].as_str()), (3, "cars-000.png"));
    let e = source::split(
        &src,
        &SplitOptions {
            negative: Some(3),
            negatives: 4,
            ..o.clone()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("no categories"), "{e}");
    let e = source::split(
        &src,
        &SplitOptions {
            category: Some(3),
            ..o.clone()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("no categories"), "{e}");
    let e = source::split(&src, &SplitOptions { train: 20, ..o }).unwrap_err();
    assert!(e.to_string().contains("only 12 training images"), "{e}");
}

/// A tiny reconstruction run on a folder of 40 colour PNGs of 45x30 (as a new user's folder
/// of photographs), through the command line.
fn reconstruction_on_a_folder(extra: &[&str]) -> (PathBuf, serde_json::Value, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let faces = shapes(dir.path(), "faces", 40, (45, 30), true, 3);
    shapes(dir.path(), "cars", 10, (40, 20), false, 5);
    let out = dir.path().join("out");
    let mut args = vec![
        "eval",
        "reconstruction",
        "--data",
        faces.to_str().unwrap(),
        "--size",
        "16",
        "--train",
        "24",
        "--test",
        "16",
        "--batch",
        "8",
        "--iterations",
        "2",
        "--langevin-steps",
        "2",
        "--dims",
        "4",
        "--infer-steps",
        "5",
        "--curve-every",
        "1",
        "--curve-size",
        "4",
        "--curve-steps",
        "2",
        "--panel",
        "4",
        "--out",
        out.to_str().unwrap(),
    ];
    let extra: Vec<String> = extra
        .iter()
        .map(|a| a.replace("{dir}", dir.path().to_str().unwrap()))
        .collect();
    args.extend(extra.iter().map(|s| s.as_str()));
    let (ok, text) = abprop(&args);
    assert!(ok, "{args:?}: {text}");
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    (out.clone(), results(&out), md + &text, dir)
}

#[test]
fn eval_reconstruction_on_an_image_folder() {
    let (out, r, text, _dir) = reconstruction_on_a_folder(&[]);
    let data = r["data"].as_str().unwrap();
    assert!(
        data.contains("faces (no categories): the first 24 images for training, the next 16"),
        "{data}"
    );
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["d"], 4);
    for k in [
        "train_abp",
        "train_abp_learned_z",
        "test_abp",
        "train_pca",
        "test_pca",
        "test_abp_mse",
    ] {
        let e = rows[0][k].as_f64().unwrap_or(f64::NAN);
        assert!(e.is_finite() && e >= 0.0, "{k}: {}", rows[0]);
    }
    assert_eq!(rows[0]["curves"].as_array().unwrap().len(), 2);
    // Without labels and without --negative-data there are no negative images, and the report
    // says so.
    assert!(rows[0]["negative_abp"].is_null() && r["negative_category"].is_null());
    assert!(
        text.contains("No negative images") && text.contains("has no categories"),
        "{text}"
    );
    assert!(out.join("d4/panel-test.png").exists() && out.join("d4/curves.png").exists());
    assert!(!out.join("d4/panel-negative.png").exists());
    // The panel: 3 rows (original, ABP, PCA) of 4 test images of 16x16.
    let p = image::open(out.join("d4/panel-test.png")).unwrap();
    assert!(
        p.width() >= 4 * 16 && p.height() >= 3 * 16,
        "{}x{}",
        p.width(),
        p.height()
    );
}

#[test]
fn eval_reconstruction_takes_negative_data() {
    let (out, r, text, _dir) = reconstruction_on_a_folder(&["--negative-data", "{dir}/cars", "--category", "all"]);
    assert!(r["negative_data"].as_str().unwrap().ends_with("cars"), "{r}");
    let row = &r["rows"][0];
    for k in ["negative_abp", "negative_pca"] {
        let e = row[k].as_f64().unwrap_or(f64::NAN);
        assert!(e.is_finite() && e >= 0.0, "{k}: {row}");
    }
    assert!(
        row["curves"][0]["negative"].as_f64().is_some_and(f64::is_finite),
        "{row}"
    );
    // 10 images in the folder, fewer than the 16 test images: all 10.
    assert!(text.contains("Negative images: 10 images of"), "{text}");
    assert!(out.join("d4/panel-negative.png").exists());
}

#[test]
fn eval_on_other_sources_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let faces = shapes(d, "faces", 12, (45, 30), true, 4);
    let faces = faces.to_str().unwrap();
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "no images here").unwrap();
    let sound = d.join("sound");
    std::fs::create_dir(&sound).unwrap();
    hound::WavWriter::create(
        sound.join("a.wav"),
        hound::WavSpec {
            channels: 1,
            sample_rate: 11025,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .unwrap()
    .finalize()
    .unwrap();
    let out = d.join("out").display().to_string();
    let small = ["--size", "16", "--test", "4", "--out", &out];
    for (args, needle) in [
        (
            vec!["eval", "reconstruction", "--data", faces, "--category", "3"],
            "--category 3",
        ),
        (
            vec!["eval", "occlusion", "--data", faces, "--category", "3"],
            "has no categories",
        ),
        (
            vec![
                "eval",
                "reconstruction",
                "--data",
                faces,
                "--negative",
                "3",
                "--negative-data",
                faces,
            ],
            "has no categories",
        ),
        (
            vec![
                "eval",
                "reconstruction",
                "--data",
                faces,
                "--negative",
                "none",
                "--negative-data",
                faces,
            ],
            "contradict",
        ),
        (
            vec!["eval", "reconstruction", "--data", faces, "--negative", "all"],
            "--negative-data",
        ),
        (
            vec!["eval", "sensing", "--data", faces, "--train", "10"],
            "only 12 training and test images",
        ),
        (
            vec!["eval", "sensing", "--data", empty.to_str().unwrap()],
            "holds no images",
        ),
        (
            vec!["eval", "sensing", "--data", sound.to_str().unwrap()],
            "works on images",
        ),
        (
            vec!["eval", "occlusion", "--data", faces, "--test-data", "/no/such/dir"],
            "test data not found: /no/such/dir",
        ),
        (
            vec![
                "eval",
                "reconstruction",
                "--data",
                faces,
                "--negative-data",
                "/no/such/dir",
            ],
            "negative data not found: /no/such/dir",
        ),
    ] {
        let mut a = args.clone();
        a.extend(small);
        if !args.contains(&"--train") {
            a.extend(["--train", "8"]);
        }
        let (ok, text) = abprop(&a);
        assert!(!ok, "{a:?} succeeded: {text}");
        assert!(text.contains(needle), "{a:?}: expected {needle:?} in:\n{text}");
        assert!(!text.contains("panicked"), "{a:?} panicked:\n{text}");
    }
}

#[test]
fn negative_data_of_a_labelled_source_takes_its_category() {
    let src = source::resolve(&fashion(), None)
        .unwrap()
        .with_negative(Some(&fashion()))
        .unwrap();
    assert!(matches!(&src.negative, Some(source::Source::Idx(p)) if p.to_string_lossy().contains("t10k-images")));
    let o = SplitOptions {
        size: 16,
        train: 20,
        test: 10,
        category: Some(0),
        negative: Some(7),
        negatives: 10,
    };
    let s = source::split(&src, &o).unwrap();
    let neg = s.negative.unwrap();
    assert_eq!(neg.len(), 10);
    assert!(neg.names.iter().all(|n| n.starts_with("t10k-images")));
    // The same category as the default (from the test pool), but its first images.
    let default = source::split(&source::resolve(&fashion(), None).unwrap(), &o).unwrap();
    assert_ne!(neg.names, default.negative.unwrap().names);
    // All of its images when no category is given.
    let all = source::split(&src, &SplitOptions { negative: None, ..o }).unwrap();
    assert_eq!(all.negative.unwrap().names[0], "t10k-images-idx3-ubyte.gz#0");
}

#[test]
fn eval_hiabp_compares_every_method_with_one_budget() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hiabp");
    let data = fashion().display().to_string();
    let (ok, text) = abprop(&[
        "eval",
        "hiabp",
        "--data",
        &data,
        "--out",
        &out.display().to_string(),
        "--train",
        "40",
        "--test",
        "20",
        "--iterations",
        "2",
        "--batch",
        "20",
        "--langevin-steps",
        "3",
        "--ts",
        "2,3",
        "--quiet",
    ]);
    assert!(ok, "{text}");
    let r = results(&out);
    let rows = r["rows"].as_array().unwrap();
    let methods: Vec<&str> = rows.iter().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(
        methods,
        [
            "ABP (fresh chains)",
            "ABP (persistent chains)",
            "IABP",
            "HiABP (L = 2)",
            "HiABP (L = 3)"
        ]
    );
    for row in rows {
        let levels = row["levels"].as_u64().unwrap();
        let enc = row["method"].as_str().unwrap().contains("IABP") || levels > 1;
        for k in ["test_mse", "train_mse", "seconds"] {
            let v = row[k].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite() && v >= 0.0, "{row}: {k}");
        }
        // Pixels in [0, 1]: squared errors below 1.
        assert!(row["test_mse"].as_f64().unwrap() < 1.0);
        assert_eq!(row["test_mse_encoder"].is_number(), enc, "{row}");
        assert_eq!(levels > 1, row["method"].as_str().unwrap().starts_with("HiABP"));
        assert_eq!(row["t"].as_u64(), Some(3));
    }
    // The T sweep: persistent ABP and IABP at T = 2 and 3 (T = 3 reused from the table).
    let sweep = r["t_sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), 4);
    assert_eq!(sweep[1], rows[1], "the T = 3 run of persistent ABP is the table's");
    for f in [
        "results.md",
        "mse-against-t.png",
        "iabp/reconstructions.png",
        "hiabp-l3/samples.png",
        "abp-persistent-t2/log.jsonl",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("| HiABP (L = 3) | 3 | 3 |"), "{md}");
}
