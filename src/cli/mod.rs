//! The command line, one file per subcommand: each holds its arguments (clap) and a `run`
//! that calls the library; `main.rs` only parses and dispatches.

pub mod bench;
pub mod devices;
pub mod dynamics;
pub mod eval;
pub mod interpolate;
pub mod presets;
pub mod reconstruct;
pub mod synthesize;
pub mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "abprop",
    version,
    about = "Alternating back-propagation for generator networks (Han et al., AAAI 2017), on any GPU"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Learn a generator from data by alternating back-propagation.
    Train(train::TrainArgs),
    /// Render f(Z; W) for Z ~ N(0, I), for given Z, or over the d = 2 panel.
    Synthesize(synthesize::SynthArgs),
    /// Interpolate between the inferred Z of training examples (paper Figure 6).
    Interpolate(interpolate::InterpArgs),
    /// Infer Z for new data with W fixed and write the reconstructions and their errors.
    Reconstruct(reconstruct::ReconArgs),
    /// List the built-in presets, or write their model specs as JSON files.
    Presets(presets::PresetsArgs),
    /// List the GPU adapters wgpu sees and the one abprop would use.
    Devices,
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Latent dynamics of a model trained on the frames of a clip (dynamic textures).
    #[command(subcommand)]
    Dynamics(dynamics::DynamicsCmd),
    /// The paper's Experiments 5-7: learning from occluded images or compressed-sensing
    /// projections, and reconstruction of held-out images next to PCA.
    Eval(eval::EvalArgs),
}
