//! Alternating back-propagation: inferential back-propagation (Langevin dynamics on each
//! example's Z), learning back-propagation (one step on W), and the training loop.

pub mod config;
pub mod infer;
pub mod learn;
pub mod observe;
pub mod reconstruct;
pub mod synthesis;
pub mod trainer;

pub use config::{preset, Chains, Hyper, Preset, PRESET_NAMES};
pub use observe::Observation;
pub use trainer::{TrainOptions, Trainer};

/// Philox streams used by the trainer and the tools, so no two uses share random numbers.
pub mod stream {
    pub const LANGEVIN: u32 = 0;
    pub const INIT_Z: u32 = 1;
    pub const SYNTHESIZE: u32 = 2;
    pub const FRESH_Z: u32 = 3;
    pub const RECONSTRUCT: u32 = 4;
}
