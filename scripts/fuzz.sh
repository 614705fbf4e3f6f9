#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang + ASan + UBSan and runs each for a bounded
# time, one process at a time (-workers=1).
#
#   bash scripts/fuzz.sh                 # CI: every target 45 s (10 targets: 7.5 min of fuzzing + build)
#   FUZZ_SECONDS=1800 bash scripts/fuzz.sh safetensors config_json   # a longer local run
#
# Environment: FUZZ_SECONDS (per target, default 45), FUZZ_BUILD (default build-fuzz),
# FUZZ_BIN_DIR (use fuzz_* binaries from there instead of building). Corpora grow in
# $FUZZ_BUILD/corpus/<target> (kept between local runs, never committed), seeded from the
# committed goldens by tests/fuzz/make_seeds.py. A crash, leak, sanitizer report, timeout or
# out-of-memory writes $FUZZ_BUILD/artifacts/<target>/<kind>-<sha1> and fails the script: replay it
# with `$FUZZ_BUILD/tests/fuzz/fuzz_<target> FILE`, fix the bug, and keep the file under
# tests/fuzz/regressions/<target>/ (replayed by ctest: fuzz_regressions_<target>).
# Prints the executions per target and in total.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-45}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors safetensors_index config_json golden_h5 report report_tools gate_rules
                                     png jpeg wav)

if [ -z "${FUZZ_BIN_DIR:-}" ]; then
  command -v clang++ > /dev/null || { echo "fuzz.sh: clang++ is needed (Debian: clang libclang-rt-dev)" >&2; exit 2; }
  if [ ! -f "$build/build.ninja" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DGEMMA4_FUZZ=ON -DGEMMA4_BUILD_TESTS=OFF -DGEMMA4_BUILD_BENCH=OFF > /dev/null
  fi
  ninja -C "$build" -j "$(nproc)" $(printf 'fuzz_%s ' "${targets[@]}")
  bindir=$build/tests/fuzz
else
  bindir=$FUZZ_BIN_DIR
fi

# Seeds: small cut-down copies of the committed goldens, and one report written by the CLI.
# FUZZ_CLI: the gemma4-harness that writes the report seed (default: the normal build's; else
# one is built in $build).
seeds=$build/seeds
missing=0
for t in "${targets[@]}"; do [ -d "$seeds/$t" ] || missing=1; done  # a target added since the last run
if [ "$missing" -eq 1 ]; then
  cli=${FUZZ_CLI:-build/harness/gemma4-harness}
  if [ ! -x "$cli" ]; then
    ninja -C "$build" -j "$(nproc)" gemma4-harness
    cli=$build/harness/gemma4-harness
  fi
  tmp=$(mktemp -d)
  "$cli" run --no-real --quiet --golden golden/data/e2b_tiny --policies fp32 --modes teacher --repeats 0 \
    --out "$tmp/report.h5" > /dev/null
  /usr/bin/python3 tests/fuzz/make_seeds.py "$seeds" "$tmp/report.h5"
  rm -rf "$tmp"
fi

export TMPDIR=${FUZZ_TMPDIR:-/dev/shm}  # the targets write each input to a file: keep it in memory
export ASAN_OPTIONS="suppressions=$root/tests/fuzz/asan.supp:detect_leaks=1"
export LSAN_OPTIONS="suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

total=0
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "$build/logs"
  log=$build/logs/$t.log
  dirs=("$build/corpus/$t" "$seeds/$t")
  [ -d "tests/fuzz/regressions/$t" ] && dirs+=("$root/tests/fuzz/regressions/$t")
  opts=(-max_total_time="$seconds" -timeout=30 -malloc_limit_mb=2048 -rss_limit_mb=3072
        -artifact_prefix="$build/artifacts/$t/")
  hdf5=0
  case $t in
    golden_h5|report|report_tools)
      # libhdf5 1.10.8 itself crashes on some corrupted files (tests/fuzz/README.md): fork mode
      # goes on past a crash; every crash input is triaged below and only ours fail the run.
      # allocator_may_return_null: a huge size read from a corrupted file makes libhdf5's malloc
      # return NULL, which it handles, as on a machine without overcommit.
      hdf5=1
      opts+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1) ;;
    *) opts+=(-workers=1 -print_final_stats=1) ;;
  esac
  before=$(ls "$build/artifacts/$t" | wc -l)
  set +e
  ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=$hdf5" "$bindir/fuzz_$t" "${dirs[@]}" "${opts[@]}" > "$log" 2>&1
  rc=$?
  set -e
  n=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1 || true)
  [ -n "$n" ] || n=$(grep -o '^#[0-9]*: cov' "$log" | tr -d '#:a-z ' | tail -1 || true)  # fork mode
  n=${n:-0}
  total=$((total + n))
  # Triage of the new crash inputs: a report whose innermost frame in either libhdf5 or our
  # sources is in libhdf5 is a third-party finding; anything else is ours.
  ours=0 theirs=0
  new=$(( $(ls "$build/artifacts/$t" | wc -l) - before ))
  for a in $(ls -t "$build/artifacts/$t" | head -n "$new"); do
    # A replay is bounded: a timeout input can hang again (libhdf5 1.10.8 loops on some corrupted
    # heaps); a hang in an HDF5 target is counted as libhdf5's (the target's only loops are its).
    out=$(ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=$hdf5" timeout 60 "$bindir/fuzz_$t" "$build/artifacts/$t/$a" 2>&1; echo "replay-rc=$?" || true)
    # Frames of our sources carry "$root/FILE:LINE"; the sanitizer's and libFuzzer's own frames
    # (an interceptor such as __interceptor_memcpy, the OOM/alarm printers) are in the fuzz binary
    # under $root too but without a source line, and must not count as ours.
    first=$(echo "$out" | grep -E '^ +#[0-9]+ ' | grep -E 'libhdf5|'"$root"'/[^ ]+:[0-9]+' | head -1 || true)
    if echo "$out" | grep -q '^replay-rc=124$'; then
      if [ "$hdf5" -eq 1 ]; then first="libhdf5 (replay hangs: $a)"; else first="replay hangs: $a"; fi
    fi
    if echo "$first" | grep -q 'libhdf5'; then theirs=$((theirs + 1)); else ours=$((ours + 1)); echo "    ours: $a: $first"; fi
  done
  printf '%-18s %10d executions  rc=%d  new findings: %d ours, %d in libhdf5\n' "$t" "$n" "$rc" "$ours" "$theirs"
  if [ "$ours" -gt 0 ] || { [ "$rc" -ne 0 ] && [ "$hdf5" -eq 0 ]; }; then
    failed+=("$t")
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/    /'
  fi
done
echo "total executions: $total"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]} (logs in $build/logs, inputs in $build/artifacts)" >&2
  exit 1
fi
