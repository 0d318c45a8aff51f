#!/usr/bin/env bash
# Regenerates the README's gallery (docs/gallery/) with the quick presets on the shipped data
# and Fashion-MNIST (fetched by scripts/fetch-data.sh). Runs on whatever adapter abprop picks.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
B="${CARGO_TARGET_DIR:-target}/release/abprop"
G=docs/gallery
R=runs/gallery
mkdir -p "$G" "$R"
rm -rf "$R"/*

# Texture (paper 5.1, quick): learn 64x64 brick, synthesize 128x128 from an 8x8 z.
$B train --preset texture-quick --resize assets/brick.png --out "$R/brick" --snapshot-every 0
$B synthesize --model "$R/brick/checkpoint.safetensors" --out "$R/brick-128" --count 4 --latent 8x8 --seed 2
cp "$R/brick/reconstruction-000300.png" "$G/brick-reconstruction-64.png"
cp "$R/brick-128/grid.png" "$G/brick-synthesized-128.png"

# Sound (paper 5.2, quick): learn 5.4 s of a CC0 clip, synthesize 10.9 s from a 1x12 z.
$B train --preset sound-quick assets/lunar_land.wav --out "$R/sound" --snapshot-every 0
$B synthesize --model "$R/sound/checkpoint.safetensors" --out "$R/sound-long" --count 1 --latent 12
cp "$R/sound/reconstruction-000300.png" "$G/sound-reconstruction-waveform.png"
cp "$R/sound-long/waveform.png" "$G/sound-synthesized-11s-waveform.png"

# Objects (paper 5.3, quick): Fashion-MNIST resized to 32x32, samples and interpolation.
bash scripts/fetch-data.sh fashion-mnist
FM=data/fashion-mnist/train-images-idx3-ubyte.gz
$B train --preset object-quick --resize --limit 300 --iterations 40 "$FM" --out "$R/fmnist" --snapshot-every 0
$B synthesize --model "$R/fmnist/checkpoint.safetensors" --out "$R/fmnist-samples" --count 36 --seed 3
$B interpolate --model "$R/fmnist/checkpoint.safetensors" --out "$R/fmnist-interp" --examples 0,1,2,3 --steps 6
cp "$R/fmnist/reconstruction-000040.png" "$G/fmnist-reconstruction.png"
cp "$R/fmnist-samples/grid.png" "$G/fmnist-samples.png"
cp "$R/fmnist-interp/grid.png" "$G/fmnist-interpolation.png"

# Two latent factors (paper Figure 5, quick): the 9x9 panel over [-2, 2]^2.
$B train --preset object-d2-quick --resize --limit 300 --iterations 40 "$FM" --out "$R/fmnist-d2" --snapshot-every 0
$B synthesize --model "$R/fmnist-d2/checkpoint.safetensors" --out "$R/fmnist-d2-panel" --grid 9
cp "$R/fmnist-d2-panel/grid.png" "$G/fmnist-d2-panel.png"

# Dynamic textures (paper Exp. 4, quick): a sequence of ABP above the LDS's, and 64x64 frames
# from the 32x32 fully convolutional model (an 8x8 z map of four tiles).
$B train --preset dynamic-quick --resize assets/tree.gif --out "$R/tree" --snapshot-every 0
$B dynamics fit --model "$R/tree" --stabilize
$B synthesize --model "$R/tree" --out "$R/tree-cmp" --frames 40 --compare --strip-every 4 --seed 2
cp "$R/tree-cmp/compare.png" "$G/tree-compare-d20.png"
$B train --preset dynamic-conv-quick --resize assets/tree.gif --out "$R/tree-conv" --snapshot-every 0
$B dynamics fit --model "$R/tree-conv" --stabilize
$B synthesize --model "$R/tree-conv" --out "$R/tree-conv-64" --frames 40 --latent 8x8 --strip-every 4 --seed 2
cp "$R/tree-conv-64/strip.png" "$G/tree-conv-64.png"
ls -la "$G"
