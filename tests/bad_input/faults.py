#!/usr/bin/python3
"""Reports under faults: `gemma4-harness run` killed, out of disk, or facing a read-only folder.

Usage: /usr/bin/python3 tests/bad_input/faults.py GEMMA4_CLI WORK_DIR [--kills N] [--seed S]

The run is the small configuration `run --no-real --golden golden/data/e2b_tiny --policies fp32
--modes teacher --repeats 0 --out WORK_DIR/out/report.h5`. Checks:
  1. kill -9, N times (default 100): half at a uniformly random moment of the run, half at a
     random moment after the report's temp file appears (the write window itself). After each
     kill, report.h5 is either byte-identical to the report that was there before, or a complete
     new report (the run finished first); never anything else. Temp files a killed process
     leaves ("report.h5.tmp.PID", "report.md.tmp") are counted and removed.
  2. a full disk, twice: a file-size limit (ulimit -f, SIGXFSZ ignored so the write fails with
     EFBIG) and, where mount is allowed (root), a tmpfs a few KB larger than the previous report.
  3. a read-only output folder: a tmpfs remounted read-only (root), else chattr +i, else chmod 555
     (not root).
  For 2 and 3: exit code 2, one stderr line naming the report, the previous report intact, and no
  temp file left (a clean exit). A case that cannot be set up on this machine is reported as
  skipped, with the reason.
Exit 1 on any failure.
"""
import argparse
import glob
import hashlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []


def sha(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def report_ok(p):
    """A complete report: HDF5 with the schema attribute, an index and every indexed run."""
    try:
        import h5py
        with h5py.File(p, "r") as f:
            if f.attrs.get("schema") not in ("gemma4-harness-report", b"gemma4-harness-report"):
                return False
            ids = [i.decode() if isinstance(i, bytes) else i for i in f["index/id"][...]]
            return len(ids) > 0 and all(f"runs/{i}/nodes/tap" in f for i in ids)
    except Exception:
        return False


def args_for(out):
    return ["run", "--no-real", "--quiet", "--golden", os.path.join(ROOT, "golden/data/e2b_tiny"),
            "--policies", "fp32", "--modes", "teacher", "--repeats", "0", "--out", out]


def temps(d):
    return sorted(glob.glob(os.path.join(d, "*.tmp*")))


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)
    return cond


def clean_exit_checks(name, r, out, before_sha):
    err = r.stderr.decode("utf-8", "replace")
    lines = err.splitlines()
    ok = check(r.returncode == 2, f"{name}: exit code {r.returncode}, expected 2")
    ok &= check(len(lines) == 1, f"{name}: {len(lines)} stderr lines, expected one: {err!r}")
    ok &= check(out in err, f"{name}: stderr does not name {out}: {err!r}")
    ok &= check(os.path.exists(out) and sha(out) == before_sha, f"{name}: the previous report did not survive")
    ok &= check(not temps(os.path.dirname(out)), f"{name}: temp files left: {temps(os.path.dirname(out))}")
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {lines[0] if lines else '(no stderr)'}")


def kills(cli, work, n, rng):
    out_dir = os.path.join(work, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "report.h5")
    t0 = time.time()
    r = subprocess.run([cli] + args_for(out), capture_output=True)
    full = time.time() - t0
    if not check(r.returncode in (0, 1) and report_ok(out), f"baseline run failed: {r.stderr!r}"):
        return
    check(not temps(out_dir), f"temp files after a clean run: {temps(out_dir)}")
    print(f"baseline run: {full:.1f} s")
    prev = sha(out)
    kept = replaced = left = 0
    for i in range(n):
        p = subprocess.Popen([cli] + args_for(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i % 2 == 0:
            time.sleep(rng.uniform(0, full * 1.05))
        else:  # inside the write window: after the temp file appears
            deadline = time.time() + full * 3
            while time.time() < deadline and p.poll() is None and not temps(out_dir):
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.05))
        p.send_signal(signal.SIGKILL)
        p.wait()
        now = sha(out) if os.path.exists(out) else None
        if now == prev:
            kept += 1
        elif now is not None and report_ok(out):
            replaced += 1  # the run completed before the kill
            prev = now
        else:
            check(False, f"kill {i}: report.h5 is {'missing' if now is None else 'neither the previous nor a complete report'}")
        for t in temps(out_dir):
            left += 1
            os.remove(t)
        if (i + 1) % 10 == 0:
            print(f"  {i + 1} kills: intact {kept}, new {replaced}, failures {len(failures)}", flush=True)
    ok = not failures
    print(f"{'ok  ' if ok else 'FAIL'} kill -9 x{n}: previous report intact {kept}, complete new report {replaced}, "
          f"temp files left by killed runs {left} (removed)")
    # A clean run after all that: a report, no temp file.
    r = subprocess.run([cli] + args_for(out), capture_output=True)
    check(r.returncode in (0, 1) and report_ok(out) and not temps(out_dir),
          f"clean run after the kills: rc {r.returncode}, temps {temps(out_dir)}")


def have_mount():
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    d = "/tmp/g4-mount-probe-%d" % os.getpid()
    os.makedirs(d, exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", d])
    os.rmdir(d)
    return ok


def full_disk(cli, work, base_report):
    # (a) a file-size limit: every write past it fails with EFBIG (SIGXFSZ ignored, as a
    # daemon or a shell with `trap '' XFSZ` would).
    d = os.path.join(work, "fsize")
    os.makedirs(d)
    out = os.path.join(d, "report.h5")
    shutil.copy(base_report, out)
    before = sha(out)
    limit = 16 * 1024

    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    r = subprocess.run([cli] + args_for(out), capture_output=True, preexec_fn=pre)
    clean_exit_checks("full disk (ulimit -f 16 KiB)", r, out, before)

    # (b) a small tmpfs holding the previous report, a few KB to spare.
    if not have_mount():
        print("skip full disk (small tmpfs): mount not permitted here")
        return
    d = os.path.join(work, "tmpfs_full")
    os.makedirs(d)
    size = os.path.getsize(base_report) + 8192
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d], check=True)
    try:
        out = os.path.join(d, "report.h5")
        shutil.copy(base_report, out)
        before = sha(out)
        r = subprocess.run([cli] + args_for(out), capture_output=True)
        clean_exit_checks(f"full disk (tmpfs of {size} bytes)", r, out, before)
    finally:
        subprocess.run(["umount", d])


def read_only(cli, work, base_report):
    d = os.path.join(work, "readonly")
    os.makedirs(d)
    out = os.path.join(d, "report.h5")
    how = None
    if have_mount():
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", d], check=True)
        shutil.copy(base_report, out)
        subprocess.run(["mount", "-o", "remount,ro", d], check=True)
        how = "tmpfs remounted read-only"
        undo = ["umount", d]
    else:
        shutil.copy(base_report, out)
        if os.geteuid() == 0 and subprocess.run(["chattr", "+i", d], capture_output=True).returncode == 0:
            how, undo = "chattr +i", ["chattr", "-i", d]
        elif os.geteuid() != 0:
            os.chmod(d, 0o555)
            how, undo = "chmod 555", ["chmod", "755", d]
        else:
            print("skip read-only folder: root, no mount and no chattr here")
            return
    try:
        before = sha(out)
        r = subprocess.run([cli] + args_for(out), capture_output=True)
        clean_exit_checks(f"read-only output folder ({how})", r, out, before)
    finally:
        subprocess.run(undo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("work")
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    t0 = time.time()
    kills(a.cli, work, a.kills, random.Random(a.seed))
    base = os.path.join(work, "out", "report.h5")
    if os.path.exists(base):
        full_disk(a.cli, work, base)
        read_only(a.cli, work, base)
    print(f"faults: {len(failures)} failures ({time.time() - t0:.0f} s)")
    if not failures:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
