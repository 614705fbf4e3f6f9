#!/usr/bin/python3
"""Runs the bad-input corpus (make_cases.py) through the CLI and checks the error contract.

Usage: /usr/bin/python3 tests/bad_input/run_cases.py GEMMA4_CLI WORK_DIR [--keep]

For every case: exit code 2; stderr is exactly one line, starting "gemma4-harness: error: ",
naming the file (the case's first expected substring) and what was wrong (the others); nothing
on stdout that looks like a result; and none of the case's output paths, nor any "*.tmp*" file,
left in the case's output folder. Prints one line per case and a summary; exit 1 on any failure.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cli, work = sys.argv[1], os.path.abspath(sys.argv[2])
    subprocess.run([sys.executable, os.path.join(HERE, "make_cases.py"), work], check=True)
    with open(os.path.join(work, "cases.json")) as f:
        cases = json.load(f)
    failed = []
    t0 = time.time()
    for c in cases:
        args = [a.replace("{OUT}", work) for a in c["args"]]
        expect = [e.replace("{OUT}", work) for e in c["expect"]]
        r = subprocess.run([cli] + args, capture_output=True, timeout=120)
        err = r.stderr.decode("utf-8", "replace")
        lines = err.splitlines()
        why = []
        if r.returncode != 2:
            why.append(f"exit code {r.returncode}, expected 2")
        if len(lines) != 1 or not err.endswith("\n"):
            why.append(f"{len(lines)} stderr lines, expected exactly one")
        elif not lines[0].startswith("gemma4-harness: error: "):
            why.append("stderr line does not start with 'gemma4-harness: error: '")
        for e in expect:
            if e not in err:
                why.append(f"stderr lacks '{e}'")
        for p in c["no_output"]:
            p = p.replace("{OUT}", work)
            if os.path.exists(p):
                why.append(f"output {p} exists")
            left = glob.glob(os.path.join(os.path.dirname(p), "*.tmp*"))
            if left:
                why.append(f"temp files left: {left}")
        status = "ok  " if not why else "FAIL"
        print(f"{status} {c['name']:34s} {lines[0] if lines else '(no stderr)'}")
        if why:
            print("     " + "; ".join(why))
            if len(lines) > 1:
                print("     stderr: " + err.replace("\n", "\\n")[:2000])
            failed.append(c["name"])
    print(f"{len(cases) - len(failed)}/{len(cases)} bad-input cases pass ({time.time() - t0:.1f} s)")
    if "--keep" not in sys.argv:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
