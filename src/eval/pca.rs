//! PCA, the linear baseline of the paper's Experiment 7: eigenvectors of the training images'
//! covariance (nalgebra's symmetric eigendecomposition), and test images projected on the
//! first d of them.

use anyhow::{bail, Result};
use nalgebra::{DMatrix, SymmetricEigen};

pub struct Pca {
    /// The training images' mean, \[dim\].
    pub mean: Vec<f64>,
    /// Principal directions as columns, [dim, r], by decreasing variance.
    pub components: DMatrix<f64>,
    /// Eigenvalues of the scatter matrix sum_i (y_i - mean)(y_i - mean)^T, decreasing.
    pub eigenvalues: Vec<f64>,
}

impl Pca {
    /// PCA of `values` ([n, dim]) keeping up to `max_components` directions. With fewer
    /// examples than values it decomposes the n x n Gram matrix of the centred data and maps
    /// its eigenvectors back (the same directions, cheaper); otherwise the dim x dim scatter
    /// matrix.
    pub fn fit(values: &[f32], dim: usize, max_components: usize) -> Result<Pca> {
        if dim == 0 || values.is_empty() || !values.len().is_multiple_of(dim) {
            bail!(
                "PCA: {} values are not a whole number of examples of {dim}",
                values.len()
            );
        }
        let n = values.len() / dim;
        if n < 2 {
            bail!("PCA needs at least two training images");
        }
        let mut mean = vec![0f64; dim];
        for row in values.chunks(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        // Centred data, n x dim.
        let x = DMatrix::<f64>::from_fn(n, dim, |i, j| values[i * dim + j] as f64 - mean[j]);
        let r = max_components.min(n - 1).min(dim);
        let (components, eigenvalues) = if n <= dim {
            let gram = &x * x.transpose();
            let (vals, vecs) = sorted(SymmetricEigen::new(gram));
            let mut keep = Vec::new();
            let mut c = DMatrix::<f64>::zeros(dim, r);
            for j in 0..r {
                if vals[j] <= vals[0] * 1e-12 {
                    break;
                }
                let v = x.transpose() * vecs.column(j) / vals[j].sqrt();
                c.set_column(keep.len(), &v);
                keep.push(vals[j]);
            }
            (c.columns(0, keep.len()).into_owned(), keep)
        } else {
            let scatter = x.transpose() * &x;
            let (vals, vecs) = sorted(SymmetricEigen::new(scatter));
            (vecs.columns(0, r).into_owned(), vals[..r].to_vec())
        };
        Ok(Pca {
            mean,
            components,
            eigenvalues,
        })
    }

    /// Directions available.
    pub fn rank(&self) -> usize {
        self.components.ncols()
    }

    /// The first `d` directions as columns, [dim, d].
    pub fn basis(&self, d: usize) -> DMatrix<f64> {
        self.components.columns(0, d.min(self.rank())).into_owned()
    }

    /// mean + V_d V_d^T (y - mean) for every example of `values` ([n, dim]), with the first
    /// `d` directions.
    pub fn reconstruct(&self, values: &[f32], d: usize) -> Result<Vec<f32>> {
        let dim = self.mean.len();
        if d > self.rank() {
            bail!(
                "PCA has {} directions (at most the training images less one), {d} asked for",
                self.rank()
            );
        }
        let n = values.len() / dim;
        let v = self.components.columns(0, d);
        let y = DMatrix::<f64>::from_fn(dim, n, |j, i| values[i * dim + j] as f64 - self.mean[j]);
        let coef = v.transpose() * &y;
        let rec = v * coef;
        let mut out = Vec::with_capacity(n * dim);
        for i in 0..n {
            for j in 0..dim {
                out.push((rec[(j, i)] + self.mean[j]) as f32);
            }
        }
        Ok(out)
    }
}

/// Eigenvalues in decreasing order with their eigenvectors as columns.
fn sorted(e: SymmetricEigen<f64, nalgebra::Dyn>) -> (Vec<f64>, DMatrix<f64>) {
    let mut order: Vec<usize> = (0..e.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| e.eigenvalues[b].total_cmp(&e.eigenvalues[a]));
    let vals = order.iter().map(|&i| e.eigenvalues[i].max(0.0)).collect();
    let vecs = DMatrix::from_fn(e.eigenvectors.nrows(), order.len(), |r, c| {
        e.eigenvectors[(r, order[c])]
    });
    (vals, vecs)
}
