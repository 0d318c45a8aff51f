//! Synthesis as a batch tool: with the population statistics (eval mode) a latent renders the
//! same bits alone, in any batch and at any position of a run; the GPU generator in eval mode
//! matches its CPU twin (what PyTorch's `eval()` computes from the stored statistics).
mod common;
use abprop::abp::preset;
use abprop::abp::synthesis::{render, sample_z, sample_z_range};
use abprop::model::reference::Reference;
use abprop::model::{init_params, Norm, Population};
use common::*;

#[test]
fn a_latent_renders_the_same_bits_alone_in_a_batch_and_deep_in_a_run() {
    let g = gpu();
    for name in ["object-quick", "texture-quick"] {
        let p = preset(name).unwrap();
        let spec = p.spec;
        let d = spec.latent_dim();
        let per: usize = spec.output().unwrap().iter().product();
        let params = init_params(&spec, 3).unwrap();
        let n = if name == "object-quick" { 1000 } else { 320 };
        let z = sample_z(g, spec.latent, n, 7).unwrap();
        // Sample i's Z depends on (seed, i) alone.
        assert_eq!(
            &sample_z_range(g, spec.latent, 300, 5, 7).unwrap()[..],
            &z[300 * d..305 * d]
        );
        let pop = Population::measure(g, &spec, &params, &z[..64 * d], 16).unwrap();
        let norm = Norm::Population(&pop);
        let one = |i: usize| render(g, &spec, &params, norm, &z[i * d..(i + 1) * d], 1).unwrap();
        let sixteen = render(g, &spec, &params, norm, &z[..16 * d], 16).unwrap();
        assert_eq!(&one(0)[..], &sixteen[..per], "{name}: alone and first of 16 differ");
        let four = render(g, &spec, &params, norm, &z[..4 * d], 4).unwrap();
        assert_eq!(
            &four[..per],
            &sixteen[..per],
            "{name}: first of 4 and first of 16 differ"
        );
        let all = render(g, &spec, &params, norm, &z, n).unwrap();
        assert_eq!(
            one(300),
            all[300 * per..301 * per],
            "{name}: sample 300 of {n} and alone differ"
        );
        assert_eq!(&all[..16 * per], &sixteen[..], "{name}: the first 16 of {n} differ");
        // With batch statistics the batch matters (the defect the population statistics fix).
        let b16 = render(g, &spec, &params, Norm::Batch, &z[..16 * d], 16).unwrap();
        let b4 = render(g, &spec, &params, Norm::Batch, &z[..4 * d], 4).unwrap();
        assert_ne!(
            b16[..per],
            b4[..per],
            "{name}: batch statistics did not depend on the batch"
        );
    }
}

#[test]
fn eval_mode_matches_the_cpu_twin_with_the_stored_statistics() {
    let g = gpu();
    let p = preset("object-quick").unwrap();
    let spec = p.spec;
    let d = spec.latent_dim();
    let params = init_params(&spec, 5).unwrap();
    let z = sample_z(g, spec.latent, 40, 2).unwrap();
    let pop = Population::measure(g, &spec, &params, &z, 20).unwrap();
    // The statistics are those of the batches as trained: each layer's mean and variance over
    // all 40 examples (two batches of 20), not of one batch.
    assert_eq!(pop.0.len(), 3, "one entry per batch norm");
    let x = render(g, &spec, &params, Norm::Population(&pop), &z[..8 * d], 8).unwrap();
    let want = Reference::new(&spec, 8, &params)
        .unwrap()
        .forward_eval(&z[..8 * d], &pop)
        .unwrap();
    assert_close("eval mode, GPU against CPU", &x, &want, 1e-4, 1e-5);
}
