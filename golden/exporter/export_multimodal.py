#!/usr/bin/env python3
"""Golden-tensor exporter for the multimodal merge (Gemma4ForConditionalGeneration).

Builds a tiny randomly initialised Gemma4ForConditionalGeneration (text decoder + tiny vision tower,
+ tiny audio tower for the E2B-like family), runs ONE forward in true float64 on the CPU and writes a
bundle directory:

    <out>/config.json         model.save_pretrained (float64; a Gemma4Config with text/vision/audio)
    <out>/model.safetensors   model.save_pretrained (float64)
    <out>/golden.h5           root attribute kind = "multimodal"; /inputs, /taps, provenance

Families:
  e2b : E2B-like text (PLE, kv sharing, double-wide MLP) + on-device-like vision tower (clipped
        linears) + audio tower; one prompt with an image, a two-frame video, an audio clip and text.
  31b : 31B-like text (k_eq_v, vision-bidirectional masks, no PLE) + large-like vision tower
        (standardize); two rows: an image whose block is longer than the sliding window, and a
        left-padded row with two video frames (two blocks).

/inputs holds the token side (input_ids, attention_mask, mm_token_type_ids) and everything the
towers need under transformers' names (pixel_values, image_position_ids, pixel_values_videos,
video_position_ids, num_frames_per_video, input_features, input_features_mask).

/taps holds, besides every text-decoder tap of export_text.py under "model.language_model.":
  model.vision_tower.last_hidden_state   [n_img_tokens, Hv]  vision tower output (images), pre-embedder
  model.vision_tower.video_last_hidden_state [n_vid_tokens, Hv] same for the video frames
  model.audio_tower.last_hidden_state    [n_audio, T_a, Ha_out] audio tower output (padding included)
  model.audio_tower.output_mask          [n_audio, T_a] (1 = valid soft token)
  model.vision_tower.{patch_embedder, encoder.layers.<i>, pooler}  [n_img, Np | Nt, Hv] inside the vision
                                         tower, for the image call only (the video frames run the same
                                         modules: their names would collide)
  model.audio_tower.{subsample_conv_projection, layers.<i>, output_proj}  [n_audio, T_a, D | Ha_out]
  model.image_features                   [n_img_tokens, H]   projected soft tokens (embed_vision), in order
  model.video_features                   [n_vid_tokens, H]
  model.audio_features                   [n_aud_tokens, H]   (padding soft tokens stripped)
  model.language_model.embed_tokens      [B, S, H]  E[ids_llm]·sqrt(H): placeholders replaced by pad id
  model.inputs_embeds                    [B, S, H]  after the three masked_scatter merges
Soft-token and tower-internal taps carry layout "rows" (no token axis: every element is compared,
padding patches / frames included: both sides compute them deterministically).

Float64 patches: export_text.PRECISION_PATCHES plus, for the towers, Tensor.float() -> float64 and
softmax(dtype=float32) -> float64 inside the run (the towers' float32 islands: vision pooler and
standardize, audio attention), and the vision 2-D RoPE in float64. Nothing else changes.

Usage:
    python3 golden/exporter/export_multimodal.py --all
    python3 golden/exporter/export_multimodal.py --family e2b --seed 3 --out /tmp/mm
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import sys

import h5py
import numpy as np
import torch
import transformers
from torch import nn
from transformers import Gemma4Config, Gemma4ForConditionalGeneration

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_text as et  # noqa: E402
from export_text import FULL, SLIDING, g4  # noqa: E402

FAMILIES = ("e2b", "31b")
PAD_ID = et.PAD_ID
# Multimodal token ids inside the tiny vocabulary (96); text tokens are drawn from [3, TEXT_ID_MAX).
IMAGE_ID, AUDIO_ID, VIDEO_ID, BOI_ID, EOI_ID, BOA_ID, EOA_ID = 90, 91, 92, 93, 94, 95, 89
TEXT_ID_MAX = 80
SOFT_TOKEN_TAPS = ("model.image_features", "model.video_features", "model.audio_features",
                   "model.vision_tower.last_hidden_state", "model.vision_tower.video_last_hidden_state",
                   "model.audio_tower.last_hidden_state", "model.audio_tower.output_mask")

# ------------------------------------------------------------------------------------------------
# Configurations
# ------------------------------------------------------------------------------------------------


def vision_config(large: bool) -> dict:
    return dict(
        hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        head_dim=8, patch_size=2, pooling_kernel_size=2, position_embedding_size=16,
        use_clipped_linears=not large, standardize=large, rms_norm_eps=1e-6, initializer_range=et.INIT_RANGE)


def audio_config() -> dict:
    return dict(
        hidden_size=8, num_hidden_layers=2, num_attention_heads=2, subsampling_conv_channels=[16, 8],
        conv_kernel_size=3, attention_chunk_size=4, attention_context_left=5, attention_context_right=0,
        output_proj_dims=12, use_clipped_linears=True, rms_norm_eps=1e-6, initializer_range=et.INIT_RANGE)


def mm_config(family: str) -> Gemma4Config:
    text = et.config_e2b() if family == "e2b" else et.config_31b()
    # Narrower than export_text's families (48 -> 32, MLP 32 -> 24) to keep the bundle under 1.5 MB;
    # the layer structure (types, kv sharing, double-wide MLP, k_eq_v, PLE) is unchanged.
    text.update(hidden_size=32, intermediate_size=24)
    return Gemma4Config(
        text_config=text,
        vision_config=vision_config(large=family == "31b"),
        audio_config=audio_config() if family == "e2b" else None,
        image_token_id=IMAGE_ID, audio_token_id=AUDIO_ID, video_token_id=VIDEO_ID, boi_token_id=BOI_ID,
        eoi_token_id=EOI_ID, boa_token_id=BOA_ID, eoa_token_index=EOA_ID, initializer_range=et.INIT_RANGE,
        tie_word_embeddings=True)


# ------------------------------------------------------------------------------------------------
# Float64 patches for the towers (on top of export_text.PrecisionPatches)
# ------------------------------------------------------------------------------------------------

TOWER_PATCHES = [
    {"site": "torch.Tensor.float (inside the patched run only)",
     "why": "the towers call .float() at their float32 islands (vision pooler one-hot weights, hidden states and "
     "sqrt(Hv) scale; standardize buffers; audio attention q/k/v); patched to return float64"},
    {"site": "torch.nn.functional.softmax(dtype=torch.float32) (inside the patched run only)",
     "why": "audio attention and the vision eager attention take the softmax in float32; patched to float64"},
    {"site": "Gemma4VisionRotaryEmbedding.compute_axial_rope_parameters and forward",
     "why": "inv_freq built with dtype=torch.float and the angles computed in float32; patched: identical "
     "formulas in float64"},
]


def _axial_rope_init_f64(config, device=None, **kwargs):
    base = config.rope_parameters["rope_theta"]
    dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    spatial = dim // 2
    inv_freq = 1.0 / (base ** (torch.arange(0, spatial, 2, dtype=torch.int64).to(torch.float64) / spatial))
    return inv_freq.to(device), 1.0


@torch.no_grad()
def _vision_rotary_forward_f64(self, x, position_ids):
    freqs = position_ids[..., None].to(torch.float64) * self.inv_freq.to(device=x.device, dtype=torch.float64)
    cos = self.recomposition_frequencies(freqs.cos() * self.attention_scaling)
    sin = self.recomposition_frequencies(freqs.sin() * self.attention_scaling)
    return cos.to(x.dtype), sin.to(x.dtype)


class Patches(et.PrecisionPatches):
    def __enter__(self):
        super().__enter__()
        if not self.enabled:
            return self
        orig_float = torch.Tensor.float
        orig_softmax = nn.functional.softmax

        def float64(self_t, *args, **kwargs):
            return self_t.to(torch.float64)

        def softmax(x, dim=None, _stacklevel=3, dtype=None):
            if dtype == torch.float32:
                dtype = torch.float64
            return orig_softmax(x, dim=dim, dtype=dtype)

        torch.Tensor.float = float64
        self._undo.append(lambda: setattr(torch.Tensor, "float", orig_float))
        nn.functional.softmax = softmax
        self._undo.append(lambda: setattr(nn.functional, "softmax", orig_softmax))
        self._set_attr(g4.Gemma4VisionRotaryEmbedding, "compute_axial_rope_parameters",
                       staticmethod(_axial_rope_init_f64))
        self._set_attr(g4.Gemma4VisionRotaryEmbedding, "forward", _vision_rotary_forward_f64)
        return self


# ------------------------------------------------------------------------------------------------
# Model and weights
# ------------------------------------------------------------------------------------------------


def build_model(config: Gemma4Config) -> Gemma4ForConditionalGeneration:
    model = Gemma4ForConditionalGeneration(config)
    model.set_attn_implementation("eager")
    model.eval()
    return model


def init_weights(model: Gemma4ForConditionalGeneration, weight_seed: int) -> None:
    """Seeded random weights for every parameter and persistent floating buffer."""
    gen = torch.Generator().manual_seed(weight_seed)
    lm = model.model.language_model

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float64) * std + mean)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo)

    with torch.no_grad():
        for name, p in model.named_parameters():
            if p is lm.embed_tokens.weight:
                normal(p, et.EMBED_STD)
            elif name.endswith("embed_tokens_per_layer.weight"):
                normal(p, et.PLE_EMBED_STD)
            elif name.endswith("position_embedding_table"):
                normal(p, 0.5)
            elif p.dim() == 1 and ("norm" in name or name.endswith(".scale")):
                normal(p, 0.3, 1.0)
                if name == "model.language_model.norm.weight":
                    p.mul_(et.FINAL_NORM_GAIN)
            elif name.endswith("per_dim_scale"):
                normal(p, 0.3, 0.0)
            elif p.dim() == 1:  # biases (audio output projection, ...)
                normal(p, 0.1)
            else:
                normal(p, et.INIT_RANGE)
        for name, b in model.named_buffers():
            if not b.is_floating_point():
                continue
            if name.endswith("layer_scalar"):
                uniform(b, 0.5, 1.5)
            elif name.endswith(("input_min", "output_min")):
                b.fill_(-4.0)  # finite clip bounds: clamps that rarely bite
            elif name.endswith(("input_max", "output_max")):
                b.fill_(4.0)
            elif name.endswith("std_bias"):
                normal(b, 0.3)
            elif name.endswith("std_scale"):
                uniform(b, 0.5, 1.5)
    if model.lm_head.weight is not lm.embed_tokens.weight:
        raise RuntimeError("lm_head is expected to be tied to embed_tokens")


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------


def image_patches(rng, grids, max_tokens: int, patch: int, k: int):
    """pixel_values [n, max_patches, 3·p²] in [0, 1] and (x, y) positions, -1 for padding patches."""
    max_patches = max_tokens * k * k
    pv = np.zeros((len(grids), max_patches, 3 * patch * patch))
    pos = np.full((len(grids), max_patches, 2), -1, dtype=np.int64)
    for i, (gh, gw) in enumerate(grids):
        n = gh * gw
        if n > max_patches or gh % k or gw % k:
            raise ValueError(f"grid {gh}x{gw} does not fit {max_patches} patches / pooling {k}")
        pv[i, :n] = rng.random((n, 3 * patch * patch))
        for p in range(n):
            pos[i, p] = (p % gw, p // gw)
    return torch.from_numpy(pv), torch.from_numpy(pos)


def text(rng, n):
    return list(rng.integers(3, TEXT_ID_MAX, size=n))


def make_inputs(family: str, seed: int, cfg: Gemma4Config) -> dict:
    rng = np.random.default_rng([seed, 11])
    vc = cfg.vision_config
    k = vc.pooling_kernel_size
    inp = {}
    if family == "e2b":
        # one image 4x4 patches (4 soft tokens) in a budget of 6 tokens (8 padding patches);
        # a 2-frame video, frames 2x4 patches (2 soft tokens each); audio 24 frames, 16 valid (4 tokens)
        pv, pos = image_patches(rng, [(4, 4)], 6, vc.patch_size, k)
        vv, vpos = image_patches(rng, [(2, 4), (2, 4)], 2, vc.patch_size, k)
        feats = torch.from_numpy(rng.standard_normal((1, 24, cfg.audio_config.subsampling_conv_channels[0])))
        fmask = torch.ones((1, 24), dtype=torch.bool)
        fmask[0, 16:] = False
        ids = ([2] + text(rng, 2) + [BOI_ID] + [IMAGE_ID] * 4 + [EOI_ID] + text(rng, 1)
               + [BOI_ID] + [VIDEO_ID] * 2 + [EOI_ID] + [BOI_ID] + [VIDEO_ID] * 2 + [EOI_ID]
               + text(rng, 1) + [BOA_ID] + [AUDIO_ID] * 4 + [EOA_ID] + text(rng, 2))
        ids = torch.tensor([ids], dtype=torch.int64)
        mask = torch.ones_like(ids)
        inp.update(pixel_values=pv, image_position_ids=pos, pixel_values_videos=vv, video_position_ids=vpos,
                   num_frames_per_video=torch.tensor([2]), input_features=feats, input_features_mask=fmask)
        pads = [0]
    else:
        # row 0: an image of 4x8 patches (8 soft tokens) > sliding_window (4): the block spans more than
        # one window.
        # row 1: left padding 3, two video frames of 2x4 patches (2 soft tokens each) separated by text.
        W = cfg.text_config.sliding_window
        pv, pos = image_patches(rng, [(4, 8)], 8, vc.patch_size, k)
        vv, vpos = image_patches(rng, [(2, 4), (2, 4)], 2, vc.patch_size, k)
        n_img = 8
        assert n_img > W
        r0 = [2] + text(rng, 2) + [BOI_ID] + [IMAGE_ID] * n_img + [EOI_ID] + text(rng, 4)
        r1_body = ([2] + text(rng, 2) + [BOI_ID] + [VIDEO_ID] * 2 + [EOI_ID] + text(rng, 1) + [BOI_ID]
                   + [VIDEO_ID] * 2 + [EOI_ID] + text(rng, 2))
        pad = len(r0) - len(r1_body)
        assert pad >= 2
        r1 = [PAD_ID] * pad + r1_body
        ids = torch.tensor([r0, r1], dtype=torch.int64)
        mask = torch.ones_like(ids)
        mask[1, :pad] = 0
        inp.update(pixel_values=pv, image_position_ids=pos, pixel_values_videos=vv, video_position_ids=vpos,
                   num_frames_per_video=torch.tensor([2]))
        pads = [0, pad]
    mm = torch.zeros_like(ids)
    mm[ids == IMAGE_ID] = 1
    mm[ids == VIDEO_ID] = 2
    mm[ids == AUDIO_ID] = 3
    inp.update(input_ids=ids, attention_mask=mask, mm_token_type_ids=mm)
    return inp, pads


# ------------------------------------------------------------------------------------------------
# Tap recording
# ------------------------------------------------------------------------------------------------


class MMRecorder(et.TapRecorder):
    """export_text's TapRecorder restricted to the language model, plus the merge's own taps."""

    def __init__(self, model):
        super().__init__(model)
        self.lm_prefix = "model.language_model"

    def __enter__(self):
        for name, module in self.model.named_modules():
            if not name.startswith(self.lm_prefix + ".") or isinstance(module, nn.ModuleList):
                continue
            if name == self.lm_prefix + ".rotary_emb":
                continue
            self._handles.append(module.register_forward_hook(self._post_hook(name)))
            if isinstance(module, g4.Gemma4TextAttention):
                self._handles.append(module.register_forward_pre_hook(self._attn_pre_hook(name)))
                self._handles.append(module.o_proj.register_forward_pre_hook(self._o_proj_pre_hook(name)))
        orig_rope = g4.apply_rotary_pos_emb
        orig_attn = g4.eager_attention_forward
        g4.apply_rotary_pos_emb = self._wrap_rope(orig_rope)
        g4.eager_attention_forward = self._wrap_attention(orig_attn)
        self._undo.append(lambda: setattr(g4, "apply_rotary_pos_emb", orig_rope))
        self._undo.append(lambda: setattr(g4, "eager_attention_forward", orig_attn))
        lm = self.model.model.language_model
        if lm.hidden_size_per_layer_input:
            orig_ple = lm.project_per_layer_inputs

            def ple(*args, **kwargs):
                out = orig_ple(*args, **kwargs)
                self._put(self.lm_prefix + ".per_layer_inputs", out)
                return out
            lm.project_per_layer_inputs = ple
            self._undo.append(lambda: delattr(lm, "project_per_layer_inputs"))
        self._handles.append(self.model.lm_head.register_forward_hook(self._post_hook("lm_head")))
        # The merged inputs_embeds: the language model's forward receives them.
        self._handles.append(lm.register_forward_pre_hook(self._lm_pre_hook, with_kwargs=True))
        return self

    def _wrap_attention(self, original):
        text_wrapped = super()._wrap_attention(original)

        def wrapped(module, *args, **kwargs):  # the towers' attention goes straight through
            if isinstance(module, g4.Gemma4TextAttention):
                return text_wrapped(module, *args, **kwargs)
            return original(module, *args, **kwargs)
        return wrapped

    def _lm_pre_hook(self, module, args, kwargs):
        self._put("model.inputs_embeds", kwargs["inputs_embeds"])


# Tower-internal modules whose outputs are recorded (a few per tower: enough to localise a tower
# drift to a layer, small enough to keep the bundles under 1.5 MB).
TOWER_TAP_MODULES = re.compile(r"^model\.(vision_tower\.(patch_embedder|encoder\.layers\.\d+|pooler)"
                               r"|audio_tower\.(subsample_conv_projection|layers\.\d+|output_proj))$")


def tower_hooks(model, prefix: str, extra: dict) -> list:
    """Forward hooks recording the outputs (element 0 of a tuple) of TOWER_TAP_MODULES under prefix."""
    handles = []
    for name, module in model.named_modules():
        if not (name.startswith(prefix) and TOWER_TAP_MODULES.match(name)):
            continue

        def hook(module, args, output, name=name):
            if name in extra:
                raise RuntimeError(f"module {name} ran twice while its taps were recorded")
            extra[name] = output[0] if isinstance(output, tuple) else output
        handles.append(module.register_forward_hook(hook))
    return handles


def run_forward(model, inp: dict, model_kwargs: dict):
    mm = model.model
    extra = {}
    # Tower outputs before the embedders (what a C++ tower produces), recorded by wrapping the getters;
    # inside the image and audio calls, the towers' internal taps too.
    orig_img, orig_vid, orig_aud = mm.get_image_features, mm.get_video_features, mm.get_audio_features

    def recording(prefix, fn, *a, **kw):
        handles = tower_hooks(model, prefix, extra)
        try:
            return fn(*a, **kw)
        finally:
            for h in handles:
                h.remove()

    def img(*a, **kw):
        out = recording("model.vision_tower.", orig_img, *a, **kw)
        extra["model.vision_tower.last_hidden_state"] = out.last_hidden_state
        extra["model.image_features"] = torch.cat(out.pooler_output, dim=0)
        return out

    def vid(*a, **kw):
        out = orig_vid(*a, **kw)
        extra["model.vision_tower.video_last_hidden_state"] = out.last_hidden_state
        extra["model.video_features"] = torch.cat(out.pooler_output, dim=0)
        return out

    def aud(*a, **kw):
        out = recording("model.audio_tower.", orig_aud, *a, **kw)
        extra["model.audio_tower.last_hidden_state"] = out.last_hidden_state
        extra["model.audio_tower.output_mask"] = out.attention_mask.to(torch.float64)
        extra["model.audio_features"] = out.pooler_output[out.attention_mask]
        return out

    mm.get_image_features, mm.get_video_features, mm.get_audio_features = img, vid, aud
    try:
        with MMRecorder(model) as rec, torch.no_grad():
            out = model(**model_kwargs, use_cache=False, return_dict=True)
    finally:
        del mm.get_image_features, mm.get_video_features, mm.get_audio_features
    rec.taps["logits"] = out.logits.detach().clone()
    rec.counts["logits"] = 1
    for name, t in extra.items():
        rec.taps[name] = t.detach().clone()
        rec.counts[name] = 1
        rec.layouts[name] = "rows"
    B, S = inp["input_ids"].shape
    rec.finalize(B, S)
    return rec


def model_kwargs(inp: dict) -> dict:
    keys = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_position_ids",
            "pixel_values_videos", "video_position_ids", "num_frames_per_video", "input_features",
            "input_features_mask")
    return {k: inp[k] for k in keys if k in inp}


# ------------------------------------------------------------------------------------------------
# Self-checks (independent numpy float64, real rows only)
# ------------------------------------------------------------------------------------------------


def self_checks(model, rec, inp: dict) -> dict:
    cfg = model.config
    tc = cfg.text_config
    taps = {k: v.numpy() for k, v in rec.taps.items()}
    ids = inp["input_ids"].numpy()
    am = inp["attention_mask"].numpy().astype(bool)
    H = tc.hidden_size
    res = {}

    def rel(a, b):
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    E = model.model.language_model.embed_tokens.weight.detach().numpy()
    mmask = (ids == IMAGE_ID) | (ids == VIDEO_ID) | (ids == AUDIO_ID)
    llm_ids = np.where(mmask, tc.pad_token_id, ids)
    h0 = E[llm_ids] * math.sqrt(H)
    res["embed_tokens (placeholders -> pad row)"] = rel(taps["model.language_model.embed_tokens"][am], h0[am])
    merged = h0.copy()
    for tok, name in ((IMAGE_ID, "model.image_features"), (VIDEO_ID, "model.video_features"),
                      (AUDIO_ID, "model.audio_features")):
        if name not in taps:
            continue
        sel = ids == tok
        if int(sel.sum()) != taps[name].shape[0]:
            raise RuntimeError(f"{name}: {taps[name].shape[0]} soft tokens for {int(sel.sum())} placeholders")
        merged[sel] = taps[name]  # row-major order of (b, s) == masked_scatter order
    res["inputs_embeds (merge)"] = rel(taps["model.inputs_embeds"][am], merged[am])

    # Embedder: RMSNorm without scale, then the projection.
    for src, dst, emb in (("model.vision_tower.last_hidden_state", "model.image_features", "embed_vision"),
                          ("model.vision_tower.video_last_hidden_state", "model.video_features", "embed_vision")):
        if src in taps:
            x = taps[src]
            W = getattr(model.model, emb).embedding_projection.weight.detach().numpy()
            eps = getattr(model.model, emb).eps
            y = x / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps) @ W.T
            res[f"{dst} = {emb}({src})"] = rel(taps[dst], y)
    if "model.audio_features" in taps:
        x = taps["model.audio_tower.last_hidden_state"][taps["model.audio_tower.output_mask"].astype(bool)]
        W = model.model.embed_audio.embedding_projection.weight.detach().numpy()
        y = x / np.sqrt(np.mean(x * x, -1, keepdims=True) + model.model.embed_audio.eps) @ W.T
        res["model.audio_features = embed_audio(audio_tower)"] = rel(taps["model.audio_features"], y)

    if tc.hidden_size_per_layer_input:
        P, L = tc.hidden_size_per_layer_input, tc.num_hidden_layers
        Eple = model.model.language_model.embed_tokens_per_layer.weight.detach().numpy()
        tok = Eple[llm_ids] * math.sqrt(P)
        res["embed_tokens_per_layer (pad row at placeholders)"] = rel(
            taps["model.language_model.embed_tokens_per_layer"][am], tok[am])
        Wp = model.model.language_model.per_layer_model_projection.weight.detach().numpy()
        ctx = (merged @ Wp.T) * H ** -0.5
        ctx = ctx.reshape(*ctx.shape[:2], L, P)
        wn = model.model.language_model.per_layer_projection_norm.weight.detach().numpy()
        ctx = ctx / np.sqrt(np.mean(ctx * ctx, -1, keepdims=True) + tc.rms_norm_eps) * wn
        ple = (ctx + tok.reshape(ctx.shape)) * 2 ** -0.5
        res["per_layer_inputs (context from merged embeds)"] = rel(
            taps["model.language_model.per_layer_inputs"][am], ple[am])

    # Masks: independent numpy construction of the vision-bidirectional / sliding / causal masks.
    inputs = et.Inputs(inp["input_ids"], inp["attention_mask"],
                       inp["mm_token_type_ids"] if tc.use_bidirectional_attention == "vision" else None)
    for lt, m in rec.masks.items():
        got = m.numpy() == 0
        want = et.numpy_mask(tc, lt, inputs)
        if not np.array_equal(got[:, 0][am], want[am]):
            raise RuntimeError(f"HF {lt} mask differs from the numpy mask on real query rows")
        res[f"mask {lt} (exact)"] = 0.0
    cap = tc.final_logit_softcapping
    lmh = taps["model.language_model.norm"] @ E.T
    res["logits"] = rel(taps["logits"][am], (cap * np.tanh(lmh / cap))[am])
    return res


# ------------------------------------------------------------------------------------------------
# Export
# ------------------------------------------------------------------------------------------------


def export_bundle(family: str, seed: int, out_dir: str, command_line: str, verbose: bool = True) -> dict:
    weight_seed = seed
    with Patches(enabled=True):
        config = mm_config(family)
        model = build_model(config)
        init_weights(model, weight_seed)
        et.check_float64(model)
        inp, pads = make_inputs(family, seed, config)
        rec = run_forward(model, inp, model_kwargs(inp))
        checks = self_checks(model, rec, inp)
    worst_check = max(checks.values())
    if worst_check > 1e-12:
        raise RuntimeError(f"numpy self-check failed: {checks}")
    for name, t in rec.taps.items():
        if t.dtype != torch.float64 and not name.endswith(".router.indices"):
            raise RuntimeError(f"tap {name} has dtype {t.dtype}, expected float64")

    if os.path.isdir(out_dir):
        for fn in ("config.json", "model.safetensors", "golden.h5", "generation_config.json"):
            if os.path.exists(os.path.join(out_dir, fn)):
                os.remove(os.path.join(out_dir, fn))
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    os.chmod(os.path.join(out_dir, "model.safetensors"), 0o644)
    if os.path.exists(os.path.join(out_dir, "generation_config.json")):
        os.remove(os.path.join(out_dir, "generation_config.json"))
    with open(os.path.join(out_dir, "config.json")) as fh:
        config_text = fh.read()

    # The bundle alone must reproduce the taps.
    with Patches(enabled=True):
        reloaded = Gemma4ForConditionalGeneration.from_pretrained(out_dir, dtype=torch.float64,
                                                                  attn_implementation="eager")
        reloaded.eval()
        et.check_float64(reloaded)
        rec2 = run_forward(reloaded, inp, model_kwargs(inp))
    reload_rel = 0.0
    for k, v in rec.taps.items():
        a, b = rec2.taps[k], v
        if rec.layouts[k] != "rows":
            a = et.real_rows(a, rec.layouts[k], inp["attention_mask"])
            b = et.real_rows(b, rec.layouts[k], inp["attention_mask"])
        reload_rel = max(reload_rel, et.rel_l2(a, b))
    if reload_rel > 1e-13:
        raise RuntimeError(f"reloading the bundle does not reproduce the taps (rel L2 {reload_rel:.3g})")

    h5_path = os.path.join(out_dir, "golden.h5")
    with h5py.File(h5_path, "w", track_order=True, libver=("v110", "v110")) as f:
        f.attrs["kind"] = "multimodal"
        f.attrs["bundle_kind"] = "multimodal"
        f.attrs["model_class"] = "Gemma4ForConditionalGeneration"
        f.attrs["transformers_version"] = str(transformers.__version__)
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["python_version"] = platform.python_version()
        f.attrs["seed"] = np.int64(seed)
        f.attrs["weight_seed"] = np.int64(weight_seed)
        f.attrs["family"] = family
        f.attrs["command_line"] = command_line
        f.attrs["config_json"] = config_text
        f.attrs["patches"] = json.dumps(et.PRECISION_PATCHES + TOWER_PATCHES)
        f.attrs["tap_prefix"] = "model.language_model."
        f.attrs["attn_implementation"] = "eager"
        f.attrs["use_cache"] = np.int64(0)
        f.attrs["left_padding"] = np.array(pads, dtype=np.int64)
        f.attrs["skipped_modules"] = json.dumps(rec.skipped, sort_keys=True)
        f.attrs["selfcheck_max_rel_l2"] = worst_check
        f.attrs["reload_max_rel_l2"] = reload_rel
        f.attrs["soft_token_taps"] = json.dumps([t for t in SOFT_TOKEN_TAPS if t in rec.taps])

        g_in = f.create_group("inputs", track_order=True)
        for k, v in inp.items():
            arr = v.numpy()
            arr = arr.astype(np.int64) if arr.dtype in (np.bool_, np.int32, np.int64) else arr.astype(np.float64)
            et._create(g_in, k, arr)
        g_mask = f.create_group("masks", track_order=True)
        for lt, m in rec.masks.items():
            ds = et._create(g_mask, lt, (m.numpy() == 0).astype(np.int8))
            ds.attrs["meaning"] = "1 = key allowed; [B,1,S_q,S_kv] as passed to eager attention"
        g_taps = f.create_group("taps", track_order=True)
        written = {}
        for name, t in rec.taps.items():
            arr = t.numpy().astype(np.int64 if t.dtype == torch.int64 else np.float64)
            key = (arr.shape, arr.dtype.str, rec.layouts[name], arr.tobytes())
            if key in written:
                g_taps[name] = g_taps[written[key]]
                continue
            written[key] = name
            ds = et._create(g_taps, name, arr)
            ds.attrs["layout"] = rec.layouts[name]
        g_prov = f.create_group("provenance", track_order=True)
        g_prov.create_dataset("selfcheck_names", data=np.array(list(checks.keys()), dtype=object),
                              dtype=h5py.string_dtype("utf-8"))
        g_prov.create_dataset("selfcheck_rel_l2", data=np.array(list(checks.values()), dtype=np.float64))

    sizes = {fn: os.path.getsize(os.path.join(out_dir, fn)) for fn in sorted(os.listdir(out_dir))}
    summary = {"family": family, "out": out_dir, "n_taps": len(rec.taps), "total_bytes": sum(sizes.values()),
               "selfcheck_max": worst_check, "reload_max_rel_l2": reload_rel, "skipped": rec.skipped}
    if verbose:
        print(f"[mm {family}] {out_dir}: {len(rec.taps)} taps, {summary['total_bytes'] / 1e6:.3f} MB, "
              f"self-check max {worst_check:.2e}, reload {reload_rel:.1e}")
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", choices=FAMILIES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="bundle directory")
    ap.add_argument("--all", action="store_true", help="write golden/data/mm_e2b_tiny and mm_31b_tiny")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    command_line = shlex.join(["golden/exporter/export_multimodal.py"] + list(sys.argv[1:] if argv is None else argv))
    if args.all:
        data_dir = os.path.normpath(args.data_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                  "..", "data"))
        for fam in FAMILIES:
            export_bundle(fam, args.seed, os.path.join(data_dir, f"mm_{fam}_tiny"), command_line)
    else:
        if not args.family or not args.out:
            ap.error("either --all or both --family and --out are required")
        export_bundle(args.family, args.seed, args.out, command_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
