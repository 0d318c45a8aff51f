//! Reductions against their CPU twin, including multi-chunk sizes; bit-identical reruns.
mod common;
use abprop::ops::reduce::{self, cpu};
use common::*;

#[test]
fn channel_sum_matches_cpu_for_many_shapes() {
    let g = gpu();
    let mut r = rng(2);
    for &(outer, channels, inner) in &[
        (1, 1, 1),
        (1, 3, 7),
        (4, 5, 13),
        (2, 64, 1000),
        (3, 2, 40000),
        (1, 1, 70001),
        (64, 8192, 1),
        (7, 300, 1),
        // A thread per channel (few values each), with and without vec4 rows.
        (3, 40, 6),
        (1, 128, 600),
    ] {
        let n = outer * channels * inner;
        let x = uniform(&mut r, n, -1.0, 1.0);
        let tx = g.upload("x", &[n], &x).unwrap();
        let out = g.zeros("out", &[channels]).unwrap();
        let red = reduce::channel_sum(g, &tx, outer, channels, inner, &out).unwrap();
        g.run(&red.seq()).unwrap();
        let got = g.read::<f32>(&out).unwrap();
        // f32 partial sums against an f64 reference: relative 1e-5 of sqrt(count)-scaled sums.
        let want = cpu::channel_sum(&x, outer, channels, inner);
        let atol = 1e-5 * ((outer * inner) as f32).sqrt() * 4.0;
        assert_close(
            &format!("channel_sum {outer}x{channels}x{inner}"),
            &got,
            &want,
            1e-5,
            atol,
        );
        // Same input, same bits.
        g.run(&red.seq()).unwrap();
        assert_eq!(got, g.read::<f32>(&out).unwrap(), "reduction is not reproducible");
    }
}

#[test]
fn max_abs_and_row_sum_match_cpu() {
    let g = gpu();
    let mut r = rng(3);
    for &n in &[1usize, 255, 257, 100_003] {
        let mut x = uniform(&mut r, n, -2.0, 2.0);
        x[n / 2] = -7.5;
        let tx = g.upload("x", &[n], &x).unwrap();
        let out = g.zeros("out", &[1]).unwrap();
        let red = reduce::max_abs(g, &tx, n, &out).unwrap();
        g.run(&red.seq()).unwrap();
        assert_eq!(g.read::<f32>(&out).unwrap()[0], cpu::max_abs(&x));
    }
    let x = uniform(&mut r, 6 * 999, -1.0, 1.0);
    let tx = g.upload("x", &[6, 999], &x).unwrap();
    let out = g.zeros("out", &[6]).unwrap();
    let red = reduce::row_sum(g, &tx, 6, 999, &out).unwrap();
    g.run(&red.seq()).unwrap();
    assert_close(
        "row_sum",
        &g.read::<f32>(&out).unwrap(),
        &cpu::row_sum(&x, 6, 999),
        1e-5,
        1e-4,
    );
}
