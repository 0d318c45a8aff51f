#!/usr/bin/env bash
# The checks to run on a machine with a real GPU, as one prepared call, for a machine that has no
# Rust toolchain (like the device machines some sessions are lent; see README, "Checking a GPU").
#
#   bash scripts/gpu-check.sh pack   here: builds the release binary and the test binaries,
#                                    strips them into .gpucheck/bundle.tar.xz, and fetches the
#                                    Vulkan/EGL loader packages into .gpucheck/debs (apt-get)
#   bash scripts/gpu-check.sh run    there, from the repository root (carry .gpucheck): the
#                                    kernel tests on Vulkan and GL, `abprop bench kernels` with
#                                    the default and the other elementwise layout, `abprop bench
#                                    train` for every preset, and one short real training run
#
# `run` writes what it finds under $OUT (else .gpucheck/out): at most eight files, so that all of
# them come back from a device call. It works on any adapter (on a software one it takes about
# twenty minutes here); GPUCHECK_TESTS="gemm conv_transpose" runs only those test binaries,
# GPUCHECK_PRESETS="texture sound" times only those presets, GPUCHECK_SKIP="tests bench train"
# skips parts.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=.gpucheck

pack() {
  set -e
  rm -rf "$dir" && mkdir -p "$dir/debs"
  cargo build --release
  # The test binaries (the test profile builds them into target/debug, beside the `abprop` that
  # tests/cli.rs runs). eval.rs needs Fashion-MNIST, which does not travel: left out.
  cargo test --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*"' | sed 's/"executable":"//; s/"$//' | sort -u \
    | grep '/deps/' | grep -v '/deps/eval-' | grep -v '/deps/abprop-' >"$dir/tests.txt"
  local files=(target/release/abprop target/debug/abprop)
  while read -r exe; do files+=("${exe#"$PWD"/}"); done <"$dir/tests.txt"
  local stage
  stage=$(mktemp -d)
  for f in "${files[@]}"; do
    mkdir -p "$stage/$(dirname "$f")"
    cp "$f" "$stage/$f"
    strip "$stage/$f"
  done
  (cd "$stage" && XZ_OPT=-9 tar cJf - "${files[@]}") >"$dir/bundle.tar.xz"
  rm -rf "$stage"
  # The tests (and tests/cli.rs's `abprop`) name files by the absolute path they were built in.
  pwd >"$dir/root"
  sed -i "s|^$PWD/||" "$dir/tests.txt"
  # Loaders a bare machine may lack (the GPU driver itself brings its ICD and EGL vendor files).
  (cd "$dir/debs" && { apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 \
    || { apt-get update -qq && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2; }; })
  du -sh "$dir"
}

skip() { [[ " ${GPUCHECK_SKIP:-} " == *" $1 "* ]]; }

run() {
  [ -f "$dir/bundle.tar.xz" ] || { echo "no $dir/bundle.tar.xz: run 'bash scripts/gpu-check.sh pack' first" >&2; exit 1; }
  local out=${OUT:-$dir/out}
  mkdir -p "$out"
  local log=$out/log.txt
  exec > >(tee -a "$log") 2>&1
  date -u
  if [ "$(id -u)" = 0 ] && ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in "$dir"/debs/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  local egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES=$icd; fi
  if [ -f "$egl" ] && [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES=$egl; fi
  export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
  export ABPROP_CACHE_DIR=$out/cache
  tar xJf "$dir/bundle.tar.xz"
  local root
  root=$(cat "$dir/root")
  if [ "$root" != "$PWD" ] && [ ! -e "$root" ]; then mkdir -p "$(dirname "$root")" && ln -s "$PWD" "$root"; fi
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  local abprop=target/release/abprop
  for backend in vulkan gl; do
    echo "== adapters ($backend) =="
    WGPU_BACKEND=$backend $abprop devices
  done
  if ! skip tests; then
    for backend in vulkan gl; do
      echo "== tests on $backend =="
      while read -r exe; do
        local name
        name=$(basename "$exe")
        name=${name%-*}
        if [ -n "${GPUCHECK_TESTS:-}" ] && [[ " $GPUCHECK_TESTS " != *" $name "* ]]; then continue; fi
        WGPU_BACKEND=$backend timeout 300 "$exe" >"$out/test.tmp" 2>&1
        local rc=$?
        echo "$backend $name rc=$rc $(grep -h '^test result' "$out/test.tmp" | tail -1)"
        if [ $rc != 0 ]; then
          { echo "== $backend $name =="; cat "$out/test.tmp"; } >>"$out/failures.txt"
        fi
      done <"$dir/tests.txt"
    done
    rm -f "$out/test.tmp"
  fi
  if ! skip bench; then
    echo "== bench kernels (vulkan, default layout) =="
    WGPU_BACKEND=vulkan $abprop bench kernels --json >"$out/kernels-vulkan.jsonl"
    echo "rc=$? rows=$(wc -l <"$out/kernels-vulkan.jsonl")"
    # The elementwise kernels with the layout the adapter does not get by default.
    local slots=8
    WGPU_BACKEND=vulkan $abprop devices 2>&1 | grep -q 'uses: .*a software adapter' && slots=1
    echo "== bench kernels (vulkan, ABPROP_SLOTS=$slots, elementwise) =="
    for k in copy batch_norm activation residual philox langevin sgd; do
      WGPU_BACKEND=vulkan ABPROP_SLOTS=$slots $abprop bench kernels --filter $k --json
    done >"$out/kernels-vulkan-slots$slots.jsonl"
    echo "rows=$(wc -l <"$out/kernels-vulkan-slots$slots.jsonl")"
    echo "== bench kernels (gl) =="
    WGPU_BACKEND=gl $abprop bench kernels --json >"$out/kernels-gl.jsonl"
    echo "rc=$? rows=$(wc -l <"$out/kernels-gl.jsonl")"
  fi
  if ! skip train; then
    echo "== bench train (vulkan) =="
    for preset in ${GPUCHECK_PRESETS:-$($abprop presets | awk '{print $1}')}; do
      WGPU_BACKEND=vulkan $abprop bench train --preset "$preset" --iterations 3 --json
    done | tee "$out/train.jsonl"
    echo "== train texture on assets/brick.png (vulkan, 20 iterations) =="
    local run_dir
    run_dir=$(mktemp -d)
    WGPU_BACKEND=vulkan timeout 300 $abprop train --preset texture --resize assets/brick.png \
      --iterations 20 --out "$run_dir" 2>&1 | tail -n 8
    echo "rc=${PIPESTATUS[0]}"
    tail -n 1 "$run_dir/log.jsonl"
    cp "$run_dir"/sample-*.png "$out/" 2>/dev/null
  fi
  date -u
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: bash scripts/gpu-check.sh pack|run" >&2; exit 2 ;;
esac
