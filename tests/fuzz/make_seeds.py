#!/usr/bin/python3
"""Seed corpora for the fuzz targets, made from the committed goldens (nothing here is committed).

Usage: /usr/bin/python3 tests/fuzz/make_seeds.py OUT_DIR [REPORT.h5 ...]

Writes OUT_DIR/<target>/<name> for the targets of tests/fuzz/CMakeLists.txt. Seeds are small
(a few KB to tens of KB): libFuzzer mutates small inputs far faster, and the parsers' interesting
parts (headers, indexes, HDF5 object headers) are near the start anyway.
  safetensors        each committed .safetensors cut down to a few tensors (header rewritten, data
                     packed), plus tiny files in every dtype of the format
  safetensors_index  the committed shard index, and cut-down copies of it
  config_json        every committed config.json (and the gemma4 wrapper form of one)
  golden_h5          each committed golden.h5 cut down to /inputs, the root attributes and a few taps
                     (gzip kept, as the exporter writes them)
  report             the REPORT.h5 files given (scripts/fuzz.sh makes one with `gemma4-harness run`),
  report_tools       also cut down to 4 nodes per run (the same seeds for both)
  gate_rules         the committed reports/gate.json
Needs h5py + numpy (Debian's /usr/bin/python3 has both).
"""
import json
import os
import struct
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "golden", "data")


def st_write(path, tensors, metadata=None):
    """tensors: list of (name, dtype string, shape, raw bytes)."""
    header, off, blobs = {}, 0, []
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def st_read(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", None)
    base = 8 + n
    out = []
    for name, v in header.items():
        b, e = v["data_offsets"]
        out.append((name, v["dtype"], v["shape"], blob[base + b:base + e]))
    return meta, out


def safetensors_seeds(out):
    k = 0
    for bundle in sorted(os.listdir(DATA)):
        d = os.path.join(DATA, bundle)
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".safetensors"):
                continue
            meta, ts = st_read(os.path.join(d, fn))
            ts.sort(key=lambda t: len(t[3]))
            small = [t for t in ts if len(t[3]) <= 512][:5]
            two_d = [t for t in ts if len(t[2]) == 2][:1]
            # A 2-D tensor cut to its first two rows keeps row reads meaningful.
            for name, dt, shape, raw in two_d:
                row = len(raw) // shape[0]
                small.append((name, dt, [min(2, shape[0]), shape[1]], raw[:row * min(2, shape[0])]))
            st_write(os.path.join(out, f"{bundle}_{fn}"), small, meta)
            k += 1
    # Every dtype of the format, 2x3 each, finite values.
    rng = np.random.default_rng(0)
    vals = rng.standard_normal(6)
    typed = {
        "F64": vals.astype("<f8").tobytes(), "F32": vals.astype("<f4").tobytes(),
        "F16": vals.astype("<f2").tobytes(),
        "BF16": (vals.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes(),
        "F8_E4M3": bytes([0x38, 0x40, 0xb8, 0x01, 0x7e, 0x00]),
        "F8_E5M2": bytes([0x3c, 0x40, 0xbc, 0x01, 0x7b, 0x00]),
        "I64": np.arange(6, dtype="<i8").tobytes(), "I32": np.arange(6, dtype="<i4").tobytes(),
        "I16": np.arange(6, dtype="<i2").tobytes(), "I8": np.arange(6, dtype="<i1").tobytes(),
        "U64": np.arange(6, dtype="<u8").tobytes(), "U32": np.arange(6, dtype="<u4").tobytes(),
        "U16": np.arange(6, dtype="<u2").tobytes(), "U8": np.arange(6, dtype="<u1").tobytes(),
        "BOOL": bytes([0, 1, 1, 0, 1, 0]),
    }
    st_write(os.path.join(out, "all_dtypes.safetensors"),
             [(f"t.{dt}", dt, [2, 3], raw) for dt, raw in typed.items()], {"format": "pt"})
    st_write(os.path.join(out, "scalar_and_empty.safetensors"),
             [("s", "F32", [], struct.pack("<f", 1.5)), ("e", "F32", [0, 4], b"")])
    return k + 2


def index_seeds(out):
    src = os.path.join(DATA, "e2b_tiny_sharded", "model.safetensors.index.json")
    with open(src) as f:
        index = json.load(f)
    with open(os.path.join(out, "full.json"), "w") as f:
        json.dump(index, f, indent=2)
    wm = index["weight_map"]
    for n in (1, 4):
        cut = {"metadata": index.get("metadata", {}), "weight_map": dict(list(wm.items())[:n])}
        with open(os.path.join(out, f"first{n}.json"), "w") as f:
            json.dump(cut, f)
    by_shard = {}
    for t, s in wm.items():
        by_shard.setdefault(s, t)
    with open(os.path.join(out, "one_per_shard.json"), "w") as f:
        json.dump({"weight_map": {t: s for s, t in by_shard.items()}}, f)
    return 4


def config_seeds(out):
    k = 0
    for bundle in sorted(os.listdir(DATA)):
        p = os.path.join(DATA, bundle, "config.json")
        if os.path.exists(p):
            with open(p) as f:
                text = f.read()
            with open(os.path.join(out, f"{bundle}.json"), "w") as f:
                f.write(text)
            k += 1
            if bundle == "e2b_tiny":
                cfg = json.loads(text)
                cfg.pop("model_type", None)
                with open(os.path.join(out, "wrapped_gemma4.json"), "w") as f:
                    json.dump({"model_type": "gemma4", "text_config": cfg}, f)
                k += 1
    return k


def copy_attrs(src, dst):
    for k, v in src.attrs.items():
        dst.attrs[k] = v


def golden_seeds(out):
    k = 0
    for bundle in sorted(os.listdir(DATA)):
        p = os.path.join(DATA, bundle, "golden.h5")
        if not os.path.exists(p) or bundle.endswith("_sharded"):
            continue
        with h5py.File(p, "r") as src, h5py.File(os.path.join(out, f"{bundle}.h5"), "w") as dst:
            copy_attrs(src, dst)
            for k2 in ("config_json", "command_line", "patches"):  # long text: keep the seed small
                if k2 in dst.attrs:
                    dst.attrs[k2] = str(src.attrs[k2])[:64]
            src.copy("inputs", dst)
            taps = dst.create_group("taps")
            names = sorted(src["taps"].keys())
            keep = names[:2] + [n for n in names if n.endswith(".indices")][:1]
            for n in keep:
                s = src["taps"][n]
                data = s[...]
                # Keep the first two token rows of the leading axis only.
                ds = taps.create_dataset(n, data=data[:1] if data.ndim > 2 else data,
                                         compression=s.compression, shuffle=s.shuffle)
                copy_attrs(s, ds)
        k += 1
    return k


def report_seeds(out, reports):
    k = 0
    for i, p in enumerate(reports):
        with open(p, "rb") as f, open(os.path.join(out, f"report{i}.h5"), "wb") as g:
            g.write(f.read())
        k += 1
        with h5py.File(p, "r") as src, h5py.File(os.path.join(out, f"report{i}_cut.h5"), "w") as dst:
            copy_attrs(src, dst)
            src.copy("machine", dst)
            src.copy("index", dst)
            runs = dst.create_group("runs")
            for rid in src["runs"]:
                r = src["runs"][rid]
                g = runs.create_group(rid)
                copy_attrs(r, g)
                for sub in r:
                    if sub != "nodes":
                        r.copy(sub, g)
                nodes = g.create_group("nodes")
                for col in r["nodes"]:
                    nodes.create_dataset(col, data=r["nodes"][col][:4])
        k += 1
    return k


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    made = {}
    for target, fn in (("safetensors", safetensors_seeds), ("safetensors_index", index_seeds),
                       ("config_json", config_seeds), ("golden_h5", golden_seeds)):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        made[target] = fn(d)
    for target in ("report", "report_tools"):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        made[target] = report_seeds(d, sys.argv[2:])
    d = os.path.join(out, "gate_rules")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(ROOT, "reports", "gate.json")) as f:
        rules = f.read()
    with open(os.path.join(d, "gate.json"), "w") as f:
        f.write(rules)
    made["gate_rules"] = 1
    for t, n in made.items():
        size = sum(os.path.getsize(os.path.join(out, t, f)) for f in os.listdir(os.path.join(out, t)))
        print(f"{t:18s} {n:3d} seeds, {size} bytes")


if __name__ == "__main__":
    main()
