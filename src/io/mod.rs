//! Files abprop writes and reads: checkpoints (safetensors), PNG images and grids, WAV sound,
//! and the sample files of synthesis runs (`samples`).

pub mod checkpoint;
pub mod media;
pub mod samples;
