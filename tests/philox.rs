//! Philox4x32-10 known answers (CPU and GPU), the statistics of the GPU's normal samples,
//! reproducibility, and the GPU against its CPU twin.
mod common;
use abprop::ops::philox::{self, cpu};
use common::*;

/// Random123's known-answer vectors: (counter, key, output).
const KAT: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    (
        [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
        [0xffffffff, 0xffffffff],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
];

#[test]
fn known_answers_cpu() {
    for (c, k, want) in KAT {
        assert_eq!(cpu::philox4x32_10(c, k), want, "counter {c:08x?} key {k:08x?}");
    }
}

#[test]
fn known_answers_gpu() {
    let g = gpu();
    // The three vectors, then random counters and keys (every carry of mulhi exercised) vs the CPU.
    let mut r = rng(7);
    let mut ctr: Vec<u32> = KAT.iter().flat_map(|v| v.0).collect();
    let mut key: Vec<u32> = KAT.iter().flat_map(|v| v.1).collect();
    for _ in 0..1000 {
        ctr.extend((0..4).map(|_| rand::Rng::random::<u32>(&mut r)));
        key.extend((0..2).map(|_| rand::Rng::random::<u32>(&mut r)));
    }
    let calls = ctr.len() / 4;
    let tc = g.upload::<u32>("ctr", &[calls, 4], &ctr).unwrap();
    let tk = g.upload::<u32>("key", &[calls, 2], &key).unwrap();
    let to = g.zeros("out", &[calls, 4]).unwrap();
    let op = philox::raw(g, &tc, &tk, &to).unwrap();
    g.run(&op.seq()).unwrap();
    let out = g.read::<u32>(&to).unwrap();
    for (i, (_, _, want)) in KAT.iter().enumerate() {
        assert_eq!(&out[4 * i..4 * i + 4], want, "known-answer vector {i} on the GPU");
    }
    for i in 0..calls {
        let want = cpu::philox4x32_10(
            [ctr[4 * i], ctr[4 * i + 1], ctr[4 * i + 2], ctr[4 * i + 3]],
            [key[2 * i], key[2 * i + 1]],
        );
        assert_eq!(&out[4 * i..4 * i + 4], &want, "call {i}");
    }
}

#[test]
fn cpu_math_matches_std() {
    // The shared ln and cos/sin polynomials against the standard library.
    for i in 0..=100_000u32 {
        let u = cpu::uniform_open(i.wrapping_mul(2_654_435_761));
        assert!(u > 0.0 && u < 1.0);
        let d = (cpu::ln(u) as f64 - (u as f64).ln()).abs();
        assert!(
            d <= 2e-7 * (u as f64).ln().abs().max(1e-30) + 1e-12,
            "ln({u}): off by {d}"
        );
        let t = 2.0 * u - 1.0;
        let (c, s) = cpu::cospi_sinpi(t);
        let a = std::f64::consts::PI * t as f64;
        assert!(
            (c as f64 - a.cos()).abs() < 2e-7 && (s as f64 - a.sin()).abs() < 2e-7,
            "t = {t}"
        );
    }
    assert_eq!(cpu::uniform_open(0), 0.5 / 8_388_608.0);
    assert_eq!(cpu::uniform_open(u32::MAX), 1.0 - 0.5 / 8_388_608.0);
}

fn normal_cdf(x: f64) -> f64 {
    // Numerical Recipes' erfc (Chebyshev fit, relative error < 1.2e-7).
    let erfc = |x: f64| {
        let z = x.abs();
        let t = 1.0 / (1.0 + 0.5 * z);
        let r = t
            * (-z * z - 1.26551223
                + t * (1.00002368
                    + t * (0.37409196
                        + t * (0.09678418
                            + t * (-0.18628806
                                + t * (0.27886807
                                    + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
                .exp();
        if x >= 0.0 {
            r
        } else {
            2.0 - r
        }
    };
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn draw(n: usize, seed: u32, stream: u32, step: u32) -> Vec<f32> {
    let g = gpu();
    let t = g.zeros("z", &[n]).unwrap();
    let op = philox::normal(g, &t, [seed, stream], step).unwrap();
    g.run(&op.seq()).unwrap();
    g.read::<f32>(&t).unwrap()
}

#[test]
fn normal_samples_statistics_and_reproducibility() {
    let n = 1 << 20;
    let x = draw(n, 1234, 0, 0);
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    // mean ~ N(0, 1/n), var ~ N(1, 2/n): 5 standard deviations.
    let sd = 1.0 / (n as f64).sqrt();
    assert!(mean.abs() < 5.0 * sd, "mean {mean}");
    assert!((var - 1.0).abs() < 5.0 * 2f64.sqrt() * sd, "variance {var}");
    let mut s: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut dmax = 0f64;
    for (i, &v) in s.iter().enumerate() {
        let f = normal_cdf(v);
        dmax = dmax
            .max((f - i as f64 / n as f64).abs())
            .max(((i + 1) as f64 / n as f64 - f).abs());
    }
    let bound = 1.63 / (n as f64).sqrt();
    assert!(dmax < bound, "Kolmogorov-Smirnov D = {dmax} >= {bound}");
    eprintln!("normal: mean {mean:.2e} var {var:.6} KS D {dmax:.2e} (bound {bound:.2e})");

    // GPU matches the CPU twin.
    let want = cpu::normal(n, [1234, 0], 0, 0);
    assert_close("normal vs cpu", &x, &want, 0.0, 1e-5);
    let worst = x.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    eprintln!("normal: max |gpu - cpu| = {worst:.2e}");

    // Same key and counter, same bits; any other seed, stream or step, other samples.
    let again = draw(n, 1234, 0, 0);
    assert!(
        x.iter().zip(&again).all(|(a, b)| a.to_bits() == b.to_bits()),
        "not reproducible"
    );
    let m = 4096;
    for (seed, stream, step) in [(1235, 0, 0), (1234, 1, 0), (1234, 0, 1)] {
        let y = draw(m, seed, stream, step);
        let same = x[..m].iter().zip(&y).filter(|(a, b)| a == b).count();
        assert!(
            same < 4,
            "seed {seed} stream {stream} step {step}: {same} equal samples"
        );
        assert_close(
            "other key vs cpu",
            &y,
            &cpu::normal(m, [seed, stream], step, 0),
            0.0,
            1e-5,
        );
    }
}

#[test]
fn normal_range_uses_offset_and_step_tensor() {
    for (g, (n, off)) in gpus_each_layout().into_iter().flat_map(|g| {
        [
            (1usize, 0u32),
            (7, 3),
            (1031, 5),
            (1030, 8),
            (4 * 256 * 3 + 2, 1_000_001),
            // over a workgroup of 256 invocations x 8 vec4 slots
            (9 * 1024 + 6, 11),
        ]
        .map(move |c| (g, c))
    }) {
        let len = n + 5;
        let init: Vec<f32> = (0..len).map(|i| 100.0 + i as f32).collect();
        let t = g.upload("z", &[len], &init).unwrap();
        let step = g.upload::<u32>("step", &[1], &[17]).unwrap();
        let op = philox::normal_range(g, &t, n, [42, 3], &step, off).unwrap();
        g.run(&op.seq()).unwrap();
        let got = g.read::<f32>(&t).unwrap();
        let mut want = cpu::normal(n, [42, 3], 17, off);
        want.extend_from_slice(&init[n..]);
        assert_close(
            &format!("normal_range n={n} off={off} slots={}", g.slots),
            &got,
            &want,
            0.0,
            1e-5,
        );
        assert!(got[n..] == init[n..], "elements beyond n were changed");
    }
    // Element e of a range with an offset is element e of the full draw.
    let full = cpu::normal(64, [9, 1], 2, 0);
    let part = cpu::normal(50, [9, 1], 2, 13);
    assert_eq!(&full[13..63], &part[..]);
}
