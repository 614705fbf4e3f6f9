#!/usr/bin/python3
"""Plots of one gemma4-harness report, as a self-contained HTML page (PNG images inlined as base64).

    /usr/bin/python3 reports/render/plots.py REPORT.h5 CONTEXT.json OUT.html

Called by `gemma4-harness report html` (harness/report_html.cpp), which has already validated the
report's schema and writes CONTEXT.json: {"sources": {source: {"variant", "sliding_window",
"layer_types"}}} from the configs, which the report does not hold. Needs Debian's python3-matplotlib
and python3-h5py (not the project's pyenv python). The report layout is reports/SCHEMA.md.

Plots:
  1. drift per decoder layer (largest rel_l2 over a layer's taps), every policy, teacher-forced
     (dashed) and free-running (solid) on one chart per source;
  2. drift against token position: schema 1 stores no per-position error, so this is computed
     from what it stores: the token position of each node's largest error (max_abs_index in its
     shape) and that error relative to the node's RMS reference value, with the sliding-window
     edges marked;
  3. headroom per tap (max|reference| / the storage format's largest finite value), the format
     limit at 1;
  4. throughput against the roofline: every timed node at its arithmetic intensity, with each
     compute ceiling and the stream bandwidth measured in the same run.
"""
import base64
import html
import io
import json
import math
import re
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

LAYER_RE = re.compile(r"(?:^|\.)layers\.(\d+)(?:\.|$)")


def read_report(path):
    f = h5py.File(path, "r")
    if f.attrs.get("schema") != "gemma4-harness-report" or int(f.attrs.get("schema_version", -1)) != 1:
        raise SystemExit(f"{path}: not a gemma4-harness report of schema version 1")
    rep = {"attrs": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()},
           "machine": {k: float(v) for k, v in f["machine"].attrs.items()}, "runs": []}
    for rid in f["index/id"].asstr()[:]:
        g = f[f"runs/{rid}"]
        nodes = {k: (v.asstr()[:] if v.dtype.kind == "O" else v[:]) for k, v in g["nodes"].items()}
        run = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
        run["nodes"] = nodes
        run["logits"] = dict(g["logits"].attrs) if "logits" in g else None
        rep["runs"].append(run)
    return rep


def ranked(nodes):
    """Nodes with error numbers of their own (report.cpp's rule): compared > 0, not expert ids."""
    return (nodes["compared"] > 0) & (nodes["op"] != "indices")


def layer_of(tap):
    m = LAYER_RE.search(tap)
    return int(m.group(1)) if m else None


def png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def positive(v):
    v = np.asarray(v, dtype=float)
    return np.where((v > 0) & np.isfinite(v), v, np.nan)


def policy_colors(runs):
    pols = []
    for r in runs:
        if r["policy"] not in pols:
            pols.append(r["policy"])
    cmap = plt.get_cmap("tab10")
    return {p: cmap(i % 10) for i, p in enumerate(pols)}


def sources(rep):
    out = []
    for r in rep["runs"]:
        if r["source"] not in out:
            out.append(r["source"])
    return out


def layer_drift(run):
    """(labels, values): 'in', layers in order, 'out'; the largest rel_l2 of each."""
    n = run["nodes"]
    keep = ranked(n)
    seen_layer = False
    vals = {}
    order = []
    for tap, ok, rel in zip(n["tap"], keep, n["rel_l2"]):
        layer = layer_of(tap)
        seen_layer = seen_layer or layer is not None
        if not ok:
            continue
        label = str(layer) if layer is not None else ("out" if seen_layer else "in")
        if label not in vals:
            order.append(label)
            vals[label] = rel
        elif math.isnan(rel) or rel > vals[label]:
            vals[label] = rel
    key = {"in": -1, "out": 1 << 30}
    order.sort(key=lambda s: key.get(s, None) if s in key else int(s))
    return order, [vals[k] for k in order]


def run_points(run):
    """(labels, values) of one run: per layer, or per tap when the run covers a single layer."""
    labels, vals = layer_drift(run)
    if len(labels) <= 3:  # a single real-size layer: per tap instead
        n = run["nodes"]
        keep = ranked(n)
        labels = [t.split("layers.")[-1] for t, k in zip(n["tap"], keep) if k]
        vals = [v for v, k in zip(n["rel_l2"], keep) if k]
    return labels, vals


def plot_drift_per_layer(rep, src, colors):
    runs = [r for r in rep["runs"] if r["source"] == src]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    # One x axis for all runs: labels merged in graph order (a label new to the axis goes right
    # after the run's previous label, so runs with extra taps do not fold back).
    axis = []
    per_tap = False
    for r in runs:
        labels, _ = run_points(r)
        per_tap = per_tap or len(layer_drift(r)[0]) <= 3
        prev = -1
        for lab in labels:
            if lab in axis:
                prev = axis.index(lab)
            else:
                axis.insert(prev + 1, lab)
                prev += 1
    for r in runs:
        labels, vals = run_points(r)
        pts = sorted((axis.index(lab), v) for lab, v in zip(labels, vals))
        free = r["mode"] == "free-running"
        ax.plot([p[0] for p in pts], positive([p[1] for p in pts]), linestyle="-" if free else "--",
                marker="o" if free else "x", markersize=3, color=colors[r["policy"]],
                label=f"{r['policy']} {'free' if free else 'teacher'}")
    ax.set_yscale("log")
    ax.set_xticks(range(len(axis)))
    ax.set_xticklabels(axis, rotation=90 if len(axis) > 12 else 0, fontsize=7)
    ax.set_xlabel("tap of the layer (graph order)" if per_tap else
                  "decoder layer ('in' = embedding / per-layer inputs, 'out' = final norm / LM head)")
    ax.set_ylabel("rel_l2" if per_tap else "largest rel_l2 in the layer")
    ax.set_title(f"Drift per layer: {src}\nsolid = free-running (accumulated), dashed = teacher-forced (per op)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=4, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return png(fig)


def token_axis(tap, shape):
    """(axis of the query token, size) for a tap's layout (runner.cpp tap_validity), or None."""
    if tap.endswith((".attn_probs", ".shared_k", ".shared_v")):
        return (2, shape[2]) if len(shape) >= 3 else None
    return (1, shape[1]) if len(shape) >= 3 else None


def plot_drift_vs_position(rep, src, colors, ctx):
    runs = [r for r in rep["runs"] if r["source"] == src and r["mode"] == "free-running"]
    if not runs:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    max_s = 0
    for r in runs:
        n = r["nodes"]
        per_pos = {}
        count = {}
        for tap, ok, shape_s, idx, mabs, rnorm, comp in zip(n["tap"], ranked(n), n["shape"], n["max_abs_index"],
                                                             n["max_abs"], n["ref_norm"], n["compared"]):
            if not ok or idx < 0 or not shape_s:
                continue
            shape = [int(d) for d in shape_s.split("x")]
            ax_s = token_axis(tap, shape)
            if ax_s is None:
                continue
            axis, s_len = ax_s
            pos = int(np.unravel_index(int(idx), shape)[axis])
            max_s = max(max_s, s_len)
            rms = rnorm / math.sqrt(comp) if comp > 0 and rnorm > 0 else float("nan")
            err = mabs / rms if rms == rms else float("nan")
            count[pos] = count.get(pos, 0) + 1
            if pos not in per_pos or err > per_pos[pos]:
                per_pos[pos] = err
        if not per_pos:
            continue
        xs = sorted(per_pos)
        ax1.bar(np.array(xs) + 0.0, [count[x] for x in xs], width=0.8, alpha=0.35, color=colors[r["policy"]],
                label=r["policy"])
        ax2.plot(xs, positive([per_pos[x] for x in xs]), marker="o", markersize=3, color=colors[r["policy"]],
                 label=r["policy"])
    window = ctx.get("sources", {}).get(src, {}).get("sliding_window")
    for ax in (ax1, ax2):
        if window and max_s:
            for e in range(int(window), max_s + 1, int(window)):
                ax.axvline(e - 0.5, color="k", linestyle=":", linewidth=1)
            ax.text(0.99, 0.97, f"dotted: sliding-window edges (W = {window})", transform=ax.transAxes,
                    ha="right", va="top", fontsize=7)
        ax.set_xlabel("token position of the node's largest error")
        ax.grid(True, alpha=0.3)
    ax1.set_ylabel("nodes whose largest error is here")
    ax2.set_ylabel("largest |x - r| / RMS(r) at this position")
    ax2.set_yscale("log")
    ax2.legend(fontsize=7, ncol=2)
    fig.suptitle(f"Free-running drift against token position: {src}\n(from max_abs_index: per-position errors are "
                 "not stored in report schema 1)", fontsize=9)
    return png(fig)


def plot_headroom(rep, src, colors):
    runs = [r for r in rep["runs"] if r["source"] == src and r["mode"] == "teacher-forced"]
    if not runs:
        runs = [r for r in rep["runs"] if r["source"] == src]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    any_line = False
    for r in runs:
        n = r["nodes"]
        keep = ranked(n) & np.isfinite(n["headroom"])
        if not keep.any():
            continue
        idx = np.nonzero(keep)[0]
        ax.plot(idx, positive(n["headroom"][keep]), marker=".", markersize=3, linewidth=0.8, color=colors[r["policy"]],
                label=r["policy"])
        any_line = True
    if not any_line:
        plt.close(fig)
        return None
    ax.axhline(1.0, color="red", linewidth=1.2)
    ax.text(0, 1.0, " format limit: max|reference| = largest finite value", color="red", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("tap (graph order)")
    ax.set_ylabel("headroom = max|r| / format max")
    ax.set_title(f"Headroom per tap against the storage format's limit: {src}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=4, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return png(fig)


CEILINGS = [("dgemm_gflops", "fp64 (dgemm)"), ("sgemm_gflops", "fp32 (sgemm)"), ("bf16_gflops", "bf16"),
            ("int8_gops", "int8 (GOP/s)")]


def plot_roofline(rep, colors):
    m = rep["machine"]
    bw = m.get("stream_read_gbs", float("nan"))
    fig, ax = plt.subplots(figsize=(9, 5))
    ai_all = []
    for r in rep["runs"]:
        n = r["nodes"]
        t = n["time_median_s"]
        ok = np.isfinite(t) & (t > 0) & (n["bytes"] > 0) & (n["flops"] > 0)
        if not ok.any():
            continue
        ai = n["flops"][ok] / n["bytes"][ok]
        gf = n["flops"][ok] / t[ok] / 1e9
        ai_all.extend(ai.tolist())
        ax.scatter(ai, gf, s=8, alpha=0.5, color=colors[r["policy"]], label=r["policy"])
    if not ai_all:
        plt.close(fig)
        return None
    lo, hi = min(ai_all) / 2, max(ai_all) * 2
    xs = np.logspace(math.log10(lo), math.log10(hi), 200)
    styles = ["-", "--", "-.", ":"]
    for (key, name), st in zip(CEILINGS, styles):
        peak = m.get(key, float("nan"))
        if math.isfinite(peak) and math.isfinite(bw):
            ax.plot(xs, np.minimum(peak, xs * bw), color="k", linestyle=st, linewidth=1,
                    label=f"roofline {name}: {peak:.0f}, {bw:.1f} GB/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte, analytic)")
    ax.set_ylabel("achieved GFLOP/s (median time)")
    ax.set_title("Throughput against the roofline (ceilings measured in the same run)")
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return png(fig)


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: plots.py REPORT.h5 CONTEXT.json OUT.html")
    report_path, ctx_path, out_path = sys.argv[1:]
    rep = read_report(report_path)
    with open(ctx_path) as f:
        ctx = json.load(f)
    colors = policy_colors(rep["runs"])
    a = rep["attrs"]
    parts = [f"<h1>gemma4-harness report</h1>",
             f"<p>{html.escape(report_path)}: commit <code>{html.escape(str(a.get('commit')))}</code> on "
             f"{html.escape(str(a.get('hostname')))} ({html.escape(str(a.get('cpu_model')))}, "
             f"{int(a.get('threads', 0))} threads) at {html.escape(str(a.get('time_utc')))}</p>"]
    rows = "".join(
        f"<tr><td>{html.escape(r['id'])}</td><td>{'pass' if int(r['pass']) else '<b>FAIL</b>'}</td>"
        f"<td>{np.nanmax(np.where(ranked(r['nodes']), r['nodes']['rel_l2'], np.nan)) if ranked(r['nodes']).any() else float('nan'):.3e}</td>"
        f"<td>{float(r['seconds']):.3f}</td></tr>" for r in rep["runs"])
    parts.append(f"<h2>Runs</h2><table><tr><th>run</th><th>result</th><th>worst rel_l2</th><th>seconds</th></tr>"
                 f"{rows}</table>")
    images = 0

    def img(title, data):
        nonlocal images
        if data is None:
            return
        images += 1
        parts.append(f"<h3>{html.escape(title)}</h3><img alt=\"{html.escape(title)}\" "
                     f"src=\"data:image/png;base64,{data}\"/>")

    for src in sources(rep):
        parts.append(f"<h2>{html.escape(src)}</h2>")
        img(f"Drift per layer: {src}", plot_drift_per_layer(rep, src, colors))
        img(f"Drift against token position: {src}", plot_drift_vs_position(rep, src, colors, ctx))
        img(f"Headroom per tap: {src}", plot_headroom(rep, src, colors))
    parts.append("<h2>Throughput</h2>")
    img("Throughput against the roofline", plot_roofline(rep, colors))
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
            f"<title>gemma4-harness report {html.escape(report_path)}</title>"
            "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}img{max-width:100%}</style>"
            "</head><body>\n" + "\n".join(parts) + f"\n<p>{images} plots, drawn by matplotlib "
            f"{html.escape(matplotlib.__version__)}.</p>\n</body></html>\n")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(page)


if __name__ == "__main__":
    main()
