//! Times every dispatch of one Langevin step and one learning step of a preset, alone, and
//! prints the total per kernel: where an iteration's time goes.
//!
//!     cargo run --release --example profile_train -- object-quick [batch]
//!
//! `ABPROP_SLOTS=n` sets `Gpu::slots` (vec4 slots per invocation of the elementwise kernels).

use abprop::abp::{preset, Observation, Trainer};
use abprop::gpu::{Gpu, Timer};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("object-quick");
    let gpu = Gpu::new()?;
    let p = preset(name)?;
    let mut hyper = p.hyper.clone();
    if let Some(b) = args.get(2) {
        hyper.batch = b.parse()?;
    }
    hyper.langevin_steps = 1;
    let shape = p.spec.output()?;
    let per: usize = shape.iter().product();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let data = abprop::data::Dataset {
        shape,
        values: (0..hyper.batch * per).map(|_| rng.random_range(-1.0..1.0)).collect(),
        names: (0..hyper.batch).map(|i| i.to_string()).collect(),
        rate: p.rate,
    };
    let t = Trainer::new(&gpu, &p.spec, &hyper, &data, &Observation::Full, None)?;
    let timer = Timer::new(&gpu);
    // Packing the weights (`Op::prep`) runs once per iteration, before the first Langevin step:
    // it is shown on its own, and the steps without it.
    let prep = t.gen.prepare_seq();
    let is_prep = |d: &&abprop::gpu::Dispatch| prep.iter().any(|p| std::ptr::eq(*p, *d));
    for (what, seq) in [
        ("weight packing, once per iteration", prep.clone()),
        (
            "one Langevin step",
            t.infer_seq(0).into_iter().filter(|d| !is_prep(d)).collect(),
        ),
        (
            "one learning step",
            t.learn_seq(0).into_iter().filter(|d| !is_prep(d)).collect(),
        ),
    ] {
        let mut by: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
        let mut total = 0.0;
        for d in &seq {
            let s = timer.time(&gpu, &[d], 5)?;
            let e = by.entry(d.name.clone()).or_default();
            e.0 += s;
            e.1 += d.flops;
            e.2 += 1;
            total += s;
        }
        println!(
            "{name} batch {}: {what}: {:.2} ms in {} dispatches",
            hyper.batch,
            total * 1e3,
            seq.len()
        );
        let mut rows: Vec<_> = by.into_iter().collect();
        rows.sort_by(|a, b| b.1 .0.partial_cmp(&a.1 .0).unwrap());
        for (k, (s, f, n)) in rows {
            println!(
                "  {:>8.2} ms {:>5.1}% {:>7.1} GFLOP/s  x{n:<3} {k}",
                s * 1e3,
                100.0 * s / total,
                f / s * 1e-9
            );
        }
    }
    Ok(())
}
