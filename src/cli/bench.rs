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
    /// Samples per second and MB/s of `abprop synthesize` in each output format, rendering
    /// time against writing time (a preset's initial weights, or a checkpoint's).
    Synth {
        #[arg(long, default_value = "object-quick")]
        preset: String,
        /// A checkpoint to render instead of the preset's initial weights.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Samples per format.
        #[arg(long, default_value_t = 1024)]
        count: usize,
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
                let enc = match (r.encoder_s, r.encoder_share) {
                    (Some(s), Some(f)) => format!(", encoder {s:.3} s ({:.0}% of the iteration)", 100.0 * f),
                    _ => String::new(),
                };
                println!(
                    "{}: batch {}, {:.3} s/iteration (inference {:.3} s, learning {:.3} s{enc}), {:.1} GFLOP/s, {} submits and {} read-backs per iteration; yardstick sgemm {:.1} GFLOP/s",
                    r.preset, r.batch, r.iter_s, r.infer_s, r.learn_s, r.gflops, r.submits, r.readbacks, r.sgemm_gflops
                );
            }
        }
        Bench::Synth {
            preset,
            model,
            count,
            json,
        } => {
            let gpu = Gpu::new()?;
            if !json {
                println!("adapter: {} ({:?})", gpu.info.name, gpu.info.backend);
                println!(
                    "{:<12} {:>8} {:>6} {:>10} {:>8} {:>9} {:>8}",
                    "format", "samples", "chunk", "samples/s", "MB/s", "render s", "write s"
                );
            }
            let scratch = std::env::temp_dir();
            bench::synth(&gpu, &preset, model.as_deref(), count.max(1), &scratch, |r| {
                if json {
                    println!("{}", bench::json_line(&gpu, r));
                } else {
                    println!(
                        "{:<12} {:>8} {:>6} {:>10.1} {:>8.2} {:>9.3} {:>8.3}",
                        format!("{:?}", r.format).to_lowercase(),
                        r.samples,
                        r.chunk,
                        r.samples_per_s,
                        r.mb_per_s,
                        r.render_s,
                        r.write_s
                    );
                }
            })?;
        }
        Bench::Compare { files } => {
            let runs = bench::compare::read_all(&files)?;
            print!("{}", bench::compare::table(&runs));
        }
    }
    Ok(())
}
