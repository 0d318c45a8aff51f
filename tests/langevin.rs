//! Langevin updates recorded back to back in one submit against the CPU twin.
mod common;
use abprop::gpu::{Gpu, Timer};
use abprop::ops::{langevin, philox};
use common::*;

/// Records (update, advance) `steps` times in one encoder, submits once; compares with the CPU.
#[allow(clippy::too_many_arguments)]
fn check(g: &Gpu, n: usize, len: usize, steps: u32, start: u32, delta: f32, noise: bool, off: u32) {
    let mut r = rng(n as u64 + off as u64);
    let z0 = uniform(&mut r, len, -2.0, 2.0);
    let grad = uniform(&mut r, len, -3.0, 3.0);
    let tz = g.upload("z", &[len], &z0).unwrap();
    let tg = g.upload("g", &[len], &grad).unwrap();
    let ts = g.upload::<u32>("step", &[1], &[start]).unwrap();
    let up = langevin::update(g, n, &tz, &tg, &ts, delta, noise, [11, 2], off).unwrap();
    let adv = langevin::advance(g, &ts).unwrap();
    let mut seq = Vec::new();
    for _ in 0..steps {
        seq.extend(up.seq());
        seq.extend(adv.seq());
    }
    g.run(&seq).unwrap();
    let got = g.read::<f32>(&tz).unwrap();
    let mut want = z0.clone();
    for s in 0..steps {
        langevin::cpu::update(&mut want[..n], &grad[..n], delta, noise, [11, 2], start + s, off);
    }
    let what = format!("langevin n={n} len={len} noise={noise} off={off} slots={}", g.slots);
    assert_close(&what, &got, &want, 1e-6, 1e-5);
    assert!(got[n..] == z0[n..], "{what}: elements beyond n changed");
    assert_eq!(g.read::<u32>(&ts).unwrap(), vec![start + steps], "{what}: step counter");
}

#[test]
fn steps_in_one_submit_match_cpu() {
    for noise in [true, false] {
        for (n, len, off) in [
            (1, 1, 0),
            (3, 7, 0),
            (257, 257, 4),
            (1030, 1033, 5),
            (3 * 1024 + 7, 3 * 1024 + 7, 102),
            // over a workgroup of 256 invocations x 8 vec4 slots
            (9 * 1024 + 3, 9 * 1024 + 10, 7),
        ] {
            for g in gpus_each_layout() {
                check(g, n, len, 5, 3, 0.3, noise, off);
            }
        }
    }
}

#[test]
fn noise_off_is_gradient_ascent() {
    let g = gpu();
    let n = 1001;
    let mut r = rng(3);
    let z0 = uniform(&mut r, n, -2.0, 2.0);
    let grad = uniform(&mut r, n, -3.0, 3.0);
    let tz = g.upload("z", &[n], &z0).unwrap();
    let tg = g.upload("g", &[n], &grad).unwrap();
    let ts = g.upload::<u32>("step", &[1], &[0]).unwrap();
    let delta = 0.1f32;
    let op = langevin::update(g, n, &tz, &tg, &ts, delta, false, [1, 1], 0).unwrap();
    g.run(&op.seq()).unwrap();
    let want: Vec<f32> = z0
        .iter()
        .zip(&grad)
        .map(|(&z, &gr)| z + (delta * delta / 2.0) * (gr - z))
        .collect();
    assert_close("gradient step", &g.read::<f32>(&tz).unwrap(), &want, 1e-6, 1e-7);
}

#[test]
fn noise_is_philox_normal_and_changes_with_step() {
    // With g = z = 0 and delta = 1 an update writes the noise itself: it must equal
    // philox::normal of the same key and step, and differ from the next step's.
    let g = gpu();
    let n = 4099;
    let tz = g.zeros("z", &[n]).unwrap();
    let tg = g.zeros("g", &[n]).unwrap();
    let ts = g.upload::<u32>("step", &[1], &[7]).unwrap();
    let op = langevin::update(g, n, &tz, &tg, &ts, 1.0, true, [5, 6], 0).unwrap();
    g.run(&op.seq()).unwrap();
    let a = g.read::<f32>(&tz).unwrap();
    let tn = g.zeros("n", &[n]).unwrap();
    let nop = philox::normal(g, &tn, [5, 6], 7).unwrap();
    g.run(&nop.seq()).unwrap();
    assert_eq!(a, g.read::<f32>(&tn).unwrap());
    let adv = langevin::advance(g, &ts).unwrap();
    let z2 = g.zeros("z2", &[n]).unwrap();
    let op2 = langevin::update(g, n, &z2, &tg, &ts, 1.0, true, [5, 6], 0).unwrap();
    g.run(&[&adv.dispatches[0], &op2.dispatches[0]]).unwrap();
    let b = g.read::<f32>(&z2).unwrap();
    assert!(a.iter().zip(&b).filter(|(x, y)| x == y).count() < 4);
}

/// GB/s of the update with and without noise (`cargo test --test langevin -- --ignored --nocapture`).
#[test]
#[ignore]
fn bench_update() {
    let g = gpu();
    let n = 1 << 22;
    let tz = g.zeros("z", &[n]).unwrap();
    let tg = g.zeros("g", &[n]).unwrap();
    let ts = g.zeros("step", &[1]).unwrap();
    let timer = Timer::new(g);
    for noise in [false, true] {
        let op = langevin::update(g, n, &tz, &tg, &ts, 0.3, noise, [1, 2], 0).unwrap();
        let s = timer.time(g, &op.seq(), 10).unwrap();
        eprintln!(
            "langevin update n={n} noise={noise}: {:.3} ms, {:.2} GB/s ({})",
            s * 1e3,
            op.bytes() / s / 1e9,
            timer.method
        );
    }
    let op = philox::normal(g, &tz, [1, 2], 3).unwrap();
    let s = timer.time(g, &op.seq(), 10).unwrap();
    eprintln!(
        "philox normal n={n}: {:.3} ms, {:.2} GB/s, {:.0} M samples/s",
        s * 1e3,
        op.bytes() / s / 1e9,
        n as f64 / s / 1e6
    );
}
