//! How fast the CPU reference of `philox_normal` (Philox4x32-10 and Box-Muller, src/ops/philox.rs
//! `cpu`) writes normals natively on every core: the arithmetic's own rate on this machine, to
//! set beside the GPU kernel's in `abprop bench kernels --filter philox` (on a software adapter
//! the two share the same cores).
//!
//!     RUSTFLAGS="-C target-cpu=native" cargo run --release --example philox_cpu_rate

use abprop::ops::philox::cpu;
use std::time::Instant;

fn main() {
    let n = 1usize << 22;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = n / threads;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|i| s.spawn(move || cpu::normal(chunk, [7, 3], 1, (i * chunk) as u32)))
                .collect();
            for h in handles {
                std::hint::black_box(h.join().expect("a worker panicked"));
            }
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    let bytes = (chunk * threads * 4) as f64;
    println!(
        "philox_normal on the CPU, {threads} threads, {} normals: {:.3} ms, {:.2} GB/s written (best of 5)",
        chunk * threads,
        best * 1e3,
        bytes / best / 1e9
    );
}
