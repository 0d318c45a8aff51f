//! The ABP training loop through the library, in one screen: learn the quick texture network
//! from the shipped brick photograph, then synthesize a texture twice the training size.
//!
//!     cargo run --release --example train_texture

use abprop::abp::{preset, synthesis, Observation, Trainer};
use abprop::data::{self, LoadOptions};
use abprop::gpu::Gpu;
use abprop::model::Norm;
use std::path::Path;

fn main() -> anyhow::Result<()> {
    let gpu = Gpu::new()?;
    let p = preset("texture-quick")?;
    let opts = LoadOptions {
        shape: p.spec.output()?,
        resize: true,
        resample: false,
        rate: 11025,
        limit: None,
    };
    let data = data::load(Path::new("assets/brick.png"), &opts)?;

    let mut hyper = p.hyper.clone();
    hyper.iterations = 100;
    let mut trainer = Trainer::new(&gpu, &p.spec, &hyper, &data, &Observation::Full, None)?;
    // Each iteration: L Langevin steps on Z (inferential back-propagation), then one step on W
    // (learning back-propagation): one submit, one read-back of the error; the hook sees it.
    trainer.train(|_, step| {
        if step.iteration % 10 == 0 {
            println!(
                "iteration {}: mean squared reconstruction error {:.5}",
                step.iteration, step.mse
            );
        }
        Ok(())
    })?;

    // A fully convolutional model renders larger textures from a larger latent image.
    let big = p.spec.with_latent([1, 8, 8])?;
    let params = trainer.gen.read_params(&gpu)?;
    // Batch norms on the population statistics of the training Z (eval mode).
    let population = trainer.population()?;
    let z = synthesis::sample_z(&gpu, big.latent, 1, 7)?;
    let x = synthesis::render(&gpu, &big, &params, Norm::Population(&population), &z, 1)?;
    let [c, h, w] = big.output()?;
    abprop::io::media::write_png(Path::new("texture-128.png"), &x, c, h, w)?;
    println!("wrote texture-128.png ({w}x{h})");
    Ok(())
}
