//! The files of a synthesis run, chunk by chunk: one file per sample (PNG, 16-bit PNG, 16-bit or
//! float WAV) or one file per chunk (safetensors, npy) that keeps the generator's values
//! exactly. Every file is written atomically, so a killed run leaves no partial file under a
//! final name, and a resumed run can tell a written chunk by its files alone.

use super::checkpoint::{write_atomic, Checkpoint, HostTensor};
use super::media;
use anyhow::{bail, Context, Result};
use npyz::WriterBuilder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How samples are written (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// 8-bit PNG per image (the default for images).
    Png,
    /// 16-bit PNG per image.
    Png16,
    /// 16-bit WAV per sound (the default for sound).
    Wav16,
    /// 32-bit float WAV per sound: the generator's values exactly.
    Wav32f,
    /// One safetensors file per chunk with tensors `x` [n, c, h, w] and `z` [n, latent...].
    Safetensors,
    /// Two .npy files per chunk: `x` [n, c, h, w] and `z` [n, latent...], float32.
    Npy,
}

impl Format {
    /// The default for a model making images or sound.
    pub fn default_for(sound: bool) -> Format {
        if sound {
            Format::Wav16
        } else {
            Format::Png
        }
    }

    /// An error when the format does not fit the model (WAV for images, PNG for sound).
    pub fn check(self, sound: bool) -> Result<()> {
        match (self, sound) {
            (Format::Png | Format::Png16, true) => bail!(
                "--format {self:?} writes images, but this model makes sound: use wav16, wav32f, safetensors or npy"
            ),
            (Format::Wav16 | Format::Wav32f, false) => {
                bail!("--format {self:?} writes sound, but this model makes images: use png, png16, safetensors or npy")
            }
            _ => Ok(()),
        }
    }

    /// Whether each sample has a file of its own (else each chunk has its files).
    pub fn per_sample(self) -> bool {
        matches!(self, Format::Png | Format::Png16 | Format::Wav16 | Format::Wav32f)
    }

    /// Whether the files keep the generator's values exactly.
    pub fn exact(self) -> bool {
        matches!(self, Format::Wav32f | Format::Safetensors | Format::Npy)
    }
}

/// What the samples are: per-sample shape, latent shape, sample rate (sound), and the width of
/// the sample numbers in file names.
#[derive(Clone, Debug)]
pub struct Layout {
    pub format: Format,
    /// [c, h, w] of one sample.
    pub shape: [usize; 3],
    /// [c, h, w] of one latent.
    pub latent: [usize; 3],
    pub rate: Option<u32>,
    /// Digits of the sample numbers in file names (at least 4, enough for the whole run).
    pub width: usize,
    /// The whole run is one chunk: a per-sample format's latents go to `latents.safetensors`
    /// (what `synthesize --latents` reads back), not to a file named by the chunk's range.
    pub one_file: bool,
    /// The samples are in [0, 1] (a model ending in a sigmoid): the media formats map them to
    /// [-1, 1] first, as they take it; the float formats keep the model's values.
    pub unit_range: bool,
}

impl Layout {
    pub fn new(format: Format, shape: [usize; 3], latent: [usize; 3], rate: Option<u32>, total: usize) -> Layout {
        let width = (total.saturating_sub(1).max(1).ilog10() as usize + 1).max(4);
        Layout {
            format,
            shape,
            latent,
            rate,
            width,
            one_file: false,
            unit_range: false,
        }
    }

    fn ext(&self) -> &'static str {
        match self.format {
            Format::Png | Format::Png16 => "png",
            Format::Wav16 | Format::Wav32f => "wav",
            Format::Safetensors => "safetensors",
            Format::Npy => "npy",
        }
    }

    /// The files that hold samples `first .. first + n` once they are written (for per-sample
    /// formats, with the chunk's latents file).
    pub fn files(&self, dir: &Path, first: usize, n: usize) -> Vec<PathBuf> {
        let w = self.width;
        let range = format!("{first:0w$}-{:0w$}", first + n - 1);
        match self.format {
            f if f.per_sample() => (first..first + n)
                .map(|i| dir.join(format!("{i:0w$}.{}", self.ext())))
                .chain([dir.join(if self.one_file {
                    "latents.safetensors".to_string()
                } else {
                    format!("latents-{range}.safetensors")
                })])
                .collect(),
            Format::Npy => vec![
                dir.join(format!("samples-{range}-x.npy")),
                dir.join(format!("samples-{range}-z.npy")),
            ],
            _ => vec![dir.join(format!("samples-{range}.safetensors"))],
        }
    }

    /// Writes samples `first ..` (`x`, [n, c, h, w], and their latents `z`), each file
    /// atomically; returns the bytes written.
    pub fn write(&self, dir: &Path, first: usize, x: &[f32], z: &[f32]) -> Result<u64> {
        let [c, h, w] = self.shape;
        let per = c * h * w;
        let n = x.len() / per;
        let d: usize = self.latent.iter().product();
        if n == 0 || x.len() != n * per || z.len() != n * d {
            bail!("{} values and {} latent values are not whole samples", x.len(), z.len());
        }
        let files = self.files(dir, first, n);
        let mut bytes = 0u64;
        let mut put = |path: &Path, data: Vec<u8>| -> Result<()> {
            bytes += data.len() as u64;
            write_atomic(path, &data)
        };
        let xs = [n, c, h, w];
        let zs = [n, self.latent[0], self.latent[1], self.latent[2]];
        let media_values: Vec<f32>;
        let x = if self.unit_range && !self.format.exact() {
            media_values = x.iter().map(|v| 2.0 * v - 1.0).collect();
            &media_values[..]
        } else {
            x
        };
        match self.format {
            Format::Png | Format::Png16 => {
                for (k, path) in files[..n].iter().enumerate() {
                    let v = &x[k * per..(k + 1) * per];
                    put(path, media::png_bytes(v, c, h, w, self.format == Format::Png16)?)?;
                }
            }
            Format::Wav16 | Format::Wav32f => {
                let rate = self.rate.context("a sound format for a model without a sample rate")?;
                for (k, path) in files[..n].iter().enumerate() {
                    let v = &x[k * per..(k + 1) * per];
                    put(path, media::wav_bytes(v, rate, self.format == Format::Wav32f)?)?;
                }
            }
            Format::Safetensors => {}
            Format::Npy => {
                put(&files[0], npy(&xs, x)?)?;
                put(&files[1], npy(&zs, z)?)?;
                return Ok(bytes);
            }
        }
        let mut tensors = BTreeMap::new();
        tensors.insert("z".to_string(), HostTensor::F32(zs.to_vec(), z.to_vec()));
        if self.format == Format::Safetensors {
            tensors.insert("x".to_string(), HostTensor::F32(xs.to_vec(), x.to_vec()));
        }
        let mut metadata = std::collections::HashMap::new();
        metadata.insert("first".to_string(), first.to_string());
        let last = files.last().expect("a chunk has files");
        put(last, Checkpoint { tensors, metadata }.to_bytes()?)?;
        Ok(bytes)
    }
}

/// A float32 .npy file of `values` with `shape`.
fn npy(shape: &[usize], values: &[f32]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut buf)
            .begin_nd()?;
        w.extend(values.iter().copied())?;
        w.finish()?;
    }
    Ok(buf)
}

/// Reads a float32 .npy file: (shape, values).
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let f = npyz::NpyFile::new(&bytes[..]).with_context(|| format!("{} is not a .npy file", path.display()))?;
    let shape = f.shape().iter().map(|&s| s as usize).collect();
    let v = f
        .into_vec::<f32>()
        .with_context(|| format!("{}: not float32", path.display()))?;
    Ok((shape, v))
}
