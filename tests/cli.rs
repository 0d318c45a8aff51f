//! The command line as a user runs it: a tiny run end to end, and clear errors for bad input.
use std::path::Path;
use std::process::Command;

fn abprop(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_abprop")).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn asset(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
        .display()
        .to_string()
}

/// `n` 32x32 grayscale crops of a shipped photograph, as a folder of PNGs in `dir`.
fn crops(dir: &Path, n: u32) -> std::path::PathBuf {
    crops_of(dir, "crops", n, 32, (40, 20))
}

/// `n` side x side grayscale crops of a shipped photograph, the k-th at k * `step`, as the
/// folder `name` of PNGs in `dir`.
fn crops_of(dir: &Path, name: &str, n: u32, side: u32, step: (u32, u32)) -> std::path::PathBuf {
    let img = image::open(asset("gravel.png")).unwrap().to_luma8();
    let data = dir.join(name);
    std::fs::create_dir(&data).unwrap();
    for k in 0..n {
        image::imageops::crop_imm(&img, k * step.0, k * step.1, side, side)
            .to_image()
            .save(data.join(format!("{k}.png")))
            .unwrap();
    }
    data
}

#[track_caller]
fn fails_with(args: &[&str], needle: &str) {
    let (ok, text) = abprop(args);
    assert!(!ok, "{args:?} succeeded: {text}");
    assert!(text.contains(needle), "{args:?}: expected {needle:?} in:\n{text}");
    assert!(!text.contains("panicked"), "{args:?} panicked:\n{text}");
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("run").display().to_string();
    fails_with(
        &["train", "--preset", "texture-quick", "/no/such/file.png", "--out", &out],
        "data not found: /no/such/file.png",
    );
    let bad = d.join("broken.png");
    std::fs::write(&bad, b"this is not a PNG").unwrap();
    fails_with(
        &[
            "train",
            "--preset",
            "texture-quick",
            bad.to_str().unwrap(),
            "--out",
            &out,
        ],
        "is not a readable image",
    );
    fails_with(
        &["train", "--preset", "texture-quick", &asset("brick.png"), "--out", &out],
        "pass --resize",
    );
    let spec = d.join("spec.json");
    std::fs::write(&spec, r#"{"latent": [1, 4, 4], "layers": [{"type": "conv_transpose2d", "channels": 8, "kernel": 5, "stride": 2, "padding": 2, "output_padding": 1}, {"type": "reshape", "shape": [3, 8, 8]}]}"#).unwrap();
    fails_with(
        &[
            "train",
            "--spec",
            spec.to_str().unwrap(),
            &asset("brick.png"),
            "--out",
            &out,
        ],
        "layer 1 (reshape) does not fit its input [8, 8, 8]",
    );
    let wav = d.join("fast.wav");
    let spec44 = hound::WavSpec {
        channels: 1,
        sample_rate: 44100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec44).unwrap();
    for i in 0..300_000 {
        w.write_sample(((i as f32 * 0.05).sin() * 10000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    fails_with(
        &["train", "--preset", "sound-quick", wav.to_str().unwrap(), "--out", &out],
        "sampled at 44100 Hz but the model works at 11025 Hz",
    );
    fails_with(&["train", "--preset", "no-such", &asset("brick.png")], "unknown preset");
    fails_with(
        &[
            "synthesize",
            "--model",
            d.join("missing.safetensors").to_str().unwrap(),
            "--out",
            &out,
        ],
        "cannot read checkpoint",
    );
    fails_with(
        &["synthesize", "--model", bad.to_str().unwrap(), "--out", &out],
        "not a valid safetensors file",
    );
}

#[test]
fn train_synthesize_interpolate_reconstruct() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = crops(d, 8);
    let run = d.join("run");
    let (ok, text) = abprop(&[
        "train",
        "--preset",
        "object-d2-quick",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--iterations",
        "3",
        "--batch",
        "4",
        "--langevin-steps",
        "2",
        "--checkpoint-every",
        "2",
    ]);
    assert!(ok, "{text}");
    let ckpt = run.join("checkpoint.safetensors");
    assert!(ckpt.exists() && run.join("sample-000003.png").exists() && run.join("reconstruction-000003.png").exists());
    let log = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 3);
    // Training again into the same folder without --resume is refused; with it, it continues.
    let (ok, text) = abprop(&[
        "train",
        "--preset",
        "object-d2-quick",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("--resume"), "{text}");
    let (ok, text) = abprop(&[
        "train",
        "--preset",
        "object-d2-quick",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--resume",
        "--iterations",
        "4",
    ]);
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::read_to_string(run.join("log.jsonl")).unwrap().lines().count(),
        4
    );

    let m = ckpt.to_str().unwrap();
    let syn = d.join("syn");
    let (ok, text) = abprop(&[
        "synthesize",
        "--model",
        m,
        "--out",
        syn.to_str().unwrap(),
        "--count",
        "5",
        "--seed",
        "3",
    ]);
    assert!(ok, "{text}");
    assert_eq!(image::open(syn.join("0004.png")).unwrap().width(), 32);
    // Rendering the written latents again gives the same images.
    let again = d.join("again");
    let lat = syn.join("latents.safetensors");
    let (ok, text) = abprop(&[
        "synthesize",
        "--model",
        m,
        "--out",
        again.to_str().unwrap(),
        "--latents",
        lat.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::read(syn.join("grid.png")).unwrap(),
        std::fs::read(again.join("grid.png")).unwrap()
    );

    let panel = d.join("panel");
    let (ok, text) = abprop(&[
        "synthesize",
        "--model",
        m,
        "--out",
        panel.to_str().unwrap(),
        "--grid",
        "3",
    ]);
    assert!(ok, "{text}");
    assert_eq!(image::open(panel.join("grid.png")).unwrap().width(), 3 * 34 + 2);

    let interp = d.join("interp");
    let (ok, text) = abprop(&[
        "interpolate",
        "--model",
        m,
        "--out",
        interp.to_str().unwrap(),
        "--examples",
        "0,1,2,3",
        "--steps",
        "4",
    ]);
    assert!(ok, "{text}");
    assert_eq!(image::open(interp.join("grid.png")).unwrap().width(), 4 * 34 + 2);
    let (ok, text) = abprop(&[
        "interpolate",
        "--model",
        m,
        "--out",
        interp.to_str().unwrap(),
        "--examples",
        "0,99",
    ]);
    assert!(!ok && text.contains("out of range"), "{text}");

    let rec = d.join("rec");
    let (ok, text) = abprop(&[
        "reconstruct",
        "--model",
        m,
        "--data",
        data.to_str().unwrap(),
        "--out",
        rec.to_str().unwrap(),
        "--steps",
        "10",
    ]);
    assert!(ok, "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rec.join("errors.json")).unwrap()).unwrap();
    assert_eq!(report["examples"], 8);
    assert!(report["mean_mse"].as_f64().unwrap().is_finite());
}

#[test]
fn presets_are_listed_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = abprop(&["presets", "--out", dir.path().to_str().unwrap()]);
    assert!(ok, "{text}");
    for p in ["texture", "sound", "object", "object-d2", "texture-quick"] {
        assert!(text.contains(p));
    }
    let spec = std::fs::read_to_string(dir.path().join("texture.json")).unwrap();
    assert_eq!(
        abprop::model::Spec::from_json(&spec).unwrap().output().unwrap(),
        [3, 224, 224]
    );
}

#[test]
fn no_adapter_is_a_clear_error() {
    // A backend this machine cannot have (Metal off Apple, DX12 off Windows) leaves no adapter.
    let backend = if cfg!(target_os = "macos") { "dx12" } else { "metal" };
    let out = Command::new(env!("CARGO_BIN_EXE_abprop"))
        .arg("devices")
        .env("WGPU_BACKEND", backend)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("no GPU adapter found") && text.contains("mesa-vulkan-drivers"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn unknown_backend_or_adapter_name_is_a_clear_error() {
    let run = |k: &str, v: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_abprop"))
            .arg("devices")
            .env(k, v)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{k}={v} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let text = run("WGPU_BACKEND", "vulkan,bogus");
    assert!(
        text.contains("unknown backend \"bogus\"") && text.contains("dx12"),
        "{text}"
    );
    let text = run("WGPU_ADAPTER_NAME", "no-such-adapter-anywhere");
    assert!(
        text.contains("no GPU adapter matches WGPU_ADAPTER_NAME") && text.contains("adapters present"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn abprop_slots_changes_the_layout_not_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = crops(d, 4);
    let train = |slots: &str| {
        let run = d.join(format!("run-{slots}"));
        let out = Command::new(env!("CARGO_BIN_EXE_abprop"))
            .args(["train", "--preset", "object-d2-quick", data.to_str().unwrap(), "--out"])
            .arg(&run)
            .args(["--iterations", "2", "--batch", "4", "--langevin-steps", "2"])
            .env("ABPROP_SLOTS", slots)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), text, run.join("checkpoint.safetensors"))
    };
    // Elementwise kernels with 1, 3 or 8 vec4s per invocation: the same bits in every tensor.
    let tensors = |path: &Path| {
        let bytes = std::fs::read(path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut all: Vec<(String, Vec<u8>)> = st.tensors().into_iter().map(|(k, v)| (k, v.data().to_vec())).collect();
        all.sort();
        all
    };
    let (ok, text, one) = train("1");
    assert!(ok, "{text}");
    let one = tensors(&one);
    assert!(one.iter().any(|(k, _)| k == "z") && one.len() > 4);
    for slots in ["3", "8"] {
        let (ok, text, ckpt) = train(slots);
        assert!(ok, "ABPROP_SLOTS={slots}: {text}");
        let other = tensors(&ckpt);
        assert_eq!(other.len(), one.len());
        for ((k, a), (_, b)) in one.iter().zip(&other) {
            assert!(a == b, "ABPROP_SLOTS={slots}: tensor {k} differs");
        }
    }
    for bad in ["0", "many", "65"] {
        let (ok, text, _) = train(bad);
        assert!(!ok, "ABPROP_SLOTS={bad} succeeded");
        assert!(text.contains("ABPROP_SLOTS") && !text.contains("panicked"), "{text}");
    }
}

/// Parses the JSON lines of a command's output (stderr's notes are not JSON).
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn bench_json_lines_carry_the_rates_and_the_adapter() {
    let (ok, text) = abprop(&["bench", "kernels", "--filter", "copy", "--json"]);
    assert!(ok, "{text}");
    let rows = json_lines(&text);
    assert!(rows.len() >= 2, "one copy row per elementwise shape expected:\n{text}");
    let adapter = rows[0]["adapter"].as_str().unwrap_or_default().to_string();
    assert!(!adapter.is_empty(), "{text}");
    for r in &rows {
        assert_eq!(r["kernel"], "copy", "{r}");
        for k in ["shape", "backend", "device_type", "driver"] {
            assert!(r[k].is_string(), "{k} missing in {r}");
        }
        assert!(r["ms"].as_f64().is_some_and(|ms| ms > 0.0), "{r}");
        assert!(r["gbps"].as_f64().is_some_and(|g| g > 0.0), "{r}");
        assert_eq!(r["adapter"], adapter.as_str(), "{r}");
    }
    let (ok, text) = abprop(&[
        "bench",
        "train",
        "--preset",
        "texture-quick",
        "--iterations",
        "1",
        "--json",
    ]);
    assert!(ok, "{text}");
    let rows = json_lines(&text);
    assert_eq!(rows.len(), 1, "{text}");
    let r = &rows[0];
    assert_eq!(r["preset"], "texture-quick", "{r}");
    assert!(r["iter_s"].as_f64().is_some_and(|s| s > 0.0), "{r}");
    assert!(r["sgemm_gflops"].as_f64().is_some_and(|g| g > 0.0), "{r}");
    assert_eq!(r["adapter"], adapter.as_str(), "{r}");
}

#[test]
fn bench_compare_puts_runs_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    let line = |kernel: &str, gflops: f64, gbps: f64, adapter: &str| {
        format!(
            r#"{{"kernel":"{kernel}","shape":"s","ms":1.0,"gflops":{gflops},"gbps":{gbps},"adapter":"{adapter}","backend":"Vulkan","device_type":"Cpu","driver":"d"}}"#
        )
    };
    let train = |iter_s: f64, adapter: &str| {
        format!(r#"{{"preset":"texture","batch":1,"iter_s":{iter_s},"adapter":"{adapter}","backend":"Vulkan"}}"#)
    };
    let run_a = [
        "abprop: a note from stderr".to_string(),
        line("sgemm", 10.0, 1.0, "cpu"),
        line("copy", 0.0, 2.0, "cpu"),
        line("conv_transpose_forward", 5.0, 9.0, "cpu"),
        train(2.0, "cpu"),
    ];
    let run_b = [
        line("sgemm", 40.0, 1.0, "gpu"),
        line("conv_transpose_forward", 20.0, 1.0, "gpu"),
        train(0.5, "gpu"),
    ];
    std::fs::write(&a, run_a.join("\n")).unwrap();
    std::fs::write(&b, run_b.join("\n")).unwrap();
    let (ok, text) = abprop(&["bench", "compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(ok, "{text}");
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in:\n{text}"))
            .to_string()
    };
    assert!(
        text.lines().next().unwrap().contains("cpu (Vulkan)") && text.contains("gpu (Vulkan)"),
        "{text}"
    );
    assert!(
        row("sgemm").contains("10.000") && row("sgemm").contains("40.000 (4.00x)"),
        "{text}"
    );
    // GEMM-class rows compare GFLOP/s, the others GB/s; a row a run lacks shows "-".
    assert!(row("conv_transpose_forward").contains("GFLOP/s"), "{text}");
    assert!(row("conv_transpose_forward").contains("20.000 (4.00x)"), "{text}");
    assert!(
        row("copy").contains("GB/s") && row("copy").trim_end().ends_with('-'),
        "{text}"
    );
    // Seconds per iteration: a quarter of the time is 4x.
    assert!(row("train texture").contains("0.500 (4.00x)"), "{text}");

    fails_with(
        &["bench", "compare", dir.path().join("missing.jsonl").to_str().unwrap()],
        "cannot read",
    );
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}\n{{\"kernel\": ", line("sgemm", 1.0, 1.0, "cpu"))).unwrap();
    fails_with(&["bench", "compare", bad.to_str().unwrap()], "bad.jsonl line 2");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "nothing here\n").unwrap();
    fails_with(&["bench", "compare", empty.to_str().unwrap()], "no lines of");
}

#[test]
fn wide_lavapipe_subgroups_are_named_on_stderr() {
    let devices = |width: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_abprop"));
        c.arg("devices").env("WGPU_BACKEND", "vulkan");
        match width {
            Some(w) => c.env("LP_NATIVE_VECTOR_WIDTH", w),
            None => c.env_remove("LP_NATIVE_VECTOR_WIDTH"),
        };
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let plain = devices(None);
    if !(plain.contains("abprop uses: llvmpipe") && plain.contains("(Vulkan, Cpu)")) {
        eprintln!("skipped: lavapipe is not the adapter here");
        return;
    }
    assert!(!plain.contains("lanes wide"), "{plain}");
    let wide = devices(Some("512"));
    assert!(wide.contains("subgroups are 16 lanes wide"), "{wide}");
    assert!(wide.contains("LP_NATIVE_VECTOR_WIDTH"), "{wide}");
}

/// A tiny object-d2-quick run of `iterations` on 8 crops into `run` with extra arguments.
fn tiny_run(data: &Path, run: &Path, iterations: &str, extra: &[&str]) -> (bool, String) {
    let mut args = vec![
        "train",
        "--preset",
        "object-d2-quick",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--iterations",
        iterations,
        "--batch",
        "4",
        "--langevin-steps",
        "2",
    ];
    args.extend_from_slice(extra);
    abprop(&args)
}

#[test]
fn resuming_with_another_network_or_nothing_left_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = crops(d, 8);
    let run = d.join("run");
    let (ok, text) = tiny_run(&data, &run, "2", &[]);
    assert!(ok, "{text}");
    let ckpt = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    // Another preset: both networks named, nothing written.
    let r = run.to_str().unwrap();
    fails_with(
        &[
            "train",
            "--preset",
            "object-quick",
            data.to_str().unwrap(),
            "--out",
            r,
            "--resume",
            "--iterations",
            "3",
        ],
        "--preset object-quick is not the network of the run",
    );
    fails_with(
        &[
            "train",
            "--preset",
            "object-quick",
            data.to_str().unwrap(),
            "--out",
            r,
            "--resume",
            "--iterations",
            "3",
        ],
        "(preset object-d2-quick)",
    );
    // The same preset with other output channels is another network too.
    fails_with(
        &[
            "train",
            "--preset",
            "object-d2-quick",
            "--channels",
            "3",
            data.to_str().unwrap(),
            "--out",
            r,
            "--resume",
            "--iterations",
            "3",
        ],
        "with --channels is not the network",
    );
    // No iterations left: an error, not a run that prints NaN.
    fails_with(
        &[
            "train",
            "--preset",
            "object-d2-quick",
            data.to_str().unwrap(),
            "--out",
            r,
            "--resume",
        ],
        "has done its 2 iterations already",
    );
    assert_eq!(std::fs::read(run.join("checkpoint.safetensors")).unwrap(), ckpt);
    // Without --preset the run's own network is resumed.
    let (ok, text) = abprop(&[
        "train",
        data.to_str().unwrap(),
        "--out",
        r,
        "--resume",
        "--iterations",
        "3",
    ]);
    assert!(ok, "{text}");
    assert!(!text.contains("NaN"), "{text}");
    assert_eq!(
        std::fs::read_to_string(run.join("log.jsonl")).unwrap().lines().count(),
        3
    );
    // synthesize --count 0 is refused and writes nothing.
    let syn = d.join("syn");
    fails_with(
        &[
            "synthesize",
            "--model",
            run.join("checkpoint.safetensors").to_str().unwrap(),
            "--out",
            syn.to_str().unwrap(),
            "--count",
            "0",
        ],
        "--count 0",
    );
    assert!(!syn.exists());
}

#[test]
fn seeds_that_differ_above_32_bits_give_other_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = crops(d, 8);
    let z = |seed: &str, tag: &str| {
        let run = d.join(format!("run{seed}{tag}"));
        let (ok, text) = tiny_run(&data, &run, "1", &["--seed", seed]);
        assert!(ok, "{text}");
        let c = abprop::io::checkpoint::Checkpoint::load(&run.join("checkpoint.safetensors")).unwrap();
        (c.get("z").unwrap().clone(), c.get("0.weight").unwrap().clone())
    };
    let (z1, w1) = z("1", "");
    let (z2, w2) = z("4294967297", ""); // 2^32 + 1
    assert_ne!(z1, z2, "seeds 1 and 2^32 + 1 gave the same Z");
    assert_ne!(w1, w2, "seeds 1 and 2^32 + 1 gave the same initial weights");
    // The same seed, the same bits.
    assert_eq!(z("4294967297", "again").0, z2);
}

#[test]
fn adamax_trains_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = crops(d, 8);
    let (a, b) = (d.join("a"), d.join("b"));
    let (ok, text) = tiny_run(&data, &a, "3", &["--adamax", "--lr", "3e-4"]);
    assert!(ok, "{text}");
    let (ok, text) = tiny_run(&data, &b, "2", &["--adamax", "--lr", "3e-4"]);
    assert!(ok, "{text}");
    // The optimizer stays the run's: resuming without --adamax is refused.
    let (ok, text) = abprop(&[
        "train",
        data.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
        "--resume",
        "--iterations",
        "3",
    ]);
    assert!(
        !ok && text.contains("keeps the run's batch size and optimizer"),
        "{text}"
    );
    let (ok, text) = abprop(&[
        "train",
        data.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
        "--resume",
        "--iterations",
        "3",
        "--adamax",
    ]);
    assert!(ok, "{text}");
    let load = |p: &Path| abprop::io::checkpoint::Checkpoint::load(&p.join("checkpoint.safetensors")).unwrap();
    let (ca, cb) = (load(&a), load(&b));
    assert!(ca.tensors.contains_key("optim.0.weight.v"), "Adamax keeps its u as v");
    assert!(ca.meta("hyper").unwrap().contains("adamax"));
    assert_eq!(
        ca.tensors, cb.tensors,
        "a resumed Adamax run differs from an uninterrupted one"
    );
}

#[test]
fn hmc_training_logs_its_acceptance_rate() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let brick = asset("brick.png");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "train",
            "--preset",
            "texture-quick",
            brick.as_str(),
            "--resize",
            "--out",
            r,
            "--iterations",
            "2",
            "--langevin-steps",
            "2",
        ];
        a.extend_from_slice(extra);
        a
    };
    fails_with(&args(&["--leapfrog", "3"]), "--leapfrog applies to --sampler hmc only");
    fails_with(
        &args(&["--sampler", "hmc", "--no-noise"]),
        "--no-noise is for Langevin dynamics",
    );
    let (ok, text) = abprop(&args(&["--sampler", "hmc", "--leapfrog", "3"]));
    assert!(ok, "{text}");
    assert!(text.contains("HMC with 3 leapfrog steps"), "{text}");
    let log = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
    let lines = json_lines(&log);
    assert_eq!(lines.len(), 2, "{log}");
    for l in &lines {
        let a = l["acceptance"]
            .as_f64()
            .unwrap_or_else(|| panic!("no acceptance in {l}"));
        assert!((0.0..=1.0).contains(&a), "acceptance {a} in {l}");
        eprintln!("texture-quick HMC (K = 3, D = 0.1) acceptance {a}");
    }
    let c = abprop::io::checkpoint::Checkpoint::load(&run.join("checkpoint.safetensors")).unwrap();
    assert!(
        c.meta("hyper").unwrap().contains(r#""sampler":{"hmc":{"leapfrog":3}}"#),
        "{}",
        c.meta("hyper").unwrap()
    );
    // Inference with W fixed: reconstruct with HMC reports its acceptance rate.
    let model = run.join("checkpoint.safetensors");
    let rec = dir.path().join("rec");
    let rec_args = |extra: &[&'static str]| {
        let mut a = vec![
            "reconstruct",
            "--model",
            model.to_str().unwrap(),
            "--data",
            brick.as_str(),
            "--resize",
            "--out",
            rec.to_str().unwrap(),
            "--steps",
            "3",
        ];
        a.extend_from_slice(extra);
        a
    };
    fails_with(
        &rec_args(&["--leapfrog", "2"]),
        "--leapfrog applies to --sampler hmc only",
    );
    let (ok, text) = abprop(&rec_args(&["--sampler", "hmc", "--leapfrog", "2"]));
    assert!(ok && text.contains("HMC acceptance rate"), "{text}");
    let errors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rec.join("errors.json")).unwrap()).unwrap();
    let a = errors["acceptance"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&a), "{errors}");
    assert_eq!(errors["sampler"]["hmc"]["leapfrog"], 2, "{errors}");
}

#[test]
fn hiabp_trains_with_its_encoder_reconstructs_from_it_and_varies_a_level() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = crops_of(d, "crops28", 8, 28, (30, 10)).display().to_string();
    let run = d.join("run").display().to_string();
    let (ok, text) = abprop(&[
        "train",
        "--preset",
        "hiabp-mnist-quick",
        &data,
        "--out",
        &run,
        "--iterations",
        "2",
        "--batch",
        "4",
        "--langevin-steps",
        "2",
    ]);
    assert!(ok, "{text}");
    let ckpt = format!("{run}/checkpoint.safetensors");
    let c = abprop::io::checkpoint::Checkpoint::load(Path::new(&ckpt)).unwrap();
    for name in ["encoder.0.weight", "encoder.0.bias", "propose_step"] {
        assert!(c.tensors.contains_key(name), "the checkpoint lacks {name}");
    }
    // PyTorch's Conv2d layout [out, in, k, k].
    assert_eq!(c.get("encoder.0.weight").unwrap().shape(), &[16, 1, 4, 4]);

    // [E] and [E+L] reconstructions of the same images.
    let rec = |steps: &str| {
        let out = d.join(format!("rec{steps}")).display().to_string();
        let (ok, text) = abprop(&[
            "reconstruct",
            "--model",
            &ckpt,
            "--data",
            &data,
            "--out",
            &out,
            "--init",
            "encoder",
            "--steps",
            steps,
            "--delta",
            "0.15",
            "--no-noise",
        ]);
        assert!(ok, "{text}");
        let e: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{out}/errors.json")).unwrap()).unwrap();
        e["mean_mse"].as_f64().unwrap()
    };
    // (That the steps improve on the encoder after real training is tests/iabp.rs's; here, two
    // iterations in, they only have to run from the encoder's start.)
    let (e, el) = (rec("0"), rec("20"));
    assert!(e.is_finite() && el.is_finite() && e != el, "[E] {e} and [E+L] {el}");

    // Level 2 resampled along each row, the other levels kept.
    let panel = d.join("panel").display().to_string();
    let (ok, text) = abprop(&[
        "synthesize",
        "--model",
        &ckpt,
        "--out",
        &panel,
        "--vary-level",
        "2",
        "--grid",
        "3",
    ]);
    assert!(ok, "{text}");
    assert!(Path::new(&format!("{panel}/grid.png")).exists());
    let z = abprop::io::checkpoint::Checkpoint::load(Path::new(&format!("{panel}/latents.safetensors"))).unwrap();
    let z = z.get("z").unwrap().f32().unwrap().to_vec();
    let (dim, (off, len)) = (16, (8, 4)); // levels [8, 4, 4]: level 2 is z[8..12]
    for r in 0..3 {
        for j in 1..3 {
            let (a, b) = (
                &z[(r * 3) * dim..(r * 3 + 1) * dim],
                &z[(r * 3 + j) * dim..(r * 3 + j + 1) * dim],
            );
            assert_eq!(a[..off], b[..off], "row {r}: level 1 changed along the row");
            assert_eq!(a[off + len..], b[off + len..], "row {r}: level 3 changed along the row");
            assert_ne!(a[off..off + len], b[off..off + len], "row {r}: level 2 did not vary");
        }
    }
    fails_with(
        &["synthesize", "--model", &ckpt, "--out", &panel, "--vary-level", "4"],
        "level 4 is not one of",
    );

    // A model without an encoder.
    let plain = d.join("plain").display().to_string();
    fails_with(
        &[
            "train",
            "--preset",
            "texture-quick",
            "--resize",
            &asset("brick.png"),
            "--out",
            &plain,
            "--init",
            "encoder",
            "--iterations",
            "1",
        ],
        "no encoder",
    );
}
