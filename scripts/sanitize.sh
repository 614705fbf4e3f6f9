#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer.
#
#   bash scripts/sanitize.sh [BUILD_DIR]        # default build-asan
#
# Configures BUILD_DIR with -fsanitize=address,undefined (LeakSanitizer comes with ASan on Linux),
# -fno-sanitize-recover=all (the first UB report fails the test) and -O1, builds every test, and
# runs ctest. Left out: the exhaustive 2^32 float32 sweeps against the CUDA headers' host
# conversions (GEMMA4_FORMATS_CUDA_COMPARE=OFF; the sampled sweeps of the same code still run) and
# the Google Benchmark programs; everything else runs as in scripts/test.sh.
# Third-party leaks on libhdf5's error paths are suppressed by tests/fuzz/lsan.supp (nothing of
# ours). Extra ctest arguments: SANITIZE_CTEST_ARGS (e.g. "-L golden"); SANITIZE_TARGETS builds a
# subset (then pass a matching SANITIZE_CTEST_ARGS, e.g. "-R 'test_h5|bad_input'").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${1:-build-asan}
start=$(date +%s)

flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Sanitize \
    -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g $flags" -DCMAKE_C_FLAGS_SANITIZE="-O1 -g $flags" \
    -DCMAKE_EXE_LINKER_FLAGS_SANITIZE="$flags" -DCMAKE_SHARED_LINKER_FLAGS_SANITIZE="$flags" \
    -DGEMMA4_BUILD_TESTS=ON -DGEMMA4_BUILD_BENCH=OFF -DGEMMA4_FORMATS_CUDA_COMPARE=OFF \
    -DCMAKE_CUDA_COMPILER=NOTFOUND > /dev/null
fi
# SANITIZE_TARGETS: build only these (e.g. a quick local check); default: everything.
cmake --build "$build" -j "$(nproc)" ${SANITIZE_TARGETS:+--target $SANITIZE_TARGETS}
built=$(date +%s)

export ASAN_OPTIONS="detect_leaks=1:strict_init_order=1:check_initialization_order=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The optimized kernels' own thread pools and OpenBLAS: two threads on the 2-core CI machine.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
set +e
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 900 ${SANITIZE_CTEST_ARGS:-}
rc=$?
set -e
end=$(date +%s)
echo "sanitize.sh: build $((built - start)) s, tests $((end - built)) s, total $((end - start)) s; ctest rc=$rc"
exit $rc
