#!/usr/bin/env bash
# Packs what a lent GPU machine needs to run the GPU checks of issue #7 (scripts/gpu_session.sh)
# into .gpu/bundle.tar.xz: the GPU-side programs built here and every shared library they load
# that the machine's image lacks. That image (../.library/device/KINDS.md) has the CUDA Toolkit,
# cuBLAS and CMake but none of our Debian -dev packages (HDF5, OpenBLAS, fmt, Boost, Google
# Benchmark, the media libraries) and no network, so the programs travel built, with their
# libraries; the CUDA libraries (cudart, cuBLAS, cuBLASLt) and glibc are the machine's own.
#
# Usage (here, after a build with nvcc found):
#   bash scripts/gpu_bundle.sh [BUILD_DIR]        # default build; writes .gpu/bundle.tar.xz
# then, with the device tool:  run(command="bash scripts/gpu_session.sh", carry=[".gpu"], timeout_s=540)
# The working tree travels too (64 MiB in all with the bundle; the bundle is about 15 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

progs=(harness/gemma4-harness tests/optimized/cuda/test_cuda_gpu tests/harness/test_cuda_executor
       bench/cuda/bench_cuda_kernels)
for p in "${progs[@]}"; do
  if [ ! -x "$build/$p" ]; then
    echo "gpu_bundle: $build/$p is missing: build it first (nvcc must be found when configuring)" >&2
    exit 2
  fi
done

src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
case "$(cd "$build" && pwd)" in
  "$src/build") ;;
  *) echo "gpu_bundle: $build must be <source>/build: the programs find the goldens, tolerances and" \
          "each other by the paths compiled into them ($src, $src/build)" >&2; exit 2 ;;
esac

# Layout: build/<path> (the programs, where the compiled-in paths expect them), gpu-lib/ (the
# libraries), source_dir (the compiled-in source directory: gpu_session.sh links it to its copy).
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/gpu-lib"
for p in "${progs[@]}"; do
  mkdir -p "$stage/build/$(dirname "$p")"
  cp "$build/$p" "$stage/build/$p"
  # Every library the dynamic loader resolves here, but glibc's and CUDA's.
  ldd "$build/$p" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libcudart.so*|libcublas.so*|libcublasLt.so*) ;;
      *) cp -L -n "$lib" "$stage/gpu-lib/" ;;
    esac
  done
done
echo "$src" > "$stage/source_dir"
mkdir -p .gpu
tar -C "$stage" -cJf .gpu/bundle.tar.xz .
echo "gpu_bundle: .gpu/bundle.tar.xz $(du -h .gpu/bundle.tar.xz | cut -f1): ${#progs[@]} programs," \
     "$(ls "$stage/gpu-lib" | wc -l) libraries"
