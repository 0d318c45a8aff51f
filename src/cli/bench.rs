//! `abprop bench kernels|train|compare`.

use crate::bench;
use crate::gpu::{Gpu, Timer};
use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Bench {
    /// Time each kernel at the paper networks' layer shapes (GFLOP/s, GB/s).
    Kernels {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Only kernels whose name contains this.
        #[arg(long, default_value = "")]
        filter: String,
    },
    /// Time training iterations of a preset on synthetic data.
    Train {
        #[arg(long, default_value = "texture")]
        preset: String,
        #[arg(long, default_value_t = 3)]
        iterations: usize,
        #[arg(long)]
        batch: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Put the JSON lines of several `bench kernels --json` or `bench train --json` runs (one
    /// file each: machines, drivers, builds) side by side, with ratios to the first.
    Compare {
        /// Files of JSON lines; the first is the baseline.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(b: Bench) -> Result<()> {
    match b {
        Bench::Kernels { json, filter } => {
            let gpu = Gpu::new()?;
            if !json {
                println!(
                    "adapter: {} ({:?}); timing: {}",
                    gpu.info.name,
                    gpu.info.backend,
                    Timer::new(&gpu).method
                );
            }
            let rows = bench::kernels(&gpu, &filter, |r| {
                if json {
                    println!("{}", bench::json_line(&gpu, r));
                }
            })?;
            if !json {
                print!("{}", bench::table(&rows));
            }
        }
        Bench::Train {
            preset,
            iterations,
            batch,
            json,
        } => {
            let gpu = Gpu::new()?;
            let r = bench::train(&gpu, &preset, iterations, batch)?;
            if json {
                println!("{}", bench::json_line(&gpu, &r));
            } else {
                println!("adapter: {} ({:?})", gpu.info.name, gpu.info.backend);
                println!(
                    "{}: batch {}, {:.3} s/iteration (inference {:.3} s, learning {:.3} s), {:.1} GFLOP/s, {} submits and {} read-backs per iteration; yardstick sgemm {:.1} GFLOP/s",
                    r.preset, r.batch, r.iter_s, r.infer_s, r.learn_s, r.gflops, r.submits, r.readbacks, r.sgemm_gflops
                );
            }
        }
        Bench::Compare { files } => {
            let runs = bench::compare::read_all(&files)?;
            print!("{}", bench::compare::table(&runs));
        }
    }
    Ok(())
}
