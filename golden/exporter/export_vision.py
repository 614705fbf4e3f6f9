#!/usr/bin/env python3
"""Golden-tensor exporter for the Gemma 4 vision tower (Gemma4VisionModel + embed_vision).

Builds a tiny randomly initialised vision tower of either released kind and the multimodal
embedder that projects its soft tokens into the text model, under the module paths they have in
Gemma4ForConditionalGeneration (`model.vision_tower.`, `model.embed_vision.`), runs ONE forward
pass in true float64 on the CPU (eager attention, every float32 site patched) and writes:

    <out>/config.json         the Gemma4VisionConfig (model_type gemma4_vision)
    <out>/model.safetensors   float64 tensors named as in a Gemma4ForConditionalGeneration checkpoint
    <out>/golden.h5           inputs, one dataset per module output, provenance; root attribute
                              kind = "vision"

Towers (tiny versions of spec 1.6):
    small   the on-device tower's switches: use_clipped_linears=True (finite random clip bounds,
            so clamping really happens), standardize=False
    large   the large tower's switches: use_clipped_linears=False, standardize=True (random
            std_bias / std_scale), head_dim not a power of two (like 72)

Inputs: images of different aspect ratios (one landscape with padding patches, one thin image
that takes transformers' thin-image branch) turned into pixel_values / pixel_position_ids by the
image processor's own functions (get_aspect_ratio_preserving_size, convert_image_to_patches,
pad_along_first_dim) with a tiny patch budget: the processor class only accepts the real budgets
(70..1120 soft tokens), whose 630+ patches would make the bundle megabytes; the functions take any
max_patches.

Usage:
    python3 golden/exporter/export_vision.py --all
    python3 golden/exporter/export_vision.py --tower large --seed 3 --max-soft-tokens 12 --out /tmp/v
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
from collections import OrderedDict

import h5py
import numpy as np
import safetensors
import safetensors.torch
import torch
import transformers
from torch import nn
from transformers import Gemma4TextConfig, Gemma4VisionConfig
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.gemma4 import image_processing_pil_gemma4 as improc
from transformers.models.gemma4 import modeling_gemma4 as g4

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_text import PRECISION_PATCHES as TEXT_PATCHES  # noqa: E402
from export_text import PrecisionPatches, _create, rel_l2  # noqa: E402

TOWERS = ("small", "large")
TOWER_PREFIX = "model.vision_tower."
EMBED_PREFIX = "model.embed_vision."

# ------------------------------------------------------------------------------------------------
# Configurations
# ------------------------------------------------------------------------------------------------

PATCH = 2          # patch_size: a patch is 3*2*2 = 12 values
POOL = 3           # pooling_kernel_size, as released
TEXT_HIDDEN = 20   # width of the text model the soft tokens are projected into


def config_small() -> dict:
    return dict(hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=8, patch_size=PATCH, pooling_kernel_size=POOL,
                position_embedding_size=48, use_clipped_linears=True, standardize=False,
                rms_norm_eps=1e-6, initializer_range=0.2)


def config_large() -> dict:
    return dict(hidden_size=24, intermediate_size=20, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=2, head_dim=12, patch_size=PATCH, pooling_kernel_size=POOL,
                position_embedding_size=48, use_clipped_linears=False, standardize=True,
                rms_norm_eps=1e-6, initializer_range=0.2)


TOWER_CONFIGS = {"small": config_small, "large": config_large}

# (height, width) of the source images: a landscape image that leaves padding patches, and a thin
# one (height rounds to 0 under the budget: transformers' thin-image branch).
DEFAULT_IMAGES = ((24, 30), (4, 60))

# ------------------------------------------------------------------------------------------------
# Precision patches: the vision tower's float32 sites (on top of export_text's RMSNorm, eager
# attention softmax and default dtype patches)
# ------------------------------------------------------------------------------------------------

VISION_PATCHES = [
    {
        "site": "transformers.models.gemma4.modeling_gemma4.Gemma4VisionRotaryEmbedding.compute_axial_rope_parameters",
        "why": "inv_freq built with torch.arange(dtype=torch.float) (float32); patched: identical formula "
        "1/theta^(arange(0,s,2)/s), s = head_dim//2, in float64",
    },
    {
        "site": "transformers.models.gemma4.modeling_gemma4.Gemma4VisionRotaryEmbedding.forward",
        "why": "stock code computes position*inv_freq, cos and sin in float32; patched: same in float64 "
        "(recomposition cat[f_x, f_x, f_y, f_y] unchanged)",
    },
    {
        "site": "transformers.models.gemma4.modeling_gemma4.Gemma4VisionPooler._avg_pool_by_positions and .forward",
        "why": "stock code builds the one-hot pooling weights with .float(), multiplies hidden.float() and "
        "scales by sqrt(hidden) in float32; patched: identical formulas in the input dtype",
    },
    {
        "site": "transformers.models.gemma4.modeling_gemma4.Gemma4VisionModel.forward",
        "why": "stock code standardizes with std_bias.float() / std_scale.float() (float32); patched: the same "
        "forward (patch_embedder -> encoder -> pooler -> strip padding -> standardize) in float64",
    },
]
PATCHES = [p for p in TEXT_PATCHES if "Router" not in p["site"] and "experts" not in p["site"]
           and "TextRotary" not in p["site"] and "proportional" not in p["site"]] + VISION_PATCHES


def _axial_rope_init_f64(config, device=None, **kwargs):
    base = config.rope_parameters["rope_theta"]
    dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    spatial = dim // 2
    exponents = torch.arange(0, spatial, 2, dtype=torch.int64).to(torch.float64) / spatial
    return (1.0 / (base**exponents)).to(device), 1.0


@torch.no_grad()
def _vision_rotary_forward_f64(self, x, position_ids):
    freqs = position_ids[..., None].to(torch.float64) * self.inv_freq.to(device=x.device, dtype=torch.float64)
    cos = self.recomposition_frequencies(freqs.cos() * self.attention_scaling)
    sin = self.recomposition_frequencies(freqs.sin() * self.attention_scaling)
    return cos.to(x.dtype), sin.to(x.dtype)


def _avg_pool_f64(self, hidden_states, pixel_position_ids, length):
    input_seq_len = hidden_states.shape[1]
    k = int((input_seq_len // length) ** 0.5)
    k_squared = k**2
    if k_squared * length != input_seq_len:
        raise ValueError(f"Cannot pool {hidden_states.shape} to {length}")
    clamped = pixel_position_ids.clamp(min=0)
    max_x = clamped[..., 0].max(dim=-1, keepdim=True)[0] + 1
    kernel_idxs = torch.div(clamped, k, rounding_mode="floor")
    kernel_idxs = kernel_idxs[..., 0] + (max_x // k) * kernel_idxs[..., 1]
    weights = nn.functional.one_hot(kernel_idxs.long(), length).to(hidden_states.dtype) / k_squared
    output = weights.transpose(1, 2) @ hidden_states
    mask = torch.logical_not((weights == 0).all(dim=1))
    return output, mask


def _pooler_forward_f64(self, hidden_states, pixel_position_ids, padding_positions, output_length=None):
    if output_length > hidden_states.shape[1]:
        raise ValueError("more soft tokens than patches")
    hidden_states = hidden_states.masked_fill(padding_positions.unsqueeze(-1), 0.0)
    if hidden_states.shape[1] != output_length:
        hidden_states, padding_positions = self._avg_pool_by_positions(hidden_states, pixel_position_ids,
                                                                       output_length)
    return hidden_states * self.root_hidden_size, padding_positions


def _vision_model_forward_f64(self, pixel_values, pixel_position_ids, **kwargs):
    k = self.config.pooling_kernel_size
    output_length = pixel_values.shape[-2] // (k * k)
    padding_positions = (pixel_position_ids == -1).all(dim=-1)
    inputs_embeds = self.patch_embedder(pixel_values, pixel_position_ids, padding_positions)
    output = self.encoder(inputs_embeds=inputs_embeds, attention_mask=~padding_positions,
                          pixel_position_ids=pixel_position_ids)
    hidden_states, pooler_mask = self.pooler(hidden_states=output.last_hidden_state,
                                             pixel_position_ids=pixel_position_ids,
                                             padding_positions=padding_positions, output_length=output_length)
    hidden_states = hidden_states[pooler_mask]
    if self.config.standardize:
        hidden_states = (hidden_states - self.std_bias) * self.std_scale
    return BaseModelOutputWithPooling(last_hidden_state=hidden_states)


class VisionPrecisionPatches(PrecisionPatches):
    """export_text's float64 patches (default dtype, RMSNorm, eager softmax) plus the vision ones."""

    def __enter__(self):
        super().__enter__()
        if not self.enabled:
            return self
        self._set_attr(g4.Gemma4VisionRotaryEmbedding, "compute_axial_rope_parameters",
                       staticmethod(_axial_rope_init_f64))
        self._set_attr(g4.Gemma4VisionRotaryEmbedding, "forward", _vision_rotary_forward_f64)
        self._set_attr(g4.Gemma4VisionPooler, "_avg_pool_by_positions", _avg_pool_f64)
        self._set_attr(g4.Gemma4VisionPooler, "forward", _pooler_forward_f64)
        self._set_attr(g4.Gemma4VisionModel, "forward", _vision_model_forward_f64)
        return self


# ------------------------------------------------------------------------------------------------
# Model: the vision tower and its embedder under Gemma4ForConditionalGeneration's module paths
# ------------------------------------------------------------------------------------------------


class _Inner(nn.Module):
    def __init__(self, vcfg: Gemma4VisionConfig, tcfg: Gemma4TextConfig):
        super().__init__()
        self.vision_tower = g4.Gemma4VisionModel(vcfg)
        self.embed_vision = g4.Gemma4MultimodalEmbedder(vcfg, tcfg)


class VisionPath(nn.Module):
    """model.vision_tower + model.embed_vision, as Gemma4Model.get_image_features runs them."""

    def __init__(self, vcfg: Gemma4VisionConfig, tcfg: Gemma4TextConfig):
        super().__init__()
        self.model = _Inner(vcfg, tcfg)

    def forward(self, pixel_values, pixel_position_ids):
        soft = self.model.vision_tower(pixel_values=pixel_values, pixel_position_ids=pixel_position_ids)
        return self.model.embed_vision(inputs_embeds=soft.last_hidden_state)


def build(tower: str, stock: bool = False) -> tuple[VisionPath, Gemma4VisionConfig]:
    vcfg = Gemma4VisionConfig(**TOWER_CONFIGS[tower]())
    vcfg._attn_implementation = "eager"
    tcfg = Gemma4TextConfig(hidden_size=TEXT_HIDDEN, num_hidden_layers=1, num_attention_heads=1,
                            num_key_value_heads=1, head_dim=8, intermediate_size=8, vocab_size=8,
                            layer_types=["full_attention"], hidden_size_per_layer_input=0)
    model = VisionPath(vcfg, tcfg)
    model.eval()
    return model, vcfg


def init_weights(model: VisionPath, cfg: Gemma4VisionConfig, seed: int) -> None:
    """Seeded weights: linears N(0, 1/fan_in) (unit-RMS outputs), norms 1 + 0.1 N, q/k norms at
    Dh^-1/4 (attention scaling is 1, the temperature comes from them), position tables N(0, 1/2),
    clip bounds finite and tight enough that a few percent of values are clamped, std_bias 0.5 N,
    std_scale uniform [0.5, 1.5]."""
    g = torch.Generator().manual_seed(seed)

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=g, dtype=torch.float64) * std + mean

    def uniform(lo, hi):
        return float(lo + (hi - lo) * torch.rand((), generator=g, dtype=torch.float64))

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("position_embedding_table"):
                p.copy_(normal(p.shape, math.sqrt(0.5)))
            elif name.endswith("q_norm.weight") or name.endswith("k_norm.weight"):
                p.copy_(normal(p.shape, 0.1 * cfg.head_dim**-0.25, cfg.head_dim**-0.25))
            elif name.endswith("norm.weight"):
                p.copy_(normal(p.shape, 0.1, 1.0))
            elif p.dim() == 2:
                p.copy_(normal(p.shape, 1.0 / math.sqrt(p.shape[1])))
            else:
                raise RuntimeError(f"no init rule for {name} {tuple(p.shape)}")
        for name, b in model.named_buffers():
            if name.endswith("input_min"):
                b.fill_(-uniform(1.2, 2.0))
            elif name.endswith("input_max"):
                b.fill_(uniform(1.2, 2.0))
            elif name.endswith("output_min"):
                b.fill_(-uniform(1.0, 1.8))
            elif name.endswith("output_max"):
                b.fill_(uniform(1.0, 1.8))
            elif name.endswith("std_bias"):
                b.copy_(normal(b.shape, 0.5))
            elif name.endswith("std_scale"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g, dtype=torch.float64))


def make_inputs(images, max_soft_tokens: int, seed: int):
    """Random 8-bit images of the given sizes taken through the processor's functions:
    geometry, (resize skipped: random pixels at the target size), rescale 1/255, patchify, pad."""
    rng = np.random.default_rng(seed)
    max_patches = max_soft_tokens * POOL**2
    pix, pos, tokens, targets = [], [], [], []
    for h, w in images:
        th, tw = improc.get_aspect_ratio_preserving_size(height=h, width=w, patch_size=PATCH,
                                                         max_patches=max_patches, pooling_kernel_size=POOL)
        img = rng.integers(0, 256, size=(3, th, tw)).astype(np.float64) * (1.0 / 255.0)
        patches = improc.convert_image_to_patches(img, PATCH)
        gy, gx = th // PATCH, tw // PATCH
        grid_x, grid_y = np.meshgrid(np.arange(gx), np.arange(gy), indexing="xy")
        real = np.stack([grid_x, grid_y], axis=-1).reshape(patches.shape[0], 2)
        tokens.append(patches.shape[0] // POOL**2)
        patches, positions = improc.pad_along_first_dim(patches, real, max_patches)
        pix.append(patches)
        pos.append(positions)
        targets.append((th, tw))
    return (torch.from_numpy(np.stack(pix)).to(torch.float64), torch.from_numpy(np.stack(pos)).to(torch.int64),
            tokens, targets)


# ------------------------------------------------------------------------------------------------
# Tap recording: every module's output under its path (tuples -> first item, ModelOutput ->
# last_hidden_state); the rotary embedding (cos/sin) is not a tap
# ------------------------------------------------------------------------------------------------


class TapRecorder:
    def __init__(self, model: nn.Module):
        self.model = model
        self.taps: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        self.counts: dict[str, int] = {}
        self._handles = []

    def _hook(self, name):
        def hook(module, args, output):
            if isinstance(output, tuple):
                output = output[0]
            elif hasattr(output, "last_hidden_state"):
                output = output.last_hidden_state
            self.counts[name] = self.counts.get(name, 0) + 1
            if self.counts[name] > 1:
                raise RuntimeError(f"module {name} ran twice in one forward")
            self.taps[name] = output.detach().clone()
        return hook

    def __enter__(self):
        for name, module in self.model.named_modules():
            if name in ("", "model") or isinstance(module, (nn.ModuleList, g4.Gemma4VisionRotaryEmbedding)):
                continue
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        return False


def run_forward(model, pixel_values, positions) -> TapRecorder:
    with TapRecorder(model) as rec, torch.no_grad():
        model(pixel_values, positions)
    return rec


# ------------------------------------------------------------------------------------------------
# Self-checks: independent numpy recomputation of the patch embedder, layer 0 and the head
# ------------------------------------------------------------------------------------------------


def _np(t):
    return t.detach().numpy().astype(np.float64)


def _rms(x, w, eps):
    y = x * np.power((x * x).mean(-1, keepdims=True) + eps, -0.5)
    return y if w is None else y * w


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def self_checks(model: VisionPath, cfg, rec: TapRecorder, pixel_values, positions) -> dict:
    sd = {k: _np(v) for k, v in model.state_dict().items()}
    P, E = TOWER_PREFIX, EMBED_PREFIX
    pix, pos = _np(pixel_values), positions.numpy()
    B, Np, _ = pix.shape
    Hv, Dh, Nh, Nkv, eps = cfg.hidden_size, cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads, \
        cfg.rms_norm_eps
    pad = (pos == -1).all(-1)                                       # [B, Np]
    checks = {}

    # patch embedder
    table = sd[P + "patch_embedder.position_embedding_table"]
    pe = table[0][np.maximum(pos[..., 0], 0)] + table[1][np.maximum(pos[..., 1], 0)]
    pe[pad] = 0.0
    x0 = (2.0 * (pix - 0.5)) @ sd[P + "patch_embedder.input_proj.weight"].T + pe
    checks["patch_embedder"] = rel_l2(torch.from_numpy(x0), rec.taps[P + "patch_embedder"])

    # encoder layer 0, from the patch embedder's golden output
    L = P + "encoder.layers.0."

    def lin(name, x):
        w = sd[L + name + ".linear.weight"]
        if cfg.use_clipped_linears:
            x = np.clip(x, sd[L + name + ".input_min"], sd[L + name + ".input_max"])
            return np.clip(x @ w.T, sd[L + name + ".output_min"], sd[L + name + ".output_max"])
        return x @ w.T

    h = _np(rec.taps[P + "patch_embedder"])
    a = _rms(h, sd[L + "input_layernorm.weight"], eps)
    q = _rms(lin("self_attn.q_proj", a).reshape(B, Np, Nh, Dh), sd[L + "self_attn.q_norm.weight"], eps)
    k = _rms(lin("self_attn.k_proj", a).reshape(B, Np, Nkv, Dh), sd[L + "self_attn.k_norm.weight"], eps)
    v = _rms(lin("self_attn.v_proj", a).reshape(B, Np, Nkv, Dh), None, eps)
    s = Dh // 2
    inv = 1.0 / cfg.rope_parameters["rope_theta"] ** (np.arange(0, s, 2) / s)

    def rope(x):
        out = x.copy()
        for axis in range(2):
            ang = pos[..., axis][..., None].astype(np.float64) * inv          # [B, Np, s/2]
            c, sn = np.cos(ang)[:, :, None, :], np.sin(ang)[:, :, None, :]
            part = x[..., axis * s:(axis + 1) * s]
            x1, x2 = part[..., : s // 2], part[..., s // 2:]
            out[..., axis * s: axis * s + s // 2] = x1 * c - x2 * sn
            out[..., axis * s + s // 2:(axis + 1) * s] = x2 * c + x1 * sn
        return out

    q, k = rope(q), rope(k)
    grp = Nh // Nkv
    ctx = np.zeros((B, Np, Nh, Dh))
    for b in range(B):
        for hh in range(Nh):
            z = q[b, :, hh] @ k[b, :, hh // grp].T                              # scaling 1
            z[:, pad[b]] = -np.inf
            z = np.exp(z - z.max(-1, keepdims=True))
            ctx[b, :, hh] = (z / z.sum(-1, keepdims=True)) @ v[b, :, hh // grp]
    o = lin("self_attn.o_proj", ctx.reshape(B, Np, Nh * Dh))
    checks["layer0.self_attn"] = rel_l2(torch.from_numpy(o), rec.taps[L + "self_attn"])
    h1 = h + _rms(o, sd[L + "post_attention_layernorm.weight"], eps)
    f_in = _rms(h1, sd[L + "pre_feedforward_layernorm.weight"], eps)
    f = lin("mlp.down_proj", _gelu_tanh(lin("mlp.gate_proj", f_in)) * lin("mlp.up_proj", f_in))
    h2 = h1 + _rms(f, sd[L + "post_feedforward_layernorm.weight"], eps)
    checks["layer0"] = rel_l2(torch.from_numpy(h2), rec.taps[P + "encoder.layers.0"])

    # pooler + strip + standardize + embed_vision, from the encoder's golden output
    enc = _np(rec.taps[P + "encoder"]).copy()
    enc[pad] = 0.0
    kk = POOL
    Nt = Np // (kk * kk)
    pooled = np.zeros((B, Nt, Hv))
    valid = np.zeros((B, Nt), dtype=bool)
    for b in range(B):
        px, py = np.maximum(pos[b, :, 0], 0), np.maximum(pos[b, :, 1], 0)
        W = px.max() + 1
        for n in range(Np):
            slot = px[n] // kk + (W // kk) * (py[n] // kk)
            pooled[b, slot] += enc[b, n] / (kk * kk)
            valid[b, slot] = True
    pooled *= math.sqrt(Hv)
    checks["pooler"] = rel_l2(torch.from_numpy(pooled), rec.taps[P + "pooler"])
    soft = pooled[valid]
    if cfg.standardize:
        soft = (soft - sd[P + "std_bias"]) * sd[P + "std_scale"]
    checks["vision_tower"] = rel_l2(torch.from_numpy(soft), rec.taps[TOWER_PREFIX[:-1]])
    proj = _rms(soft, None, eps) @ sd[E + "embedding_projection.weight"].T
    checks["embed_vision"] = rel_l2(torch.from_numpy(proj), rec.taps[EMBED_PREFIX[:-1]])
    return checks


def check_float64(model: nn.Module) -> None:
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and t.dtype != torch.float64:
            raise RuntimeError(f"{name} is {t.dtype}")


# ------------------------------------------------------------------------------------------------
# Bundle
# ------------------------------------------------------------------------------------------------


def export_bundle(tower: str, seed: int, max_soft_tokens: int, images, out_dir: str, command_line: str,
                  verbose: bool = True) -> dict:
    with VisionPrecisionPatches(enabled=True):
        model, cfg = build(tower)
        init_weights(model, cfg, seed)
        check_float64(model)
        pixel_values, positions, tokens, targets = make_inputs(images, max_soft_tokens, seed)
        rec = run_forward(model, pixel_values, positions)
        checks = self_checks(model, cfg, rec, pixel_values, positions)
    for name, t in rec.taps.items():
        if t.dtype != torch.float64:
            raise RuntimeError(f"tap {name} is {t.dtype}")
    worst_check = max(checks.values())
    if worst_check > 1e-12:
        raise RuntimeError(f"numpy self-check failed: {checks}")
    if cfg.use_clipped_linears:
        # The clip bounds must bite, or the clamp path is untested.
        clipped = [n for n in rec.taps if n + ".linear" in rec.taps and
                   not torch.equal(rec.taps[n], rec.taps[n + ".linear"])]
        if not clipped:
            raise RuntimeError("no clippable linear clamped anything: tighten the bounds")

    # Stock transformers (no patches) on the same float64 weights: how much the patches matter.
    with VisionPrecisionPatches(enabled=False):
        torch.set_default_dtype(torch.float32)
        stock, _ = build(tower)
        stock = stock.to(torch.float64)
        stock.load_state_dict(model.state_dict())
        rec_stock = run_forward(stock, pixel_values, positions)
    names = list(rec.taps.keys())
    unpatched = np.array([rel_l2(rec_stock.taps[n].to(torch.float64), rec.taps[n]) for n in names])

    os.makedirs(out_dir, exist_ok=True)
    for fn in ("config.json", "model.safetensors", "golden.h5"):
        if os.path.exists(os.path.join(out_dir, fn)):
            os.remove(os.path.join(out_dir, fn))
    config_text = cfg.to_json_string(use_diff=False)
    cfg_dict = json.loads(config_text)
    for k in ("_attn_implementation_autoset",):
        cfg_dict.pop(k, None)
    config_text = json.dumps(cfg_dict, indent=2, sort_keys=True) + "\n"
    with open(os.path.join(out_dir, "config.json"), "w") as fh:
        fh.write(config_text)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(out_dir, "model.safetensors"), 0o644)  # safetensors writes 0600

    h5_path = os.path.join(out_dir, "golden.h5")
    with h5py.File(h5_path, "w", track_order=True, libver=("v110", "v110")) as f:
        f.attrs["kind"] = "vision"
        f.attrs["bundle_kind"] = "vision"
        f.attrs["model_class"] = "Gemma4VisionModel + Gemma4MultimodalEmbedder (Gemma4ForConditionalGeneration paths)"
        f.attrs["tower"] = tower
        f.attrs["transformers_version"] = str(transformers.__version__)
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["python_version"] = platform.python_version()
        f.attrs["numpy_version"] = np.__version__
        f.attrs["h5py_version"] = h5py.__version__
        f.attrs["safetensors_version"] = safetensors.__version__
        f.attrs["seed"] = np.int64(seed)
        f.attrs["command_line"] = command_line
        f.attrs["config_json"] = config_text
        f.attrs["text_hidden_size"] = np.int64(TEXT_HIDDEN)
        f.attrs["tower_prefix"] = TOWER_PREFIX
        f.attrs["embedder_prefix"] = EMBED_PREFIX
        f.attrs["patches"] = json.dumps(PATCHES)
        f.attrs["attn_implementation"] = "eager"
        f.attrs["max_soft_tokens"] = np.int64(max_soft_tokens)
        f.attrs["selfcheck_max_rel_l2"] = worst_check

        g_in = f.create_group("inputs", track_order=True)
        _create(g_in, "pixel_values", _np(pixel_values))
        _create(g_in, "pixel_position_ids", positions.numpy().astype(np.int64))
        g_in.create_dataset("image_sizes", data=np.array(images, dtype=np.int64))
        g_in.create_dataset("target_sizes", data=np.array(targets, dtype=np.int64))
        g_in.create_dataset("num_soft_tokens", data=np.array(tokens, dtype=np.int64))

        g_taps = f.create_group("taps", track_order=True)
        written = {}
        for name in names:
            arr = _np(rec.taps[name])
            key = (arr.shape, arr.tobytes())
            if key in written:
                g_taps[name] = g_taps[written[key]]  # identical tensor (an unclipped .linear): hard link
                continue
            written[key] = name
            _create(g_taps, name, arr)

        g_prov = f.create_group("provenance", track_order=True)
        g_prov.create_dataset("unpatched_rel_l2", data=unpatched.astype(np.float64))
        g_prov.create_dataset("unpatched_tap_names", data=np.array(names, dtype=object),
                              dtype=h5py.string_dtype("utf-8"))
        g_prov.attrs["unpatched_run"] = ("stock transformers code (no patches), model built with default dtype "
                                         "float32 then cast to float64 and loaded with the same weights; rel L2 "
                                         "||unpatched - patched|| / ||patched|| per tap")
        g_prov.create_dataset("selfcheck_names", data=np.array(list(checks.keys()), dtype=object),
                              dtype=h5py.string_dtype("utf-8"))
        g_prov.create_dataset("selfcheck_rel_l2", data=np.array(list(checks.values()), dtype=np.float64))

    sizes = {fn: os.path.getsize(os.path.join(out_dir, fn)) for fn in sorted(os.listdir(out_dir))}
    summary = {"tower": tower, "out": out_dir, "n_taps": len(names), "sizes": sizes,
               "total_bytes": sum(sizes.values()), "soft_tokens": tokens, "targets": targets,
               "max_unpatched_rel_l2": float(unpatched.max()),
               "max_unpatched_tap": names[int(unpatched.argmax())], "selfcheck": checks}
    if verbose:
        print(f"[{tower}] {out_dir}: {len(names)} taps, {summary['total_bytes'] / 1e6:.3f} MB, targets {targets}, "
              f"soft tokens {tokens}, max unpatched rel L2 {summary['max_unpatched_rel_l2']:.3e} "
              f"({summary['max_unpatched_tap']}), self-check max {worst_check:.2e}")
    return summary


# ------------------------------------------------------------------------------------------------
# Resize fixture: what transformers' image processor makes of two PNGs (its resize cannot be
# matched bit for bit, so the C++ resize's drift is reported against these, not gated)
# ------------------------------------------------------------------------------------------------


def _pattern(h: int, w: int) -> np.ndarray:
    """Smooth waves (red), a ramp (green) and 8-pixel checkers (blue: sharp edges), uint8 [h, w, 3]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 7.0) * np.cos(y / 11.0)
    g = 255.0 * x / max(w - 1, 1)
    b = np.where(((x // 8) + (y // 8)) % 2 == 0, 230.0, 25.0)
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def export_resize_fixture(out_dir: str, budget: int = 70) -> None:
    """source_<name>.png and processed_<name>.png = Gemma4ImageProcessorPil's resized image
    (pixel_values * 255, un-patchified; exact uint8 since PIL resizes 8-bit images), for an
    upscale (61x97) and a downscale by ~2 (720x960), at `budget` soft tokens."""
    from PIL import Image

    proc = improc.Gemma4ImageProcessorPil(max_soft_tokens=budget)
    os.makedirs(out_dir, exist_ok=True)
    meta = {}
    for name, (h, w) in {"up": (61, 97), "down": (720, 960)}.items():
        src = _pattern(h, w)
        Image.fromarray(src).save(os.path.join(out_dir, f"source_{name}.png"), optimize=True)
        img = Image.open(os.path.join(out_dir, f"source_{name}.png"))
        feat = proc(images=img, return_tensors="np")
        n = int(feat["num_soft_tokens_per_image"][0])
        pv, pos = feat["pixel_values"][0], feat["image_position_ids"][0]
        th, tw = improc.get_aspect_ratio_preserving_size(height=h, width=w, patch_size=16,
                                                         max_patches=budget * 9, pooling_kernel_size=3)
        gy, gx = th // 16, tw // 16
        out = np.zeros((th, tw, 3))
        for r in range(gy * gx):
            px, py = pos[r]
            out[py * 16:(py + 1) * 16, px * 16:(px + 1) * 16, :] = pv[r].reshape(16, 16, 3)
        u8 = np.rint(out * 255.0)
        if np.abs(u8 - out * 255.0).max() > 1e-4:
            raise RuntimeError("processor output is not k/255")
        Image.fromarray(u8.astype(np.uint8)).save(os.path.join(out_dir, f"processed_{name}.png"), optimize=True)
        meta[name] = {"source": [h, w], "target": [th, tw], "soft_tokens": n}
    meta["processor"] = f"transformers {transformers.__version__} Gemma4ImageProcessorPil(max_soft_tokens={budget})"
    with open(os.path.join(out_dir, "fixture.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
    print(f"resize fixture in {out_dir}: {meta}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tower", choices=TOWERS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-soft-tokens", type=int, default=6,
                    help="soft tokens per image (max_patches = this * 9); the released budgets are 70..1120")
    ap.add_argument("--images", default=None,
                    help="source image sizes 'HxW,HxW,...' (default: 24x30,4x60: one padded, one thin)")
    ap.add_argument("--out", help="bundle directory")
    ap.add_argument("--all", action="store_true",
                    help="write the two default bundles to golden/data/vision_{small,large}_tiny/")
    ap.add_argument("--data-dir", default=None, help="with --all: parent directory (default golden/data)")
    ap.add_argument("--resize-fixture", default=None, metavar="DIR",
                    help="write the resize fixture (source PNGs + transformers' processed images) to DIR "
                    "(committed: golden/fixtures/vision_resize); needs pillow")
    args = ap.parse_args(argv)
    if args.resize_fixture:
        export_resize_fixture(args.resize_fixture)
        return 0

    torch.set_num_threads(1)  # deterministic CPU reductions
    command_line = shlex.join([os.path.relpath(sys.argv[0]) if sys.argv and sys.argv[0] else "export_vision.py"]
                              + list(sys.argv[1:] if argv is None else argv))
    images = DEFAULT_IMAGES
    if args.images:
        images = tuple(tuple(int(v) for v in s.split("x")) for s in args.images.split(","))
    if args.all:
        data_dir = os.path.normpath(args.data_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                                  "data"))
        for tower in TOWERS:
            export_bundle(tower, args.seed, args.max_soft_tokens, images,
                          os.path.join(data_dir, f"vision_{tower}_tiny"), command_line)
    else:
        if not args.tower or not args.out:
            ap.error("either --all or both --tower and --out are required")
        export_bundle(args.tower, args.seed, args.max_soft_tokens, images, args.out, command_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
