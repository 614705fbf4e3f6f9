#!/usr/bin/env bash
# Quick start, step 1: install what is missing (Debian packages), build, and run the main job on
# the embedded default (every committed golden bundle verified against the float64 reference).
# Usage: bash scripts/bootstrap.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

packages=(build-essential cmake ninja-build pkg-config libxtensor-dev libxsimd-dev xtl-dev libopenblas-dev
          libhdf5-dev libfmt-dev nlohmann-json3-dev libboost-test-dev libbenchmark-dev
          # media decoding for the vision and audio towers (issue #3)
          libpng-dev libjpeg-dev libsndfile1-dev libfftw3-dev
          # report plots (issue #5): Debian's matplotlib + h5py for /usr/bin/python3; PIL writes the
          # JPEG fuzz seeds and bad-input cases (issue #6)
          python3-matplotlib python3-h5py python3-pil
          # fuzzing and sanitizers (issue #6): clang with libFuzzer
          clang libclang-rt-dev
          # the CUDA SIMT simulator's fibers (issue #7)
          libboost-context-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGEMMA4_BUILD_TESTS=ON -DGEMMA4_BUILD_BENCH=ON
cmake --build "$build" -j "$(nproc)"

# The main job on the embedded default.
bash scripts/run_default.sh "$build"
