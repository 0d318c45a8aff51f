#!/usr/bin/env bash
# Fetches the larger real data sets into data/ (git-ignored), from package registries only:
#   data/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz  (Debian dataset-fashion-mnist, MIT)
#   data/textures/{brick,grass,gravel}.png                                (scikit-image wheel, CC0; also in assets/)
#   data/sound/*.wav  ambient clips at 11025 Hz mono                      (Debian sonic-pi-samples, CC0; needs sox)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data && tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT

if [ ! -f data/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  (cd "$tmp" && apt-get download dataset-fashion-mnist >/dev/null && dpkg-deb -x dataset-fashion-mnist_*.deb fm)
  mkdir -p data/fashion-mnist && cp "$tmp"/fm/usr/share/datasets/fashion-mnist/*.gz data/fashion-mnist/
  echo "fetched data/fashion-mnist"
fi

if [ ! -f data/sound/ambi_glass_hum.wav ]; then
  if ! command -v sox >/dev/null; then
    echo "sox is needed to convert the sound clips: apt-get install sox" >&2
  else
    (cd "$tmp" && apt-get download sonic-pi-samples >/dev/null && dpkg-deb -x sonic-pi-samples_*.deb spi)
    mkdir -p data/sound
    for f in "$tmp"/spi/usr/share/sonic-pi/samples/ambi_*.flac; do
      sox "$f" -r 11025 -c 1 -b 16 "data/sound/$(basename "${f%.flac}").wav"
    done
    echo "fetched data/sound"
  fi
fi

mkdir -p data/textures && cp assets/*.png data/textures/
echo "data/ is ready"
