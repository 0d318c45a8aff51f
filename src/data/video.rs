//! Video as training data: a folder of frames (PNG, JPEG, ... in name order), an animated GIF,
//! or a video file decoded by `ffmpeg` (Debian package `ffmpeg`) when it is installed. The
//! frames become the examples of a [`Dataset`] in time order, each named by its source and
//! frame index (`0012.png`, `tree.gif#12`, `tree.avi#12`), so each frame's Z is known by its
//! time. [`Select`] picks the frames: from `start`, every `every`-th, at most `frames`.

use super::{Dataset, LoadOptions};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which frames of a clip to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Select {
    /// The first frame taken (0-based index in the clip).
    pub start: usize,
    /// Take every `every`-th frame from `start` (1: all).
    pub every: usize,
    /// At most this many frames.
    pub frames: Option<usize>,
}

impl Default for Select {
    fn default() -> Self {
        Select {
            start: 0,
            every: 1,
            frames: None,
        }
    }
}

impl Select {
    /// Whether frame `i` of the clip is taken (before the `frames` limit).
    fn takes(&self, i: usize) -> bool {
        i >= self.start && (i - self.start).is_multiple_of(self.every)
    }
    fn validate(&self) -> Result<()> {
        if self.every == 0 {
            bail!("--every 0: take every K-th frame with K >= 1");
        }
        if self.frames == Some(0) {
            bail!("--frames 0: give the number of frames to take (1 or more)");
        }
        Ok(())
    }
}

/// Which frames of a clip to take (a folder of frames, an animated GIF or a video file).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ClipArgs {
    /// Take at most N frames of the clip.
    #[arg(long, value_name = "N")]
    pub frames: Option<usize>,
    /// Take every K-th frame of the clip.
    #[arg(long, value_name = "K")]
    pub every: Option<usize>,
    /// Start at frame S of the clip (0-based).
    #[arg(long, value_name = "S")]
    pub start: Option<usize>,
}

impl ClipArgs {
    pub fn select(&self) -> Select {
        Select {
            start: self.start.unwrap_or(0),
            every: self.every.unwrap_or(1),
            frames: self.frames,
        }
    }
    /// Whether any of the options was given.
    pub fn given(&self) -> bool {
        self.frames.is_some() || self.every.is_some() || self.start.is_some()
    }
}

/// Video files decoded through ffmpeg.
const VIDEO_EXT: &[&str] = &[
    "avi", "mp4", "m4v", "mkv", "webm", "mov", "mpg", "mpeg", "ogv", "flv", "wmv", "3gp",
];

const FRAME_EXT: &[&str] = &["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "ppm", "pgm", "pnm"];

fn ext(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// Whether `path` is a clip by its name: an animated GIF or a video file.
pub fn is_video(path: &Path) -> bool {
    let e = ext(path);
    e == "gif" || VIDEO_EXT.contains(&e.as_str())
}

/// What kind of clip `path` is, in words (for messages).
pub fn kind(path: &Path) -> &'static str {
    if path.is_dir() {
        "a folder of frames"
    } else if ext(path) == "gif" {
        "an animated GIF"
    } else {
        "a video file (decoded by ffmpeg)"
    }
}

/// Reads the frames `sel` picks from a folder of frames, an animated GIF or a video file, as
/// examples of `opt.shape` in time order (`opt.limit` also caps the number of frames).
pub fn load(path: &Path, opt: &LoadOptions, sel: &Select) -> Result<Dataset> {
    sel.validate()?;
    if !path.exists() {
        bail!("data not found: {}", path.display());
    }
    let [c, _, _] = opt.shape;
    if c != 1 && c != 3 {
        bail!(
            "{}: the model makes {c}-channel outputs; video frames need 1 (gray) or 3 (RGB)",
            path.display()
        );
    }
    let cap = match (sel.frames, opt.limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut ds = Dataset {
        shape: opt.shape,
        values: Vec::new(),
        names: Vec::new(),
        rate: None,
    };
    if path.is_file() && FRAME_EXT.contains(&ext(path).as_str()) {
        bail!(
            "{} is one image, not a clip: give a folder of frames, an animated GIF or a video file",
            path.display()
        );
    }
    let full = |ds: &Dataset| cap.is_some_and(|n| ds.len() >= n);
    if path.is_dir() {
        let frames = frame_files(path)?;
        for (i, f) in frames.iter().enumerate() {
            if full(&ds) {
                break;
            }
            if !sel.takes(i) {
                continue;
            }
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let img = image::ImageReader::open(f)
                .with_context(|| format!("cannot open frame {i} ({})", f.display()))?
                .with_guessed_format()
                .with_context(|| format!("cannot read frame {i} ({})", f.display()))?
                .decode()
                .with_context(|| format!("frame {i} ({}) is not a readable image", f.display()))?;
            push_frame(&mut ds, img, name, opt)?;
        }
    } else if ext(path) == "gif" {
        read_gif(path, opt, sel, cap, &mut ds)?;
    } else {
        read_ffmpeg(path, opt, sel, cap, &mut ds)?;
    }
    if ds.is_empty() {
        bail!(
            "no frames taken from {} (--start {}, --every {})",
            path.display(),
            sel.start,
            sel.every
        );
    }
    Ok(ds)
}

/// The frame files of a folder, in name order.
pub fn frame_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && FRAME_EXT.contains(&ext(p).as_str()))
        .collect();
    v.sort();
    if v.is_empty() {
        bail!("no frames (PNG, JPEG, ...) in {}", dir.display());
    }
    Ok(v)
}

/// Appends one frame, resized to the model's size with `opt.resize` (else a size mismatch is an
/// error), as [c, h, w] in [-1, 1].
fn push_frame(ds: &mut Dataset, img: image::DynamicImage, name: String, opt: &LoadOptions) -> Result<()> {
    let [c, h, w] = opt.shape;
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let img = if (ih, iw) != (h, w) {
        if !opt.resize {
            bail!("frame {name} is {iw}x{ih} but the model makes {w}x{h} frames: pass --resize to resize it");
        }
        img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let px: Vec<u8> = if c == 1 {
        img.to_luma8().into_raw()
    } else {
        img.to_rgb8().into_raw()
    };
    for ch in 0..c {
        ds.values
            .extend((0..h * w).map(|i| px[i * c + ch] as f32 / 127.5 - 1.0));
    }
    ds.names.push(name);
    Ok(())
}

fn read_gif(path: &Path, opt: &LoadOptions, sel: &Select, cap: Option<usize>, ds: &mut Dataset) -> Result<()> {
    use image::AnimationDecoder;
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let dec = image::codecs::gif::GifDecoder::new(BufReader::new(file))
        .with_context(|| format!("{} is not a readable GIF", path.display()))?;
    let base = path.file_name().unwrap().to_string_lossy().into_owned();
    for (i, frame) in dec.into_frames().enumerate() {
        if cap.is_some_and(|n| ds.len() >= n) {
            break;
        }
        let frame = frame.with_context(|| format!("{}: frame {i} cannot be decoded", path.display()))?;
        if !sel.takes(i) {
            continue;
        }
        let img = image::DynamicImage::ImageRgba8(frame.into_buffer());
        push_frame(
            ds,
            image::DynamicImage::ImageRgb8(img.to_rgb8()),
            format!("{base}#{i}"),
            opt,
        )?;
    }
    Ok(())
}

/// The error when ffmpeg is not on the PATH.
fn no_ffmpeg(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is a video file: decoding it needs ffmpeg, which is not installed (Debian/Ubuntu: apt-get install ffmpeg); or give a folder of PNG frames or an animated GIF instead",
        path.display()
    )
}

/// Decodes the frames `sel` picks with ffmpeg (`select` filter, every decoded frame kept as it
/// is: `-fps_mode passthrough`), read from its stdout as a stream of binary PPM images.
fn read_ffmpeg(path: &Path, opt: &LoadOptions, sel: &Select, cap: Option<usize>, ds: &mut Dataset) -> Result<()> {
    let filter = format!(
        "select=gte(n\\,{s})*not(mod(n-{s}\\,{k}))",
        s = sel.start,
        k = sel.every
    );
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-i"]).arg(path).args([
        "-map",
        "0:v:0",
        "-vf",
        &filter,
        "-fps_mode",
        "passthrough",
    ]);
    if let Some(n) = cap {
        cmd.args(["-frames:v", &n.to_string()]);
    }
    cmd.args(["-f", "image2pipe", "-c:v", "ppm", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_ffmpeg(path)),
        Err(e) => return Err(e).context("cannot run ffmpeg"),
    };
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let base = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut k = 0;
    let read = (|| -> Result<()> {
        while let Some(img) =
            read_ppm(&mut out).with_context(|| format!("{}: frame {k} from ffmpeg", path.display()))?
        {
            if cap.is_some_and(|n| ds.len() >= n) {
                break;
            }
            let i = sel.start + k * sel.every;
            push_frame(ds, image::DynamicImage::ImageRgb8(img), format!("{base}#{i}"), opt)?;
            k += 1;
        }
        Ok(())
    })();
    drop(out);
    let status = child.wait().context("ffmpeg")?;
    let msg = errors.join().unwrap_or_default();
    read?;
    if !status.success() {
        bail!("ffmpeg could not decode {}: {}", path.display(), msg.trim());
    }
    Ok(())
}

/// One binary PPM (P6, maxval 255) from a stream; None at its end.
fn read_ppm(r: &mut impl BufRead) -> Result<Option<image::RgbImage>> {
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let mut fields = Vec::new();
    while fields.len() < 4 {
        let mut tok = Vec::new();
        loop {
            let mut b = [0u8];
            if r.read(&mut b)? == 0 {
                bail!("truncated PPM header");
            }
            if b[0].is_ascii_whitespace() {
                if tok.is_empty() {
                    continue;
                }
                break;
            }
            tok.push(b[0]);
        }
        fields.push(String::from_utf8_lossy(&tok).into_owned());
    }
    if fields[0] != "P6" || fields[3] != "255" {
        bail!("expected binary 8-bit PPM frames, got a {} header", fields[0]);
    }
    let (w, h): (u32, u32) = (
        fields[1].parse().context("PPM width")?,
        fields[2].parse().context("PPM height")?,
    );
    let mut px = vec![0u8; w as usize * h as usize * 3];
    r.read_exact(&mut px).context("truncated frame")?;
    Ok(image::RgbImage::from_raw(w, h, px))
}

/// Where a model's training frames came from (recorded in its checkpoint as the metadata
/// `sequence`, so that `abprop dynamics fit` and `synthesize --compare` can read them again).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Clip {
    /// The folder of frames, GIF or video file, as given to `train`.
    pub path: PathBuf,
    pub select: Select,
    pub resize: bool,
    /// Frames trained on, in time order (a whole number of batches).
    pub frames: usize,
}

impl Clip {
    /// The clip's frames again, for a model making `shape` frames (the first `frames`).
    pub fn load(&self, shape: crate::model::Shape) -> Result<Dataset> {
        let opt = LoadOptions {
            shape,
            resize: self.resize,
            resample: false,
            rate: 0,
            limit: Some(self.frames),
        };
        load(&self.path, &opt, &self.select)
            .with_context(|| format!("reading the training clip {} again", self.path.display()))
    }
}
