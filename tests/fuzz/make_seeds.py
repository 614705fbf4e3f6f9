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
  png                tiny PNGs written here (zlib + struct): 8-bit RGB/RGBA/gray/gray+alpha, palette
                     with tRNS, 16-bit, Adam7-interlaced, and the committed vision_resize fixtures
  jpeg               tiny JPEGs written with PIL: baseline 4:2:0 / 4:4:4, progressive, grayscale,
                     CMYK (refused: not RGB), one pixel
  wav                0.1 s clips written here: 16 kHz mono PCM 8/16/24/32-bit and float32 WAV (the
                     accepted ones), stereo and 44.1 kHz (refused), an AU file, a WAV with a LIST chunk
Needs h5py + numpy (Debian's /usr/bin/python3 has both) and PIL (python3-pil) for the JPEG seeds.
"""
import io
import json
import os
import struct
import sys
import zlib

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


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)


def png_write(path, pixels, color_type, bit_depth=8, interlace=0, extra=b""):
    """pixels: uint8/uint16 array [h, w, channels] already in the colour type's layout."""
    h, w = pixels.shape[:2]
    dt = ">u2" if bit_depth == 16 else "u1"

    def rows(img):
        return b"".join(b"\0" + img[y].astype(dt).tobytes() for y in range(img.shape[0]))

    if interlace == 0:
        raw = rows(pixels)
    else:  # Adam7: seven sub-images, each filtered row by row
        raw = b""
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                               (1, 0, 2, 2), (0, 1, 1, 2)):
            sub = pixels[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += rows(sub)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, interlace)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
                png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def png_seeds(out):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    png_write(os.path.join(out, "rgb8.png"), rgb, 2)
    png_write(os.path.join(out, "rgba8.png"), rng.integers(0, 256, (5, 7, 4), dtype=np.uint8), 6)
    png_write(os.path.join(out, "gray8.png"), rng.integers(0, 256, (9, 4, 1), dtype=np.uint8), 0)
    png_write(os.path.join(out, "gray_alpha8.png"), rng.integers(0, 256, (4, 4, 2), dtype=np.uint8), 4)
    png_write(os.path.join(out, "rgb16.png"), rng.integers(0, 65536, (3, 5, 3), dtype=np.uint16), 2, 16)
    png_write(os.path.join(out, "rgb8_adam7.png"), rng.integers(0, 256, (11, 13, 3), dtype=np.uint8), 2,
              interlace=1)
    plte = png_chunk(b"PLTE", rng.integers(0, 256, 12, dtype=np.uint8).tobytes())
    trns = png_chunk(b"tRNS", bytes([0, 128, 255]))
    png_write(os.path.join(out, "palette_trns.png"), rng.integers(0, 3, (6, 6, 1), dtype=np.uint8), 3,
              extra=plte + trns)
    gama = png_chunk(b"gAMA", struct.pack(">I", 45455))
    png_write(os.path.join(out, "rgb8_gama.png"), rgb, 2, extra=gama)
    k = 8
    fixtures = os.path.join(ROOT, "golden", "fixtures", "vision_resize")
    if os.path.isdir(fixtures):  # a small real image (2.5 KB, 97 x 61): the resize with real content
        for fn in sorted(os.listdir(fixtures)):
            if fn.endswith(".png") and os.path.getsize(os.path.join(fixtures, fn)) <= 4096:
                with open(os.path.join(fixtures, fn), "rb") as f, open(os.path.join(out, fn), "wb") as g:
                    g.write(f.read())
                k += 1
    return k


def jpeg_seeds(out):
    from PIL import Image  # python3-pil
    rng = np.random.default_rng(2)
    # Smooth content compresses like a photo (random noise would make every block a worst case).
    y, x = np.mgrid[0:16, 0:24]
    rgb = np.stack([x * 10, y * 15, (x + y) * 6], axis=-1).astype(np.uint8)
    rgb = np.clip(rgb + rng.integers(0, 8, rgb.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    variants = {
        "baseline_420.jpg": dict(quality=75),
        "baseline_444.jpg": dict(quality=90, subsampling=0),
        "progressive.jpg": dict(quality=75, progressive=True),
        "optimized_q30.jpg": dict(quality=30, optimize=True),
    }
    for name, kw in variants.items():
        img.save(os.path.join(out, name), "JPEG", **kw)
    img.convert("L").save(os.path.join(out, "gray.jpg"), "JPEG", quality=75)
    img.convert("CMYK").resize((8, 8)).save(os.path.join(out, "cmyk.jpg"), "JPEG", quality=75)
    # The smallest image: one pixel, one partial MCU.
    Image.fromarray(rgb[:1, :1], "RGB").save(os.path.join(out, "one_pixel.jpg"), "JPEG", quality=75)
    return len(variants) + 3


def wav_write(path, samples, rate=16000, channels=1, bits=16, fmt_tag=1, extra_chunks=b""):
    """samples: float array in [-1, 1], interleaved when channels > 1."""
    if fmt_tag == 3:
        data = samples.astype("<f4").tobytes()
    elif bits == 8:
        data = np.clip(np.round(samples * 127 + 128), 0, 255).astype("u1").tobytes()
    else:
        full = 2 ** (bits - 1) - 1
        ints = np.clip(np.round(samples * full), -full, full).astype("<i4")
        data = b"".join(int(v).to_bytes(4, "little", signed=True)[:bits // 8] for v in ints)
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunks
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def wav_seeds(out):
    rng = np.random.default_rng(3)
    n = 1600  # 0.1 s at 16 kHz: a few mel frames
    t = np.arange(n) / 16000.0
    clip = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)
    clip = np.clip(clip, -1, 1)
    wav_write(os.path.join(out, "pcm16.wav"), clip)
    wav_write(os.path.join(out, "pcm8.wav"), clip[:800], bits=8)
    wav_write(os.path.join(out, "pcm24.wav"), clip[:800], bits=24)
    wav_write(os.path.join(out, "pcm32.wav"), clip[:800], bits=32)
    wav_write(os.path.join(out, "float32.wav"), clip[:800], bits=32, fmt_tag=3)
    wav_write(os.path.join(out, "stereo.wav"), np.repeat(clip[:400], 2), channels=2)
    wav_write(os.path.join(out, "rate44100.wav"), clip[:441], rate=44100)
    info = b"INFOISFT" + struct.pack("<I", 6) + b"fuzz\0\0"
    wav_write(os.path.join(out, "list_chunk.wav"), clip[:600], extra_chunks=b"LIST" + struct.pack("<I", len(info)) + info)
    # Sun AU: big-endian 16-bit linear PCM, 16 kHz mono.
    pcm = np.round(clip[:700] * 32767).astype(">i2").tobytes()
    with open(os.path.join(out, "clip.au"), "wb") as f:
        f.write(b".snd" + struct.pack(">IIIII", 24, len(pcm), 3, 16000, 1) + pcm)
    return 9


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
    for target, fn in (("png", png_seeds), ("jpeg", jpeg_seeds), ("wav", wav_seeds)):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        made[target] = fn(d)
    for t, n in made.items():
        size = sum(os.path.getsize(os.path.join(out, t, f)) for f in os.listdir(os.path.join(out, t)))
        print(f"{t:18s} {n:3d} seeds, {size} bytes")


if __name__ == "__main__":
    main()
