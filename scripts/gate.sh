#!/usr/bin/env bash
# Gate a report against the committed baseline (issue #5): what CI runs after the default run.
#
#   scripts/gate.sh BUILD_DIR REPORT.h5
#
# Gates REPORT against reports/baselines/default.h5 with the rules of reports/gate.json, and
# writes under BUILD_DIR/gate/: gate.xml (JUnit), gate.json, compare.txt (every change, regressions
# first) and summary.md (the report's markdown summary, for a PR comment).
# Exit: 0 the gate passes, 1 a regression (the failing taps are printed), 2 bad input: a missing
# binary, report or baseline (never a silent pass).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: scripts/gate.sh BUILD_DIR REPORT.h5" >&2
  exit 2
fi
build=$1
report=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$build/harness/gemma4-harness
baseline=$root/reports/baselines/default.h5
rules=$root/reports/gate.json

[[ -x $bin ]] || { echo "gate.sh: $bin not found (build the gemma4-harness target first)" >&2; exit 2; }
[[ -f $report ]] || { echo "gate.sh: report $report not found" >&2; exit 2; }
if [[ ! -f $baseline ]]; then
  echo "gate.sh: no baseline at $baseline: commit one from the embedded default run" \
       "(gemma4-harness run --out R.h5; cp R.h5 reports/baselines/default.h5)" >&2
  exit 2
fi

out=$build/gate
mkdir -p "$out"
"$bin" report show "$report" --markdown > "$out/summary.md"
"$bin" report compare "$baseline" "$report" --all > "$out/compare.txt"
set +e
"$bin" report gate "$baseline" "$report" --rules "$rules" --junit "$out/gate.xml" --json "$out/gate.json"
rc=$?
set -e
echo "gate.sh: $out/gate.xml, $out/gate.json, $out/compare.txt, $out/summary.md written (exit $rc)"
exit $rc
