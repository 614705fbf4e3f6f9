#!/usr/bin/env python3
"""Golden-tensor exporter for the Gemma 4 text decoder (Gemma4ForCausalLM).

Builds a tiny randomly initialised Gemma4ForCausalLM from a Gemma4TextConfig, runs ONE forward
pass in true float64 on the CPU (eager attention, eager experts, use_cache=False) and writes a
bundle directory:

    <out>/config.json         model.save_pretrained (float64)
    <out>/model.safetensors   model.save_pretrained (float64)
    <out>/golden.h5           inputs, one dataset per tap, provenance (see golden/README.md)

"True float64" means that every place where transformers computes in float32 inside a float64
model is monkey-patched (see PRECISION_PATCHES); the same forward is then re-run from the saved
bundle with stock transformers code to record how much the patches change each tap.

Usage:
    python3 golden/exporter/export_text.py --all
    python3 golden/exporter/export_text.py --family e2b --seed 3 --seq-len 17 --batch 3 --out /tmp/x
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
from dataclasses import dataclass, field

import h5py
import numpy as np
import safetensors
import torch
import transformers
from torch import nn
from transformers import Gemma4ForCausalLM, Gemma4TextConfig
from transformers import modeling_rope_utils as rope_utils
from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask
from transformers.models.gemma4 import modeling_gemma4 as g4

FAMILIES = ("e2b", "e4b", "31b", "26b")
SLIDING = "sliding_attention"
FULL = "full_attention"
PAD_ID = 0

# ------------------------------------------------------------------------------------------------
# Configurations
# ------------------------------------------------------------------------------------------------

# Normal-init std for every Linear / expert weight (config.initializer_range, stored in config.json).
INIT_RANGE = 0.15
# Embedding table std: h0 = E[id] * sqrt(48) has RMS ~ 0.5*6.93 ~ 3.5.
EMBED_STD = 0.5
# PLE table std: E_ple[id] * sqrt(8) has RMS ~ 1.
PLE_EMBED_STD = 0.35
# Router projection std: router logits O(1) so that top-k is well separated.
ROUTER_PROJ_STD = 1.0
# Final norm weight = FINAL_NORM_GAIN * (1 + 0.3 N(0,1)): pushes |lm_head| into the softcap range.
FINAL_NORM_GAIN = 3.0


def _text_common() -> dict:
    return dict(
        vocab_size=96,
        hidden_size=48,
        intermediate_size=32,
        num_attention_heads=4,
        head_dim=8,
        global_head_dim=16,
        sliding_window=4,
        rms_norm_eps=1e-6,
        hidden_activation="gelu_pytorch_tanh",
        final_logit_softcapping=30.0,
        initializer_range=INIT_RANGE,
        pad_token_id=PAD_ID,
        eos_token_id=1,
        bos_token_id=2,
        tie_word_embeddings=True,
        rope_parameters=None,  # -> defaults: sliding default theta 1e4; full proportional p=0.25 theta 1e6
        attention_bias=False,
        attention_dropout=0.0,
        max_position_embeddings=131072,
    )


def config_e2b() -> dict:
    c = _text_common()
    c.update(
        num_hidden_layers=5,
        layer_types=[SLIDING, SLIDING, FULL, SLIDING, FULL],
        num_key_value_heads=1,
        hidden_size_per_layer_input=8,
        vocab_size_per_layer_input=96,
        num_kv_shared_layers=2,
        use_double_wide_mlp=True,
        attention_k_eq_v=False,
        use_bidirectional_attention=None,
    )
    return c


def config_e4b() -> dict:
    c = _text_common()
    c.update(
        num_hidden_layers=6,
        layer_types=[SLIDING, SLIDING, FULL, SLIDING, SLIDING, FULL],
        num_key_value_heads=2,
        hidden_size_per_layer_input=8,
        vocab_size_per_layer_input=96,
        num_kv_shared_layers=2,
        use_double_wide_mlp=False,
        attention_k_eq_v=False,
        use_bidirectional_attention=None,
    )
    return c


def config_31b() -> dict:
    c = _text_common()
    c.update(
        num_hidden_layers=6,
        layer_types=[SLIDING, SLIDING, FULL, SLIDING, SLIDING, FULL],
        attention_k_eq_v=True,
        num_key_value_heads=2,
        num_global_key_value_heads=1,
        hidden_size_per_layer_input=0,
        vocab_size_per_layer_input=96,
        num_kv_shared_layers=0,
        use_double_wide_mlp=False,
        use_bidirectional_attention="vision",
    )
    return c


def config_26b() -> dict:
    c = config_31b()
    c.update(
        enable_moe_block=True,
        num_experts=8,
        top_k_experts=2,
        moe_intermediate_size=12,
        intermediate_size=24,
    )
    return c


FAMILY_CONFIGS = {"e2b": config_e2b, "e4b": config_e4b, "31b": config_31b, "26b": config_26b}
VISION_FAMILIES = {"31b", "26b"}

# ------------------------------------------------------------------------------------------------
# Precision patches (float32 islands inside a float64 model)
# ------------------------------------------------------------------------------------------------

PRECISION_PATCHES = [
    {
        "site": "torch.set_default_dtype(torch.float64) while the model is built",
        "why": "buffers created from Python floats at construction (embed_scale = sqrt(H) and sqrt(P), "
        "layer_scalar, RoPE buffers) are otherwise float32 and get float32-rounded values",
    },
    {
        "site": "transformers.models.gemma4.modeling_gemma4.Gemma4RMSNorm.forward",
        "why": "stock code upcasts with .float() (input and weight) so every RMSNorm of a float64 model is "
        "computed in float32; patched version runs the identical formula x*pow(mean(x^2)+eps,-0.5)*w in "
        "the input dtype",
    },
    {
        "site": "transformers.models.gemma4.modeling_gemma4.Gemma4TextRotaryEmbedding.compute_default_rope_parameters",
        "why": "inv_freq built with torch.arange(dtype=torch.float) (float32); patched: identical formula "
        "1/theta^(arange(0,D,2)/D) in float64",
    },
    {
        "site": "transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS['proportional'] "
        "(_compute_proportional_rope_parameters)",
        "why": "inv_freq built in float32; patched: identical formula (n_rot=int(p*D//2) pairs with "
        "1/theta^(2k/D), remaining D/2-n_rot entries 0, divided by 'factor') in float64",
    },
    {
        "site": "transformers.models.gemma4.modeling_gemma4.Gemma4TextRotaryEmbedding.forward",
        "why": "stock code computes position*inv_freq, cos and sin in float32 and casts to the model dtype; "
        "patched: same computation in float64",
    },
    {
        "site": "transformers.models.gemma4.modeling_gemma4.eager_attention_forward",
        "why": "softmax(..., dtype=torch.float32); patched: same function with the softmax in the query "
        "dtype (float64)",
    },
    {
        "site": "transformers.models.gemma4.modeling_gemma4.Gemma4TextRouter.forward",
        "why": "router softmax(..., dtype=torch.float32); patched: same function with the softmax in the "
        "input dtype (float64)",
    },
    {
        "site": "model.set_experts_implementation('eager') (Gemma4TextExperts via @use_experts_implementation)",
        "why": "the default experts implementation resolves to 'grouped_mm' (falls back to 'eager' only "
        "when grouped_mm cannot dispatch); force the plain per-expert Python loop of "
        "Gemma4TextExperts.forward",
    },
]


def _rmsnorm_forward_f64(self, hidden_states: torch.Tensor) -> torch.Tensor:
    mean_squared = hidden_states.pow(2).mean(-1, keepdim=True) + self.eps
    normed = hidden_states * torch.pow(mean_squared, -0.5)
    if self.with_scale:
        normed = normed * self.weight
    return normed.type_as(hidden_states)


def _default_rope_init_f64(config, device=None, layer_type=None, **kwargs):
    theta = config.rope_parameters[layer_type]["rope_theta"]
    dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(dtype=torch.float64) / dim
    inv_freq = 1.0 / (theta**exponents)
    return inv_freq.to(device), 1.0


def _proportional_rope_init_f64(config, device=None, seq_len=None, layer_type=None, head_dim_key="head_dim"):
    # Same config resolution as transformers' _compute_proportional_rope_parameters.
    try:
        config = config.per_layer_config[layer_type] if layer_type is not None else config
    except ValueError:
        pass
    config.standardize_rope_params()
    params = config.rope_parameters[layer_type] if layer_type is not None else config.rope_parameters
    dim = getattr(config, head_dim_key, None) or config.hidden_size // config.num_attention_heads
    theta = params["rope_theta"]
    factor = params.get("factor", 1.0)
    proportion = params.get("partial_rotary_factor", 1.0)
    n_rot = int(proportion * dim // 2)
    exponents = torch.arange(0, 2 * n_rot, 2, dtype=torch.int64).to(dtype=torch.float64) / dim
    rotated = 1.0 / (theta**exponents)
    n_pass = dim // 2 - n_rot
    if n_pass > 0:
        inv_freq = torch.cat((rotated, torch.zeros(n_pass, dtype=torch.float64)))
    else:
        inv_freq = rotated
    inv_freq = inv_freq / factor
    return inv_freq.to(device), 1.0


@torch.no_grad()
def _rotary_forward_f64(self, x, position_ids, layer_type):
    rope_type = self.rope_type[layer_type]
    if rope_type not in ("default", "proportional"):
        raise NotImplementedError(f"float64 RoPE patch does not cover rope_type={rope_type!r}")
    inv_freq = getattr(self, f"{layer_type}_inv_freq").to(device=x.device, dtype=torch.float64)
    scaling = getattr(self, f"{layer_type}_attention_scaling")
    angles = position_ids[..., None].to(torch.float64) * inv_freq
    emb = torch.cat((angles, angles), dim=-1)
    cos = emb.cos() * scaling
    sin = emb.sin() * scaling
    return cos.to(dtype=x.dtype), sin.to(dtype=x.dtype)


def _eager_attention_f64(module, query, key, value, attention_mask, dropout=0.0, scaling=None, softcap=None,
                         **kwargs):
    if scaling is None:
        scaling = module.head_dim**-0.5
    key_states = g4.repeat_kv(key, module.num_key_value_groups)
    value_states = g4.repeat_kv(value, module.num_key_value_groups)
    scores = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = nn.functional.softmax(scores, dim=-1, dtype=query.dtype)
    probs = nn.functional.dropout(probs, p=dropout, training=module.training)
    out = torch.matmul(probs, value_states).transpose(1, 2).contiguous()
    return out, probs


def _router_forward_f64(self, hidden_states):
    x = self.norm(hidden_states)
    x = x * self.scale * self.scalar_root_size
    scores = self.proj(x)
    probs = nn.functional.softmax(scores, dim=-1, dtype=scores.dtype)
    weights, index = torch.topk(probs, k=self.config.top_k_experts, dim=-1)
    weights = weights / weights.sum(dim=-1, keepdim=True)
    weights = weights * self.per_expert_scale[index]
    return probs, weights, index


class PrecisionPatches:
    """Context manager installing (enabled=True) the float64 patches; restores everything on exit."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._undo = []

    def _set_attr(self, owner, name, value):
        old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        self._undo.append(lambda: setattr(owner, name, old))
        setattr(owner, name, value)

    def _set_item(self, mapping, key, value):
        old = mapping[key]
        self._undo.append(lambda: mapping.__setitem__(key, old))
        mapping[key] = value

    def __enter__(self):
        prev = torch.get_default_dtype()
        self._undo.append(lambda: torch.set_default_dtype(prev))
        if not self.enabled:
            return self
        torch.set_default_dtype(torch.float64)
        self._set_attr(g4.Gemma4RMSNorm, "forward", _rmsnorm_forward_f64)
        self._set_attr(g4.Gemma4TextRotaryEmbedding, "compute_default_rope_parameters",
                       staticmethod(_default_rope_init_f64))
        self._set_item(rope_utils.ROPE_INIT_FUNCTIONS, "proportional", _proportional_rope_init_f64)
        self._set_attr(g4.Gemma4TextRotaryEmbedding, "forward", _rotary_forward_f64)
        self._set_attr(g4, "eager_attention_forward", _eager_attention_f64)
        self._set_attr(g4.Gemma4TextRouter, "forward", _router_forward_f64)
        return self

    def __exit__(self, *exc):
        while self._undo:
            self._undo.pop()()
        return False


# ------------------------------------------------------------------------------------------------
# Tap recording (instrumentation only: never changes numerics)
# ------------------------------------------------------------------------------------------------

SKIP_MODULES = {"", "model", "model.rotary_emb"}


class TapRecorder:
    """Records module outputs and the extra taps during one forward pass."""

    def __init__(self, model: Gemma4ForCausalLM):
        self.model = model
        self.taps: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        self.layouts: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.skipped: dict[str, str] = {}
        self.masks: dict[str, torch.Tensor] = {}
        self.attn_calls: dict[str, int] = {}
        self._handles = []
        self._cur_attn = None
        self._rope_calls = 0
        self._undo = []

    # -- storage ---------------------------------------------------------------------------------
    def _put(self, name, tensor, layout=None):
        self.counts[name] = self.counts.get(name, 0) + 1
        if self.counts[name] > 1:
            return
        self.taps[name] = tensor.detach().clone()
        if layout is not None:
            self.layouts[name] = layout

    # -- hooks -----------------------------------------------------------------------------------
    def _post_hook(self, name):
        def hook(module, args, output):
            if isinstance(module, g4.Gemma4TextAttention):
                self._put(name, output[0])
                self._put(name + ".attn_probs", output[1], "BNS")
                self._cur_attn = None
            elif isinstance(module, g4.Gemma4TextRouter):
                probs, weights, index = output
                self._put(name + ".probs", probs, "T")
                self._put(name + ".weights", weights, "T")
                self._put(name + ".indices", index, "T")
            elif torch.is_tensor(output):
                self._put(name, output)
            else:
                self.skipped.setdefault(name, f"output is {type(output).__name__}, not a tensor")
        return hook

    def _attn_pre_hook(self, name):
        def hook(module, args):
            self._cur_attn = name
            self._rope_calls = 0
        return hook

    def _o_proj_pre_hook(self, attn_name):
        def hook(module, args):
            self._put(attn_name + ".attn_out", args[0])
        return hook

    def _wrap_rope(self, original):
        def wrapped(x, cos, sin, unsqueeze_dim=1):
            out = original(x, cos, sin, unsqueeze_dim=unsqueeze_dim)
            if self._cur_attn is not None:
                suffix = ("q_rope", "k_rope")[self._rope_calls] if self._rope_calls < 2 else "extra_rope"
                self._rope_calls += 1
                self._put(f"{self._cur_attn}.{suffix}", out)
            return out
        return wrapped

    def _wrap_attention(self, original):
        def wrapped(module, query, key, value, attention_mask, *args, **kwargs):
            name = self._cur_attn
            self.attn_calls[name] = self.attn_calls.get(name, 0) + 1
            if module.store_full_length_kv:
                self._put(f"{name}.shared_k", key, "BNS")
                self._put(f"{name}.shared_v", value, "BNS")
            if attention_mask is not None and module.layer_type not in self.masks:
                self.masks[module.layer_type] = attention_mask.detach().clone()
            return original(module, query, key, value, attention_mask, *args, **kwargs)
        return wrapped

    def _wrap_ple(self, original):
        def wrapped(*args, **kwargs):
            out = original(*args, **kwargs)
            self._put("model.per_layer_inputs", out)
            return out
        return wrapped

    def __enter__(self):
        for name, module in self.model.named_modules():
            if name in SKIP_MODULES or isinstance(module, nn.ModuleList):
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
        inner = self.model.model
        if inner.hidden_size_per_layer_input:
            inner.project_per_layer_inputs = self._wrap_ple(inner.project_per_layer_inputs)
            self._undo.append(lambda: delattr(inner, "project_per_layer_inputs"))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles.clear()
        while self._undo:
            self._undo.pop()()
        return False

    def finalize(self, batch: int, seq: int):
        for name, n in self.counts.items():
            if n > 1:
                self.taps.pop(name, None)
                self.skipped[name] = f"module called {n} times in one forward (one call per routed expert)"
        for name, t in self.taps.items():
            if name in self.layouts:
                continue
            shape = tuple(t.shape)
            if len(shape) >= 2 and shape[0] == batch and shape[1] == seq:
                self.layouts[name] = "BS"
            elif shape[0] == batch * seq:
                self.layouts[name] = "T"
            else:
                raise RuntimeError(f"cannot infer token layout of tap {name} with shape {shape}")
        return self


# ------------------------------------------------------------------------------------------------
# Model, weights, inputs
# ------------------------------------------------------------------------------------------------


def build_model(config: Gemma4TextConfig) -> Gemma4ForCausalLM:
    model = Gemma4ForCausalLM(config)
    model.set_attn_implementation("eager")
    model.set_experts_implementation("eager")
    model.eval()
    return model


def init_weights(model: Gemma4ForCausalLM, weight_seed: int) -> None:
    """Seeded random weights: every parameter and every persistent buffer is drawn here."""
    gen = torch.Generator().manual_seed(weight_seed)

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float64) * std + mean)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo)

    covered = set()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, g4.Gemma4RMSNorm):
                if module.with_scale:
                    normal(module.weight, 0.3, 1.0)
                    if name == "model.norm":
                        module.weight.mul_(FINAL_NORM_GAIN)
                    covered.add(id(module.weight))
            elif isinstance(module, nn.Embedding):
                std = EMBED_STD if name == "model.embed_tokens" else PLE_EMBED_STD
                normal(module.weight, std)
                covered.add(id(module.weight))
            elif isinstance(module, nn.Linear):
                if module.weight is model.model.embed_tokens.weight:
                    continue  # tied lm_head
                std = ROUTER_PROJ_STD if name.endswith("router.proj") else INIT_RANGE
                normal(module.weight, std)
                covered.add(id(module.weight))
                assert module.bias is None
            elif isinstance(module, g4.Gemma4TextRouter):
                normal(module.scale, 0.3, 1.0)
                uniform(module.per_expert_scale, 0.5, 1.5)
                covered.update({id(module.scale), id(module.per_expert_scale)})
            elif isinstance(module, g4.Gemma4TextExperts):
                normal(module.gate_up_proj, INIT_RANGE)
                normal(module.down_proj, INIT_RANGE)
                covered.update({id(module.gate_up_proj), id(module.down_proj)})
            if isinstance(module, g4.Gemma4TextDecoderLayer):
                uniform(module.layer_scalar, 0.5, 1.5)
    missing = [n for n, p in model.named_parameters() if id(p) not in covered]
    if missing:
        raise RuntimeError(f"parameters not initialised by init_weights: {missing}")
    if model.lm_head.weight is not model.model.embed_tokens.weight:
        raise RuntimeError("lm_head is expected to be tied to embed_tokens")


@dataclass
class Inputs:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    mm_token_type_ids: torch.Tensor | None
    pad_left: list = field(default_factory=list)


def left_padding(batch: int, seq: int) -> list[int]:
    pads = []
    for b in range(batch):
        p = 0 if b == 0 else (3 if b == 1 else b + 1)
        pads.append(min(p, seq - 2))
    return pads


def make_inputs(family: str, seed: int, batch: int, seq: int, vocab: int, window: int) -> Inputs:
    rng = np.random.default_rng([seed, 7])
    ids = rng.integers(1, vocab, size=(batch, seq), dtype=np.int64)  # never the pad id 0
    mask = np.ones((batch, seq), dtype=np.int64)
    pads = left_padding(batch, seq)
    for b, p in enumerate(pads):
        ids[b, :p] = PAD_ID
        mask[b, :p] = 0
    mm = None
    if family in VISION_FAMILIES:
        mm = np.zeros((batch, seq), dtype=np.int64)
        for b, p in enumerate(pads):
            if b == 0:
                # one image block longer than the sliding window: positions 3..9 for S=13, W=4
                lo, hi = min(3, seq - 1), min(3 + window + 3, seq - 1)
                mm[b, lo:hi] = 1
            elif b == 1:
                # two short blocks separated by one text token (different block ids)
                for lo, hi in ((p + 1, p + 3), (p + 4, p + 7)):
                    mm[b, min(lo, seq - 1):min(hi, seq - 1)] = 1
            else:
                mm[b, min(p + 1, seq - 1):min(p + 4, seq - 1)] = 1
    return Inputs(torch.from_numpy(ids), torch.from_numpy(mask),
                  None if mm is None else torch.from_numpy(mm), pads)


def attention_mask_argument(model: Gemma4ForCausalLM, inputs: Inputs):
    """2-D mask for text-only families; for 31b/26b the per-layer-type mask dict built exactly as
    Gemma4Model.forward does for use_bidirectional_attention == "vision" with mm_token_type_ids."""
    if inputs.mm_token_type_ids is None:
        return inputs.attention_mask
    with torch.no_grad():
        embeds = model.model.embed_tokens(inputs.input_ids)
    position_ids = torch.arange(embeds.shape[1]).unsqueeze(0)
    block_ids = g4.get_block_sequence_ids_for_mask(inputs.mm_token_type_ids, device=embeds.device)
    return g4.create_masks_for_vision_model(
        config=model.config,
        inputs_embeds=embeds,
        attention_mask=inputs.attention_mask,
        past_key_values=None,
        position_ids=position_ids,
        block_sequence_ids=block_ids,
    )


def clamped_mask_dict(model: Gemma4ForCausalLM, inputs: Inputs) -> dict:
    """The per-layer-type additive masks that Gemma4TextModel.forward (or Gemma4Model.forward for the
    vision families) builds, with the masked value clamped from finfo(float64).min to
    finfo(float32).min. Only used for the unpatched comparison run: stock eager attention casts the
    float64 scores to float32 for its softmax, which turns finfo(float64).min into -inf, so fully masked
    (padding) query rows become NaN and the NaN reaches real tokens through 0 * NaN in the next layer's
    probs @ V."""
    if inputs.mm_token_type_ids is not None:
        masks = attention_mask_argument(model, inputs)
    else:
        with torch.no_grad():
            embeds = model.model.embed_tokens(inputs.input_ids)
        kwargs = dict(config=model.config, inputs_embeds=embeds, attention_mask=inputs.attention_mask,
                      past_key_values=None, position_ids=torch.arange(embeds.shape[1]).unsqueeze(0))
        masks = {FULL: create_causal_mask(**kwargs), SLIDING: create_sliding_window_causal_mask(**kwargs)}
    lo = torch.finfo(torch.float32).min
    return {k: (None if v is None else v.clamp(min=lo)) for k, v in masks.items()}


def run_forward(model: Gemma4ForCausalLM, inputs: Inputs, mask_arg=None) -> TapRecorder:
    if mask_arg is None:
        mask_arg = attention_mask_argument(model, inputs)
    with TapRecorder(model) as rec, torch.no_grad():
        out = model(input_ids=inputs.input_ids, attention_mask=mask_arg, use_cache=False, return_dict=True)
    rec.taps["logits"] = out.logits.detach().clone()
    rec.counts["logits"] = 1
    batch, seq = inputs.input_ids.shape
    rec.finalize(batch, seq)
    n_layers = model.config.num_hidden_layers
    if len(rec.attn_calls) != n_layers or any(v != 1 for v in rec.attn_calls.values()):
        raise RuntimeError(f"eager attention was not called exactly once per layer: {rec.attn_calls}")
    return rec


# ------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------


def router_margin(taps, top_k: int) -> float:
    """Smallest gap between consecutive sorted router probabilities among the top k+1 (all tokens)."""
    worst = math.inf
    for name, t in taps.items():
        if name.endswith(".router.probs"):
            s = torch.sort(t, dim=-1, descending=True).values[:, : top_k + 1]
            worst = min(worst, float((s[:, :-1] - s[:, 1:]).min()))
    return worst


def real_rows(t: torch.Tensor, layout: str, mask2d: torch.Tensor) -> torch.Tensor:
    keep = mask2d.bool()
    if layout == "BS":
        return t[keep]
    if layout == "BNS":
        return t.transpose(1, 2)[keep]
    if layout == "T":
        return t[keep.reshape(-1)]
    raise ValueError(layout)


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.to(torch.float64)
    b = b.to(torch.float64)
    den = float(torch.linalg.vector_norm(b))
    num = float(torch.linalg.vector_norm(a - b))
    return num / den if den > 0 else num


def numpy_mask(cfg: Gemma4TextConfig, layer_type: str, inputs: Inputs) -> np.ndarray:
    """Independent allowed[b, q, k] mask (spec section 3.3, installed HF semantics)."""
    am = inputs.attention_mask.numpy().astype(bool)
    B, S = am.shape
    q = np.arange(S)[:, None]
    k = np.arange(S)[None, :]
    allowed = np.broadcast_to(k <= q, (B, S, S)).copy()
    if inputs.mm_token_type_ids is not None and cfg.use_bidirectional_attention == "vision" \
            and layer_type == SLIDING:
        mm = inputs.mm_token_type_ids.numpy()
        vis = (mm == 1) | (mm == 2)
        blk = np.full((B, S), -1)
        for b in range(B):
            cur = -1
            for s in range(S):
                if vis[b, s] and (s == 0 or not vis[b, s - 1]):
                    cur += 1
                if vis[b, s]:
                    blk[b, s] = cur
        same = (blk[:, :, None] == blk[:, None, :]) & (blk[:, :, None] >= 0)
        allowed |= same
    if layer_type == SLIDING:
        allowed &= (k > q - cfg.sliding_window)[None]
    allowed &= am[:, None, :]
    return allowed


def self_checks(model: Gemma4ForCausalLM, rec: TapRecorder, inputs: Inputs) -> dict:
    """Recompute a few taps with independent numpy float64 formulas (real rows only)."""
    cfg = model.config
    taps = {k: v.numpy() for k, v in rec.taps.items()}
    am = inputs.attention_mask.numpy().astype(bool)
    ids = inputs.input_ids.numpy()
    B, S = ids.shape
    H = cfg.hidden_size
    res = {}

    def rel(a, b):
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    E = model.model.embed_tokens.weight.detach().numpy()
    res["embed_tokens"] = rel(taps["model.embed_tokens"][am], E[ids][am] * math.sqrt(H))
    x = taps["model.embed_tokens"]
    w = model.model.layers[0].input_layernorm.weight.detach().numpy()
    ref = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + cfg.rms_norm_eps) * w
    res["layers.0.input_layernorm"] = rel(taps["model.layers.0.input_layernorm"][am], ref[am])

    pos = np.arange(S, dtype=np.float64)
    done_types = set()
    for i, lt in enumerate(cfg.layer_types):
        pre = f"model.layers.{i}.self_attn"
        if lt in done_types or f"{pre}.k_rope" not in taps:
            continue
        done_types.add(lt)
        D = model.model.layers[i].self_attn.head_dim
        rp = cfg.rope_parameters[lt]
        theta = rp["rope_theta"]
        n_rot = D // 2 if rp["rope_type"] == "default" else int(rp.get("partial_rotary_factor", 1.0) * D // 2)
        inv = np.zeros(D // 2)
        inv[:n_rot] = 1.0 / theta ** (2.0 * np.arange(n_rot) / D)
        ang = pos[:, None] * inv[None, :]
        cos = np.cos(np.concatenate([ang, ang], -1))[None, :, None, :]
        sin = np.sin(np.concatenate([ang, ang], -1))[None, :, None, :]

        def rope(v):
            rot = np.concatenate([-v[..., D // 2:], v[..., : D // 2]], -1)
            return v * cos + rot * sin

        qn = taps[f"{pre}.q_norm"]
        res[f"layers.{i}.q_rope ({lt})"] = rel(taps[f"{pre}.q_rope"][am], rope(qn)[am])
        qr = taps[f"{pre}.q_rope"].transpose(0, 2, 1, 3)  # B,N,S,D
        kr = taps[f"{pre}.k_rope"].transpose(0, 2, 1, 3)
        groups = qr.shape[1] // kr.shape[1]
        kr = np.repeat(kr, groups, axis=1)
        scores = qr @ kr.transpose(0, 1, 3, 2)
        allowed = numpy_mask(cfg, lt, inputs)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):  # fully masked padding query rows
            scores = np.where(allowed, scores, -np.inf)
            scores = scores - scores.max(-1, keepdims=True)
            p = np.exp(scores)
            p = p / p.sum(-1, keepdims=True)
        got = taps[f"{pre}.attn_probs"].transpose(0, 2, 1, 3)[am]
        res[f"layers.{i}.attn_probs ({lt})"] = rel(got, p.transpose(0, 2, 1, 3)[am])
        got_mask = (rec.masks[lt].numpy() == 0)
        if not np.array_equal(got_mask[:, 0][am], numpy_mask(cfg, lt, inputs)[am]):
            raise RuntimeError(f"HF {lt} mask differs from the numpy mask on real query rows")
    cap = cfg.final_logit_softcapping
    res["logits"] = rel(taps["logits"][am], (cap * np.tanh(taps["lm_head"] / cap))[am])
    for name in taps:
        if name.endswith(".router.probs"):
            logits = taps[name.replace(".probs", ".proj")]
            e = np.exp(logits - logits.max(-1, keepdims=True))
            res[name] = rel(taps[name], e / e.sum(-1, keepdims=True))
    # shared K of a store layer == its own k_rope (transposed)
    for name in taps:
        if name.endswith(".shared_k"):
            res[name + " == k_rope^T"] = rel(taps[name], taps[name.replace("shared_k", "k_rope")].transpose(0, 2, 1, 3))
    return res


# ------------------------------------------------------------------------------------------------
# Export
# ------------------------------------------------------------------------------------------------


def export_bundle(family: str, seed: int, seq: int, batch: int, out_dir: str, command_line: str,
                  verbose: bool = True) -> dict:
    if family not in FAMILY_CONFIGS:
        raise ValueError(f"unknown family {family!r}")
    cfg_kwargs = FAMILY_CONFIGS[family]()
    window = cfg_kwargs["sliding_window"]
    if seq < window + 2:
        raise ValueError(f"--seq-len must be >= sliding_window + 2 = {window + 2}")
    if batch < 1:
        raise ValueError("--batch must be >= 1")

    # ---- patched float64 run (with redraws on router near-ties) ------------------------------
    for attempt in range(20):
        weight_seed = seed + 100_003 * attempt
        with PrecisionPatches(enabled=True):
            config = Gemma4TextConfig(**cfg_kwargs)
            model = build_model(config)
            init_weights(model, weight_seed)
            inputs = make_inputs(family, seed, batch, seq, config.vocab_size, window)
            check_float64(model)
            rec = run_forward(model, inputs)
            checks = self_checks(model, rec, inputs)
        if not config.enable_moe_block:
            margin = None
            break
        margin = router_margin(rec.taps, config.top_k_experts)
        if margin > 1e-6:
            break
        if verbose:
            print(f"[{family}] router near-tie (margin {margin:.3g}), redrawing weights")
    else:
        raise RuntimeError("could not draw router weights without near-ties")

    for name, t in rec.taps.items():
        want = torch.int64 if name.endswith(".router.indices") else torch.float64
        if t.dtype != want:
            raise RuntimeError(f"tap {name} has dtype {t.dtype}, expected {want}")
    worst_check = max(checks.values())
    if worst_check > 1e-12:
        raise RuntimeError(f"numpy self-check failed: {checks}")

    # ---- write config.json + model.safetensors -----------------------------------------------
    if os.path.isdir(out_dir):
        for fn in ("config.json", "model.safetensors", "golden.h5", "generation_config.json"):
            if os.path.exists(os.path.join(out_dir, fn)):
                os.remove(os.path.join(out_dir, fn))
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    os.chmod(os.path.join(out_dir, "model.safetensors"), 0o644)  # safetensors writes 0600
    gen_cfg = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)
    with open(os.path.join(out_dir, "config.json")) as fh:
        config_text = fh.read()

    # ---- reload with patches: the bundle alone must reproduce the taps ---------------------------
    with PrecisionPatches(enabled=True):
        reloaded = Gemma4ForCausalLM.from_pretrained(out_dir, dtype=torch.float64, attn_implementation="eager")
        reloaded.set_experts_implementation("eager")
        reloaded.eval()
        check_float64(reloaded)
        rec_reload = run_forward(reloaded, inputs)
    # Not bit for bit: BLAS kernels depend on the weights' memory alignment (ulp-level differences).
    reload_rel = max(rel_l2(real_rows(rec_reload.taps[k], rec.layouts[k], inputs.attention_mask),
                            real_rows(v, rec.layouts[k], inputs.attention_mask)) for k, v in rec.taps.items())
    if reload_rel > 1e-13:
        raise RuntimeError(f"reloading the bundle does not reproduce the taps (rel L2 {reload_rel:.3g})")

    # ---- unpatched runs: stock code, stock defaults, same float64 weights ----------------------
    with PrecisionPatches(enabled=False):
        torch.set_default_dtype(torch.float32)
        stock = Gemma4ForCausalLM.from_pretrained(out_dir, dtype=torch.float64, attn_implementation="eager")
        stock.eval()
        stock_experts = stock.config._experts_implementation
        stock_experts_note = (f"'{stock_experts}' (stock default)" if config.enable_moe_block
                              else "n/a (no MoE block)")
        if config.enable_moe_block and stock_experts != "eager":
            # The stock default ('grouped_mm') rejects float64 (torch._grouped_mm supports fp32/bf16/fp16
            # only), so the comparison run has to use the eager loop as well.
            try:
                run_forward(stock, inputs)
            except RuntimeError as err:
                stock_experts_note = (f"'eager' (stock default '{stock_experts}' raises for float64: "
                                      f"{str(err).splitlines()[0]})")
                stock.set_experts_implementation("eager")
                stock_experts = "eager"
        stock_embed_scale = float(stock.model.embed_tokens.embed_scale)
        # (a) fully stock: record which taps are non-finite on real rows
        rec_raw = run_forward(stock, inputs)
        # (b) stock code fed the same masks clamped to finfo(float32).min: the comparison run
        rec_stock = run_forward(stock, inputs, mask_arg=clamped_mask_dict(stock, inputs))
    names = list(rec.taps.keys())
    stock_nonfinite = [n for n in names if n in rec_raw.taps and not bool(torch.isfinite(
        real_rows(rec_raw.taps[n], rec.layouts[n], inputs.attention_mask).to(torch.float64)).all())]
    missing = [n for n in names if n not in rec_stock.taps]
    if missing:
        raise RuntimeError(f"unpatched run lacks taps {missing}")
    unpatched = np.array([rel_l2(real_rows(rec_stock.taps[n], rec.layouts[n], inputs.attention_mask),
                                 real_rows(rec.taps[n], rec.layouts[n], inputs.attention_mask)) for n in names])

    # ---- golden.h5 ---------------------------------------------------------------------------
    h5_path = os.path.join(out_dir, "golden.h5")
    # libver bounded at v110: readable by the HDF5 1.10 C library the C++ side links against.
    with h5py.File(h5_path, "w", track_order=True, libver=("v110", "v110")) as f:
        f.attrs["bundle_kind"] = "text"
        f.attrs["model_class"] = "Gemma4ForCausalLM"
        f.attrs["transformers_version"] = str(transformers.__version__)
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["python_version"] = platform.python_version()
        f.attrs["numpy_version"] = np.__version__
        f.attrs["h5py_version"] = h5py.__version__
        f.attrs["safetensors_version"] = safetensors.__version__
        f.attrs["seed"] = np.int64(seed)
        f.attrs["weight_seed"] = np.int64(weight_seed)
        f.attrs["family"] = family
        f.attrs["command_line"] = command_line
        f.attrs["config_json"] = config_text
        f.attrs["patches"] = json.dumps(PRECISION_PATCHES)
        f.attrs["tap_prefix"] = ""
        f.attrs["attn_implementation"] = "eager"
        f.attrs["experts_implementation"] = "eager"
        f.attrs["use_cache"] = np.int64(0)
        f.attrs["position_ids"] = "arange(S) for every row (independent of padding)"
        f.attrs["left_padding"] = np.array(inputs.pad_left, dtype=np.int64)
        f.attrs["skipped_modules"] = json.dumps(rec.skipped, sort_keys=True)
        f.attrs["kv_sharing_modes"] = json.dumps(model.config.kv_sharing_modes)
        f.attrs["selfcheck_max_rel_l2"] = worst_check
        f.attrs["reload_max_rel_l2"] = reload_rel
        if margin is not None:
            f.attrs["router_min_topk_margin"] = margin

        g_in = f.create_group("inputs", track_order=True)
        g_in.create_dataset("input_ids", data=inputs.input_ids.numpy().astype(np.int64))
        g_in.create_dataset("attention_mask", data=inputs.attention_mask.numpy().astype(np.int64))
        if inputs.mm_token_type_ids is not None:
            g_in.create_dataset("mm_token_type_ids", data=inputs.mm_token_type_ids.numpy().astype(np.int64))

        g_mask = f.create_group("masks", track_order=True)
        for lt, m in rec.masks.items():
            ds = _create(g_mask, lt, (m.numpy() == 0).astype(np.int8))
            ds.attrs["meaning"] = "1 = key allowed; [B,1,S_q,S_kv] as passed to eager attention"

        g_taps = f.create_group("taps", track_order=True)
        written = {}
        n_links = 0
        for name in names:
            t = rec.taps[name]
            arr = t.numpy().astype(np.int64 if t.dtype == torch.int64 else np.float64)
            key = (arr.shape, arr.dtype.str, rec.layouts[name], arr.tobytes())
            if key in written:
                g_taps[name] = g_taps[written[key]]  # HDF5 hard link: same dataset object, same layout
                n_links += 1
                continue
            written[key] = name
            ds = _create(g_taps, name, arr)
            ds.attrs["layout"] = rec.layouts[name]
        f.attrs["n_hard_linked_taps"] = np.int64(n_links)

        g_prov = f.create_group("provenance", track_order=True)
        g_prov.create_dataset("unpatched_rel_l2", data=unpatched.astype(np.float64))
        g_prov.create_dataset("unpatched_tap_names", data=np.array(names, dtype=object),
                              dtype=h5py.string_dtype("utf-8"))
        g_prov.attrs["unpatched_run"] = (
            "stock transformers code (no patches), default dtype float32 at construction, "
            "from_pretrained(bundle, dtype=float64, attn_implementation='eager'), experts implementation "
            f"{stock_experts_note}, embed_scale {stock_embed_scale!r}, additive masks passed as a prepared dict "
            "clamped to finfo(float32).min (see stock_nonfinite_taps); rel L2 ||unpatched - patched|| / "
            "||patched|| over real (attention_mask=1) token rows (query rows for BNS)"
        )
        g_prov.attrs["stock_nonfinite_taps"] = json.dumps(stock_nonfinite)
        g_prov.create_dataset("selfcheck_names", data=np.array(list(checks.keys()), dtype=object),
                              dtype=h5py.string_dtype("utf-8"))
        g_prov.create_dataset("selfcheck_rel_l2", data=np.array(list(checks.values()), dtype=np.float64))

    sizes = {fn: os.path.getsize(os.path.join(out_dir, fn)) for fn in sorted(os.listdir(out_dir))}
    lm = rec.taps["lm_head"]
    summary = {
        "family": family,
        "out": out_dir,
        "n_taps": len(names),
        "sizes": sizes,
        "total_bytes": sum(sizes.values()),
        "max_unpatched_rel_l2": float(unpatched.max()),
        "max_unpatched_tap": names[int(unpatched.argmax())],
        "selfcheck_max": worst_check,
        "reload_max_rel_l2": reload_rel,
        "max_abs_lm_head_real": float(real_rows(lm, "BS", inputs.attention_mask).abs().max()),
        "router_margin": margin,
        "stock_experts_implementation": stock_experts_note,
        "stock_nonfinite_taps": len(stock_nonfinite),
        "stock_first_nonfinite": stock_nonfinite[0] if stock_nonfinite else None,
        "skipped": rec.skipped,
    }
    if verbose:
        print(f"[{family}] {out_dir}: {len(names)} taps, {summary['total_bytes'] / 1e6:.3f} MB, "
              f"max unpatched rel L2 {summary['max_unpatched_rel_l2']:.3e} ({summary['max_unpatched_tap']}), "
              f"self-check max {worst_check:.2e}, max |lm_head| {summary['max_abs_lm_head_real']:.1f}"
              + (f", router margin {margin:.3g}" if margin is not None else ""))
    return summary


def _create(group, name, arr):
    """Datasets with more than 64 elements: one chunk, shuffle + gzip(9) (standard HDF5 filters)."""
    if arr.size > 64:
        return group.create_dataset(name, data=arr, chunks=arr.shape, shuffle=True, compression="gzip",
                                    compression_opts=9)
    return group.create_dataset(name, data=arr)


def check_float64(model: nn.Module) -> None:
    for name, p in model.named_parameters():
        if p.dtype != torch.float64:
            raise RuntimeError(f"parameter {name} is {p.dtype}")
    for name, b in model.named_buffers():
        if b.is_floating_point() and b.dtype != torch.float64:
            raise RuntimeError(f"buffer {name} is {b.dtype}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", choices=FAMILIES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seq-len", type=int, default=13)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--out", help="bundle directory")
    ap.add_argument("--all", action="store_true",
                    help="write the four default bundles to golden/data/<family>_tiny/")
    ap.add_argument("--data-dir", default=None, help="with --all: parent directory (default golden/data)")
    ap.add_argument("--summary-json", default=None, help="write the run summary to this file")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)  # deterministic CPU reductions
    command_line = shlex.join([os.path.relpath(sys.argv[0]) if sys.argv and sys.argv[0] else "export_text.py"]
                              + list(sys.argv[1:] if argv is None else argv))
    summaries = []
    if args.all:
        data_dir = args.data_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
        data_dir = os.path.normpath(data_dir)
        for fam in FAMILIES:
            summaries.append(export_bundle(fam, args.seed, args.seq_len, args.batch,
                                           os.path.join(data_dir, f"{fam}_tiny"), command_line))
    else:
        if not args.family or not args.out:
            ap.error("either --all or both --family and --out are required")
        summaries.append(export_bundle(args.family, args.seed, args.seq_len, args.batch, args.out, command_line))
    if args.summary_json:
        with open(args.summary_json, "w") as fh:
            json.dump(summaries, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
