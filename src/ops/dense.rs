//! Fully connected layers (PyTorch's Linear): x \[batch, d_in\], w \[d_out, d_in\], b \[d_out\],
//! y = x w^T + b; forward and both backward passes as packed GEMMs (src/ops/gemm; no shader of
//! its own).

use super::gemm::{self, Affine, Epilogue, Gather, Kernel, Panels};
use super::reduce;
use crate::gpu::{Gpu, Op, Tensor};
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseShape {
    pub batch: usize,
    pub d_in: usize,
    pub d_out: usize,
}

impl DenseShape {
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.d_in * self.d_out) as f64
    }
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.batch > 0 && self.d_in > 0 && self.d_out > 0,
            "dense {self:?}: sizes must be positive"
        );
        Ok(())
    }
}

fn check(name: &str, t: &Tensor, want: usize, s: &DenseShape) -> Result<()> {
    ensure!(
        t.len() == want,
        "dense {s:?}: {name} {} has shape {:?}, expected {want} elements",
        t.label,
        t.shape
    );
    Ok(())
}

/// One product C[M, N] = A B with the given gathers, as pack, pack, multiply.
#[allow(clippy::too_many_arguments)]
fn product(
    gpu: &Gpu,
    kernel: Option<Kernel>,
    what: &str,
    (a, ga): (&Tensor, Gather),
    (b, gb): (&Tensor, Gather),
    (m, n, k): (usize, usize, usize),
    c: &Tensor,
    epi: Epilogue,
    bias: Option<&Tensor>,
) -> Result<Op> {
    let kernel = kernel.unwrap_or_else(|| Kernel::choose(gpu, m, n, k));
    let pan = Panels::new(kernel, m, n, k);
    let (ap, bp) = gemm::panels(gpu, &pan, what)?;
    let d1 = gemm::pack_a(gpu, &pan, a, &ga, m, k, &ap)?;
    let d2 = gemm::pack_b(gpu, &pan, b, &gb, k, n, &bp)?;
    let d3 = gemm::multiply(gpu, kernel, &pan, &ap, &bp, m, n, k, c, epi, bias)?;
    Ok(Op::new(vec![d1, d2, d3]).with_scratch(ap).with_scratch(bp))
}

/// y = x w^T + b (overwrites y).
pub fn forward(gpu: &Gpu, s: &DenseShape, x: &Tensor, w: &Tensor, b: &Tensor, y: &Tensor) -> Result<Op> {
    forward_with(gpu, None, s, x, w, b, y)
}

/// [`forward`] with a given GEMM kernel (None: chosen per adapter and shape).
pub fn forward_with(
    gpu: &Gpu,
    kernel: Option<Kernel>,
    s: &DenseShape,
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    y: &Tensor,
) -> Result<Op> {
    s.validate()?;
    check("x", x, s.batch * s.d_in, s)?;
    check("w", w, s.d_out * s.d_in, s)?;
    check("b", b, s.d_out, s)?;
    check("y", y, s.batch * s.d_out, s)?;
    let epi = Epilogue {
        map: Affine::row_major(s.d_out),
        bias_mode: 1,
        accumulate: false,
        packed: false,
    };
    product(
        gpu,
        kernel,
        "dense forward",
        (x, Gather::row_major_a(s.d_in)),
        (w, Gather::transposed_b(s.d_in)),
        (s.batch, s.d_out, s.d_in),
        y,
        epi,
        Some(b),
    )
}

/// dx = dy w (overwrites dx).
pub fn backward_input(gpu: &Gpu, s: &DenseShape, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Op> {
    backward_input_with(gpu, None, s, dy, w, dx)
}

/// [`backward_input`] with a given GEMM kernel.
pub fn backward_input_with(
    gpu: &Gpu,
    kernel: Option<Kernel>,
    s: &DenseShape,
    dy: &Tensor,
    w: &Tensor,
    dx: &Tensor,
) -> Result<Op> {
    s.validate()?;
    check("dy", dy, s.batch * s.d_out, s)?;
    check("w", w, s.d_out * s.d_in, s)?;
    check("dx", dx, s.batch * s.d_in, s)?;
    product(
        gpu,
        kernel,
        "dense backward_input",
        (dy, Gather::row_major_a(s.d_out)),
        (w, Gather::row_major_b(s.d_in)),
        (s.batch, s.d_in, s.d_out),
        dx,
        Epilogue::store(Affine::row_major(s.d_in)),
        None,
    )
}

/// dw = dy^T x, db = the column sums of dy (both overwritten).
pub fn backward_weights(gpu: &Gpu, s: &DenseShape, x: &Tensor, dy: &Tensor, dw: &Tensor, db: &Tensor) -> Result<Op> {
    backward_weights_with(gpu, None, s, x, dy, dw, db)
}

/// [`backward_weights`] with a given GEMM kernel.
#[allow(clippy::too_many_arguments)]
pub fn backward_weights_with(
    gpu: &Gpu,
    kernel: Option<Kernel>,
    s: &DenseShape,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
    db: &Tensor,
) -> Result<Op> {
    s.validate()?;
    check("x", x, s.batch * s.d_in, s)?;
    check("dy", dy, s.batch * s.d_out, s)?;
    check("dw", dw, s.d_out * s.d_in, s)?;
    check("db", db, s.d_out, s)?;
    let op = product(
        gpu,
        kernel,
        "dense backward_weights",
        (dy, Gather::transposed_a(s.d_out)),
        (x, Gather::row_major_b(s.d_in)),
        (s.d_out, s.d_in, s.batch),
        dw,
        Epilogue::store(Affine::row_major(s.d_in)),
        None,
    )?;
    Ok(op.then(reduce::channel_sum(gpu, dy, s.batch, s.d_out, 1, db)?))
}

/// The plain-Rust twin (f64 accumulation).
pub mod cpu {
    use super::DenseShape;

    pub fn forward(s: &DenseShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let mut y = vec![0f32; s.batch * s.d_out];
        for n in 0..s.batch {
            for o in 0..s.d_out {
                let mut acc = b[o] as f64;
                for i in 0..s.d_in {
                    acc += x[n * s.d_in + i] as f64 * w[o * s.d_in + i] as f64;
                }
                y[n * s.d_out + o] = acc as f32;
            }
        }
        y
    }

    pub fn backward_input(s: &DenseShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
        let mut dx = vec![0f32; s.batch * s.d_in];
        for n in 0..s.batch {
            for i in 0..s.d_in {
                let mut acc = 0f64;
                for o in 0..s.d_out {
                    acc += dy[n * s.d_out + o] as f64 * w[o * s.d_in + i] as f64;
                }
                dx[n * s.d_in + i] = acc as f32;
            }
        }
        dx
    }

    /// (dw, db).
    pub fn backward_weights(s: &DenseShape, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut dw = vec![0f32; s.d_out * s.d_in];
        let mut db = vec![0f32; s.d_out];
        for o in 0..s.d_out {
            let mut bacc = 0f64;
            for n in 0..s.batch {
                bacc += dy[n * s.d_out + o] as f64;
            }
            db[o] = bacc as f32;
            for i in 0..s.d_in {
                let mut acc = 0f64;
                for n in 0..s.batch {
                    acc += dy[n * s.d_out + o] as f64 * x[n * s.d_in + i] as f64;
                }
                dw[o * s.d_in + i] = acc as f32;
            }
        }
        (dw, db)
    }
}
