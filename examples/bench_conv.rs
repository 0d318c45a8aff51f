//! Scratch benchmark of the GEMM engine and the transposed convolutions (GFLOP/s per kernel).
//! cargo run --release --example bench_conv [-- sgemm|conv|compile]
use abprop::gpu::{Gpu, Op, Timer};
use abprop::ops::conv_transpose::{self, ConvShape};
use abprop::ops::gemm::{self, Kernel};
use std::time::Instant;

fn time(gpu: &Gpu, op: &Op, reps: u32) -> f64 {
    Timer::new(gpu).time(gpu, &op.seq(), reps).unwrap()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(|s| s.as_str()).unwrap_or("all");
    let gpu = Gpu::new()?;
    let reps: u32 = std::env::var("REPS").map(|s| s.parse().unwrap()).unwrap_or(3);
    let kernels: Vec<Kernel> = match std::env::var("KERNEL") {
        Ok(k) => Kernel::available(&gpu)
            .into_iter()
            .filter(|x| format!("{x:?}").to_lowercase() == k.to_lowercase())
            .collect(),
        Err(_) => Kernel::available(&gpu),
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
        let n = 1024;
        let a = gpu.upload("a", &[n * n], &vec![1.0f32; n * n])?;
        let c = gpu.zeros("c", &[n * n])?;
        for &k in &kernels {
            let op = gemm::sgemm_with(&gpu, k, &a, &a, &c, n, n, n)?;
            let t = time(&gpu, &op, reps);
            let tm = time(
                &gpu,
                &Op::new(vec![]).then(gemm::sgemm_with(&gpu, k, &a, &a, &c, n, n, n)?),
                reps,
            );
            let _ = tm;
            println!(
                "sgemm {n}^3 {k:?}: {:.1} ms, {:.1} GFLOP/s",
                t * 1e3,
                op.flops() / t * 1e-9
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
            for &k in &kernels {
                let ops = [
                    (
                        "fwd",
                        conv_transpose::forward_with(&gpu, &conv_transpose::Options::kernel(k), &s, &x, &w, &b, &y)?,
                    ),
                    (
                        "bwd_in",
                        conv_transpose::backward_input_with(
                            &gpu,
                            &conv_transpose::Options::kernel(k),
                            &s,
                            &y,
                            &w,
                            &dx,
                        )?,
                    ),
                    (
                        "bwd_w",
                        conv_transpose::backward_weights_with(
                            &gpu,
                            &conv_transpose::Options::kernel(k),
                            &s,
                            &x,
                            &y,
                            &dw,
                            &db,
                        )?,
                    ),
                ];
                for (pass, op) in ops {
                    let t = time(&gpu, &op, reps);
                    // The GEMM dispatches alone, for the share of packing and gathers.
                    let gm: Vec<_> = op.dispatches.iter().filter(|d| d.name.contains("gemm_64")).collect();
                    let tg = Timer::new(&gpu).time(&gpu, &gm, reps)?;
                    println!(
                        "{name:9} {pass:7} {k:?}: {:7.2} ms {:5.1} GFLOP/s (gemm alone {:.2} ms)",
                        t * 1e3,
                        s.flops() / t * 1e-9,
                        tg * 1e3
                    );
                }
            }
        }
    }
    Ok(())
}
