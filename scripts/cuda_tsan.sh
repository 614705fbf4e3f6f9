#!/usr/bin/env bash
# ThreadSanitizer check of the CUDA simulator (issue #7): configures its own build directory with
# -DGEMMA4_CUDA_SIM_TSAN=ON, builds only the TSan simulator targets (the simulator library with
# TSan's fiber annotations, cuda_sim_tsan, and the simulator's own tests + the tensor-core tests
# linked against it), and runs them (ctest -L cuda-sim-tsan):
#   test_cuda_sim_tsan_race        a kernel missing a __syncthreads: TSan must report the race
#   test_cuda_sim_tsan_clean       correct kernels (barriers, __syncwarp, shuffles): no report
#   test_cuda_sim_on_tsan          the simulator's own tests (barriers, deadlocks, warp ops, ...)
#   test_cuda_tensor_core_on_tsan  mma / ldmatrix / cp.async emulation tests
# TSan exits 66 on any report, so a false positive fails the clean runs.
# Usage: scripts/cuda_tsan.sh [build-dir]   (default build-cuda-tsan; JOBS overridable)
# Exit: 0 all good, 1 a build or test failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-$ROOT/build-cuda-tsan}"
JOBS="${JOBS:-2}"
start=$(date +%s)
mkdir -p "$BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGEMMA4_CUDA_SIM_TSAN=ON \
  -DGEMMA4_CUDA_NVCC=OFF > "$BUILD_DIR/configure.log" 2>&1 || { cat "$BUILD_DIR/configure.log"; exit 1; }
if ! grep -q "cuda_sim_tsan" "$BUILD_DIR/build.ninja"; then
  echo "cuda_tsan: the simulator is not configured (no CUDA Toolkit headers?)" >&2
  exit 1
fi
ninja -C "$BUILD_DIR" -j "$JOBS" cuda_sim_tsan test_cuda_sim_on_tsan test_cuda_tensor_core_on_tsan
built=$(date +%s)

ctest --test-dir "$BUILD_DIR" -L cuda-sim-tsan --output-on-failure
end=$(date +%s)
echo "cuda_tsan: build $((built - start)) s, tests $((end - built)) s, total $((end - start)) s"
