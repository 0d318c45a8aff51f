//! Files abprop writes and reads: checkpoints (safetensors), PNG images and grids, WAV sound.

pub mod checkpoint;
pub mod media;
