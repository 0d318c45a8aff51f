//! abprop: alternating back-propagation for generator networks (Han, Lu, Zhu, Wu, AAAI 2017)
//! with every heavy step in WGSL compute shaders.

pub mod gpu;
pub mod ops;
pub mod shaders;
