//! The kernels: one file per family, each a small wrapper that builds dispatches for
//! `shaders/<family>.wgsl`, with its plain-Rust twin in a `cpu` module beside it.

pub mod activation;
pub mod affine;
pub mod batch_norm;
pub mod conv_transpose;
pub mod copy;
pub mod dense;
pub mod gemm;
pub mod langevin;
pub mod loss;
pub mod optim;
pub mod philox;
pub mod reduce;
pub mod tune;
