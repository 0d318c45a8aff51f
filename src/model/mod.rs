//! The generator model: its JSON spec and shapes, the paper's presets, the network on the GPU
//! and its plain-Rust twin.

pub mod generator;
pub mod population;
pub mod presets;
pub mod reference;
pub mod spec;

pub use generator::{init_params, init_params_in, Generator, HostParams, Norm, Param, Population};
pub use spec::{Layer, Range, Shape, Spec};
