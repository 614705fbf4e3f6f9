#!/usr/bin/env bash
# The main job on the embedded default: verify every committed golden bundle (golden/data/*)
# against the float64 reference, printing only failing taps and each bundle's summary line.
# Exit code: 0 all pass, 1 a tolerance exceeded, 2 bad input.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
status=0
for bundle in golden/data/*/; do
  "$build/harness/gemma4-harness" verify --golden "${bundle%/}" --failures-only || status=$?
done
exit $status
