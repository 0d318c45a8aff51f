//! abprop: alternating back-propagation for generator networks (Han, Lu, Zhu, Wu, AAAI 2017)
//! with every heavy step in WGSL compute shaders.
//!
//! Modules, with dependencies pointing one way (each uses only those above it; see
//! docs/architecture.md):
//! - `gpu`: device, tensors, pipelines, dispatches, timing; knows nothing of ABP.
//! - `ops`: the kernels, one family per file, each beside its plain-Rust twin.
//! - `seed`: the run's seed and every random stream derived from it.
//! - `model`: the JSON spec, presets, the generator on the GPU and its CPU twin.
//! - `data`, `io`: readers and writers (images, IDX, WAV, masks, safetensors files, grids).
//! - `abp`: inference (Langevin), learning, the one training loop, checkpoints, synthesis and
//!   reconstruction.
//! - `eval`: the paper's Experiments 5-7 and their baselines.
//! - `bench`: the kernel and training benchmarks.
//! - `cli`: the command line, one file per subcommand (`main.rs` dispatches).

pub mod abp;
pub mod bench;
pub mod cli;
pub mod data;
pub mod eval;
pub mod gpu;
pub mod io;
pub mod model;
pub mod ops;
pub mod seed;
pub mod shaders;
