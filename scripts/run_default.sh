#!/usr/bin/env bash
# The main job on the embedded default: verify every committed golden bundle (golden/data/*)
# against the float64 reference (only failing taps and each bundle's summary line are printed),
# then `gemma4-harness run` with no arguments (report in reports/out/run.h5 and run.md).
# Exit code: 0 all pass, 1 a tolerance exceeded, 2 bad input.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
status=0
for bundle in golden/data/*/; do
  "$build/harness/gemma4-harness" verify --golden "${bundle%/}" --failures-only || status=$?
done
"$build/harness/gemma4-harness" run || status=$?
exit $status
