#!/usr/bin/env python3
"""Golden-tensor exporter for the Gemma 4 assistant / drafter (Gemma4AssistantForCausalLM).

A tiny E4B-like target (Gemma4ForCausalLM, export_text's "e4b" family) runs the prompt once
(return_shared_kv_states, output_hidden_states); a tiny assistant then drafts N tokens exactly as
transformers' Gemma4AssistantCandidateGenerator.get_candidates does:

    inputs_embeds_k = cat(target.embed_tokens(last_token_k) [B, 1, Hb] (scaled by sqrt(Hb)), state_k [B, 1, Hb])
    out_k           = assistant(inputs_embeds_k, attention_mask, position_ids = [[S - 1]], shared_kv_states)
    last_token_{k+1} = argmax(out_k.logits), state_{k+1} = out_k.last_hidden_state (post_projection)
    state_0 = target hidden_states[-1][:, -1:], last_token_0 = input_ids[:, -1]

Bundle:
    <out>/config.json, <out>/model.safetensors   the assistant (save_pretrained, float64)
    <out>/golden.h5   root attribute kind = "assistant";
      /inputs: input_ids, attention_mask (the prompt), position_ids [B, 1],
               shared_k_full_attention, shared_v_full_attention, shared_k_sliding_attention,
               shared_v_sliding_attention ([B, Nkv, S, Dh]: the target's shared_kv_states),
               target_last_hidden_state [B, 1, Hb], target_embed_tokens [V, Hb] (unscaled weight;
               attribute embed_scale), attributes num_draft_tokens
      /taps: per drafting step k, under "draft.<k>.": inputs_embeds, pre_projection, every module of
             the assistant's text model ("model.layers.i....", "model.norm"), post_projection,
             masked_embedding.centroids (centroid logits), logits, token. Layout "rows": compare all.
      /masks/<k>/<layer type>: the assistant's masks (1 = allowed)

Usage:
    python3 golden/exporter/export_assistant.py --all
    python3 golden/exporter/export_assistant.py --seed 3 --out /tmp/asst [--plain-head]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys

import h5py
import numpy as np
import torch
import transformers
from torch import nn
from transformers import Gemma4AssistantConfig, Gemma4AssistantForCausalLM, Gemma4ForCausalLM, Gemma4TextConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_text as et  # noqa: E402
from export_text import FULL, SLIDING, g4  # noqa: E402

NUM_DRAFT = 3

# The installed Gemma4TextConfig.kv_sharing_modes raises ValueError ("The set of layer types producing a
# cache is different than the set of layer types using them") when num_kv_shared_layers ==
# num_hidden_layers, which Gemma4AssistantConfig.__post_init__ itself sets and validate_architecture
# requires: the assistant cannot be constructed unpatched. The patch returns "reuse" for every layer
# in that case (no layer of the assistant computes K/V: each reads shared_kv_states[layer_type],
# Gemma4TextAttention.forward); any other config goes to the stock property.
ASSISTANT_PATCHES = [
    {"site": "transformers.models.gemma4.configuration_gemma4.Gemma4TextConfig.kv_sharing_modes",
     "why": "stock property raises for num_kv_shared_layers == num_hidden_layers (every Gemma4Assistant); "
     "patched to ['reuse'] * num_hidden_layers in that case only"},
]


class AssistantPatches(et.PrecisionPatches):
    def __enter__(self):
        super().__enter__()
        cls = transformers.models.gemma4.configuration_gemma4.Gemma4TextConfig
        stock = cls.__dict__["kv_sharing_modes"]

        def modes(cfg):
            if cfg.num_kv_shared_layers == cfg.num_hidden_layers:
                return ["reuse"] * cfg.num_hidden_layers
            return stock.fget(cfg)
        self._set_attr(cls, "kv_sharing_modes", property(modes))
        return self


def target_config() -> dict:
    return et.config_e4b()


def assistant_config(target: dict, ordered: bool) -> Gemma4AssistantConfig:
    text = dict(
        vocab_size=target["vocab_size"], hidden_size=24, intermediate_size=20, num_hidden_layers=3,
        layer_types=[SLIDING, SLIDING, FULL], num_attention_heads=4, num_key_value_heads=target["num_key_value_heads"],
        head_dim=target["head_dim"], global_head_dim=target["global_head_dim"], sliding_window=target["sliding_window"],
        rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh", final_logit_softcapping=None,
        hidden_size_per_layer_input=0, vocab_size_per_layer_input=0, enable_moe_block=False,
        use_double_wide_mlp=False, attention_k_eq_v=False, use_bidirectional_attention=None,
        pad_token_id=et.PAD_ID, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True, rope_parameters=None,
        attention_bias=False, attention_dropout=0.0, max_position_embeddings=131072, initializer_range=et.INIT_RANGE,
        num_kv_shared_layers=0)
    return Gemma4AssistantConfig(text_config=Gemma4TextConfig(**text), backbone_hidden_size=target["hidden_size"],
                                 use_ordered_embeddings=ordered, num_centroids=8, centroid_intermediate_top_k=3,
                                 tie_word_embeddings=True)


def init_assistant(model: Gemma4AssistantForCausalLM, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float64) * std + mean)

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "model.embed_tokens.weight":
                normal(p, et.EMBED_STD)
            elif p.dim() == 1:
                normal(p, 0.3, 1.0)
                if name == "model.norm.weight":
                    p.mul_(et.FINAL_NORM_GAIN)
            else:
                normal(p, et.INIT_RANGE)
        for name, b in model.named_buffers():
            if name.endswith("layer_scalar"):
                b.copy_(torch.rand(b.shape, generator=gen, dtype=torch.float64) + 0.5)
            elif name.endswith("token_ordering"):
                b.copy_(torch.randperm(b.numel(), generator=gen))
    if model.lm_head.weight is not model.model.embed_tokens.weight:
        raise RuntimeError("assistant lm_head is expected to be tied to model.embed_tokens")


class AssistantRecorder(et.TapRecorder):
    """export_text's hooks on the assistant's modules, names prefixed by the drafting step."""

    def __init__(self, model, step: int):
        super().__init__(model)
        self.prefix = f"draft.{step}."

    def _put(self, name, tensor, layout=None):
        super()._put(self.prefix + name, tensor, "rows")

    def __enter__(self):
        for name, module in self.model.named_modules():
            if name in ("", "model", "model.rotary_emb", "masked_embedding") or isinstance(module, nn.ModuleList):
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
        self._handles.append(self.model.pre_projection.register_forward_pre_hook(
            lambda m, args: self._put("inputs_embeds", args[0])))
        return self

    def _wrap_attention(self, original):
        def wrapped(module, query, key, value, attention_mask, *args, **kwargs):
            name = self._cur_attn
            self.attn_calls[name] = self.attn_calls.get(name, 0) + 1
            if attention_mask is not None and module.layer_type not in self.masks:
                self.masks[module.layer_type] = attention_mask.detach().clone()
            elif attention_mask is None:
                self.masks.setdefault(module.layer_type, None)
            return original(module, query, key, value, attention_mask, *args, **kwargs)
        return wrapped


def numpy_assistant_mask(layer_type: str, am: np.ndarray, skv: int, sq: int, window: int) -> np.ndarray:
    """allowed[b, q, j]: full = key padding only; sliding = key padding and |q - (Skv - 1 - j)| <= W (the
    bidirectional window on the flipped key axis, flipped back: the last W + 1 keys for q = 0)."""
    am = am[:, :skv].astype(bool)
    B = am.shape[0]
    q = np.arange(sq)[:, None]
    j = np.arange(skv)[None, :]
    allowed = np.broadcast_to(am[:, None, :], (B, sq, skv)).copy()
    if layer_type == SLIDING:
        allowed &= (np.abs(q - (skv - 1 - j)) <= window)[None]
    return allowed


def export_bundle(seed: int, out_dir: str, command_line: str, ordered: bool = True, seq: int = 11,
                  left_pad: int = 0, verbose: bool = True) -> dict:
    tcfg = target_config()
    with AssistantPatches(enabled=True):
        target = et.build_model(Gemma4TextConfig(**tcfg))
        et.init_weights(target, seed)
        acfg = assistant_config(tcfg, ordered)
        assistant = Gemma4AssistantForCausalLM(acfg)
        assistant.set_attn_implementation("eager")
        assistant.eval()
        init_assistant(assistant, seed + 1)
        et.check_float64(target)
        et.check_float64(assistant)

        rng = np.random.default_rng([seed, 13])
        ids = torch.from_numpy(rng.integers(3, tcfg["vocab_size"], size=(1, seq), dtype=np.int64))
        am = torch.ones_like(ids)
        ids[:, :left_pad] = et.PAD_ID  # left padding: masked keys for the target and the assistant
        am[:, :left_pad] = 0
        with torch.no_grad():
            tout = target(input_ids=ids, attention_mask=am, use_cache=False, output_hidden_states=True,
                          return_shared_kv_states=True, return_dict=True)
        shared = {k: (v[0].detach().clone(), v[1].detach().clone()) for k, v in tout.shared_kv_states.items()}
        state = tout.hidden_states[-1][:, -1:].detach().clone()
        last_token = ids[:, -1:]
        position_ids = torch.tensor([[ids.shape[1] - 1]], dtype=torch.long)
        target_embed = target.model.embed_tokens  # the scaled embedding the candidate generator uses
        inputs = dict(state0=state.clone(), last_token0=last_token.clone())

        taps, masks, tokens = {}, {}, []
        for k in range(NUM_DRAFT):
            emb = target_embed(last_token)
            inputs_embeds = torch.cat([emb, state], dim=-1)
            with AssistantRecorder(assistant, k) as rec, torch.no_grad():
                out = assistant(inputs_embeds=inputs_embeds, attention_mask=am, position_ids=position_ids,
                                shared_kv_states=shared, use_cache=False)
            if len(rec.attn_calls) != acfg.text_config.num_hidden_layers:
                raise RuntimeError(f"attention calls {rec.attn_calls}")
            for name, n in rec.counts.items():
                if n > 1:
                    raise RuntimeError(f"{name} called {n} times")
            last_token = out.logits.argmax(dim=-1)
            state = out.last_hidden_state
            taps.update(rec.taps)
            p = f"draft.{k}."
            taps[p + "post_projection"] = out.last_hidden_state.detach().clone()
            taps[p + "logits"] = out.logits.detach().clone()
            taps[p + "token"] = last_token.to(torch.float64)
            masks[k] = rec.masks
            tokens.append(int(last_token[0, 0]))

    # ---- self-checks (numpy float64) ----
    checks = {}
    H = tcfg["hidden_size"]
    E = target.model.embed_tokens.weight.detach().numpy()
    state_np = inputs["state0"].numpy()
    tok = int(inputs["last_token0"][0, 0])
    for k in range(NUM_DRAFT):
        p = f"draft.{k}."
        want = np.concatenate([E[tok][None, None] * math.sqrt(H), state_np], -1)
        checks[p + "inputs_embeds"] = float(np.abs(taps[p + "inputs_embeds"].numpy() - want).max())
        for lt, m in masks[k].items():
            skv = shared[lt][0].shape[2]
            want_m = numpy_assistant_mask(lt, am.numpy(), skv, 1, acfg.text_config.sliding_window)
            got = np.ones_like(want_m) if m is None else (m.numpy()[:, 0] == 0)
            if not np.array_equal(got, want_m):
                raise RuntimeError(f"step {k} {lt} mask differs from numpy:\n{got}\n{want_m}")
        lg = taps[p + "logits"].numpy()
        hn = taps[p + "model.norm"].numpy()
        W = assistant.lm_head.weight.detach().numpy()
        full = hn @ W.T
        if ordered:
            cl = taps[p + "model.norm"].numpy() @ assistant.masked_embedding.centroids.weight.detach().numpy().T
            top = np.argsort(-cl, -1, kind="stable")[..., : acfg.centroid_intermediate_top_k]
            order = assistant.masked_embedding.token_ordering.numpy().reshape(acfg.num_centroids, -1)
            sel = order[top].reshape(*top.shape[:2], -1)
            vals = np.take_along_axis(full, sel, -1)
            ref = np.full_like(full, vals.min() - 1.0)
            np.put_along_axis(ref, sel, vals, -1)
            checks[p + "logits (centroid head)"] = float(np.linalg.norm(lg - ref) / np.linalg.norm(ref))
        else:
            checks[p + "logits"] = float(np.linalg.norm(lg - full) / np.linalg.norm(full))
        state_np = taps[p + "post_projection"].numpy()
        tok = int(lg[0, 0].argmax())
        if tok != tokens[k]:
            raise RuntimeError("argmax mismatch")
        srt = np.sort(lg[0, 0])[::-1]
        checks[p + "top-2 logit gap (must be > 1e-6)"] = -float(srt[0] - srt[1])  # negative: excluded from max
    worst = max(checks.values())
    if worst > 1e-12:
        raise RuntimeError(f"self-check failed: {checks}")
    gaps = [-v for n, v in checks.items() if "gap" in n]
    if min(gaps) < 1e-6:
        raise RuntimeError(f"near-tie in the drafted argmax (gap {min(gaps):.3g}): pick another seed")

    # ---- write ----
    if os.path.isdir(out_dir):
        for fn in ("config.json", "model.safetensors", "golden.h5", "generation_config.json"):
            if os.path.exists(os.path.join(out_dir, fn)):
                os.remove(os.path.join(out_dir, fn))
    os.makedirs(out_dir, exist_ok=True)
    assistant.save_pretrained(out_dir, safe_serialization=True)
    os.chmod(os.path.join(out_dir, "model.safetensors"), 0o644)
    if os.path.exists(os.path.join(out_dir, "generation_config.json")):
        os.remove(os.path.join(out_dir, "generation_config.json"))
    with open(os.path.join(out_dir, "config.json")) as fh:
        config_text = fh.read()
    with h5py.File(os.path.join(out_dir, "golden.h5"), "w", track_order=True, libver=("v110", "v110")) as f:
        f.attrs["kind"] = "assistant"
        f.attrs["bundle_kind"] = "assistant"
        f.attrs["model_class"] = "Gemma4AssistantForCausalLM"
        f.attrs["target_model_class"] = "Gemma4ForCausalLM"
        f.attrs["target_config_json"] = json.dumps(tcfg)
        f.attrs["transformers_version"] = str(transformers.__version__)
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["python_version"] = platform.python_version()
        f.attrs["seed"] = np.int64(seed)
        f.attrs["command_line"] = command_line
        f.attrs["config_json"] = config_text
        f.attrs["patches"] = json.dumps(et.PRECISION_PATCHES + ASSISTANT_PATCHES)
        f.attrs["attn_implementation"] = "eager"
        f.attrs["num_draft_tokens"] = np.int64(NUM_DRAFT)
        f.attrs["drafted_tokens"] = np.array(tokens, dtype=np.int64)
        f.attrs["selfcheck_max"] = worst
        f.attrs["drafting"] = ("transformers generation/candidate_generator.py Gemma4AssistantCandidateGenerator."
                               "get_candidates: inputs_embeds = cat(target embed_tokens(last token), state); "
                               "position_ids = [[S - 1]]; token = argmax(logits); state = last_hidden_state")
        g_in = f.create_group("inputs", track_order=True)
        g_in.create_dataset("input_ids", data=ids.numpy().astype(np.int64))
        g_in.create_dataset("attention_mask", data=am.numpy().astype(np.int64))
        g_in.create_dataset("position_ids", data=position_ids.numpy().astype(np.int64))
        for lt, (kk, vv) in shared.items():
            et._create(g_in, f"shared_k_{lt}", kk.numpy())
            et._create(g_in, f"shared_v_{lt}", vv.numpy())
        et._create(g_in, "target_last_hidden_state", inputs["state0"].numpy())
        ds = et._create(g_in, "target_embed_tokens", E)
        ds.attrs["embed_scale"] = float(target.model.embed_tokens.embed_scale)
        g_mask = f.create_group("masks", track_order=True)
        for k, ms in masks.items():
            for lt, m in ms.items():
                if m is not None:
                    et._create(g_mask, f"{k}/{lt}", (m.numpy() == 0).astype(np.int8))
        g_taps = f.create_group("taps", track_order=True)
        for name, t in taps.items():
            ds = et._create(g_taps, name, t.numpy().astype(np.float64))
            ds.attrs["layout"] = "rows"
        g_prov = f.create_group("provenance", track_order=True)
        g_prov.create_dataset("selfcheck_names", data=np.array(list(checks), dtype=object),
                              dtype=h5py.string_dtype("utf-8"))
        g_prov.create_dataset("selfcheck_values", data=np.array(list(checks.values()), dtype=np.float64))
    size = sum(os.path.getsize(os.path.join(out_dir, fn)) for fn in os.listdir(out_dir))
    if verbose:
        print(f"[assistant] {out_dir}: {len(taps)} taps, {size / 1e6:.3f} MB, drafted {tokens}, "
              f"self-check max {worst:.2e}, min top-2 gap {min(gaps):.3g}")
    return {"out": out_dir, "tokens": tokens, "bytes": size}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seq-len", type=int, default=11)
    ap.add_argument("--plain-head", action="store_true", help="use_ordered_embeddings = False (tied lm_head)")
    ap.add_argument("--left-pad", type=int, default=0, help="padding tokens at the start of the prompt")
    ap.add_argument("--out", help="bundle directory")
    ap.add_argument("--all", action="store_true", help="write golden/data/assistant_tiny")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    command_line = shlex.join(["golden/exporter/export_assistant.py"] + list(sys.argv[1:] if argv is None else argv))
    if args.all:
        out = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                                            "assistant_tiny"))
        export_bundle(args.seed, out, command_line, seq=args.seq_len)
    else:
        if not args.out:
            ap.error("either --all or --out is required")
        export_bundle(args.seed, args.out, command_line, ordered=not args.plain_head, seq=args.seq_len,
                      left_pad=args.left_pad)
    return 0


if __name__ == "__main__":
    sys.exit(main())
