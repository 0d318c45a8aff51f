//! PNG images and grids, and WAV sound, from values in [-1, 1].

use super::checkpoint::write_atomic;
use anyhow::{bail, Context, Result};
use std::path::Path;

fn to_byte(v: f32) -> u8 {
    ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
}

/// One [c, h, w] image (c = 1 or 3) in [-1, 1] as an 8-bit image.
pub fn to_image(x: &[f32], c: usize, h: usize, w: usize) -> Result<image::DynamicImage> {
    if x.len() != c * h * w {
        bail!("image of {} values is not {c}x{h}x{w}", x.len());
    }
    Ok(match c {
        1 => image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(w as u32, h as u32, |i, j| {
            image::Luma([to_byte(x[j as usize * w + i as usize])])
        })),
        3 => image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w as u32, h as u32, |i, j| {
            let p = j as usize * w + i as usize;
            image::Rgb([to_byte(x[p]), to_byte(x[h * w + p]), to_byte(x[2 * h * w + p])])
        })),
        _ => bail!("cannot write a {c}-channel image (1 or 3 channels)"),
    })
}

/// One [c, h, w] image (c = 1 or 3) in [-1, 1] as a 16-bit image.
pub fn to_image16(x: &[f32], c: usize, h: usize, w: usize) -> Result<image::DynamicImage> {
    if x.len() != c * h * w {
        bail!("image of {} values is not {c}x{h}x{w}", x.len());
    }
    let q = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 32767.5).round() as u16;
    Ok(match c {
        1 => image::DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(w as u32, h as u32, |i, j| {
            image::Luma([q(x[j as usize * w + i as usize])])
        })),
        3 => image::DynamicImage::ImageRgb16(image::ImageBuffer::from_fn(w as u32, h as u32, |i, j| {
            let p = j as usize * w + i as usize;
            image::Rgb([q(x[p]), q(x[h * w + p]), q(x[2 * h * w + p])])
        })),
        _ => bail!("cannot write a {c}-channel image (1 or 3 channels)"),
    })
}

fn encode_png(img: &image::DynamicImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    Ok(bytes)
}

fn save_png(img: &image::DynamicImage, path: &Path) -> Result<()> {
    write_atomic(path, &encode_png(img)?).with_context(|| format!("cannot write {}", path.display()))
}

/// A [c, h, w] image in [-1, 1] as PNG bytes, 8 or 16 bits per channel.
pub fn png_bytes(x: &[f32], c: usize, h: usize, w: usize, sixteen: bool) -> Result<Vec<u8>> {
    encode_png(&if sixteen {
        to_image16(x, c, h, w)?
    } else {
        to_image(x, c, h, w)?
    })
}

pub fn write_png(path: &Path, x: &[f32], c: usize, h: usize, w: usize) -> Result<()> {
    save_png(&to_image(x, c, h, w)?, path)
}

/// `n` images [n, c, h, w] in a grid of `cols` columns with a 2-pixel white margin.
pub fn write_grid(path: &Path, x: &[f32], n: usize, c: usize, h: usize, w: usize, cols: usize) -> Result<()> {
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols);
    let m = 2;
    let mut grid = image::RgbImage::from_pixel(
        (cols * (w + m) + m) as u32,
        (rows * (h + m) + m) as u32,
        image::Rgb([255, 255, 255]),
    );
    for k in 0..n {
        let img = to_image(&x[k * c * h * w..(k + 1) * c * h * w], c, h, w)?.to_rgb8();
        let (ox, oy) = ((k % cols) * (w + m) + m, (k / cols) * (h + m) + m);
        image::imageops::replace(&mut grid, &img, ox as i64, oy as i64);
    }
    save_png(&image::DynamicImage::ImageRgb8(grid), path)
}

/// Mono WAV bytes: 16-bit integers, or 32-bit floats (the values exactly, unclipped).
pub fn wav_bytes(x: &[f32], rate: u32, float: bool) -> Result<Vec<u8>> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: if float { 32 } else { 16 },
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cursor, spec)?;
        for &v in x {
            if float {
                w.write_sample(v)?;
            } else {
                w.write_sample((v.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
            }
        }
        w.finalize()?;
    }
    Ok(cursor.into_inner())
}

/// Mono 16-bit WAV.
pub fn write_wav(path: &Path, x: &[f32], rate: u32) -> Result<()> {
    write_atomic(path, &wav_bytes(x, rate, false)?)
}

/// A waveform plot (min/max per column) as a PNG, for galleries.
pub fn write_waveform(path: &Path, x: &[f32], width: usize, height: usize) -> Result<()> {
    let mut img = image::RgbImage::from_pixel(width as u32, height as u32, image::Rgb([255, 255, 255]));
    let per = x.len().div_ceil(width).max(1);
    for col in 0..width {
        let seg = &x[(col * per).min(x.len())..((col + 1) * per).min(x.len())];
        if seg.is_empty() {
            continue;
        }
        let (lo, hi) = seg.iter().fold((1f32, -1f32), |(a, b), &v| (a.min(v), b.max(v)));
        let y = |v: f32| (((1.0 - v.clamp(-1.0, 1.0)) / 2.0) * (height - 1) as f32).round() as u32;
        for row in y(hi)..=y(lo) {
            img.put_pixel(col as u32, row, image::Rgb([30, 60, 160]));
        }
    }
    save_png(&image::DynamicImage::ImageRgb8(img), path)
}

/// `n` frames [n, c, h, w] (c = 1 or 3) in [-1, 1] as an animated GIF that loops, each shown
/// `delay_ms` milliseconds (GIF keeps hundredths of a second), written atomically. Frames of
/// up to 256 colours keep their exact values; others are quantized (NeuQuant) per frame.
pub fn write_gif(path: &Path, x: &[f32], n: usize, c: usize, h: usize, w: usize, delay_ms: u32) -> Result<()> {
    use image::codecs::gif::{GifEncoder, Repeat};
    if x.len() != n * c * h * w {
        bail!("{} values are not {n} frames of {c}x{h}x{w}", x.len());
    }
    let mut bytes = Vec::new();
    {
        let mut enc = GifEncoder::new_with_speed(&mut bytes, 10);
        enc.set_repeat(Repeat::Infinite)?;
        let per = c * h * w;
        for k in 0..n {
            let rgba = to_image(&x[k * per..(k + 1) * per], c, h, w)?.to_rgba8();
            let delay = image::Delay::from_numer_denom_ms(delay_ms, 1);
            enc.encode_frame(image::Frame::from_parts(rgba, 0, 0, delay))
                .with_context(|| format!("cannot encode frame {k} of {}", path.display()))?;
        }
    }
    write_atomic(path, &bytes).with_context(|| format!("cannot write {}", path.display()))
}
