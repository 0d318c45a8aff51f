//! Line plots of error curves (plotters on an RGB buffer, saved as PNG). Text is drawn with a
//! built-in 3x5 pixel font so no font file or system font library is needed.

use crate::io::checkpoint::write_atomic;
use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use std::path::Path;

/// One curve.
pub struct Series {
    pub label: String,
    pub color: (u8, u8, u8),
    pub points: Vec<(f64, f64)>,
}

/// Colours for curves, in order (blue, green, red, orange, purple, brown, pink, grey).
pub const COLORS: &[(u8, u8, u8)] = &[
    (31, 119, 180),
    (44, 160, 44),
    (214, 39, 40),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
];

const WIDTH: u32 = 760;
const HEIGHT: u32 = 440;
const LEFT: u32 = 70;
const RIGHT: u32 = 170;
const TOP: u32 = 36;
const BOTTOM: u32 = 46;

/// Writes a PNG line plot of `series` with a title, axis labels, tick values and a legend.
pub fn lines(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<()> {
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0f64);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= 0.0 {
        y1 = 1.0;
    }
    let yt = ticks(0.0, y1 * 1.05, 6);
    let xt = ticks(x0, x1, 8);
    // Whole x ticks when every x is whole (iterations).
    let whole = series.iter().flat_map(|s| s.points.iter()).all(|p| p.0.fract() == 0.0);
    let xt = if whole && xt.len() > 1 && xt[1] - xt[0] < 1.0 {
        ticks(x0, x1, (x1 - x0).max(1.0) as usize)
    } else {
        xt
    };
    let y_top = *yt.last().unwrap();
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        let err = |e: &dyn std::fmt::Debug| anyhow!("drawing the plot: {e:?}");
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin_left(LEFT)
            .margin_right(RIGHT)
            .margin_top(TOP)
            .margin_bottom(BOTTOM)
            .build_cartesian_2d(x0..x1, 0f64..y_top)
            .map_err(|e| err(&e))?;
        let grid = RGBColor(225, 225, 225);
        for &y in &yt {
            chart
                .draw_series(LineSeries::new([(x0, y), (x1, y)], grid))
                .map_err(|e| err(&e))?;
        }
        for &x in xt.iter().filter(|&&x| x >= x0 && x <= x1) {
            chart
                .draw_series(LineSeries::new([(x, 0.0), (x, y_top)], grid))
                .map_err(|e| err(&e))?;
        }
        let axis = RGBColor(60, 60, 60);
        chart
            .draw_series(LineSeries::new([(x0, y_top), (x0, 0.0), (x1, 0.0)], axis))
            .map_err(|e| err(&e))?;
        for s in series {
            let c = RGBColor(s.color.0, s.color.1, s.color.2);
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
                .map_err(|e| err(&e))?;
            if s.points.len() <= 25 {
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(|e| err(&e))?;
            }
        }
        // Text: tick values, axis labels, title, legend.
        let s = 2;
        let dec = |t: &[f64]| {
            let step = if t.len() > 1 { t[1] - t[0] } else { 1.0 };
            (-step.log10().floor()).max(0.0) as usize
        };
        let (dy, dx) = (dec(&yt), dec(&xt));
        for &y in &yt {
            let (px, py) = chart.backend_coord(&(x0, y));
            let t = format!("{y:.dy$}");
            text(&root, &t, px - 6 - width(&t, s), py - 5 * s / 2, s, axis)?;
        }
        for &x in xt.iter().filter(|&&x| x >= x0 && x <= x1) {
            let (px, py) = chart.backend_coord(&(x, 0.0));
            let t = format!("{x:.dx$}");
            text(&root, &t, px - width(&t, s) / 2, py + 8, s, axis)?;
        }
        let (cx0, cy1) = chart.backend_coord(&(x0, 0.0));
        let (cx1, cy0) = chart.backend_coord(&(x1, y_top));
        text(
            &root,
            x_label,
            (cx0 + cx1) / 2 - width(x_label, s) / 2,
            cy1 + 26,
            s,
            axis,
        )?;
        text(&root, y_label, 6, cy0 - 22, s, axis)?;
        text(&root, title, (cx0 + cx1) / 2 - width(title, 3) / 2, 8, 3, BLACK)?;
        for (i, se) in series.iter().enumerate() {
            let c = RGBColor(se.color.0, se.color.1, se.color.2);
            let ly = cy0 + 10 + 22 * i as i32;
            let lx = cx1 + 16;
            root.draw(&PathElement::new(
                vec![(lx, ly + 5), (lx + 22, ly + 5)],
                c.stroke_width(3),
            ))
            .map_err(|e| err(&e))?;
            text(&root, &se.label, lx + 30, ly, s, c)?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    let img = image::RgbImage::from_raw(WIDTH, HEIGHT, buf).context("plot buffer")?;
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    write_atomic(path, &bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// About `target` round tick values covering [lo, hi].
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() * step;
    let mut v = Vec::new();
    let mut k = 0;
    loop {
        let t = first + k as f64 * step;
        v.push(t);
        if t >= hi - 1e-12 * span {
            break;
        }
        k += 1;
    }
    v
}

/// Rows of a 3x5 glyph, top to bottom, 3 bits each (most significant bit on the left).
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 3, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        ',' => [0, 0, 0, 2, 4],
        '-' => [0, 0, 7, 0, 0],
        '=' => [0, 7, 0, 7, 0],
        ':' => [0, 2, 0, 2, 0],
        '/' => [1, 1, 2, 4, 4],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        _ => [0; 5],
    }
}

/// Pixel width of `t` at scale `s`.
fn width(t: &str, s: i32) -> i32 {
    t.chars().count() as i32 * 4 * s
}

fn text<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    t: &str,
    x: i32,
    y: i32,
    s: i32,
    color: RGBColor,
) -> Result<()> {
    for (k, c) in t.chars().enumerate() {
        let g = glyph(c);
        let ox = x + k as i32 * 4 * s;
        for (r, bits) in g.iter().enumerate() {
            for b in 0..3 {
                if bits & (4 >> b) != 0 {
                    let (px, py) = (ox + b * s, y + r as i32 * s);
                    area.draw(&Rectangle::new([(px, py), (px + s, py + s)], color.filled()))
                        .map_err(|e| anyhow!("drawing text: {e:?}"))?;
                }
            }
        }
    }
    Ok(())
}
