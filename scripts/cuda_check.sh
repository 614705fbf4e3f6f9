#!/usr/bin/env bash
# CUDA checks for GPU-less CI (issue #7).
#   1. Compile every CUDA translation unit (optimized/cuda/*_cuda.cu, tests/optimized/cuda/*.cu)
#      with nvcc for sm_90a and sm_80 with -Xptxas -v; parse registers, shared memory, stack and
#      spills per kernel into a table (printed, and written to $BUILD_DIR/cuda_resources.md);
#      FAIL if any kernel spills. Also counts tensor-core SASS instructions (HMMA/IMMA) per object
#      so a kernel that silently lost its mma path shows up.
#   2. Build the simulator tests (g++) and run them: ctest -L cuda-sim.
# Usage: scripts/cuda_check.sh [build-dir]   (default build-cuda-check; NVCC, JOBS, ARCHS overridable;
#        CMAKE_BUILD_DIR=<configured Ninja build dir> reuses an existing build for step 2)
# Exit: 0 all good; 1 a spill, a compile error or a failing simulator test; 2 nvcc missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-$ROOT/build-cuda-check}"
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
JOBS="${JOBS:-2}"
ARCHS="${ARCHS:-sm_90a sm_80}"
start=$(date +%s)

if [[ ! -x "$NVCC" ]]; then
  echo "cuda_check: nvcc not found (set NVCC=...)" >&2
  exit 2
fi
mkdir -p "$BUILD_DIR/nvcc"
cd "$ROOT"

mapfile -t units < <(ls optimized/cuda/*_cuda.cu tests/optimized/cuda/*.cu 2>/dev/null)
echo "== nvcc $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'): ${#units[@]} translation units x {$ARCHS}"

# One job per (unit, arch): object + ptxas log.
jobs_file="$BUILD_DIR/nvcc/jobs.txt"
: > "$jobs_file"
for u in "${units[@]}"; do
  for a in $ARCHS; do echo "$u $a" >> "$jobs_file"; done
done
compile_one() {
  local unit="$1" arch="$2" out
  out="$BUILD_DIR/nvcc/$(basename "${unit%.cu}").$arch"
  if ! "$NVCC" -std=c++20 -O3 -arch="$arch" -I"$ROOT" -Xptxas -v -c "$unit" -o "$out.o" > "$out.log" 2>&1; then
    echo "nvcc FAILED: $unit ($arch)"
    cat "$out.log"
    return 1
  fi
}
export -f compile_one
export NVCC ROOT BUILD_DIR
if ! xargs -P "$JOBS" -L 1 bash -c 'compile_one "$0" "$1"' < "$jobs_file"; then
  echo "cuda_check: nvcc compile failed" >&2
  exit 1
fi

# Parse ptxas -v: per entry function: registers, smem, stack frame, spill stores/loads.
table="$BUILD_DIR/cuda_resources.md"
python3 - "$BUILD_DIR/nvcc" "$table" <<'PY'
import re, subprocess, sys, pathlib
logdir, table = pathlib.Path(sys.argv[1]), sys.argv[2]
rows, spills = [], 0
for log in sorted(logdir.glob("*.log")):
    unit, arch = log.stem.rsplit(".", 1)
    cur = None
    for line in log.read_text().splitlines():
        m = re.search(r"Compiling entry function '([^']+)' for '(\w+)'", line)
        if m:
            cur = {"unit": unit, "arch": m.group(2), "mangled": m.group(1), "regs": 0, "smem": 0, "stack": 0,
                   "st": 0, "ld": 0}
            rows.append(cur)
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            cur["stack"], cur["st"], cur["ld"] = map(int, m.groups())
        m = re.search(r"Used (\d+) registers", line)
        if m:
            cur["regs"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            cur["smem"] = int(s.group(1)) if s else 0
names = subprocess.run(["c++filt"], input="\n".join(r["mangled"] for r in rows), capture_output=True,
                       text=True).stdout.splitlines() if rows else []
out = ["| unit | arch | kernel | registers | static smem (B) | stack (B) | spill st/ld (B) |",
       "|---|---|---|---|---|---|---|"]
for r, n in zip(rows, names):
    n = n.replace("g4::cuda::", "")
    if n.endswith(")"):  # drop the parameter list: the last top-level (...) (template args may hold parens)
        depth = 0
        for i in range(len(n) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(n[i], 0)
            if depth == 0:
                n = n[:i]
                break
    flag = "" if r["st"] == 0 and r["ld"] == 0 else " **SPILL**"
    spills += r["st"] + r["ld"]
    out.append(f"| {r['unit']} | {r['arch']} | `{n}` | {r['regs']} | {r['smem']} | {r['stack']} | "
               f"{r['st']}/{r['ld']}{flag} |")
pathlib.Path(table).write_text("\n".join(out) + "\n")
print("\n".join(out))
print(f"\n{len(rows)} kernel compilations, spill bytes total: {spills}")
sys.exit(1 if spills or not rows else 0)
PY
echo "(table written to $table)"

# Tensor-core instructions in the SASS of each object (informational).
if ! command -v cuobjdump > /dev/null && [[ ! -x "$(dirname "$NVCC")/cuobjdump" ]]; then
  echo "cuobjdump not installed: SASS tensor-core instruction count skipped"
else
  CUOBJDUMP="$(command -v cuobjdump || echo "$(dirname "$NVCC")/cuobjdump")"
  for o in "$BUILD_DIR"/nvcc/*.o; do
    n=$("$CUOBJDUMP" -sass "$o" 2>/dev/null | grep -cE '\b(HMMA|IMMA)\b' || true)
    echo "tensor-core SASS instructions in $(basename "$o"): $n"
  done
fi

# Simulator: configure (or reuse CMAKE_BUILD_DIR, e.g. CI's main build, so the shared libraries
# are not compiled twice), build the cuda-sim targets, run them.
echo "== simulator tests"
CMAKE_DIR="${CMAKE_BUILD_DIR:-$BUILD_DIR/cmake}"
if [[ ! -f "$CMAKE_DIR/build.ninja" ]]; then
  cmake -S "$ROOT" -B "$CMAKE_DIR" -G Ninja -DGEMMA4_BUILD_BENCH=OFF > "$BUILD_DIR/cmake.log" 2>&1 ||
    { cat "$BUILD_DIR/cmake.log"; exit 1; }
fi
targets=$(grep -ho 'gemma4_add_test(test_cuda_[a-z_0-9]*' tests/optimized/cuda/CMakeLists.txt tests/harness/CMakeLists.txt | sed 's/gemma4_add_test(//' | grep -v -e '^test_cuda_gpu$' -e '_on_tsan$')
ninja -C "$CMAKE_DIR" -j "$JOBS" $targets cuda_sim_asan
ctest --test-dir "$CMAKE_DIR" -L cuda-sim --output-on-failure
echo "cuda_check: OK in $(( $(date +%s) - start )) s"
