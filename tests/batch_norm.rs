//! Batch norm kernels against their CPU twin (fused single-chunk and chunked paths, vec4 and
//! scalar layouts); the twin's backward against finite differences; bit-identical reruns.
mod common;
use abprop::gpu::{Op, Timer};
use abprop::ops::batch_norm::{self, cpu, BnShape};
use common::*;

const EPS: f32 = 1e-4;

struct Run {
    y: Vec<f32>,
    stats: Vec<f32>,
    dx: Vec<f32>,
    dgamma: Vec<f32>,
    dbeta: Vec<f32>,
}

fn run_gpu(s: &BnShape, x: &[f32], gamma: &[f32], beta: &[f32], dy: &[f32]) -> (Run, Run) {
    let g = gpu();
    let n = s.len();
    let c = s.channels;
    let tx = g.upload("x", &[n], x).unwrap();
    let tg = g.upload("gamma", &[c], gamma).unwrap();
    let tb = g.upload("beta", &[c], beta).unwrap();
    let ty = g.zeros("y", &[n]).unwrap();
    let tst = g.zeros("stats", &[2, c]).unwrap();
    let tdy = g.upload("dy", &[n], dy).unwrap();
    let tdx = g.zeros("dx", &[n]).unwrap();
    let tdg = g.zeros("dgamma", &[c]).unwrap();
    let tdb = g.zeros("dbeta", &[c]).unwrap();
    let f = batch_norm::forward(g, s, EPS, &tx, &tg, &tb, &ty, &tst).unwrap();
    let b = batch_norm::backward(g, s, &tx, &tg, &tst, &tdy, &tdx, &tdg, &tdb).unwrap();
    let read = || Run {
        y: g.read(&ty).unwrap(),
        stats: g.read(&tst).unwrap(),
        dx: g.read(&tdx).unwrap(),
        dgamma: g.read(&tdg).unwrap(),
        dbeta: g.read(&tdb).unwrap(),
    };
    let mut seq = f.seq();
    seq.extend(b.seq());
    g.run(&seq).unwrap();
    let first = read();
    g.run(&seq).unwrap();
    (first, read())
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|a| a.to_bits()).collect()
}

#[test]
fn gpu_matches_cpu_for_many_shapes() {
    let mut r = rng(11);
    for &(batch, channels, spatial) in &[
        // Column layout (rows of <= 64 units; a workgroup takes whole channels):
        (1, 3, 5),     // batch 1, scalar, fused
        (7, 33, 1),    // after a dense layer: spatial 1
        (200, 20, 1),  // spatial 1, 4 chunks of examples
        (1, 1, 1),     // degenerate: one element, var 0
        (4, 40, 8),    // vec4, fused
        (10, 512, 16), // many channels, small spatial: vec4, fused
        (40, 64, 16),  // vec4, 3 chunks of 16 examples (the last short)
        (100, 70, 3),  // scalar, 2 chunks, 85 channels per workgroup
        (20, 9, 49),   // 7x7: 5 channels per workgroup, 11 threads idle
        (1, 7, 256),   // batch 1, 64 vec4 per row
        (3, 4, 13),    // odd sizes
        // Row layout (a workgroup per chunk of a channel):
        (2, 5, 300),   // scalar, fused
        (3, 6, 400),   // vec4, fused
        (2, 3, 40000), // large spatial, vec4, 5 chunks per channel
        (3, 2, 9999),  // large spatial, scalar, 2 chunks (the last short)
        (17, 5, 1003), // 2 chunks, the second small, chunks cross rows
        (1, 2, 70001), // batch 1, scalar, 5 chunks
        (4, 3, 512),   // vec4, fused, rows of whole 64-thread strides
        (64, 2, 1024), // the object net's shape: 4 chunks of whole strides
    ] {
        let s = BnShape {
            batch,
            channels,
            spatial,
        };
        let n = s.len();
        // Channels with offsets far from zero and different scales test the statistics.
        let offs = uniform(&mut r, channels, -5.0, 5.0);
        let scales = uniform(&mut r, channels, 0.1, 3.0);
        let u = uniform(&mut r, n, -1.0, 1.0);
        let x: Vec<f32> = (0..n)
            .map(|j| {
                let c = (j / spatial) % channels;
                offs[c] + scales[c] * u[j]
            })
            .collect();
        let gamma = uniform(&mut r, channels, 0.5, 1.5);
        let beta = uniform(&mut r, channels, -1.0, 1.0);
        let dy = uniform(&mut r, n, -1.0, 1.0);
        let (got, again) = run_gpu(&s, &x, &gamma, &beta, &dy);
        let (y, stats) = cpu::forward(&s, EPS, &x, &gamma, &beta);
        let (dx, dgamma, dbeta) = cpu::backward(&s, &x, &gamma, &stats, &dy);
        let what = |k: &str| format!("{k} {batch}x{channels}x{spatial}");
        let m = s.per_channel() as f32;
        // Tolerances (f32 GPU, fixed-order chunked sums, against the f64 twin), relative to
        // the largest magnitude of each output: y, stats, dx 2e-5 (lavapipe and llvmpipe GL
        // reach at most 1.2e-6 here, mostly the rounding of an f32 mean near an offset of 5
        // over a std of 0.06); dgamma, dbeta 2e-5 plus 4e-5 * sqrt(m) absolute (sums of m
        // terms of size <= ~3; measured at most 12% of that).
        assert_close(&what("y"), &got.y, &y, 2e-5, 1e-6);
        assert_close(&what("mean"), &got.stats[..channels], &stats[..channels], 2e-5, 1e-6);
        assert_close(&what("inv_std"), &got.stats[channels..], &stats[channels..], 2e-5, 1e-6);
        assert_close(&what("dx"), &got.dx, &dx, 2e-5, 1e-6);
        let atol = 1e-5 * m.sqrt() * 4.0;
        assert_close(&what("dgamma"), &got.dgamma, &dgamma, 2e-5, atol);
        assert_close(&what("dbeta"), &got.dbeta, &dbeta, 2e-5, atol);
        // Same input, same bits.
        assert_eq!(bits(&got.y), bits(&again.y), "{}", what("y not reproducible"));
        assert_eq!(
            bits(&got.stats),
            bits(&again.stats),
            "{}",
            what("stats not reproducible")
        );
        assert_eq!(bits(&got.dx), bits(&again.dx), "{}", what("dx not reproducible"));
        assert_eq!(
            bits(&got.dgamma),
            bits(&again.dgamma),
            "{}",
            what("dgamma not reproducible")
        );
        assert_eq!(
            bits(&got.dbeta),
            bits(&again.dbeta),
            "{}",
            what("dbeta not reproducible")
        );
    }
}

#[test]
fn statistics_survive_a_large_offset() {
    // Channel 0: mean 1000, std 0.006: a naive E[x^2] - E[x]^2 in f32 would return garbage.
    let g = gpu();
    let mut r = rng(12);
    for &(batch, channels, spatial) in &[(4, 2, 64), (2, 2, 30000)] {
        let s = BnShape {
            batch,
            channels,
            spatial,
        };
        let n = s.len();
        let mut x: Vec<f32> = uniform(&mut r, n, -0.01, 0.01)
            .into_iter()
            .map(|v| 1000.0 + v)
            .collect();
        // Channel 1 instead: values in [-1, 1] and an outlier at 3000 as its very first value
        // (the shift of the thread that reads it).
        for o in 0..batch {
            for i in 0..spatial {
                let j = (o * channels + 1) * spatial + i;
                x[j] -= 1000.0;
                x[j] *= 100.0;
            }
        }
        x[spatial] = 3000.0;
        let ones = vec![1f32; channels];
        let zeros = vec![0f32; channels];
        let tx = g.upload("x", &[n], &x).unwrap();
        let tg = g.upload("gamma", &[channels], &ones).unwrap();
        let tb = g.upload("beta", &[channels], &zeros).unwrap();
        let ty = g.zeros("y", &[n]).unwrap();
        let tst = g.zeros("stats", &[2, channels]).unwrap();
        let f = batch_norm::forward(g, &s, 0.0, &tx, &tg, &tb, &ty, &tst).unwrap();
        g.run(&f.seq()).unwrap();
        let (_, stats) = cpu::forward(&s, 0.0, &x, &ones, &zeros);
        let got: Vec<f32> = g.read(&tst).unwrap();
        // Channel 0's f32 inputs near 1000 are quantized to 6e-5, 1% of their std: the f32
        // means of threads and chunks round as much; measured 1.3e-4 relative, allowed 1e-3.
        assert_close("inv_std at offset 1000", &got[2..3], &stats[2..3], 1e-3, 0.0);
        assert_close("mean with an outlier", &got[1..2], &stats[1..2], 1e-5, 0.0);
        assert_close("inv_std with an outlier", &got[3..4], &stats[3..4], 1e-5, 0.0);
    }
}

/// L = sum(y * w) as a function of (x, gamma, beta), in f64.
fn loss(s: &BnShape, x: &[f64], gamma: &[f64], beta: &[f64], w: &[f64]) -> f64 {
    let (y, _) = cpu::forward_f64(s, EPS as f64, x, gamma, beta);
    y.iter().zip(w).map(|(a, b)| a * b).sum()
}

#[test]
fn cpu_backward_matches_finite_differences() {
    let mut r = rng(13);
    for &(batch, channels, spatial) in &[(1, 2, 6), (3, 2, 4), (5, 3, 1)] {
        let s = BnShape {
            batch,
            channels,
            spatial,
        };
        let n = s.len();
        let f64s = |v: Vec<f32>| v.into_iter().map(|a| a as f64).collect::<Vec<f64>>();
        let x = f64s(uniform(&mut r, n, -2.0, 2.0));
        let gamma = f64s(uniform(&mut r, channels, 0.5, 1.5));
        let beta = f64s(uniform(&mut r, channels, -1.0, 1.0));
        let w = f64s(uniform(&mut r, n, -1.0, 1.0));
        let (_, stats) = cpu::forward_f64(&s, EPS as f64, &x, &gamma, &beta);
        let (dx, dgamma, dbeta) = cpu::backward_f64(&s, &x, &gamma, &stats, &w);
        let h = 1e-5;
        let tol = |a: f64| 1e-6 * (1.0 + a.abs());
        // Every coordinate of these small shapes (n <= 24).
        for (i, &ana) in dx.iter().enumerate() {
            let num = fd(&mut |v| loss(&s, v, &gamma, &beta, &w), &x, i, h);
            assert!((num - ana).abs() < tol(num), "{s:?} dx[{i}]: fd {num} vs {ana}");
        }
        for c in 0..channels {
            let num = fd(&mut |v| loss(&s, &x, v, &beta, &w), &gamma, c, h);
            assert!(
                (num - dgamma[c]).abs() < tol(num),
                "{s:?} dgamma[{c}]: fd {num} vs {}",
                dgamma[c]
            );
            let num = fd(&mut |v| loss(&s, &x, &gamma, v, &w), &beta, c, h);
            assert!(
                (num - dbeta[c]).abs() < tol(num),
                "{s:?} dbeta[{c}]: fd {num} vs {}",
                dbeta[c]
            );
        }
    }
}

#[test]
fn rejects_bad_shapes() {
    let g = gpu();
    let s = BnShape {
        batch: 2,
        channels: 3,
        spatial: 4,
    };
    let small = g.zeros("small", &[5]).unwrap();
    let x = g.zeros("x", &[24]).unwrap();
    let c = g.zeros("c", &[3]).unwrap();
    let st = g.zeros("stats", &[6]).unwrap();
    assert!(batch_norm::forward(g, &s, EPS, &small, &c, &c, &x, &st).is_err());
    assert!(batch_norm::forward(g, &s, EPS, &x, &c, &c, &small, &c).is_err());
    let empty = BnShape { batch: 0, ..s };
    assert!(batch_norm::forward(g, &empty, EPS, &x, &c, &c, &x, &st).is_err());
}

/// Rates on the shapes named in the design (run with --ignored --nocapture).
#[test]
#[ignore]
fn bench_rates() {
    let g = gpu();
    let timer = Timer::new(g);
    for &(batch, channels, spatial) in &[(100, 512, 16), (8, 64, 112 * 112), (8, 3, 224 * 224), (8, 64, 6000)] {
        let s = BnShape {
            batch,
            channels,
            spatial,
        };
        let n = s.len();
        let c = channels;
        let mut r = rng(14);
        let tx = g.upload("x", &[n], &uniform(&mut r, n, -1.0, 1.0)).unwrap();
        let tg = g.upload("gamma", &[c], &vec![1f32; c]).unwrap();
        let tb = g.zeros("beta", &[c]).unwrap();
        let ty = g.zeros("y", &[n]).unwrap();
        let tst = g.zeros("stats", &[2, c]).unwrap();
        let tdy = g.upload("dy", &[n], &uniform(&mut r, n, -1.0, 1.0)).unwrap();
        let tdx = g.zeros("dx", &[n]).unwrap();
        let tdg = g.zeros("dgamma", &[c]).unwrap();
        let tdb = g.zeros("dbeta", &[c]).unwrap();
        let f = batch_norm::forward(g, &s, EPS, &tx, &tg, &tb, &ty, &tst).unwrap();
        let b = batch_norm::backward(g, &s, &tx, &tg, &tst, &tdy, &tdx, &tdg, &tdb).unwrap();
        for (name, op) in [("forward", &f), ("backward", &b)] {
            let op: &Op = op;
            let t = timer.time(g, &op.seq(), 10).unwrap();
            println!(
                "batch_norm {name} {batch}x{channels}x{spatial}: {} dispatches, {:.3} ms, {:.2} GB/s (nominal {:.1} MB, {})",
                op.dispatches.len(),
                t * 1e3,
                op.bytes() / t * 1e-9,
                op.bytes() * 1e-6,
                timer.method
            );
        }
    }
}
