//! Alternating back-propagation: inferential back-propagation (Langevin dynamics on each
//! example's Z), learning back-propagation (one step on W), and the one training loop.
//!
//! - `config`: hyperparameters, presets (networks from `model::presets`), command-line overrides.
//! - `observe`: how the data see the output (fully, through masks, through a sensing matrix).
//! - `infer`, `learn`: the two halves of an iteration, recorded as GPU dispatches.
//! - `trainer`: the training loop, with a hook called after every iteration.
//! - `checkpoint`: what a run saves and how it is resumed or used.
//! - `run`: `abprop train`'s plan (preset, spec or resumed run) and its hook (log, checkpoints,
//!   snapshots).
//! - `synthesis`, `reconstruct`: using a learned model.
//! - `dynamics`: the latent dynamics of a frame sequence (A, Q) and the LDS baseline's.

pub mod checkpoint;
pub mod config;
pub mod dynamics;
pub mod encoder;
pub mod infer;
pub mod learn;
pub mod observe;
pub mod reconstruct;
pub mod run;
pub mod synthesis;
pub mod trainer;

pub use checkpoint::Model;
pub use config::{preset, Chains, Hyper, Overrides, Preset, Sampler, PRESET_NAMES};
pub use observe::Observation;
pub use run::{Plan, TrainOptions};
pub use trainer::{Step, Trainer};
