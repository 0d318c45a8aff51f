//! A native SGEMM of 1024^3 (the `matrixmultiply` crate) on every core, in row bands: what this
//! machine's CPU does without a driver between it and the multiply, to set beside the `sgemm`
//! row of `abprop bench kernels` on a software adapter (which shares the same cores).
//!
//!     RUSTFLAGS="-C target-cpu=native" cargo run --release --example sgemm_cpu_rate

use std::time::Instant;

fn main() {
    let n = 1024usize;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.25).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.5).collect();
    let mut c = vec![0f32; n * n];
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(n);
    let rows = n.div_ceil(threads);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for (i, band) in c.chunks_mut(rows * n).enumerate() {
                let (a, b) = (&a[i * rows * n..], &b);
                s.spawn(move || {
                    let m = band.len() / n;
                    // SAFETY: the pointers cover m x n (a, c) and n x n (b) row-major f32s.
                    unsafe {
                        matrixmultiply::sgemm(
                            m,
                            n,
                            n,
                            1.0,
                            a.as_ptr(),
                            n as isize,
                            1,
                            b.as_ptr(),
                            n as isize,
                            1,
                            0.0,
                            band.as_mut_ptr(),
                            n as isize,
                            1,
                        )
                    };
                });
            }
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&c);
    println!(
        "native sgemm {n}^3, {threads} threads: {:.3} ms, {:.1} GFLOP/s (best of 5)",
        best * 1e3,
        2.0 * (n * n * n) as f64 / best / 1e9
    );
}
