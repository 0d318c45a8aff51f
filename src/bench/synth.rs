//! `abprop bench synth`: the batch synthesis tool's throughput for each output format:
//! samples per second, MB/s written, and the rendering time against the writing time (the
//! writer runs on a thread of its own beside the renderer, so a format whose writing takes
//! longer than the rendering is the bottleneck).

use crate::abp::synthesis::{chunk_for, run_job, sample_z, Job, Renderer, Shard};
use crate::abp::{preset, Model};
use crate::gpu::Gpu;
use crate::io::samples::{Format, Layout};
use crate::model::{init_params, Norm, Population};
use crate::seed::Seed;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

/// One format's figures.
#[derive(Clone, Debug, Serialize)]
pub struct SynthRow {
    pub model: String,
    pub format: Format,
    pub samples: usize,
    pub chunk: usize,
    pub samples_per_s: f64,
    pub mb_per_s: f64,
    pub render_s: f64,
    pub write_s: f64,
    pub seconds: f64,
}

/// Renders `count` samples of the model at `model` (or of `preset_name` with its initial
/// weights) in every format that fits it, into a temporary folder under `scratch`.
pub fn synth(
    gpu: &Gpu,
    preset_name: &str,
    model: Option<&Path>,
    count: usize,
    scratch: &Path,
    mut each: impl FnMut(&SynthRow),
) -> Result<Vec<SynthRow>> {
    let (spec, params, rate, population, name) = match model {
        Some(path) => {
            let mut m = Model::load(path)?;
            let pop = m.population(gpu)?.clone();
            (
                m.spec.clone(),
                m.params.clone(),
                m.rate,
                pop,
                path.display().to_string(),
            )
        }
        None => {
            let p = preset(preset_name)?;
            let params = init_params(&p.spec, Seed(1))?;
            let z = sample_z(gpu, p.spec.latent, p.hyper.batch.max(2), Seed(2))?;
            let pop = Population::measure(gpu, &p.spec, &params, &z, p.hyper.batch.max(2))?;
            (p.spec, params, p.rate, pop, preset_name.to_string())
        }
    };
    let chunk = chunk_for(&spec)?;
    let renderer = Renderer::new(gpu, &spec, &params, Norm::Population(&population), chunk)?;
    let formats: &[Format] = if rate.is_some() {
        &[Format::Wav16, Format::Wav32f, Format::Safetensors, Format::Npy]
    } else {
        &[Format::Png, Format::Png16, Format::Safetensors, Format::Npy]
    };
    let mut rows = Vec::new();
    for &format in formats {
        let out = scratch.join(format!("bench-synth-{format:?}"));
        let _ = std::fs::remove_dir_all(&out);
        let job = Job {
            out: out.clone(),
            total: count,
            shard: Shard::ALL,
            seed: Seed(1),
            layout: Layout::new(format, spec.output()?, spec.latent, rate, count),
            resume: false,
            grid: false,
            progress: false,
        };
        let st = run_job(gpu, &renderer, &job)?;
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot remove {}", out.display()))?;
        let row = SynthRow {
            model: name.clone(),
            format,
            samples: st.samples,
            chunk,
            samples_per_s: st.samples as f64 / st.seconds.max(1e-9),
            mb_per_s: st.bytes as f64 / 1e6 / st.seconds.max(1e-9),
            render_s: st.render_seconds,
            write_s: st.write_seconds,
            seconds: st.seconds,
        };
        each(&row);
        rows.push(row);
    }
    Ok(rows)
}
