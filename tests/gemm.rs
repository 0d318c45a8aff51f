//! sgemm against its CPU twin, with every micro-kernel this adapter supports.
mod common;
use abprop::ops::gemm::{self, cpu, Kernel};
use common::*;

#[test]
fn sgemm_matches_cpu_for_odd_sizes() {
    let g = gpu();
    let kernels = Kernel::available(g);
    eprintln!("kernels: {kernels:?}");
    let mut r = rng(7);
    for &(m, n, k) in &[
        (1, 1, 1),
        (3, 5, 7),
        (65, 33, 17),
        (70, 129, 9),
        (131, 67, 301),
        (64, 64, 64), // every tile inside C: DIRECT with INTERIOR (no edge epilogue)
        // Row lengths that are multiples of 4: whole tiles take the kernels' direct stores,
        // the edge tiles the general epilogue.
        (130, 136, 37),
        (128, 96, 20),
    ] {
        let a = uniform(&mut r, m * k, -1.0, 1.0);
        let b = uniform(&mut r, k * n, -1.0, 1.0);
        let want = cpu::sgemm(&a, &b, m, n, k);
        let ta = g.upload("a", &[m, k], &a).unwrap();
        let tb = g.upload("b", &[k, n], &b).unwrap();
        for &kernel in &kernels {
            let tc = g.upload("c", &[m, n], &vec![f32::NAN; m * n]).unwrap();
            let op = gemm::sgemm_with(g, kernel, &ta, &tb, &tc, m, n, k).unwrap();
            g.run(&op.seq()).unwrap();
            // f32 sums of k products of values in [-1, 1]: relative tolerance 1e-5 of the scale.
            assert_close(
                &format!("sgemm {kernel:?} {m}x{n}x{k}"),
                &g.read::<f32>(&tc).unwrap(),
                &want,
                1e-5,
                1e-5,
            );
        }
    }
}

#[test]
fn sgemm_is_deterministic() {
    let g = gpu();
    let (m, n, k) = (97, 75, 203);
    let mut r = rng(8);
    let ta = g.upload("a", &[m, k], &uniform(&mut r, m * k, -1.0, 1.0)).unwrap();
    let tb = g.upload("b", &[k, n], &uniform(&mut r, k * n, -1.0, 1.0)).unwrap();
    let tc = g.zeros("c", &[m, n]).unwrap();
    let op = gemm::sgemm(g, &ta, &tb, &tc, m, n, k).unwrap();
    g.run(&op.seq()).unwrap();
    let first: Vec<u32> = g.read(&tc).unwrap();
    g.run(&op.seq()).unwrap();
    assert_eq!(first, g.read::<u32>(&tc).unwrap());
}

#[test]
fn autotune_picks_a_candidate_and_caches_it() {
    use abprop::ops::tune;
    let g = gpu();
    let kernels = Kernel::available(g);
    let dir = tempfile::tempdir().unwrap();
    // Timed on first use: the choice is one of the candidates and lands in the cache file.
    let path = dir.path().join("autotune.json");
    let got = tune::pick_in(Some(&path), g, 96, 80, 40, &kernels).unwrap();
    assert!(kernels.contains(&got));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("96x80x40") && text.contains(&format!("{got:?}")),
        "{text}"
    );
    // A cached choice is taken as it is (no timing): write one by hand.
    let other = *kernels.iter().find(|k| **k != got).unwrap();
    let table = text.replace(&format!("\"{got:?}\""), &format!("\"{other:?}\""));
    let path2 = dir.path().join("given.json");
    std::fs::write(&path2, table).unwrap();
    assert_eq!(tune::pick_in(Some(&path2), g, 96, 80, 40, &kernels), Some(other));
    // A corrupt cache is ignored and rewritten.
    let path3 = dir.path().join("corrupt.json");
    std::fs::write(&path3, "{ not json").unwrap();
    let again = tune::pick_in(Some(&path3), g, 64, 64, 8, &kernels).unwrap();
    assert!(kernels.contains(&again));
    assert!(std::fs::read_to_string(&path3).unwrap().contains("64x64x8"));
    // One candidate: nothing to time.
    assert_eq!(tune::pick_in(None, g, 8, 8, 8, &kernels[..1]), Some(kernels[0]));
}

#[test]
fn the_tuning_step_fills_the_choices_that_choose_reads() {
    use abprop::ops::tune;
    if std::env::var_os("ABPROP_GEMM_KERNEL").is_some() {
        return; // the override comes before any choice
    }
    // A device of its own: the step turns its choice table on.
    let g = abprop::gpu::Gpu::new().unwrap();
    let (m, n, k) = (96, 80, 40);
    // Off (no step has run): the rules, nothing recorded.
    assert_eq!(Kernel::choose(&g, m, n, k), Kernel::rule(&g, m, n));
    assert!(g.choices.lock().unwrap().missed.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("autotune.json");
    tune::start(&g, Some(&path));
    // No choice yet: the rule, and the shape is recorded for the step.
    assert_eq!(Kernel::choose(&g, m, n, k), Kernel::rule(&g, m, n));
    assert!(g.choices.lock().unwrap().missed.contains(&gemm::shape_key(m, n, k)));
    let changed = tune::step(&g, Some(&path));
    let made = g.choices.lock().unwrap().made[&gemm::shape_key(m, n, k)].clone();
    let chosen = Kernel::choose(&g, m, n, k);
    assert_eq!(format!("{chosen:?}"), made);
    assert_eq!(changed, chosen != Kernel::rule(&g, m, n));
    assert!(Kernel::candidates(&g).contains(&chosen));
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .contains(&gemm::shape_key(m, n, k)));
    assert!(g.choices.lock().unwrap().missed.is_empty());
}
