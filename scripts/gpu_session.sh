#!/usr/bin/env bash
# The GPU checks of issue #7, as one prepared command for a lent GPU machine (device tool): runs
# in the repository root there, with .gpu/bundle.tar.xz carried (scripts/gpu_bundle.sh) and $OUT
# set; everything it measures lands in $OUT (at most 8 files come back):
#   gpu.txt            nvidia-smi, the driver and the device
#   test_cuda_gpu.log  the tensor-core wrappers bit for bit on small integers (the simulator's
#                      emulation is checked against the same exact products, so GPU = simulator),
#                      the GEMM facade, add_rms_norm and the quantisers under the simulator's gates
#   executor.log       test_cuda_executor's GPU case: every gate of e2b_tiny and 26b_tiny under
#                      every preset with `run --executor cuda`, every node timed
#   run_cuda.md/.h5    `run --executor cuda` on every golden bundle: drift beside the CPU
#                      executor's, node times against the GPU's measured ceilings
#   real.md            a real-size 31B full-attention layer (prefill 512, decode at 4096) under
#                      bf16, int8, int4-g128: GEMM / GEMV throughput as fractions of the GPU's roofline
#   bench.json         bench_cuda_kernels (Google Benchmark, CUDA events, L2 flushed) on 31B and
#                      26B-A4B shapes against cuBLAS and the ceilings
# Each step has its own time limit and the script goes on after a failing step, so one broken
# step still leaves the others' results; the exit code is the number of failed steps.
set -uo pipefail
root=$(pwd)
out=${OUT:-$root/gpu-out}
mkdir -p "$out" /tmp/g4gpu
log() { echo "== gpu_session: $* ($(date +%T))" | tee -a "$out/gpu.txt"; }

tar -C /tmp/g4gpu -xJf .gpu/bundle.tar.xz || { echo "gpu_session: no .gpu/bundle.tar.xz (carry .gpu)" >&2; exit 2; }
# The programs look for the goldens, tolerances and each other under the source directory
# compiled into them: this copy of the tree stands in for it.
src=$(cat /tmp/g4gpu/source_dir)
if [ "$src" != "$root" ]; then
  mkdir -p "$(dirname "$src")"
  [ -e "$src" ] || ln -s "$root" "$src"
fi
cp -r /tmp/g4gpu/build "$src/"
# cudart / cuBLAS 13 from the machine: the toolkit's or the pip wheels'.
cuda_libs=$(dirname "$( (ldconfig -p | awk '/libcublas\.so\.13/ {print $NF; exit}'; \
                         find /usr /opt /root /home -name 'libcublas.so.13' 2>/dev/null) | head -1)")
cudart_dir=$(dirname "$( (ldconfig -p | awk '/libcudart\.so\.13/ {print $NF; exit}'; \
                          find /usr /opt /root /home -name 'libcudart.so.13' 2>/dev/null) | head -1)")
export LD_LIBRARY_PATH="/tmp/g4gpu/gpu-lib:$cuda_libs:$cudart_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
b="$src/build"

failed=0
step() {  # step NAME SECONDS LOGFILE command...
  local name=$1 secs=$2 logf=$3
  shift 3
  log "$name"
  local rc=0
  timeout "$secs" "$@" > "$logf" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    log "$name FAILED (exit $rc; tail of $logf follows)"
    tail -20 "$logf" | tee -a "$out/gpu.txt"
    failed=$((failed + 1))
  fi
}

nvidia-smi >> "$out/gpu.txt" 2>&1 || log "no nvidia-smi: every GPU step below will say why it cannot run"
log "cuda libraries from $cuda_libs and $cudart_dir"
step "test_cuda_gpu" 60 "$out/test_cuda_gpu.log" "$b/tests/optimized/cuda/test_cuda_gpu" --log_level=message
step "test_cuda_executor (GPU case)" 120 "$out/executor.log" "$b/tests/harness/test_cuda_executor" \
  --run_test=executor_cuda_runs_on_the_gpu_or_says_why_not_in_one_line --log_level=message
step "run --executor cuda, goldens" 120 "$out/run_cuda.log" "$b/harness/gemma4-harness" run --executor cuda \
  --no-real --out "$out/run_cuda.h5"
step "run --executor cuda, real 31B full layer" 150 "$out/real.log" "$b/harness/gemma4-harness" run --executor cuda \
  --no-golden --variants 31b --layers full --policies bf16,int8,int4-g128 --out /tmp/g4gpu/real.h5
cp /tmp/g4gpu/real.md "$out/real.md" 2>/dev/null
step "bench_cuda_kernels" 150 "$out/bench.log" "$b/bench/cuda/bench_cuda_kernels" \
  --benchmark_filter='31b|26b' --benchmark_format=json --benchmark_out="$out/bench.json"
rm -f "$out/run_cuda.log" "$out/real.log" "$out/bench.log"  # their summaries are in the .md / .json
log "done: $failed failed step(s)"
exit "$failed"
