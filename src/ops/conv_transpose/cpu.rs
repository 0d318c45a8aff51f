//! The plain-Rust twin: direct loops, f64 accumulation.

use super::ConvShape;

/// Calls f(x index, w index, y index) for every term x[..] * w[..] of an output y[..].
fn each(s: &ConvShape, mut f: impl FnMut(usize, usize, usize)) {
    let (ho, wo) = (s.h_out() as isize, s.w_out() as isize);
    for b in 0..s.batch {
        for ci in 0..s.c_in {
            for iy in 0..s.h_in {
                for ix in 0..s.w_in {
                    let xi = ((b * s.c_in + ci) * s.h_in + iy) * s.w_in + ix;
                    for co in 0..s.c_out {
                        for ky in 0..s.kh {
                            let oy = (iy * s.sh + ky) as isize - s.ph as isize;
                            if oy < 0 || oy >= ho {
                                continue;
                            }
                            for kx in 0..s.kw {
                                let ox = (ix * s.sw + kx) as isize - s.pw as isize;
                                if ox < 0 || ox >= wo {
                                    continue;
                                }
                                let wi = ((ci * s.c_out + co) * s.kh + ky) * s.kw + kx;
                                let yi = ((b * s.c_out + co) as isize * ho + oy) * wo + ox;
                                f(xi, wi, yi as usize);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// y = conv_transpose(x, w) + b.
pub fn forward(s: &ConvShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let hwo = s.h_out() * s.w_out();
    let mut y: Vec<f64> = (0..s.y_len()).map(|i| b[(i / hwo) % s.c_out] as f64).collect();
    each(s, |xi, wi, yi| y[yi] += x[xi] as f64 * w[wi] as f64);
    y.into_iter().map(|v| v as f32).collect()
}

/// dx for the upstream gradient dy.
pub fn backward_input(s: &ConvShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let mut dx = vec![0f64; s.x_len()];
    each(s, |xi, wi, yi| dx[xi] += dy[yi] as f64 * w[wi] as f64);
    dx.into_iter().map(|v| v as f32).collect()
}

/// (dw, db) for the input x and the upstream gradient dy.
pub fn backward_weights(s: &ConvShape, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut dw = vec![0f64; s.w_len()];
    each(s, |xi, wi, yi| dw[wi] += x[xi] as f64 * dy[yi] as f64);
    let hwo = s.h_out() * s.w_out();
    let mut db = vec![0f64; s.c_out];
    for (i, v) in dy.iter().enumerate() {
        db[(i / hwo) % s.c_out] += *v as f64;
    }
    (
        dw.into_iter().map(|v| v as f32).collect(),
        db.into_iter().map(|v| v as f32).collect(),
    )
}
