#!/usr/bin/env bash
# Quick start, step 2: build (if needed) and pass the tests.
# Usage: bash scripts/test.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGEMMA4_BUILD_TESTS=ON -DGEMMA4_BUILD_BENCH=ON
fi
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
