//! The GPU runtime: device selection, tensors (buffers with a shape), the shader and
//! pipeline cache, dispatch recording and timing. It knows nothing of ABP.

mod device;
mod kernel;
mod tensor;
mod timing;

pub use device::{AdapterChoice, Choices, Gpu};
pub use kernel::{grid, Dispatch, Op, Params};
pub use tensor::Tensor;
pub use timing::Timer;

/// Threads per workgroup used by the elementwise kernels (within `Limits::default()`).
pub const WORKGROUP: u32 = 256;
