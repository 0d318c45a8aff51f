//! `abprop synthesize` as a batch tool, as a user runs it: shards whose union is one run bit for
//! bit, float formats that keep the generator's values exactly, a killed run resumed to the same
//! files, and clear errors that write nothing.
use abprop::io::checkpoint::Checkpoint;
use abprop::io::samples::read_npy;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn abprop(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_abprop")).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A tiny object-d2-quick model trained once for the whole file (on 8 crops of a shipped
/// photograph).
fn model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &MODEL
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let img = image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/gravel.png"))
                .unwrap()
                .to_luma8();
            let data = dir.path().join("crops");
            std::fs::create_dir(&data).unwrap();
            for k in 0..8 {
                image::imageops::crop_imm(&img, k * 40, k * 20, 32, 32)
                    .to_image()
                    .save(data.join(format!("{k}.png")))
                    .unwrap();
            }
            let run = dir.path().join("run");
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
            ]);
            assert!(ok, "{text}");
            let ckpt = run.join("checkpoint.safetensors");
            (dir, ckpt)
        })
        .1
}

fn synth(out: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec![
        "synthesize",
        "--model",
        model().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    abprop(&args)
}

/// Every file of a folder but the index files, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("index"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_checkpoint_holds_population_statistics_in_pytorch_names() {
    let c = Checkpoint::load(model()).unwrap();
    for i in [2, 5, 8] {
        let (m, v) = (
            c.get(&format!("{i}.running_mean")).unwrap(),
            c.get(&format!("{i}.running_var")).unwrap(),
        );
        assert_eq!(m.shape(), c.get(&format!("{i}.weight")).unwrap().shape());
        assert!(v.f32().unwrap().iter().all(|&x| x >= 0.0 && x.is_finite()));
    }
}

#[test]
fn the_union_of_shards_is_one_run_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    let (ok, text) = synth(&one, &["--count", "600", "--format", "safetensors", "--seed", "9"]);
    assert!(ok, "{text}");
    let shards = dir.path().join("shards");
    for k in ["1/3", "2/3", "3/3"] {
        let (ok, text) = synth(
            &shards,
            &["--count", "600", "--format", "safetensors", "--seed", "9", "--shard", k],
        );
        assert!(ok, "{text}");
    }
    let (a, b) = (files(&one), files(&shards));
    assert!(a.len() >= 3, "{:?}", a.keys());
    assert_eq!(a, b, "the shards' files differ from one run's");
    // --shard auto reads a Slurm job array's task.
    let auto = dir.path().join("auto");
    for id in ["1", "2", "3"] {
        let out = Command::new(env!("CARGO_BIN_EXE_abprop"))
            .args([
                "synthesize",
                "--model",
                model().to_str().unwrap(),
                "--out",
                auto.to_str().unwrap(),
            ])
            .args([
                "--count",
                "600",
                "--format",
                "safetensors",
                "--seed",
                "9",
                "--shard",
                "auto",
            ])
            .env("SLURM_ARRAY_TASK_ID", id)
            .env("SLURM_ARRAY_TASK_COUNT", "3")
            .env("SLURM_ARRAY_TASK_MIN", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(files(&auto), a);
}

#[test]
fn float_formats_keep_the_values_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (st, npy, png) = (dir.path().join("st"), dir.path().join("npy"), dir.path().join("png"));
    for (out, f) in [(&st, "safetensors"), (&npy, "npy"), (&png, "png16")] {
        let (ok, text) = synth(out, &["--count", "20", "--format", f, "--seed", "4"]);
        assert!(ok, "{text}");
    }
    let c = Checkpoint::load(&st.join("samples-0000-0019.safetensors")).unwrap();
    let (x, z) = (c.get("x").unwrap(), c.get("z").unwrap());
    assert_eq!(x.shape(), &[20, 1, 32, 32]);
    let (xs, xv) = read_npy(&npy.join("samples-0000-0019-x.npy")).unwrap();
    let (_, zv) = read_npy(&npy.join("samples-0000-0019-z.npy")).unwrap();
    assert_eq!(xs, vec![20, 1, 32, 32]);
    assert_eq!(x.f32().unwrap(), &xv[..], "safetensors and npy differ");
    assert_eq!(z.f32().unwrap(), &zv[..]);
    // The library renders the same bits from the same Z.
    let gpu = abprop::gpu::Gpu::new().unwrap();
    let mut m = abprop::abp::Model::load(model()).unwrap();
    let (spec, params) = (m.spec.clone(), m.params.clone());
    let norm = m.norm(&gpu, abprop::abp::synthesis::BnMode::Population).unwrap();
    let again = abprop::abp::synthesis::render(&gpu, &spec, &params, norm, &zv, 20).unwrap();
    assert_eq!(again, xv);
    // 16-bit PNG: within half a step of 65535 levels over [-1, 1].
    let img = image::open(png.join("0007.png")).unwrap().to_luma16();
    for (p, &v) in img.pixels().zip(&xv[7 * 1024..8 * 1024]) {
        let back = p.0[0] as f32 / 32767.5 - 1.0;
        assert!((back - v.clamp(-1.0, 1.0)).abs() <= 1.0 / 32767.5, "{back} vs {v}");
    }
}

#[test]
fn a_killed_run_resumed_gives_the_files_of_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let (full, killed) = (dir.path().join("full"), dir.path().join("killed"));
    let args = ["--count", "1500", "--format", "npy", "--seed", "5"];
    let (ok, text) = synth(&full, &args);
    assert!(ok, "{text}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_abprop"))
        .args([
            "synthesize",
            "--model",
            model().to_str().unwrap(),
            "--out",
            killed.to_str().unwrap(),
        ])
        .args(args)
        .spawn()
        .unwrap();
    // Kill it once its first chunk is written (or at the end, if it is quicker than the poll).
    let start = std::time::Instant::now();
    while !killed.join("samples-0000-0255-x.npy").exists() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().ok();
    child.wait().unwrap();
    // No partial file under a final name: what is there is whole.
    for (name, bytes) in files(&killed) {
        if !name.starts_with('.') {
            assert_eq!(
                files(&full).get(&name),
                Some(&bytes),
                "{name} differs from the full run's"
            );
        }
    }
    let (ok, text) = synth(&killed, &[&args[..], &["--resume"]].concat());
    assert!(ok, "{text}");
    let done: BTreeMap<_, _> = files(&killed)
        .into_iter()
        .filter(|(n, _)| !n.starts_with('.'))
        .collect();
    assert_eq!(done, files(&full));
}

#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cases: [(&[&str], &str); 5] = [
        (&["--count", "0"], "--count 0"),
        (&["--shard", "4/3"], "shard 4 of 3 does not exist"),
        (&["--shard", "x"], "expected K/N"),
        (&["--format", "wav16"], "this model makes images"),
        (&["--format", "wav32f"], "this model makes images"),
    ];
    for (extra, needle) in cases {
        let (ok, text) = synth(&out, extra);
        assert!(!ok && text.contains(needle), "{extra:?}: {text}");
        assert!(!text.contains("panicked"), "{text}");
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    }
    let (ok, text) = synth(&out, &["--shard", "auto"]);
    assert!(!ok && text.contains("SLURM_ARRAY_TASK_ID"), "{text}");
    // An output folder that cannot be made.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (ok, text) = synth(&file.join("sub"), &["--count", "2"]);
    assert!(!ok && text.contains("cannot create"), "{text}");
}

#[test]
fn two_devices_of_one_adapter_equal_one() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let args = ["--count", "700", "--format", "npy", "--seed", "3"];
    let (ok, text) = synth(&one, &args);
    assert!(ok, "{text}");
    let (ok, text) = synth(&two, &[&args[..], &["--devices", "0,0"]].concat());
    assert!(ok, "{text}");
    assert!(text.contains("on 2 devices"), "{text}");
    let (a, b) = (files(&one), files(&two));
    assert!(a.len() >= 4, "{:?}", a.keys());
    assert_eq!(a, b, "two devices wrote other files than one");
    // A device that is not there is an error before anything is written.
    let none = dir.path().join("none");
    let (ok, text) = synth(&none, &["--count", "4", "--devices", "0,99"]);
    assert!(!ok && text.contains("there is no adapter 99"), "{text}");
    assert!(!none.exists());
}
