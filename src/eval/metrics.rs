//! Errors as the paper reports them, and the simple baselines they are compared with.

/// Range of the pixel values abprop works with ([-1, 1]).
pub const RANGE: f64 = 2.0;

/// The paper's recovery error: mean absolute per-pixel difference relative to the range of the
/// pixel values, over the occluded values only (mask 0) when `masks` is given, else over all.
pub fn recovery_error(original: &[f32], recovered: &[f32], masks: Option<&[f32]>) -> f64 {
    assert_eq!(original.len(), recovered.len(), "recovery_error: lengths differ");
    let mut sum = 0f64;
    let mut count = 0usize;
    for (i, (&a, &b)) in original.iter().zip(recovered).enumerate() {
        if masks.is_none_or(|m| m[i] == 0.0) {
            sum += (a as f64 - b as f64).abs();
            count += 1;
        }
    }
    if count == 0 {
        return 0.0;
    }
    sum / count as f64 / RANGE
}

/// Mean squared error per value.
pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "mse: lengths differ");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len().max(1) as f64
}

/// The mean image of `n` examples of `per` values each, over their observed values (mask
/// non-zero) only; a position never observed gets the mean of all observed values.
pub fn mean_image(values: &[f32], masks: Option<&[f32]>, per: usize) -> Vec<f32> {
    let n = values.len() / per;
    let mut sum = vec![0f64; per];
    let mut count = vec![0usize; per];
    for i in 0..n {
        for p in 0..per {
            let k = i * per + p;
            if masks.is_none_or(|m| m[k] != 0.0) {
                sum[p] += values[k] as f64;
                count[p] += 1;
            }
        }
    }
    let total: f64 = sum.iter().sum();
    let all: usize = count.iter().sum();
    let global = if all > 0 { total / all as f64 } else { 0.0 };
    sum.iter()
        .zip(&count)
        .map(|(&s, &c)| if c > 0 { (s / c as f64) as f32 } else { global as f32 })
        .collect()
}

/// `values` with each occluded value (mask 0) replaced by the mean image's value there.
pub fn fill(values: &[f32], masks: &[f32], mean: &[f32]) -> Vec<f32> {
    let per = mean.len();
    values
        .iter()
        .zip(masks)
        .enumerate()
        .map(|(k, (&v, &m))| if m != 0.0 { v } else { mean[k % per] })
        .collect()
}
