//! Dynamic textures (the ABP paper's Experiment 4): fitting the latent dynamics of a model
//! trained on the frames of a clip next to Doretto's linear dynamic system (LDS, PCA of the
//! frames, [`lds`]), and the statistics that compare synthesized sequences with the clip.

use super::pca::Pca;
use crate::abp::checkpoint::{dynamics_from, put_dynamics, sequence_from, spec_from};
use crate::abp::dynamics::{infer_states, Dynamics, Lds, Linear, States};
use crate::data::Dataset;
use crate::io::checkpoint::Checkpoint;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Doretto's LDS with `d` states on `frames` (in time order): the first d principal
/// directions of the frames (fewer when the frames span fewer: at most frames - 1), the
/// frames' coefficients, and their dynamics fitted as ABP's.
pub fn lds(frames: &Dataset, d: usize) -> Result<Lds> {
    let per = frames.per_example();
    let pca = Pca::fit(&frames.values, per, d)?;
    let k = d.min(pca.rank());
    if k == 0 {
        bail!("the frames are all the same: PCA finds no direction");
    }
    let x = Lds::coefficients(&pca.mean, &pca.basis(k), &frames.values);
    Ok(Lds {
        frame_mean: pca.mean.clone(),
        basis: pca.basis(k),
        dynamics: Linear::fit(&x, k)?,
    })
}

/// The coefficients an LDS was fitted on (for `--stabilize`).
fn lds_states(l: &Lds, frames: &Dataset) -> Vec<f64> {
    l.project(&frames.values)
}

/// Fits ABP's dynamics on the frames' states (inferred anew with W fixed, or the chains' `z`,
/// as `states` says) and the LDS with the same d on the frames (`frames`, values in the
/// model's range, or the clip recorded in the checkpoint), optionally stabilized, and stores
/// both in the checkpoint (written atomically). Returns what was fitted.
pub fn fit_checkpoint(
    gpu: &crate::gpu::Gpu,
    path: &Path,
    frames: Option<&Dataset>,
    states: States,
    stabilize: bool,
) -> Result<Dynamics> {
    let mut c = Checkpoint::load(path)?;
    let (spec, _) = spec_from(&c).with_context(|| format!("{}", path.display()))?;
    let zt = c.get("z").with_context(|| format!("{}", path.display()))?;
    let n = zt.shape()[0];
    let d = spec.latent_dim();
    let loaded;
    let frames = match frames {
        Some(f) => f,
        None => {
            let clip = sequence_from(&c)?.with_context(|| {
                format!(
                    "{} records no clip (it was not trained on a frame sequence): give the frames with --data",
                    path.display()
                )
            })?;
            let mut f = clip.load(spec.output()?)?;
            spec.range().data(&mut f.values);
            loaded = f;
            &loaded
        }
    };
    if frames.len() < n {
        bail!(
            "the model was trained on {n} frames but only {} were read",
            frames.len()
        );
    }
    let frames = frames.slice(0..n);
    if frames.shape != spec.output()? {
        bail!(
            "the frames are {:?} but the model makes {:?}",
            frames.shape,
            spec.output()?
        );
    }
    if let Ok(names) = c.meta("examples") {
        let names: Vec<String> = serde_json::from_str(names).unwrap_or_default();
        if names.len() == n && names != frames.names {
            bail!(
                "the frames read ({} ... ) are not those the model was trained on ({} ...)",
                frames.names[0],
                names[0]
            );
        }
    }
    let (z, inferred) = match states {
        States::Chains => (zt.f32()?.iter().map(|&v| v as f64).collect::<Vec<_>>(), None),
        States::Inferred(inference) => {
            let mut m = crate::abp::Model::load(path)?;
            let pop = m.population(gpu)?.clone();
            let r = infer_states(gpu, &spec, &m.params, &pop, &m.hyper, &frames, inference)?;
            let inference = inference.with_model_delta(m.hyper.delta);
            (r.z.iter().map(|&v| v as f64).collect(), Some(inference))
        }
    };
    let mut abp = Linear::fit(&z, d).context("fitting A and Q on the frames' states")?;
    abp.info.inferred = inferred;
    let mut base = lds(&frames, d).context("fitting the LDS baseline")?;
    if stabilize {
        abp.stabilize(&z);
        let x = lds_states(&base, &frames);
        base.dynamics.stabilize(&x);
    }
    let dynamics = Dynamics {
        abp,
        lds: Some(base),
        states: z,
    };
    put_dynamics(&mut c, &dynamics, spec.output()?)?;
    c.save(path)?;
    // What was written reads back.
    let back = dynamics_from(&Checkpoint::load(path)?)?;
    if back.is_none() {
        bail!("{}: the fitted dynamics did not read back", path.display());
    }
    Ok(dynamics)
}

/// Mean over pixels of the per-pixel temporal standard deviation of `frames` ([n, per]).
pub fn temporal_std(frames: &[f32], per: usize) -> f64 {
    let n = frames.len() / per;
    let mut total = 0.0;
    for p in 0..per {
        let m = (0..n).map(|t| frames[t * per + p] as f64).sum::<f64>() / n as f64;
        let v = (0..n).map(|t| (frames[t * per + p] as f64 - m).powi(2)).sum::<f64>() / n as f64;
        total += v.sqrt();
    }
    total / per as f64
}

/// The mean squared frame-to-frame change sum |Y_{t+1} - Y_t|^2 / (values) of `frames`.
pub fn frame_change(frames: &[f32], per: usize) -> f64 {
    let n = frames.len() / per;
    if n < 2 {
        return 0.0;
    }
    let s: f64 = (0..n - 1)
        .map(|t| {
            (0..per)
                .map(|p| (frames[(t + 1) * per + p] as f64 - frames[t * per + p] as f64).powi(2))
                .sum::<f64>()
        })
        .sum();
    s / ((n - 1) * per) as f64
}

/// Spatial power spectrum of the frame differences Y_{t+1} - Y_t of `frames` ([n, c, h, w]),
/// averaged over differences and channels, in `bands` radial bands of spatial frequency
/// (|k| / Nyquist in [0, 1/bands), ...; the last band takes the corners): the mean power per
/// frequency in each band, per value. Sums to `frame_change` over all bands weighted by their
/// share of frequencies (Parseval).
pub fn difference_spectrum(frames: &[f32], shape: [usize; 3], bands: usize) -> Vec<f64> {
    let [c, h, w] = shape;
    let per = c * h * w;
    let n = frames.len() / per;
    let mut power = vec![0.0; bands];
    let mut count = vec![0usize; bands];
    let band = |ky: usize, kx: usize| {
        let fy = ky.min(h - ky) as f64 / (h as f64 / 2.0);
        let fx = kx.min(w - kx) as f64 / (w as f64 / 2.0);
        (((fy * fy + fx * fx).sqrt() * bands as f64) as usize).min(bands - 1)
    };
    let (ch, sh) = twiddles(h);
    let (cw, sw) = twiddles(w);
    for t in 0..n.saturating_sub(1) {
        for k in 0..c {
            let diff: Vec<f64> = (0..h * w)
                .map(|p| frames[(t + 1) * per + k * h * w + p] as f64 - frames[t * per + k * h * w + p] as f64)
                .collect();
            // Separable DFT: rows then columns.
            let mut re = vec![0.0; h * w];
            let mut im = vec![0.0; h * w];
            for y in 0..h {
                for kx in 0..w {
                    let (mut a, mut b) = (0.0, 0.0);
                    for x in 0..w {
                        let v = diff[y * w + x];
                        a += v * cw[(kx * x) % w];
                        b -= v * sw[(kx * x) % w];
                    }
                    re[y * w + kx] = a;
                    im[y * w + kx] = b;
                }
            }
            for kx in 0..w {
                for ky in 0..h {
                    let (mut a, mut b) = (0.0, 0.0);
                    for y in 0..h {
                        let (cr, ci) = (ch[(ky * y) % h], -sh[(ky * y) % h]);
                        let (r, i) = (re[y * w + kx], im[y * w + kx]);
                        a += r * cr - i * ci;
                        b += r * ci + i * cr;
                    }
                    let bnd = band(ky, kx);
                    power[bnd] += (a * a + b * b) / (h * w) as f64;
                    count[bnd] += 1;
                }
            }
        }
    }
    power
        .iter()
        .zip(&count)
        .map(|(p, &k)| if k == 0 { 0.0 } else { p / k as f64 })
        .collect()
}

fn twiddles(n: usize) -> (Vec<f64>, Vec<f64>) {
    let a = |k: usize| 2.0 * std::f64::consts::PI * k as f64 / n as f64;
    (
        (0..n).map(|k| a(k).cos()).collect(),
        (0..n).map(|k| a(k).sin()).collect(),
    )
}

/// `abprop eval dynamic`: a clip split in time; ABP and the LDS at several d.
#[derive(clap::Args, Clone, Debug)]
pub struct DynamicArgs {
    /// The clip: a folder of frames, an animated GIF or a video file (ffmpeg).
    #[arg(long, default_value = "assets/tree.gif")]
    pub data: std::path::PathBuf,
    #[command(flatten)]
    pub clip: crate::data::video::ClipArgs,
    /// Latent dimensions, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,20,40")]
    pub dims: Vec<usize>,
    /// The first this fraction of the frames is trained on; the rest is held out.
    #[arg(long, default_value_t = 0.75)]
    pub train_fraction: f64,
    /// The dynamic preset's network and hyperparameters: dynamic-quick (32x32) or dynamic (64x64).
    #[arg(long, default_value = "dynamic-quick")]
    pub preset: String,
    #[command(flatten)]
    pub hp: crate::abp::Overrides,
    /// The training frames' states, and the inference of every frame's state (held-out
    /// frames' always as `--infer-steps` and `--infer-delta` say).
    #[command(flatten)]
    pub states: crate::abp::dynamics::StateArgs,
    /// Frames of each synthesized sequence (default: as many as the training frames).
    #[arg(long)]
    pub synth_frames: Option<usize>,
    /// States discarded at the start of a synthesized sequence.
    #[arg(long, default_value_t = 15)]
    pub burn_in: usize,
    /// Output folder.
    #[arg(long, default_value = "runs/eval/dynamic")]
    pub out: std::path::PathBuf,
    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// Statistics of a sequence against which synthesized ones are compared with the clip.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SequenceStats {
    /// Mean over pixels of the per-pixel temporal standard deviation.
    pub temporal_std: f64,
    /// Mean squared change between consecutive frames, per value.
    pub frame_change: f64,
    /// Power spectrum of the frame differences in four radial bands of spatial frequency
    /// (low to high), mean power per frequency.
    pub difference_spectrum: Vec<f64>,
}

fn stats(frames: &[f32], shape: [usize; 3]) -> SequenceStats {
    let per = shape.iter().product();
    SequenceStats {
        temporal_std: temporal_std(frames, per),
        frame_change: frame_change(frames, per),
        difference_spectrum: difference_spectrum(frames, shape, 4),
    }
}

/// One latent dimension's results (errors: mean squared per value, values in [-1, 1]).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DynamicRow {
    pub d: usize,
    /// The LDS's d (at most the training frames less one).
    pub lds_d: usize,
    /// One-step prediction of each held-out frame from the one before it.
    pub predict_abp: f64,
    pub predict_lds: f64,
    /// Reconstruction of the held-out frames (ABP: Z inferred with W fixed; LDS: projection).
    pub reconstruct_abp: f64,
    pub reconstruct_lds: f64,
    pub abp_fit: crate::abp::dynamics::FitInfo,
    pub lds_fit: crate::abp::dynamics::FitInfo,
    pub synth_abp: SequenceStats,
    pub synth_lds: SequenceStats,
    pub train_seconds: f64,
}

/// Baselines that need no model: the training mean frame and the previous frame.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Naive {
    pub predict_mean_frame: f64,
    pub predict_previous_frame: f64,
    pub clip: SequenceStats,
}

fn mse64(a: &[f32], b: &[f32]) -> f64 {
    super::metrics::mse(a, b)
}

/// Runs the evaluation and writes results.md, results.json, strips and a plot under `a.out`.
pub fn run_eval(a: &DynamicArgs) -> Result<()> {
    use super::plot::{self, Series};
    use super::report::{self, num};
    use crate::abp::synthesis::render;
    use crate::abp::{preset, Observation};
    use crate::data::{video, LoadOptions};
    use crate::gpu::Gpu;
    use crate::model::Norm;
    use crate::seed::Stream;
    let p = preset(&a.preset)?;
    if !matches!(p.name, "dynamic" | "dynamic-quick") {
        bail!(
            "--preset {}: eval dynamic trains dynamic or dynamic-quick (their fc layer takes each d of --dims)",
            a.preset
        );
    }
    if a.dims.is_empty() || a.dims.contains(&0) {
        bail!("--dims: give positive latent dimensions");
    }
    if !(a.train_fraction > 0.0 && a.train_fraction < 1.0) {
        bail!("--train-fraction must be between 0 and 1");
    }
    let states = a.states.states()?;
    let mut hyper = p.hyper.clone();
    a.hp.apply(&mut hyper)?;
    hyper.validate()?;
    // Every frame's state (training frames' with `--states inferred`, held-out frames' always).
    let inference = a.states.inference().with_model_delta(hyper.delta);
    let shape = p.spec.output()?;
    let [c, h, w] = shape;
    let per = c * h * w;
    let opt = LoadOptions {
        shape,
        resize: true,
        resample: false,
        rate: 0,
        limit: None,
    };
    let clip = video::load(&a.data, &opt, &a.clip.select())?;
    let n_train = ((clip.len() as f64 * a.train_fraction).round() as usize).clamp(3, clip.len() - 2);
    hyper.batch = hyper.batch.min(n_train);
    let n_train = n_train / hyper.batch * hyper.batch;
    let train = clip.slice(0..n_train);
    let test = clip.slice(n_train..clip.len());
    let say = |m: &str| {
        if !a.quiet {
            eprintln!("abprop eval: {m}");
        }
    };
    say(&format!(
        "{} frames of {}: training on the first {n_train}, holding out {}",
        clip.len(),
        a.data.display(),
        test.len()
    ));
    let gpu = Gpu::new()?;
    let mean = super::metrics::mean_image(&train.values, None, per);
    let mean_pred: Vec<f32> = (0..test.len()).flat_map(|_| mean.clone()).collect();
    // The previous frame of each held-out frame (the last training frame for the first).
    let prev: Vec<f32> = clip.values[(n_train - 1) * per..(clip.len() - 1) * per].to_vec();
    let naive = Naive {
        predict_mean_frame: mse64(&mean_pred, &test.values),
        predict_previous_frame: mse64(&prev, &test.values),
        clip: stats(&train.values, shape),
    };
    let t_synth = a.synth_frames.unwrap_or(n_train).max(2);
    let strip = crate::abp::dynamics::strip_frames(t_synth.min(n_train), None);
    let mut rows = Vec::new();
    for &d in &a.dims {
        let spec = if p.name == "dynamic" {
            crate::model::presets::dynamic_net(d)
        } else {
            crate::model::presets::dynamic_quick_net(d, h)?
        };
        let dir = a.out.join(format!("d{d}"));
        say(&format!("d = {d}: training {} iterations", hyper.iterations));
        let setup = super::Setup {
            size: h,
            net: super::Net::Quick,
            d,
            hyper: hyper.clone(),
            infer_steps: a.states.infer_steps,
            infer_delta: inference.delta_for(hyper.delta),
            panel: 10,
            verbose: !a.quiet,
        };
        let trained = super::train(&gpu, &setup, &spec, &hyper, &train, &Observation::Full, &dir, |_| {
            Ok(None)
        })?;
        let t = &trained.trainer;
        let params = t.gen.read_params(&gpu)?;
        let pop = t.population()?;
        let norm = Norm::Population(&pop);
        let infer = |frames: &Dataset| infer_states(&gpu, &spec, &params, &pop, &hyper, frames, inference);
        let z: Vec<f64> = match states {
            States::Chains => t.latents()?,
            States::Inferred(_) => infer(&train)?.z,
        }
        .iter()
        .map(|&v| v as f64)
        .collect();
        let mut abp = Linear::fit(&z, d)?;
        abp.info.inferred = matches!(states, States::Inferred(_)).then_some(inference);
        abp.stabilize(&z);
        let mut base = lds(&train, d)?;
        let x_train = base.project(&train.values);
        base.dynamics.stabilize(&x_train);
        // Held-out frames: their states inferred with W fixed.
        let rec = infer(&test)?;
        let z_test: Vec<f64> = rec.z.iter().map(|&v| v as f64).collect();
        let mut z_prev = z[(n_train - 1) * d..].to_vec();
        z_prev.extend_from_slice(&z_test[..(test.len() - 1) * d]);
        let z_pred: Vec<f32> = abp.predict(&z_prev).iter().map(|&v| v as f32).collect();
        let y_abp = render(&gpu, &spec, &params, norm, &z_pred, test.len())?;
        let x_test = base.project(&test.values);
        let k = base.basis.ncols();
        let mut x_prev = x_train[(n_train - 1) * k..].to_vec();
        x_prev.extend_from_slice(&x_test[..(test.len() - 1) * k]);
        let y_lds = base.render(&base.dynamics.predict(&x_prev));
        // Synthesized sequences.
        let sa = abp.simulate(t_synth, a.burn_in, hyper.seed, Stream::Dynamics)?;
        let sa: Vec<f32> = sa.iter().map(|&v| v as f32).collect();
        let xa = render(&gpu, &spec, &params, norm, &sa, t_synth)?;
        let xl = base.render(
            &base
                .dynamics
                .simulate(t_synth, a.burn_in, hyper.seed, Stream::LdsDynamics)?,
        );
        let mut grid = Vec::new();
        for x in [&xa, &xl, &train.values] {
            for &s in &strip {
                grid.extend_from_slice(&x[s * per..(s + 1) * per]);
            }
        }
        crate::io::media::write_grid(&dir.join("compare.png"), &grid, 3 * strip.len(), c, h, w, strip.len())?;
        crate::io::media::write_gif(&dir.join("abp.gif"), &xa, t_synth, c, h, w, 100)?;
        crate::io::media::write_gif(&dir.join("lds.gif"), &xl, t_synth, c, h, w, 100)?;
        let row = DynamicRow {
            d,
            lds_d: k,
            predict_abp: mse64(&y_abp, &test.values),
            predict_lds: mse64(&y_lds, &test.values),
            reconstruct_abp: mse64(&rec.outputs, &test.values),
            reconstruct_lds: mse64(&base.render(&x_test), &test.values),
            abp_fit: abp.info.clone(),
            lds_fit: base.dynamics.info.clone(),
            synth_abp: stats(&xa, shape),
            synth_lds: stats(&xl, shape),
            train_seconds: trained.seconds,
        };
        say(&format!(
            "d = {d}: one-step prediction ABP {:.4}, LDS {:.4} (mean frame {:.4}, previous frame {:.4})",
            row.predict_abp, row.predict_lds, naive.predict_mean_frame, naive.predict_previous_frame
        ));
        rows.push(row);
    }
    let spectrum = |s: &SequenceStats| {
        s.difference_spectrum
            .iter()
            .map(|v| format!("{v:.2e}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format!("{} ({})", r.d, r.lds_d),
                num(r.predict_abp),
                num(r.predict_lds),
                num(r.reconstruct_abp),
                num(r.reconstruct_lds),
                format!("{:.3} ({:.3})", r.abp_fit.fitted_radius, r.abp_fit.residual),
                format!("{:.3} ({:.3})", r.lds_fit.fitted_radius, r.lds_fit.residual),
            ]
        })
        .collect();
    let stat_rows: Vec<Vec<String>> = std::iter::once(vec![
        "training clip".to_string(),
        format!("{:.4}", naive.clip.temporal_std),
        format!("{:.2e}", naive.clip.frame_change),
        spectrum(&naive.clip),
    ])
    .chain(rows.iter().flat_map(|r| {
        [
            vec![
                format!("ABP d = {}", r.d),
                format!("{:.4}", r.synth_abp.temporal_std),
                format!("{:.2e}", r.synth_abp.frame_change),
                spectrum(&r.synth_abp),
            ],
            vec![
                format!("LDS d = {}", r.lds_d),
                format!("{:.4}", r.synth_lds.temporal_std),
                format!("{:.2e}", r.synth_lds.frame_change),
                spectrum(&r.synth_lds),
            ],
        ]
    }))
    .collect();
    let t1 = report::table(
        &[
            "d (LDS d)",
            "predict: ABP",
            "predict: LDS",
            "reconstruct: ABP",
            "reconstruct: LDS",
            "ABP radius (residual)",
            "LDS radius (residual)",
        ],
        &table_rows,
    );
    let t2 = report::table(
        &[
            "sequence",
            "temporal std",
            "frame change",
            "difference spectrum, low to high",
        ],
        &stat_rows,
    );
    let md = format!(
        "# Experiment 4: dynamic textures, ABP and the linear dynamic system\n\nData: {} frames of {} ({}x{} colour), the first {n_train} trained on, the last {} held out. Preset {}: {} iterations, L = {}, D = {}, s = {}; ABP's states ({}) and the held-out frames' inferred with W fixed by {} noiseless Langevin steps of {} from Z = 0. A fitted by least squares on the ordered states (ABP) or PCA coefficients (LDS) and scaled to spectral radius 0.99 where larger (the fitted radius is shown).\n\nAdapter: {}.\n\nErrors: mean squared error per value (values in [-1, 1]). One-step prediction of each held-out frame Y_(t+1) from Y_t: ABP f(m + A (Z_t - m)), LDS mean + C (m + A (x_t - m)); predicting the training mean frame gives {}, repeating the previous frame {}.\n\n{t1}\nSynthesized sequences ({t_synth} frames after {} of burn-in) against the training clip:\n\n{t2}\nIn each folder d<d>: compare.png (ABP above, LDS below, training frames last; frames 0, {}, ... of each), abp.gif, lds.gif, log.jsonl. prediction.png: the one-step prediction errors against d.\n",
        clip.len(),
        a.data.display(),
        w,
        h,
        test.len(),
        p.name,
        hyper.iterations,
        hyper.langevin_steps,
        hyper.delta,
        hyper.sigma,
        match states {
            States::Chains => "the training frames': the chains' last states",
            States::Inferred(_) => "every frame's",
        },
        a.states.infer_steps,
        inference.delta_for(hyper.delta),
        gpu.info.name,
        num(naive.predict_mean_frame),
        num(naive.predict_previous_frame),
        a.burn_in,
        strip.get(1).copied().unwrap_or(1),
    );
    let xs: Vec<f64> = rows.iter().map(|r| r.d as f64).collect();
    let series = |label: &str, k: usize, f: &dyn Fn(&DynamicRow) -> f64| Series {
        label: label.into(),
        color: plot::COLORS[k],
        points: xs.iter().copied().zip(rows.iter().map(f)).collect(),
    };
    plot::lines(
        &a.out.join("prediction.png"),
        "one-step prediction of held-out frames",
        "d",
        "mean squared error",
        &[
            series("ABP", 0, &|r| r.predict_abp),
            series("LDS", 1, &|r| r.predict_lds),
            series("mean frame", 2, &|_| naive.predict_mean_frame),
            series("previous frame", 3, &|_| naive.predict_previous_frame),
        ],
    )?;
    let json = serde_json::json!({
        "experiment": "dynamic",
        "data": a.data,
        "frames": clip.len(),
        "train_frames": n_train,
        "adapter": gpu.info.name,
        "preset": p.name,
        "hyper": hyper,
        "naive": naive,
        "rows": rows,
    });
    report::write(&a.out, &md, &json)?;
    print!("{t1}\n{t2}");
    eprintln!("abprop eval: wrote {}", a.out.join("results.md").display());
    Ok(())
}
