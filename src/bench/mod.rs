//! The benchmarks: `abprop bench kernels` (each kernel alone at the paper networks' shapes),
//! `abprop bench train` (whole training iterations of a preset, through the one training
//! loop), `abprop bench synth` (the batch synthesis tool per output format) and `abprop bench
//! compare` (several runs' JSON lines side by side).

pub mod compare;
pub mod kernels;
pub mod synth;
pub mod train;

pub use kernels::{kernels, paper_conv_cases, table, ConvCase, Row};
pub use synth::{synth, SynthRow};
pub use train::{train, TrainRow};

use crate::gpu::Gpu;
use serde::Serialize;

/// One line of a benchmark's `--json` output: the row's own fields, then the adapter's, so that
/// lines from several machines can be pooled and compared.
#[derive(Serialize)]
struct JsonLine<'a, T: Serialize> {
    #[serde(flatten)]
    row: &'a T,
    adapter: &'a str,
    backend: &'a str,
    device_type: &'a str,
    driver: &'a str,
}

/// `row` as one JSON line with the fields `adapter`, `backend`, `device_type` and `driver` of
/// `gpu` appended.
pub fn json_line<T: Serialize>(gpu: &Gpu, row: &T) -> String {
    let c = gpu.choice();
    serde_json::to_string(&JsonLine {
        row,
        adapter: &c.name,
        backend: &c.backend,
        device_type: &c.device_type,
        driver: &c.driver,
    })
    // Strings and numbers only (a NaN becomes null): serializing cannot fail.
    .expect("a benchmark row serializes to JSON")
}
