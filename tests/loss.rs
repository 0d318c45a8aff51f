//! The residual kernel against its CPU twin, with and without a mask; masked-out pixels have
//! no influence at all; bit-identical reruns.
mod common;
use abprop::gpu::{Op, Tensor};
use abprop::ops::loss::{self, cpu};
use common::*;

const SHAPES: [(usize, usize); 9] = [
    (1, 7),     // batch 1, scalar layout, 16 rows per workgroup
    (3, 12),    // vec4
    (37, 150),  // scalar, 4 rows per workgroup, the last workgroup mostly empty
    (100, 784), // 28x28 images: vec4, 64 threads per row
    (5, 1001),  // odd, a whole workgroup per row
    (2, 16384), // exactly one chunk
    (2, 20000), // vec4, 2 chunks per example
    (3, 39999), // scalar, 3 chunks (the last short)
    (70, 3072), // a batch of 32x32x3 images
];

struct Bufs {
    y: Tensor,
    f: Tensor,
    mask: Option<Tensor>,
    r: Tensor,
    sse: Tensor,
}

fn setup(batch: usize, per: usize, y: &[f32], f: &[f32], mask: Option<&[f32]>) -> Bufs {
    let g = gpu();
    let n = batch * per;
    Bufs {
        y: g.upload("y", &[batch, per], y).unwrap(),
        f: g.upload("f", &[batch, per], f).unwrap(),
        mask: mask.map(|m| g.upload("mask", &[batch, per], m).unwrap()),
        r: g.zeros("r", &[n]).unwrap(),
        sse: g.zeros("sse", &[batch]).unwrap(),
    }
}

fn op(b: &Bufs, batch: usize, per: usize, sigma: f32) -> Op {
    loss::residual(gpu(), batch, per, &b.y, &b.f, b.mask.as_ref(), sigma, &b.r, &b.sse).unwrap()
}

fn run(b: &Bufs, op: &Op) -> (Vec<f32>, Vec<f32>) {
    let g = gpu();
    g.run(&op.seq()).unwrap();
    (g.read(&b.r).unwrap(), g.read(&b.sse).unwrap())
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|a| a.to_bits()).collect()
}

fn random_mask(r: &mut rand::rngs::StdRng, n: usize) -> Vec<f32> {
    uniform(r, n, 0.0, 1.0)
        .into_iter()
        .map(|u| if u < 0.3 { 0.0 } else { 1.0 })
        .collect()
}

#[test]
fn gpu_matches_cpu_with_and_without_mask() {
    let mut r = rng(21);
    for &(batch, per) in &SHAPES {
        let n = batch * per;
        let y = uniform(&mut r, n, -1.0, 1.0);
        let f = uniform(&mut r, n, -1.0, 1.0);
        let mask = random_mask(&mut r, n);
        let sigma = 0.3;
        for masked in [false, true] {
            let m = masked.then_some(mask.as_slice());
            let b = setup(batch, per, &y, &f, m);
            let o = op(&b, batch, per, sigma);
            let (gr, gs) = run(&b, &o);
            let (cr, cs) = cpu::residual(batch, per, &y, &f, m, sigma);
            let what = |k: &str| format!("{k} {batch}x{per} masked={masked}");
            // r = (y - f) * (1 / sigma^2) rounds once per operation on both sides: 1e-6
            // relative covers a fused multiply on other GPUs. sse: f32 partial sums of up to
            // 40000 terms in [0, 4] against the twin's f64 sums: 1e-5 relative.
            assert_close(&what("r"), &gr, &cr, 1e-6, 0.0);
            assert_close(&what("sse"), &gs, &cs, 1e-5, 0.0);
            if masked {
                for j in 0..n {
                    if mask[j] == 0.0 {
                        assert_eq!(gr[j].to_bits(), 0, "{}: r at masked pixel {j}", what(""));
                    }
                }
            }
            // Same input, same bits.
            let (gr2, gs2) = run(&b, &o);
            assert_eq!(bits(&gr), bits(&gr2), "{}", what("r not reproducible"));
            assert_eq!(bits(&gs), bits(&gs2), "{}", what("sse not reproducible"));
        }
    }
}

#[test]
fn masked_out_pixels_have_no_influence() {
    let g = gpu();
    let mut r = rng(22);
    for &(batch, per) in &[(3usize, 12usize), (37, 150), (3, 39999), (2, 20000)] {
        let n = batch * per;
        let y = uniform(&mut r, n, -1.0, 1.0);
        let f = uniform(&mut r, n, -1.0, 1.0);
        let mask = random_mask(&mut r, n);
        let b = setup(batch, per, &y, &f, Some(&mask));
        let o = op(&b, batch, per, 0.5);
        let (r0, s0) = run(&b, &o);
        // Anything at all at the unobserved pixels: large values, both signs, NaN, infinity.
        let specials = [1e30f32, -7.0, f32::NAN, f32::INFINITY, -0.0];
        let mut y2 = y.clone();
        let mut k = 0;
        for j in 0..n {
            if mask[j] == 0.0 {
                y2[j] = specials[k % specials.len()];
                k += 1;
            }
        }
        assert!(k > 0);
        g.write(&b.y, &y2).unwrap();
        let (r1, s1) = run(&b, &o);
        assert_eq!(bits(&r0), bits(&r1), "{batch}x{per}: r changed with y at masked pixels");
        assert_eq!(
            bits(&s0),
            bits(&s1),
            "{batch}x{per}: sse changed with y at masked pixels"
        );
        // The twin agrees.
        let (cr0, cs0) = cpu::residual(batch, per, &y, &f, Some(&mask), 0.5);
        let (cr1, cs1) = cpu::residual(batch, per, &y2, &f, Some(&mask), 0.5);
        assert_eq!(bits(&cr0), bits(&cr1));
        assert_eq!(bits(&cs0), bits(&cs1));
    }
}

#[test]
fn all_ones_mask_equals_no_mask() {
    let mut r = rng(23);
    let (batch, per) = (4, 5003);
    let n = batch * per;
    let y = uniform(&mut r, n, -1.0, 1.0);
    let f = uniform(&mut r, n, -1.0, 1.0);
    let ones = vec![1f32; n];
    let a = setup(batch, per, &y, &f, None);
    let b = setup(batch, per, &y, &f, Some(&ones));
    let (ra, sa) = run(&a, &op(&a, batch, per, 1.0));
    let (rb, sb) = run(&b, &op(&b, batch, per, 1.0));
    assert_eq!(bits(&ra), bits(&rb));
    assert_eq!(bits(&sa), bits(&sb));
}

#[test]
fn residual_is_the_gradient_of_the_log_likelihood() {
    // r = d log p(Y | Z) / d f with log p = -sse / (2 sigma^2) + const: the CPU twin's r
    // against central differences of its own sse, with and without a mask, at every pixel.
    let (batch, per, sigma) = (2, 9, 0.3f32);
    let mut rg = rng(31);
    let y = uniform(&mut rg, batch * per, -1.0, 1.0);
    let f = uniform(&mut rg, batch * per, -1.0, 1.0);
    let mask = random_mask(&mut rg, batch * per);
    for m in [None, Some(mask.as_slice())] {
        let (r, _) = cpu::residual(batch, per, &y, &f, m, sigma);
        let mut log_p = |fv: &[f64]| {
            let f32s: Vec<f32> = fv.iter().map(|&v| v as f32).collect();
            let (_, sse) = cpu::residual(batch, per, &y, &f32s, m, sigma);
            -sse.iter().map(|&v| v as f64).sum::<f64>() / (2.0 * (sigma as f64).powi(2))
        };
        let f64s: Vec<f64> = f.iter().map(|&v| v as f64).collect();
        for (i, &ri) in r.iter().enumerate() {
            let g = fd(&mut log_p, &f64s, i, 1e-2);
            assert!(
                (g - ri as f64).abs() <= 1e-3 * (1.0 + g.abs()),
                "pixel {i} (mask {}): r {ri} vs finite difference {g}",
                m.is_some()
            );
        }
    }
}

#[test]
fn rejects_bad_arguments() {
    let g = gpu();
    let t = g.zeros("t", &[2, 8]).unwrap();
    let small = g.zeros("small", &[10]).unwrap();
    let s = g.zeros("sse", &[2]).unwrap();
    assert!(loss::residual(g, 2, 8, &t, &t, None, 0.0, &small, &s).is_err());
    assert!(loss::residual(g, 2, 8, &small, &t, None, 1.0, &t, &s).is_err());
    assert!(loss::residual(g, 2, 8, &t, &t, Some(&small), 1.0, &t, &s).is_err());
    assert!(loss::residual(g, 3, 8, &t, &t, None, 1.0, &t, &s).is_err());
}

/// Rates (run with --ignored --nocapture).
#[test]
#[ignore]
fn bench_rates() {
    let g = gpu();
    let timer = abprop::gpu::Timer::new(g);
    let mut r = rng(24);
    for &(batch, per) in &[(100, 64 * 64 * 3), (100, 28 * 28), (8, 224 * 224 * 3), (64, 16001)] {
        let n = batch * per;
        let y = uniform(&mut r, n, -1.0, 1.0);
        let f = uniform(&mut r, n, -1.0, 1.0);
        let mask = random_mask(&mut r, n);
        for masked in [false, true] {
            let b = setup(batch, per, &y, &f, masked.then_some(mask.as_slice()));
            let o = op(&b, batch, per, 0.3);
            let t = timer.time(g, &o.seq(), 10).unwrap();
            println!(
                "residual {batch}x{per} masked={masked}: {} dispatches, {:.3} ms, {:.2} GB/s ({})",
                o.dispatches.len(),
                t * 1e3,
                o.bytes() / t * 1e-9,
                timer.method
            );
        }
    }
}
