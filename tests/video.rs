//! Video readers (frame folders, animated GIFs, ffmpeg) and the GIF writer.
use abprop::data::video::{self, Select};
use abprop::data::{self, LoadOptions};
use abprop::io::media;
use std::path::{Path, PathBuf};
use std::process::Command;

fn opts(c: usize, h: usize, w: usize, resize: bool) -> LoadOptions {
    LoadOptions {
        shape: [c, h, w],
        resize,
        resample: false,
        rate: 11025,
        limit: None,
    }
}

fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets").join(name)
}

/// A frame whose every pixel is gray `v`, with a brighter pixel at (k, k) to tell frames apart.
fn frame(v: u8, k: u32) -> image::GrayImage {
    let mut img = image::GrayImage::from_pixel(8, 8, image::Luma([v]));
    img.put_pixel(k % 8, k % 8, image::Luma([255]));
    img
}

#[test]
fn frame_folder_keeps_name_order_and_selects() {
    let dir = tempfile::tempdir().unwrap();
    // Written out of order; names sort as time.
    for k in [3u32, 0, 7, 1, 5, 2, 6, 4] {
        frame(20 * k as u8, k)
            .save(dir.path().join(format!("f{k:03}.png")))
            .unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
    let all = video::load(dir.path(), &opts(1, 8, 8, false), &Select::default()).unwrap();
    assert_eq!(all.len(), 8);
    for k in 0..8 {
        assert_eq!(all.names[k], format!("f{k:03}.png"));
        let x = all.example(k);
        assert_eq!(x[1], (20 * k) as f32 / 127.5 - 1.0, "frame {k}");
        assert_eq!(x[k * 8 + k], 1.0);
    }
    let sel = Select {
        start: 1,
        every: 3,
        frames: Some(2),
    };
    let some = video::load(dir.path(), &opts(1, 8, 8, false), &sel).unwrap();
    assert_eq!(some.names, ["f001.png", "f004.png"]);
    assert_eq!(some.example(1), all.example(4));
    // Resized to 4x4 only when asked.
    let e = video::load(dir.path(), &opts(1, 4, 4, false), &sel).unwrap_err();
    assert!(format!("{e:#}").contains("--resize"), "{e:#}");
    let r = video::load(dir.path(), &opts(3, 4, 4, true), &sel).unwrap();
    assert_eq!((r.len(), r.per_example()), (2, 48));
    let e = video::load(dir.path(), &opts(1, 8, 8, false), &Select { every: 0, ..sel }).unwrap_err();
    assert!(format!("{e:#}").contains("--every 0"), "{e:#}");
}

#[test]
fn a_bad_frame_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..4u32 {
        frame(100, k).save(dir.path().join(format!("{k:04}.png"))).unwrap();
    }
    std::fs::write(dir.path().join("0002.png"), b"this is not a PNG").unwrap();
    let e = video::load(dir.path(), &opts(1, 8, 8, false), &Select::default()).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("frame 2") && msg.contains("0002.png"), "{msg}");
    // Frames before it are readable alone.
    let ok = video::load(
        dir.path(),
        &opts(1, 8, 8, false),
        &Select {
            frames: Some(2),
            ..Select::default()
        },
    )
    .unwrap();
    assert_eq!(ok.len(), 2);
    // A truncated GIF names the file.
    let gif = std::fs::read(asset("tree.gif")).unwrap();
    let cut = dir.path().join("cut.gif");
    std::fs::write(&cut, &gif[..gif.len() / 2]).unwrap();
    let e = video::load(&cut, &opts(3, 64, 64, false), &Select::default()).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("cut.gif") && msg.contains("frame"), "{msg}");
}

#[test]
fn gif_writer_round_trip_and_shipped_clip() {
    let dir = tempfile::tempdir().unwrap();
    // Six RGB frames of few colours (values on the 8-bit grid, so they survive exactly).
    let (n, c, h, w) = (6, 3, 5, 7);
    let x: Vec<f32> = (0..n * c * h * w)
        .map(|i| ((i * 37 + i / 35 * 11) % 6) as f32 * 51.0 / 127.5 - 1.0)
        .collect();
    let path = dir.path().join("clip.gif");
    media::write_gif(&path, &x, n, c, h, w, 100).unwrap();
    let back = data::load(&path, &opts(c, h, w, false)).unwrap();
    assert_eq!(back.len(), n);
    assert_eq!(back.names[5], "clip.gif#5");
    for (i, (a, b)) in back.values.iter().zip(&x).enumerate() {
        assert!((a - b).abs() < 1e-6, "value {i}: {a} != {b}");
    }
    // The shipped clip: 52 frames of 64x64 RGB, in order, selectable.
    let sel = Select {
        start: 1,
        every: 2,
        frames: Some(3),
    };
    let clip = video::load(&asset("tree.gif"), &opts(3, 64, 64, false), &sel).unwrap();
    assert_eq!(clip.names, ["tree.gif#1", "tree.gif#3", "tree.gif#5"]);
    let all = data::load(&asset("tree.gif"), &opts(3, 64, 64, false)).unwrap();
    assert_eq!(all.len(), 52);
    assert_eq!(clip.example(2), all.example(5));
    assert_ne!(all.example(4), all.example(5));
}

fn has_ffmpeg() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn missing_ffmpeg_gives_the_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let avi = dir.path().join("clip.avi");
    std::fs::write(&avi, b"RIFF....AVI ").unwrap();
    let empty = dir.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_abprop"))
        .args(["train", "--preset", "dynamic-quick", "--resize", "--out"])
        .arg(dir.path().join("run"))
        .arg(&avi)
        .env("PATH", &empty)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("needs ffmpeg") && text.contains("apt-get install ffmpeg") && text.contains("clip.avi"),
        "{text}"
    );
    assert!(!dir.path().join("run").join("checkpoint.safetensors").exists());
}

#[test]
fn ffmpeg_decodes_a_video_when_installed() {
    if !has_ffmpeg() {
        eprintln!("ffmpeg is not installed: the decoding half of this test is skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    for k in 0..10u32 {
        image::DynamicImage::ImageLuma8(frame(10 + 20 * k as u8, k))
            .to_rgb8()
            .save(frames.join(format!("{k:04}.png")))
            .unwrap();
    }
    // A lossless video (PNG frames in Matroska).
    let mkv = dir.path().join("clip.mkv");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-framerate", "5", "-i"])
        .arg(frames.join("%04d.png"))
        .args(["-c:v", "png"])
        .arg(&mkv)
        .status()
        .unwrap();
    assert!(st.success());
    let sel = Select {
        start: 2,
        every: 3,
        frames: None,
    };
    let v = video::load(&mkv, &opts(1, 8, 8, false), &sel).unwrap();
    let f = video::load(&frames, &opts(1, 8, 8, false), &sel).unwrap();
    assert_eq!(v.names, ["clip.mkv#2", "clip.mkv#5", "clip.mkv#8"]);
    assert_eq!(v.values, f.values);
    let e = video::load(&frames.join("0001.png"), &opts(1, 8, 8, false), &sel).unwrap_err();
    assert!(format!("{e:#}").contains("one image, not a clip"), "{e:#}");
}
