//! Scratch benchmark of the GEMM engine and the transposed convolutions (GFLOP/s per kernel).
//! cargo run --release --example bench_conv [-- sgemm|conv|compile]
//! Environment: KERNEL=all|sg64x64|sg64x32|tiled64x64|tiled128x128 (default: sgemm every
//! kernel, convs the automatic choice), SHAPE=m,n,k (sgemm), LAYER=<name prefix>,
//! PASS=fwd|bwd_in|bwd_w, PHASE=0|1 (force the general or the phase/window formulations),
//! DETAIL=1 (each dispatch), REPS=<n>; `ABPROP_SLOTS=n` sets `Gpu::slots` as for abprop. Besides GFLOP/s of wall time it prints GFLOP per CPU-second of this process: on a
//! software adapter (lavapipe) that figure does not move when other work shares the cores.
use abprop::gpu::{Gpu, Timer};
use abprop::ops::conv_transpose::{self, ConvShape};
use abprop::ops::gemm::{self, Kernel};
use std::time::Instant;

/// CPU seconds used by this process so far (user + system), from /proc (Linux only).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// Seconds per run (GPU timestamps) and CPU seconds per run (all driver threads: on a software
/// adapter this is robust to other load on the machine).
fn time2(gpu: &Gpu, seq: &[&abprop::gpu::Dispatch], reps: u32) -> (f64, f64) {
    gpu.run(seq).unwrap();
    let c0 = cpu_seconds();
    let t = Timer::new(gpu).time(gpu, seq, reps).unwrap();
    let c = (cpu_seconds() - c0) / (reps + 1) as f64;
    (t, c)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(|s| s.as_str()).unwrap_or("all");
    let gpu = Gpu::new()?;
    let reps: u32 = std::env::var("REPS").map(|s| s.parse().unwrap()).unwrap_or(3);
    // KERNEL=all: every kernel; KERNEL=<name>: that one; unset: the automatic choice (convs)
    // and every kernel (sgemm).
    let kernels: Vec<Kernel> = match std::env::var("KERNEL") {
        Ok(k) if k != "all" => Kernel::available(&gpu)
            .into_iter()
            .filter(|x| format!("{x:?}").to_lowercase() == k.to_lowercase())
            .collect(),
        _ => Kernel::available(&gpu),
    };
    let conv_kernels: Vec<Option<Kernel>> = match std::env::var("KERNEL") {
        Ok(_) => kernels.iter().map(|&k| Some(k)).collect(),
        Err(_) => vec![None],
    };
    if what == "compile" || what == "all" {
        let a = gpu.zeros("a", &[64 * 64])?;
        for &k in &kernels {
            let t = Instant::now();
            let op = gemm::sgemm_with(&gpu, k, &a, &a, &gpu.zeros("c", &[64 * 64])?, 64, 64, 64)?;
            gpu.run(&op.seq())?;
            println!("compile {k:?}: {:.2}s", t.elapsed().as_secs_f64());
        }
    }
    if what == "sgemm" || what == "all" {
        // SHAPE=m,n,k (default 1024,1024,1024)
        let dims: Vec<usize> = std::env::var("SHAPE")
            .unwrap_or("1024,1024,1024".into())
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect();
        let (m, n, kk) = (dims[0], dims[1], dims[2]);
        let a = gpu.upload("a", &[m * kk], &vec![1.0f32; m * kk])?;
        let bm = gpu.upload("b", &[kk * n], &vec![1.0f32; kk * n])?;
        let c = gpu.zeros("c", &[m * n])?;
        for &k in &kernels {
            let op = gemm::sgemm_with(&gpu, k, &a, &bm, &c, m, n, kk)?;
            let (t, cpu) = time2(&gpu, &op.seq(), reps);
            let gm: Vec<_> = op.dispatches.iter().filter(|d| d.name.contains("gemm_64")).collect();
            let (tg, _) = time2(&gpu, &gm, reps);
            println!(
                "  multiply alone {:.2} ms, {:.1} GFLOP/s",
                tg * 1e3,
                op.flops() / tg * 1e-9
            );
            println!(
                "sgemm {m}x{n}x{kk} {k:?}: {:.1} ms, {:.1} GFLOP/s; {:.1} GFLOP per CPU-second",
                t * 1e3,
                op.flops() / t * 1e-9,
                op.flops() / cpu * 1e-9
            );
        }
    }
    if what == "conv" || what == "all" {
        let layers: Vec<(&str, ConvShape)> = vec![
            ("tex2 b1", ConvShape::conv2d(1, 512, 256, 14, 14, 5, 2, 2, 1)),
            ("tex3 b1", ConvShape::conv2d(1, 256, 128, 28, 28, 5, 2, 2, 1)),
            ("tex4 b1", ConvShape::conv2d(1, 128, 64, 56, 56, 5, 2, 2, 1)),
            ("obj1 b64", ConvShape::conv2d(64, 512, 256, 4, 4, 5, 2, 2, 1)),
            ("obj2 b64", ConvShape::conv2d(64, 256, 128, 8, 8, 5, 2, 2, 1)),
            ("obj3 b64", ConvShape::conv2d(64, 128, 64, 16, 16, 5, 2, 2, 1)),
            ("snd1 b8", ConvShape::conv1d(8, 256, 128, 60, 25, 10, 8, 1)),
            ("snd2 b8", ConvShape::conv1d(8, 128, 64, 600, 25, 10, 8, 1)),
            ("sndL2 b1", ConvShape::conv1d(1, 256, 128, 60, 25, 10, 8, 1)),
            ("sndL3 b1", ConvShape::conv1d(1, 128, 64, 600, 25, 10, 8, 1)),
        ];
        let filter = std::env::var("LAYER").ok();
        for (name, s) in layers {
            if filter.as_ref().is_some_and(|f| !name.starts_with(f.as_str())) {
                continue;
            }
            let x = gpu.upload("x", &[s.x_len()], &vec![0.5f32; s.x_len()])?;
            let w = gpu.upload("w", &[s.w_len()], &vec![0.25f32; s.w_len()])?;
            let b = gpu.zeros("b", &[s.c_out])?;
            let y = gpu.zeros("y", &[s.y_len()])?;
            let dx = gpu.zeros("dx", &[s.x_len()])?;
            let dw = gpu.zeros("dw", &[s.w_len()])?;
            let db = gpu.zeros("db", &[s.c_out])?;
            for &k in &conv_kernels {
                // PHASE=0|1 forces the forward by col2im or by phases.
                let o = conv_transpose::Options {
                    kernel: k,
                    phase: std::env::var("PHASE").ok().map(|v| v == "1"),
                    ..Default::default()
                };
                let ops = [
                    ("fwd", conv_transpose::forward_with(&gpu, &o, &s, &x, &w, &b, &y)?),
                    (
                        "bwd_in",
                        conv_transpose::backward_input_with(&gpu, &o, &s, &y, &w, &dx)?,
                    ),
                    (
                        "bwd_w",
                        conv_transpose::backward_weights_with(&gpu, &o, &s, &x, &y, &dw, &db)?,
                    ),
                ];
                let only = std::env::var("PASS").ok();
                for (pass, op) in ops {
                    if only.as_ref().is_some_and(|p| p != pass) {
                        continue;
                    }
                    // The weights' packing runs once per weight update in training: not timed.
                    gpu.run(&op.prep.iter().collect::<Vec<_>>())?;
                    let (t, cpu) = time2(&gpu, &op.main_seq(), reps);
                    // The GEMM dispatches alone, for the share of packing and gathers.
                    let gm: Vec<_> = op.dispatches.iter().filter(|d| d.name.contains("gemm_64")).collect();
                    let (_, cg) = time2(&gpu, &gm, reps);
                    println!(
                        "{name:9} {pass:7} {}: {:7.2} ms {:5.1} GFLOP/s; {:5.1} GFLOP per CPU-s (gemm alone {:4.1}, {:.0}% of the CPU time)",
                        k.map(|k| format!("{k:?}")).unwrap_or("auto".into()),
                        t * 1e3,
                        s.flops() / t * 1e-9,
                        s.flops() / cpu * 1e-9,
                        s.flops() / cg * 1e-9,
                        cg / cpu * 100.0
                    );
                    if std::env::var("DETAIL").is_ok() {
                        for d in op.seq() {
                            let (t, c) = time2(&gpu, &[d], reps);
                            let d: &abprop::gpu::Dispatch = d;
                            println!(
                                "    {:40} {:6.3} ms {:6.2} CPU-ms {:?}",
                                d.name,
                                t * 1e3,
                                c * 1e3,
                                d.groups
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
