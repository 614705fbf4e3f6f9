#!/usr/bin/python3
"""Bad-input corpus: broken copies of the committed goldens, one defect each.

Usage: /usr/bin/python3 tests/bad_input/make_cases.py OUT_DIR
Writes OUT_DIR/<case>/ (a bundle, a config.json, ...) and OUT_DIR/cases.json, a list of
  {"name", "args": [CLI arguments, "{OUT}" = OUT_DIR], "expect": [substrings of the one stderr
   line: the file named and what was wrong], "no_output": [paths that must not exist afterwards]}
run by tests/bad_input/run_cases.py. Nothing here is committed: the corpus is regenerated from
golden/data/e2b_tiny (and e2b_tiny_sharded) on every run, so it follows the goldens.

Covered: files truncated at every section boundary (safetensors: inside the length, after the
length, inside the header, at the end of the header, inside the data; HDF5: inside the
superblock, at each quarter of the file), header offsets past the end / overlapping / reversed,
dtype and shape mismatches, dimensions whose size computation overflows 64 bits, datasets and
configs declaring more elements than the machine could hold, NaN and Inf in weights and goldens,
duplicated tensor names, non-UTF-8 names, empty files, a directory where a file is expected,
unreadable files (a symbolic-link loop: chmod 000 does not stop root, and CI runs as root; when
not root a chmod 000 case is added too), and broken shard indexes. Images and audio: PNG/JPEG/WAV
truncated in each section, bad CRCs, zero sizes, headers declaring huge images (PNG 10^10 pixels,
JPEG 60000 x 60000) or clips (a WAV data chunk of 4 GB, a 42-byte FLAC declaring 2^36 samples),
wrong channel count / sample rate, a directory where the file is expected. JPEG cases need PIL
(python3-pil); without it they are left out.
"""
import io
import json
import os
import shutil
import struct
import sys
import zlib

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "golden", "data", "e2b_tiny")
SRC_SHARDED = os.path.join(ROOT, "golden", "data", "e2b_tiny_sharded")

cases = []


def add(name, args, expect, no_output=()):
    cases.append({"name": name, "args": args, "expect": expect, "no_output": list(no_output)})


def bundle(out, name, src=SRC):
    d = os.path.join(out, name)
    shutil.copytree(src, d)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    return d


def verify(name, file_rel, expect):
    """A verify case on bundle `name`; the message must name file_rel and contain `expect`."""
    add(name, ["verify", "--golden", "{OUT}/" + name],
        ["{OUT}/" + name + ("/" + file_rel if file_rel else "")] + expect)


# --- safetensors -------------------------------------------------------------------------------

def st_parts(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    return blob, n, json.loads(blob[8:8 + n])


def st_pack(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def st_header_edit(out, name, edit, expect):
    d = bundle(out, name)
    p = os.path.join(d, "model.safetensors")
    blob, n, header = st_parts(p)
    data = blob[8 + n:]
    res = edit(header, data)
    if isinstance(res, tuple):
        header, data = res
    with open(p, "wb") as f:
        f.write(res if isinstance(res, bytes) else st_pack(header, data))
    verify(name, "model.safetensors", expect)


def first_tensor(header, ndim=None):
    for k, v in header.items():
        if k != "__metadata__" and (ndim is None or len(v["shape"]) == ndim):
            return k, v
    raise RuntimeError("no tensor")


def safetensors_cases(out):
    blob, n, header = st_parts(os.path.join(SRC, "model.safetensors"))
    # Truncations at every section boundary and inside each section.
    cuts = {
        "empty": (0, ["0 bytes"]),
        "in_length": (4, ["4 bytes", "8-byte header length"]),
        "after_length": (8, ["header length", "runs past the end"]),
        "in_header": (8 + n // 2, ["header length", "runs past the end"]),
        "after_header": (8 + n, ["data_offsets", "run past the end of the data section"]),
        "in_data": (8 + n + (len(blob) - 8 - n) // 2, ["data_offsets", "run past the end"]),
        "last_byte": (len(blob) - 1, ["data_offsets", "run past the end"]),
    }
    for tag, (size, expect) in cuts.items():
        name = f"st_truncated_{tag}"
        d = bundle(out, name)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(blob[:size])
        verify(name, "model.safetensors", expect)

    def huge_length(h, data):
        return struct.pack("<Q", 1 << 63) + blob[8:]
    st_header_edit(out, "st_header_length_huge", huge_length, ["header length", "over the"])

    def past_end(h, data):
        k, v = first_tensor(h)
        v["data_offsets"] = [len(data) + 8, len(data) + 8 + (v["data_offsets"][1] - v["data_offsets"][0])]
        return h, data
    st_header_edit(out, "st_offsets_past_end", past_end, ["data_offsets", "run past the end"])

    def overlap(h, data):
        names = [k for k in h if k != "__metadata__"]
        a, b = h[names[0]], h[names[1]]
        # b moved onto a's bytes (same byte count as b needs, inside the data section).
        size_b = b["data_offsets"][1] - b["data_offsets"][0]
        b["data_offsets"] = [a["data_offsets"][0], a["data_offsets"][0] + size_b]
        return h, data
    st_header_edit(out, "st_offsets_overlap", overlap, ["overlap"])

    def reversed_(h, data):
        k, v = first_tensor(h)
        v["data_offsets"] = [v["data_offsets"][1], v["data_offsets"][0]]
        return h, data
    st_header_edit(out, "st_offsets_reversed", reversed_, ["begin after end"])

    def bad_dtype(h, data):
        first_tensor(h)[1]["dtype"] = "F128"
        return h, data
    st_header_edit(out, "st_dtype_unknown", bad_dtype, ["unknown dtype 'F128'"])

    def dtype_mismatch(h, data):
        first_tensor(h)[1]["dtype"] = "F32"  # stored bytes are F64: twice what F32 needs
        return h, data
    st_header_edit(out, "st_dtype_size_mismatch", dtype_mismatch, ["hold", "bytes but shape", "needs"])

    def shape_transposed(h, data):
        for k, v in h.items():  # a projection (the embedding is read by rows, checked below)
            if k.endswith("q_proj.weight"):
                v["shape"] = v["shape"][::-1]  # same byte count, wrong shape for the config
                return h, data
        raise RuntimeError("no q_proj")
    st_header_edit(out, "st_shape_mismatch", shape_transposed, ["q_proj.weight' has shape", "expected"])

    def embed_transposed(h, data):
        k, v = first_tensor(h, 2)
        v["shape"] = v["shape"][::-1]
        return h, data
    st_header_edit(out, "st_shape_mismatch_embedding", embed_transposed, ["embed_tokens.weight", "outside"])

    def overflow(h, data):
        first_tensor(h)[1]["shape"] = [1 << 62, 1 << 62]
        return h, data
    st_header_edit(out, "st_shape_overflow", overflow, ["overflows a 64-bit"])

    def negative(h, data):
        first_tensor(h)[1]["shape"] = [-1, 48]
        return h, data
    st_header_edit(out, "st_shape_negative", negative, ["non-negative integers"])

    def dim_over_int64(h, data):
        first_tensor(h)[1]["shape"] = [1 << 63]
        return h, data
    st_header_edit(out, "st_shape_dim_over_int64", dim_over_int64, ["over 2^63-1"])

    def duplicate(h, data):
        text = json.dumps(h, separators=(",", ":"))
        k, v = first_tensor(h)
        dup = text[:-1] + "," + json.dumps(k) + ":" + json.dumps(v) + "}"
        dup = dup.encode()
        return struct.pack("<Q", len(dup)) + dup + data
    st_header_edit(out, "st_duplicate_name", duplicate, ["appears twice"])

    def non_utf8(h, data):
        text = json.dumps(h, separators=(",", ":")).encode()
        k, _ = first_tensor(h)
        text = text.replace(json.dumps(k).encode(), b'"model.\xff\xfe.weight"', 1)
        return struct.pack("<Q", len(text)) + text + data
    st_header_edit(out, "st_name_not_utf8", non_utf8, ["header is not valid JSON", "UTF-8"])

    def not_object(h, data):
        text = b"[1,2,3]"
        return struct.pack("<Q", len(text)) + text + data
    st_header_edit(out, "st_header_not_object", not_object, ["must be an object"])

    def not_json(h, data):
        text = b"{not json at all"
        return struct.pack("<Q", len(text)) + text + data
    st_header_edit(out, "st_header_not_json", not_json, ["not valid JSON"])

    def nested(h, data):  # 300000 levels: once a stack overflow in messages that dump() the shape
        text = ('{"t":{"dtype":"F32","shape":' + "[" * 300000 + "]" * 300000 + ',"data_offsets":[0,0]}}').encode()
        return struct.pack("<Q", len(text)) + text + data
    st_header_edit(out, "st_json_nested_300000", nested, ["nests JSON deeper than"])

    def missing_tensor(h, data):
        del h[first_tensor(h)[0]]
        return h, data
    st_header_edit(out, "st_missing_tensor", missing_tensor, ["no 'embed_tokens.weight'"])

    for tag, value in (("nan", float("nan")), ("inf", float("inf")), ("neg_inf", float("-inf"))):
        def put(h, data, value=value):
            k, v = first_tensor(h, 2)
            assert v["dtype"] == "F64"
            data = bytearray(data)
            at = v["data_offsets"][0] + 8 * 5  # element 5
            data[at:at + 8] = struct.pack("<d", value)
            return h, bytes(data)
        st_header_edit(out, f"st_weight_{tag}", put,
                       ["element 5", {"nan": "nan", "inf": "+inf", "neg_inf": "-inf"}[tag], "finite"])

    d = bundle(out, "st_is_directory")
    os.remove(os.path.join(d, "model.safetensors"))
    os.mkdir(os.path.join(d, "model.safetensors"))
    verify("st_is_directory", "model.safetensors", ["no model.safetensors", "in this directory"])

    d = bundle(out, "st_unreadable_symlink_loop")
    os.remove(os.path.join(d, "model.safetensors"))
    os.symlink("model.safetensors", os.path.join(d, "model.safetensors"))
    verify("st_unreadable_symlink_loop", "model.safetensors", ["cannot read it", "symbolic links"])

    if os.geteuid() != 0:
        d = bundle(out, "st_unreadable_chmod000")
        os.chmod(os.path.join(d, "model.safetensors"), 0)
        verify("st_unreadable_chmod000", "model.safetensors", ["Permission denied"])


def sharded_cases(out):
    def index_edit(name, edit, expect, file_rel="model.safetensors.index.json"):
        d = bundle(out, name, SRC_SHARDED)
        p = os.path.join(d, "model.safetensors.index.json")
        with open(p) as f:
            index = json.load(f)
        res = edit(index, d)
        with open(p, "wb") as f:
            f.write(res if isinstance(res, bytes) else json.dumps(res).encode())
        verify(name, file_rel, expect)

    index_edit("idx_empty", lambda i, d: b"", ["index is not valid JSON"])
    index_edit("idx_not_json", lambda i, d: b'{"weight_map": {"a": ', ["index is not valid JSON"])
    index_edit("idx_weight_map_list", lambda i, d: {"weight_map": []}, ['"weight_map" object'])
    index_edit("idx_json_nested_300000",
               lambda i, d: b'{"weight_map": {"a": ' + b"[" * 300000 + b"]" * 300000 + b"}}",
               ["nests JSON deeper than"])

    def missing_shard(i, d):
        os.remove(os.path.join(d, "model-00002-of-00004.safetensors"))
        return i
    index_edit("idx_missing_shard", missing_shard, ["shard 'model-00002-of-00004.safetensors'", "missing"])

    def wrong_shard(i, d):
        k = next(iter(i["weight_map"]))
        i["weight_map"][k] = "model-00004-of-00004.safetensors"
        return i
    index_edit("idx_tensor_not_in_shard", wrong_shard, ["that file has no such tensor"])

    def absolute(i, d):
        k = next(iter(i["weight_map"]))
        i["weight_map"][k] = "/etc/passwd"
        return i
    index_edit("idx_absolute_shard_path", absolute, ["relative to the index"])

    def truncated_shard(i, d):
        p = os.path.join(d, "model-00003-of-00004.safetensors")
        with open(p, "rb") as f:
            blob = f.read()
        with open(p, "wb") as f:
            f.write(blob[:len(blob) // 2])
        return i
    index_edit("idx_shard_truncated", truncated_shard, ["run past the end"],
               "model-00003-of-00004.safetensors")

    def non_utf8(i, d):
        return json.dumps(i).encode().replace(b'"weight_map": {', b'"weight_map": {"\xc3\x28": "x", ', 1)
    index_edit("idx_name_not_utf8", non_utf8, ["index is not valid JSON", "UTF-8"])


# --- golden.h5 ---------------------------------------------------------------------------------

def h5_rewrite(out, name, edit, expect):
    """Copies golden.h5 object by object (h5py), letting edit(src, dst) change the copy."""
    d = bundle(out, name)
    p = os.path.join(d, "golden.h5")
    tmp = p + ".src"
    os.rename(p, tmp)
    with h5py.File(tmp, "r") as src, h5py.File(p, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for k in src:
            src.copy(k, dst)
        edit(src, dst)
    os.remove(tmp)
    verify(name, "golden.h5", expect)


def first_tap(f):
    for k in sorted(f["taps"]):
        if not k.endswith(".indices"):
            return k
    raise RuntimeError("no float tap")


def golden_cases(out):
    p = os.path.join(SRC, "golden.h5")
    with open(p, "rb") as f:
        blob = f.read()
    cuts = {"empty": 0, "in_superblock": 40, "quarter": len(blob) // 4, "half": len(blob) // 2,
            "three_quarters": 3 * len(blob) // 4, "last_byte": len(blob) - 1}
    for tag, size in cuts.items():
        name = f"h5_truncated_{tag}"
        d = bundle(out, name)
        with open(os.path.join(d, "golden.h5"), "wb") as f:
            f.write(blob[:size])
        # Cut inside the data, HDF5 opens the file and fails on the first dataset it reads.
        verify(name, "golden.h5", [])

    d = bundle(out, "h5_not_hdf5")
    with open(os.path.join(d, "golden.h5"), "wb") as f:
        f.write(b"this is not an HDF5 file\n" * 100)
    verify("h5_not_hdf5", "golden.h5", ["not a readable HDF5 file", "no HDF5 signature"])

    d = bundle(out, "h5_is_directory")
    os.remove(os.path.join(d, "golden.h5"))
    os.mkdir(os.path.join(d, "golden.h5"))
    verify("h5_is_directory", "golden.h5", ["not a regular file"])

    d = bundle(out, "h5_unreadable_symlink_loop")
    os.remove(os.path.join(d, "golden.h5"))
    os.symlink("golden.h5", os.path.join(d, "golden.h5"))
    verify("h5_unreadable_symlink_loop", "golden.h5", ["symbolic links"])

    def put(value):
        def edit(src, dst):
            t = first_tap(dst)
            ds = dst["taps"][t]
            a = ds[...]
            a.flat[3] = value
            ds[...] = a
        return edit
    h5_rewrite(out, "h5_tap_nan", put(np.nan), ["element 3", "is nan", "expected finite"])
    h5_rewrite(out, "h5_tap_inf", put(np.inf), ["element 3", "is +inf", "expected finite"])

    def ids_float(src, dst):
        a = src["inputs/input_ids"][...].astype("f8")
        del dst["inputs/input_ids"]
        dst["inputs/input_ids"] = a
    h5_rewrite(out, "h5_input_ids_float", ids_float, ["'/inputs/input_ids' is FLOAT, expected INTEGER"])

    def ids_out_of_vocab(src, dst):
        a = src["inputs/input_ids"][...]
        a[0, 0] = 1 << 40
        dst["inputs/input_ids"][...] = a
    h5_rewrite(out, "h5_input_ids_out_of_vocab", ids_out_of_vocab, ["token id 1099511627776", "outside the vocabulary"])

    def mask_shape(src, dst):
        a = src["inputs/attention_mask"][...]
        del dst["inputs/attention_mask"]
        dst["inputs/attention_mask"] = a[:, :-1]
    h5_rewrite(out, "h5_mask_shape_mismatch", mask_shape, ["attention_mask' shape differs"])

    def no_inputs(src, dst):
        del dst["inputs/input_ids"]
    h5_rewrite(out, "h5_missing_input_ids", no_inputs, ["'/inputs/input_ids' is missing"])

    def no_layout(src, dst):
        del dst["taps"][first_tap(dst)].attrs["layout"]
    h5_rewrite(out, "h5_tap_no_layout", no_layout, ["expected attribute 'layout'"])

    def tap_int(src, dst):
        t = first_tap(dst)
        a = dst["taps"][t][...]
        attrs = dict(dst["taps"][t].attrs)
        del dst["taps"][t]
        dst["taps"][t] = a.astype("i8")
        for k, v in attrs.items():
            dst["taps"][t].attrs[k] = v
    h5_rewrite(out, "h5_tap_dtype_int", tap_int, ["is INTEGER, expected FLOAT"])

    def tap_shape(src, dst):
        t = first_tap(dst)
        a = dst["taps"][t][...]
        attrs = dict(dst["taps"][t].attrs)
        del dst["taps"][t]
        dst["taps"][t] = a[:, :-1]  # one token short
        for k, v in attrs.items():
            dst["taps"][t].attrs[k] = v
    h5_rewrite(out, "h5_tap_shape_mismatch", tap_shape, ["shape"])

    def tap_huge(src, dst):
        # Declares 2^50 doubles (8 PiB), chunked with nothing written: a few KB on disk. Refused
        # before any allocation (golden/limits.hpp).
        t = first_tap(dst)
        attrs = dict(dst["taps"][t].attrs)
        del dst["taps"][t]
        dst["taps"].create_dataset(t, shape=(1 << 20, 1 << 20, 1 << 10), dtype="f8", chunks=(1, 1, 1024))
        for k, v in attrs.items():
            dst["taps"][t].attrs[k] = v
    h5_rewrite(out, "h5_tap_declares_8PiB", tap_huge, ["declares shape [1048576, 1048576, 1024]",
                                                        "refused before allocating"])

    def ids_overflow(src, dst):
        del dst["inputs/input_ids"]
        dst["inputs"].create_dataset("input_ids", shape=(1 << 40, 1 << 40), dtype="i8", chunks=(1, 1024))
    h5_rewrite(out, "h5_input_ids_count_overflows", ids_overflow, ["input_ids", "overflows 64 bits"])

    def ids_huge(src, dst):
        del dst["inputs/input_ids"]
        dst["inputs"].create_dataset("input_ids", shape=(1 << 30, 1 << 20), dtype="i8", chunks=(1, 1024))
    h5_rewrite(out, "h5_input_ids_declares_huge", ids_huge, ["input_ids", "refused before allocating"])


# --- config.json -------------------------------------------------------------------------------

def config_cases(out):
    with open(os.path.join(SRC, "config.json")) as f:
        base = json.load(f)

    def cfg(name, data, expect, via_bundle=False):
        if via_bundle:
            d = bundle(out, name)
            with open(os.path.join(d, "config.json"), "wb") as f:
                f.write(data)
            verify(name, "config.json", expect)
        else:
            p = os.path.join(out, name + ".json")
            with open(p, "wb") as f:
                f.write(data)
            add(name, ["config", "{OUT}/" + name + ".json"], ["{OUT}/" + name + ".json"] + expect)

    def edited(**kv):
        c = dict(base)
        for k, v in kv.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return json.dumps(c).encode()

    cfg("cfg_empty", b"", ["not valid JSON"], via_bundle=True)
    cfg("cfg_not_json", b"{\"hidden_size\": 48,", ["not valid JSON"])
    cfg("cfg_array", b"[1, 2]", ["JSON object"])
    cfg("cfg_json_nested_300000", b'{"hidden_size": ' + b"[" * 300000 + b"]" * 300000 + b"}",
        ["nested deeper than"])
    cfg("cfg_unknown_field", edited(frobnicate=1), ["unknown config field 'frobnicate'"])
    cfg("cfg_wrong_type", edited(hidden_size="48"), ["'hidden_size' must be an integer"])
    cfg("cfg_layers_huge", edited(num_hidden_layers=10**12, layer_types=None), ["num_hidden_layers", "over the limit"])
    cfg("cfg_layers_2000", edited(num_hidden_layers=2000, layer_types=None), ["num_hidden_layers", "outside [1, 1024]"])
    cfg("cfg_uint64_dim", edited(hidden_size=(1 << 64) - 1), ["hidden_size", "over the limit"])
    cfg("cfg_layers_negative", edited(num_hidden_layers=-3), ["num_hidden_layers"])
    cfg("cfg_width_overflow", edited(intermediate_size=(1 << 62) + 1, use_double_wide_mlp=True),
        ["intermediate_size"])
    cfg("cfg_eps_overflow", edited().replace(b'"rms_norm_eps": ', b'"rms_norm_eps": 1e999, "x": ', 1),
        ["number overflow", "1e999"])
    cfg("cfg_eps_nan_literal", edited().replace(b'"rms_norm_eps": ', b'"rms_norm_eps": NaN, "x": ', 1),
        ["not valid JSON"])
    cfg("cfg_non_utf8", edited().replace(b'"hidden_size"', b'"hidden_\xff"', 1), ["not valid JSON", "UTF-8"])
    cfg("cfg_bundle_layers_mismatch", edited(num_hidden_layers=base["num_hidden_layers"] + 1,
                                              layer_types=None),
        [], via_bundle=True)
    d = bundle(out, "cfg_is_directory")
    os.remove(os.path.join(d, "config.json"))
    os.mkdir(os.path.join(d, "config.json"))
    verify("cfg_is_directory", "config.json", ["not a regular file"])


# --- images and audio (vision-preprocess, audio-features) ---------------------------------------

def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)


def png_file(width, height, rows):
    """An 8-bit RGB PNG whose IHDR declares width x height; `rows` filtered rows of real data."""
    raw = (b"\0" + bytes(range(256)) * (3 * width // 256) + b"\x80" * (3 * width % 256)) * rows
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def jpeg_file():
    """A 24 x 16 baseline JPEG (PIL, python3-pil), or None without PIL."""
    try:
        from PIL import Image
    except ImportError:
        return None
    y, x = np.mgrid[0:16, 0:24]
    rgb = np.stack([x * 10, y * 15, (x + y) * 6], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=75)
    return buf.getvalue()


def wav_file(n, rate=16000, channels=1, declared=None):
    """16-bit PCM WAV of n frames (a sine); `declared` overrides the data chunk's byte count."""
    t = np.arange(n * channels) / float(rate)
    data = np.round(0.4 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data) if declared is None else declared) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def media_cases(out):
    """PNG/JPEG through `vision-preprocess`, audio through `audio-features`: truncated files, corrupt
    headers, headers declaring huge images or clips (refused before allocating), wrong formats."""
    d = os.path.join(out, "media")
    os.mkdir(d)

    def put(name, data):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        return "{OUT}/media/" + name

    def image(name, data, expect):
        p = put(name, data)
        add("img_" + os.path.splitext(name)[0], ["vision-preprocess", p, "--budget", "70"], [p] + expect)

    def audio(name, data, expect):
        p = put(name, data)
        add("audio_" + os.path.splitext(name)[0], ["audio-features", p], [p] + expect)

    good_png = png_file(24, 16, 16)
    image("png_empty.png", b"", ["the image file is empty"])
    image("png_signature_only.png", good_png[:8], ["corrupt PNG"])
    image("png_truncated_in_ihdr.png", good_png[:20], ["corrupt PNG"])
    idat = good_png.find(b"IDAT")
    image("png_truncated_in_idat.png", good_png[:idat + 20], ["corrupt or truncated PNG (read beyond end of data)"])
    # (A PNG cut right before IEND still decodes: every pixel is there, as in PIL.)
    bad_idat = bytearray(good_png)
    bad_idat[idat + 10] ^= 0x55  # inside the zlib stream (zlib fails before the chunk's CRC is checked)
    image("png_idat_corrupt.png", bytes(bad_idat), ["corrupt or truncated PNG"])
    bad_crc = bytearray(good_png)
    bad_crc[29] ^= 0xff  # the IHDR's CRC
    image("png_ihdr_crc.png", bytes(bad_crc), ["corrupt PNG", "CRC"])
    image("png_zero_width.png", png_file(0, 16, 0), ["corrupt PNG"])
    image("png_bomb_100000x100000.png", png_file(100000, 100000, 2),
          ["PNG header declares 100000 x 100000 = 10000000000 pixels", "over the limit", "refused before decoding"])
    image("png_bomb_20000x20000.png", png_file(20000, 20000, 2),
          ["PNG header declares 20000 x 20000 = 400000000 pixels", "over the limit"])
    image("not_an_image.png", b"GIF89a" + b"\0" * 32, ["not a PNG or JPEG file"])
    os.mkdir(os.path.join(d, "dir.png"))
    add("img_directory", ["vision-preprocess", "{OUT}/media/dir.png", "--budget", "70"],
        ["{OUT}/media/dir.png", "not a regular file"])
    jpeg = jpeg_file()
    if jpeg is not None:
        image("jpeg_soi_only.jpg", jpeg[:3], ["corrupt or truncated JPEG"])
        image("jpeg_truncated_in_header.jpg", jpeg[:40], ["corrupt or truncated JPEG"])
        image("jpeg_truncated_in_scan.jpg", jpeg[:len(jpeg) - 60], ["corrupt or truncated JPEG"])
        sof = jpeg.find(b"\xff\xc0")
        bomb = bytearray(jpeg)
        bomb[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
        image("jpeg_bomb_60000x60000.jpg", bytes(bomb),
              ["JPEG header declares 60000 x 60000 = 3600000000 pixels", "refused before decoding"])
        zero = bytearray(jpeg)
        zero[sof + 5:sof + 7] = struct.pack(">H", 0)
        image("jpeg_zero_height.jpg", bytes(zero), ["corrupt or truncated JPEG"])

    good = wav_file(1600)
    audio("wav_empty.wav", b"", ["not a readable audio file"])
    audio("wav_riff_only.wav", good[:12], ["not a readable audio file"])
    audio("wav_truncated_in_fmt.wav", good[:30], ["not a readable audio file"])
    audio("wav_truncated_in_data.wav", good[:len(good) // 2], ["truncated WAV file", "the data chunk declares 3200 bytes"])
    audio("wav_data_declares_4gb.wav", wav_file(1600, declared=0xfffffff0), ["truncated WAV file", "4294967280 bytes"])
    # A 'fmt ' chunk declaring 2^32 - 8 bytes: the RIFF walk's 8 + len wrapped to 0 in 32 bits and
    # looped forever (found by fuzz_wav); now one line from libsndfile.
    audio("wav_fmt_len_wraps.wav", good[:16] + struct.pack("<I", 0xfffffff8) + good[20:40],
          ["not a readable audio file"])
    audio("wav_stereo.wav", wav_file(800, channels=2), ["2 channels, expected mono"])
    audio("wav_44100hz.wav", wav_file(441, rate=44100), ["sample rate 44100 Hz, expected 16000 Hz"])
    audio("wav_no_samples.wav", wav_file(0), ["empty audio (0 samples)"])
    audio("wav_31s.wav", wav_file(16000 * 31), ["496000 samples", "longer than the maximum 480000 samples",
                                                "refused before reading"])
    # A 42-byte FLAC whose STREAMINFO declares 2^36 - 1 samples (512 GiB as float64): libsndfile
    # reports that frame count as is; refused from the header, before the sample buffer exists.
    si = struct.pack(">HH", 4096, 4096) + bytes(6) + \
        ((16000 << 44) | (15 << 36) | ((1 << 36) - 1)).to_bytes(8, "big") + bytes(16)
    audio("flac_declares_2p36_samples.flac", b"fLaC\x80" + len(si).to_bytes(3, "big") + si,
          ["68719476735 samples", "longer than the maximum 480000 samples", "refused before reading"])
    os.mkdir(os.path.join(d, "dir.wav"))
    add("audio_directory", ["audio-features", "{OUT}/media/dir.wav"], ["{OUT}/media/dir.wav", "not a regular file"])


# --- run: no partial report ---------------------------------------------------------------------

def run_cases(out):
    """`run` on broken bundles: refused before any work, no report and no temp file left."""
    for name, broken in (("run_bad_weights", "st_weight_nan"), ("run_bad_golden", "h5_truncated_half"),
                         ("run_bad_config", "cfg_empty")):
        res = os.path.join(out, name)
        os.mkdir(res)
        add(name, ["run", "--no-real", "--quiet", "--golden", "{OUT}/" + broken, "--policies", "fp32",
                   "--modes", "teacher", "--out", "{OUT}/" + name + "/report.h5"],
            ["{OUT}/" + broken + "/"],
            ["{OUT}/" + name + "/report.h5", "{OUT}/" + name + "/report.md"])


def budget_cases(out):
    """--memory-budget: a run that would not fit says which layer, before any work (exit 2)."""
    for name, args, expect in (
            ("budget_real_31b_full", ["--no-golden", "--variants", "31b", "--layers", "full", "--memory-budget", "1G"],
             ["--memory-budget 1073741824 bytes (1.00 GiB)", "real 31b layer", "full", "would need about"]),
            ("budget_golden", ["--no-real", "--golden", os.path.join(ROOT, "golden/data/e2b_tiny"),
                               "--memory-budget", "64K"],
             ["--memory-budget 65536 bytes (64 KiB)", "golden " + os.path.join(ROOT, "golden/data/e2b_tiny"),
              "would need about"])):
        res = os.path.join(out, name)
        os.mkdir(res)
        add(name, ["run", "--quiet", "--policies", "fp32", "--modes", "teacher"] + args +
            ["--out", "{OUT}/" + name + "/report.h5"], expect,
            ["{OUT}/" + name + "/report.h5", "{OUT}/" + name + "/report.md"])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    safetensors_cases(out)
    sharded_cases(out)
    golden_cases(out)
    config_cases(out)
    media_cases(out)
    run_cases(out)
    budget_cases(out)
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print(f"{len(cases)} bad-input cases in {out}")


if __name__ == "__main__":
    main()
