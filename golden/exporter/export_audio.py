#!/usr/bin/env python3
"""Golden-tensor exporter for the Gemma 4 audio tower (Gemma4AudioModel + the audio embedder).

Builds a tiny randomly initialised audio tower (Gemma4AudioModel) and audio embedder
(Gemma4MultimodalEmbedder) under the module paths a Gemma4ForConditionalGeneration checkpoint uses
(`model.audio_tower.`, `model.embed_audio.`), runs the feature extractor (Gemma4AudioFeatureExtractor)
on a batch of two seeded waveforms of different lengths and the tower + embedder on its output, exactly
as Gemma4Model.get_audio_features does, in true float64 on the CPU. Writes a bundle directory:

    <out>/config.json               Gemma4Config (text_config tiny, audio_config, no vision) or, with
                                    --standalone, the Gemma4AudioConfig of Gemma4AudioModel.save_pretrained
    <out>/preprocessor_config.json  the feature extractor's configuration (feature_extractor.save_pretrained)
    <out>/model.safetensors         float64; `model.audio_tower.*` + `model.embed_audio.*` (standalone:
                                    the tower's own names, no prefix, no embedder)
    <out>/golden.h5                 inputs (waveforms), taps, provenance; root attribute kind = "audio"

"True float64": every float32 site on this path is patched (AUDIO_PATCHES below, plus the RMSNorm patch
and default dtype of export_text.py); the same inputs are then run through stock code to record how
much the patches change the output.

Installed transformers (5.23.0) versus the spec (../shared/spec/gemma4-architecture.md), as found here:
  * The audio tower supports eager attention only (_supports_sdpa = False); its mask is the additive float
    mask (0 allowed, finfo.min elsewhere) and `masked_fill(mask != 0, -1e9)` is correct for it, so the
    inverted-mask hazard of spec 8.3 (a boolean mask read with `!= 0`) does not arise. The exporter checks
    that the blocked mask is a float mask.
  * Query rows past the last frame (block padding) are fully masked: their attention weights are uniform
    (1/C), as are those of valid-length rows whose keys are all padding; every element of every tap is
    deterministic and compared, padding frames included.
  * Stock code cannot run a float64 audio tower: q/k/v are cast to float32, then multiplied by the
    float64 softplus(per_dim_scale), and the matmul meets float32 keys ("expected scalar type Double but
    found Float"). The provenance comparison therefore runs stock code in float32.
  * 30 s (480000 samples) give 2999 mel frames, 1500 after the first sub-sampling, 750 soft tokens.
  * With 128 mel bins over 257 FFT bins, filter 0 (support 0..28.5 Hz) contains no bin and is all zero.

Usage:
    python3 golden/exporter/export_audio.py                       # golden/data/audio_tiny
    python3 golden/exporter/export_audio.py --seed 3 --lengths 9000,4321 --out /tmp/a3
    python3 golden/exporter/export_audio.py --standalone --out /tmp/a_sa
    python3 golden/exporter/export_audio.py --geometry released --lengths 40000,23456 --out /tmp/a_rel
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
from torch.nn import functional as F
from transformers import Gemma4AudioConfig, Gemma4Config, Gemma4TextConfig
from transformers.audio_utils import window_function
from transformers.feature_extraction_utils import BatchFeature
from transformers.models.gemma4 import modeling_gemma4 as g4
from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_text import PRECISION_PATCHES, PrecisionPatches, _create, check_float64  # noqa: E402

# ------------------------------------------------------------------------------------------------
# Configuration (tiny; every field differs from its default where that catches a mix-up)
# ------------------------------------------------------------------------------------------------

# n_mels must equal subsampling_conv_channels[0] (when divisible by 4): the projection input width is
# coded as (channels[0] // 4) * channels[1] while the data has ceil(ceil(n_mels/2)/2) * channels[1].
FEATURE_SIZE = 16


def audio_config_kwargs() -> dict:
    return dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,          # head dim 8
        hidden_act="silu",
        subsampling_conv_channels=[FEATURE_SIZE, 8],
        conv_kernel_size=3,
        residual_weight=0.6,            # not the default 0.5
        attention_chunk_size=4,         # W
        attention_context_left=5,       # P = 4 past, window self + 3 past
        attention_context_right=0,
        attention_logit_cap=10.0,       # softcap strongly active (released: 50)
        attention_invalid_logits_value=-1.0e9,
        use_clipped_linears=True,       # finite random bounds below, so the clamps act
        rms_norm_eps=1e-5,              # not the default: separates config eps from the fixed 1e-6 norms
        gradient_clipping=3.0,          # released 1e10 (never active); 3 clips some residual values
        output_proj_dims=24,
        initializer_range=0.2,
    )


def released_geometry_kwargs() -> dict:
    """The released tower's hyper-parameters (spec 1.4: 128 mel bins, channels [128, 32], kernel 5, chunk 12,
    context 13, softcap 50, eps 1e-6, clipping 1e10) at a small width (hidden 64, 8 heads of 8, 2 layers).
    Not committed (its sub-sampling taps are large); used to check the released geometry."""
    return dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=8, hidden_act="silu",
                subsampling_conv_channels=[128, 32], conv_kernel_size=5, residual_weight=0.5,
                attention_chunk_size=12, attention_context_left=13, attention_context_right=0,
                attention_logit_cap=50.0, attention_invalid_logits_value=-1.0e9, use_clipped_linears=True,
                rms_norm_eps=1e-6, gradient_clipping=1e10, output_proj_dims=48, initializer_range=0.2)


GEOMETRIES = {"tiny": (audio_config_kwargs, FEATURE_SIZE), "released": (released_geometry_kwargs, 128)}


def text_config_kwargs() -> dict:
    # Only hidden_size matters here (the embedder's output width); the rest is a valid tiny text model.
    return dict(vocab_size=64, hidden_size=40, intermediate_size=32, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, head_dim=8, global_head_dim=8,
                hidden_size_per_layer_input=0, vocab_size_per_layer_input=64, sliding_window=4,
                layer_types=["sliding_attention", "full_attention"], pad_token_id=0, eos_token_id=1,
                bos_token_id=2)


TOKEN_IDS = dict(boi_token_id=5, eoi_token_id=6, image_token_id=4, video_token_id=10, boa_token_id=8,
                 eoa_token_index=9, audio_token_id=7)

# ------------------------------------------------------------------------------------------------
# Precision patches of the audio path (in addition to export_text.PRECISION_PATCHES)
# ------------------------------------------------------------------------------------------------

AUDIO_PATCHES = [
    {
        "site": "transformers.models.gemma4.modeling_gemma4.Gemma4AudioAttention.forward",
        "why": "stock code casts q, k, v to float32 (.float()) and takes the softmax with dtype=float32, so "
        "the whole chunked attention of a float64 model runs in float32; patched: the identical function "
        "without the casts (everything in the input dtype)",
    },
    {
        "site": "Gemma4AudioFeatureExtractor.window",
        "why": "window_function(frame_length).astype(np.float32); patched: the same periodic Hann window "
        "left in float64",
    },
    {
        "site": "Gemma4AudioFeatureExtractor._extract_spectrogram",
        "why": "SequenceFeatureExtractor.pad casts float64 waveforms to float32 before the STFT (numpy 2 "
        "then runs the rfft in float32); patched wrapper casts the padded waveform back to float64 first. "
        "The exporter's waveforms are 16-bit PCM values k/32768, exactly representable in float32, so the "
        "pad cast itself loses nothing",
    },
    {
        "site": "Gemma4AudioFeatureExtractor.__call__",
        "why": "stock code returns speech.astype(np.float32); patched: the identical method without that cast",
    },
    {
        "site": "torch.set_default_dtype(torch.float64) while the model is built",
        "why": "Gemma4AudioRelPositionalEncoding.inv_timescales (exp of a default-dtype arange) and the "
        "softcap buffer are otherwise float32",
    },
]


def _audio_attention_forward_f64(self, hidden_states, position_embeddings, attention_mask=None):
    # Gemma4AudioAttention.forward with every .float() / dtype=torch.float32 removed.
    batch_size, seq_length, _ = hidden_states.shape
    hidden_shape = (batch_size, seq_length, self.num_heads, self.head_dim)
    query_states = self.q_proj(hidden_states).view(hidden_shape)
    key_states = self.k_proj(hidden_states).view(hidden_shape)
    value_states = self.v_proj(hidden_states).view(hidden_shape)
    query_states = query_states * self.q_scale * F.softplus(self.per_dim_scale)
    key_states = key_states * self.k_scale
    query_states = self._convert_to_block(query_states)
    key_states = self._extract_block_context(key_states)
    value_states = self._extract_block_context(value_states)
    num_blocks = query_states.shape[1]
    relative_key_states = self.relative_k_proj(position_embeddings)
    relative_key_states = relative_key_states.view(-1, self.num_heads, self.head_dim)
    relative_key_states = relative_key_states.to(dtype=query_states.dtype)
    queries = query_states.permute(0, 3, 1, 2, 4)
    matrix_ac = queries @ key_states.permute(0, 3, 1, 4, 2)
    queries_flat = queries.reshape(batch_size, self.num_heads, -1, self.head_dim)
    matrix_bd = queries_flat @ relative_key_states.permute(1, 2, 0)
    matrix_bd = matrix_bd.reshape(batch_size, self.num_heads, num_blocks, self.chunk_size, -1)
    matrix_bd = self._rel_shift(matrix_bd)
    attn_weights = matrix_ac + matrix_bd
    attn_weights = attn_weights / self.softcap
    attn_weights = torch.tanh(attn_weights)
    attn_weights = attn_weights * self.softcap
    if attention_mask is not None:
        attn_weights = attn_weights.masked_fill(attention_mask != 0, self.config.attention_invalid_logits_value)
    attn_weights = F.softmax(attn_weights, dim=-1, dtype=attn_weights.dtype).to(value_states.dtype)
    attn_output = attn_weights @ value_states.permute(0, 3, 1, 2, 4)
    attn_output = attn_output.permute(0, 2, 3, 1, 4).reshape(batch_size, num_blocks * self.chunk_size, -1)
    attn_output = attn_output[:, :seq_length].contiguous()
    attn_output = self.post(attn_output.to(hidden_states.dtype))
    return attn_output, attn_weights


def _fe_call_f64(self, raw_speech, padding="longest", max_length=480_000, truncation=True,
                 pad_to_multiple_of=128, return_tensors=None, return_attention_mask=True, **kwargs):
    # Gemma4AudioFeatureExtractor.__call__ without the final .astype(np.float32).
    from collections.abc import Sequence
    is_batched_numpy = isinstance(raw_speech, np.ndarray) and len(raw_speech.shape) > 1
    is_batched_sequence = isinstance(raw_speech, Sequence) and isinstance(raw_speech[0], (np.ndarray, Sequence))
    is_batched = is_batched_numpy or is_batched_sequence
    if is_batched:
        raw_speech = [np.asarray([rs]).T for rs in raw_speech]
    elif not is_batched and not isinstance(raw_speech, np.ndarray):
        raw_speech = np.asarray(raw_speech)
    if not is_batched:
        raw_speech = [np.asarray([raw_speech])]
    batched_speech = self.pad(BatchFeature({"input_features": raw_speech}), padding=padding, max_length=max_length,
                              truncation=truncation, pad_to_multiple_of=pad_to_multiple_of,
                              return_attention_mask=return_attention_mask)
    prepared_speech, prepared_speech_mask = [], []
    for speech, mask in zip(batched_speech.input_features, batched_speech.attention_mask):
        speech, mask = self._extract_spectrogram(speech.T, mask)
        prepared_speech.append(speech)
        prepared_speech_mask.append(mask)
    prepared_speech = [speech * mask[..., None] for speech, mask in zip(prepared_speech, prepared_speech_mask)]
    return BatchFeature({"input_features": prepared_speech, "input_features_mask": prepared_speech_mask},
                        tensor_type=return_tensors)


class AudioPatches(PrecisionPatches):
    """export_text's patches (default dtype float64, RMSNorm, ...) plus the audio ones."""

    def __enter__(self):
        super().__enter__()
        if not self.enabled:
            return self
        self._set_attr(g4.Gemma4AudioAttention, "forward", _audio_attention_forward_f64)
        orig_extract = Gemma4AudioFeatureExtractor.__dict__["_extract_spectrogram"]

        def extract_f64(fe, waveform, attention_mask):
            return orig_extract(fe, np.asarray(waveform, dtype=np.float64), attention_mask)

        self._set_attr(Gemma4AudioFeatureExtractor, "_extract_spectrogram", extract_f64)
        self._set_attr(Gemma4AudioFeatureExtractor, "__call__", _fe_call_f64)
        return self


def make_feature_extractor(patched: bool, feature_size: int = FEATURE_SIZE) -> Gemma4AudioFeatureExtractor:
    fe = Gemma4AudioFeatureExtractor(feature_size=feature_size)
    if patched:
        fe.window = window_function(fe.frame_length)  # float64 periodic Hann
    return fe

# ------------------------------------------------------------------------------------------------
# Model and weights
# ------------------------------------------------------------------------------------------------


class AudioHolder(nn.Module):
    """The audio part of Gemma4ForConditionalGeneration under its module paths: model.audio_tower,
    model.embed_audio. forward == Gemma4Model.get_audio_features (tower, then embedder on
    last_hidden_state)."""

    def __init__(self, config: Gemma4Config, standalone: bool):
        super().__init__()
        self.model = nn.Module()
        self.model.audio_tower = g4.Gemma4AudioModel(config.audio_config)
        if not standalone:
            self.model.embed_audio = g4.Gemma4MultimodalEmbedder(config.audio_config, config.text_config)
        self.standalone = standalone

    def forward(self, input_features, input_features_mask):
        out = self.model.audio_tower(input_features, input_features_mask, return_dict=True)
        soft = None if self.standalone else self.model.embed_audio(inputs_embeds=out.last_hidden_state)
        return out, soft


def init_weights(holder: AudioHolder, weight_seed: int) -> None:
    """Seeded random weights: every parameter and persistent buffer is drawn here."""
    gen = torch.Generator().manual_seed(weight_seed)

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float64) * std + mean)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo)

    covered = set()
    with torch.no_grad():
        for name, module in holder.named_modules():
            if isinstance(module, (g4.Gemma4RMSNorm, nn.LayerNorm)):
                if getattr(module, "weight", None) is not None:
                    normal(module.weight, 0.3, 1.0)
                    covered.add(id(module.weight))
            elif isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                fan_in = module.weight[0].numel()
                normal(module.weight, 1.0 / math.sqrt(fan_in))
                covered.add(id(module.weight))
                if module.bias is not None:
                    normal(module.bias, 0.5)
                    covered.add(id(module.bias))
            elif isinstance(module, g4.Gemma4AudioAttention):
                normal(module.per_dim_scale, 0.5)
                covered.add(id(module.per_dim_scale))
            if isinstance(module, g4.Gemma4ClippableLinear) and module.use_clipped_linears:
                # Inputs are O(1) (normalised), outputs O(1): bounds at 1.2..2.5 clip the tails.
                uniform(module.input_min, -2.5, -1.2)
                uniform(module.input_max, 1.2, 2.5)
                uniform(module.output_min, -2.5, -1.2)
                uniform(module.output_max, 1.2, 2.5)
    missing = [n for n, p in holder.named_parameters() if id(p) not in covered]
    if missing:
        raise RuntimeError(f"parameters not initialised by init_weights: {missing}")


def make_waveforms(seed: int, lengths: list[int]) -> list[np.ndarray]:
    """Seeded 16 kHz clips: a few tones with random frequencies/phases plus noise, quantised to 16-bit
    PCM (k/32768: float32-exact, what a WAV file holds)."""
    rng = np.random.default_rng([seed, 11])
    out = []
    for n in lengths:
        t = np.arange(n) / 16000.0
        x = 0.05 * rng.standard_normal(n)
        for _ in range(3):
            x += rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * rng.uniform(80, 7000) * t + rng.uniform(0, 2 * np.pi))
        x = np.clip(np.round(x * 32768.0), -32768, 32767) / 32768.0
        out.append(x.astype(np.float64))
    return out

# ------------------------------------------------------------------------------------------------
# Tap recording
# ------------------------------------------------------------------------------------------------


class TapRecorder:
    """Module outputs by module path; tuples: element 0 (attention: also its probabilities)."""

    def __init__(self, holder: AudioHolder):
        self.holder = holder
        self.taps: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        self.counts: dict[str, int] = {}
        self.masks5d = []
        self._handles = []

    def _put(self, name, t):
        self.counts[name] = self.counts.get(name, 0) + 1
        if self.counts[name] == 1:
            self.taps[name] = t.detach().clone()

    def _hook(self, name):
        def hook(module, args, kwargs, output):
            if isinstance(module, g4.Gemma4AudioAttention):
                self._put(name, output[0])
                self._put(name + ".attn_probs", output[1])
                mask = kwargs.get("attention_mask")
                if mask is not None and not self.masks5d:
                    self.masks5d.append(mask.detach().clone())
            elif isinstance(module, g4.Gemma4AudioModel):
                self._put(name, output.last_hidden_state)
                self._put(name + ".attention_mask", output.attention_mask.to(torch.float64))
            elif isinstance(output, tuple):
                self._put(name, output[0])
            elif torch.is_tensor(output):
                self._put(name, output)
            else:
                raise RuntimeError(f"{name}: unexpected output {type(output)}")
        return hook

    def __enter__(self):
        for name, module in self.holder.named_modules():
            if name in ("", "model") or isinstance(module, nn.ModuleList):
                continue
            self._handles.append(module.register_forward_hook(self._hook(name), with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        return False


def run(holder: AudioHolder, fe, waveforms, prefix: str):
    feats = fe(waveforms, return_tensors="np")
    x = torch.from_numpy(np.asarray(feats["input_features"]))
    m = torch.from_numpy(np.asarray(feats["input_features_mask"]))
    with TapRecorder(holder) as rec, torch.no_grad():
        out, soft = holder(x, m)
    taps = OrderedDict()
    taps["feature_extractor.window"] = torch.from_numpy(np.asarray(fe.window, dtype=np.float64))
    taps["feature_extractor.mel_filters"] = torch.from_numpy(np.asarray(fe.mel_filters, dtype=np.float64))
    taps["input_features"] = x.to(torch.float64) if x.dtype != torch.float64 else x
    taps["input_features_mask"] = m.to(torch.float64)
    for k, v in rec.taps.items():
        taps[k] = v
    twice = [k for k, n in rec.counts.items() if n > 1]
    if twice:
        raise RuntimeError(f"modules called more than once: {twice}")
    return feats, taps, rec

# ------------------------------------------------------------------------------------------------
# Independent numpy recomputations
# ------------------------------------------------------------------------------------------------


def numpy_features(waveforms, n_mels: int):
    """log-mel features and frame mask from the spec (section 6.1), numpy float64 only."""
    sr, frame, hop, nfft = 16000, 320, 160, 512
    longest = max(len(w) for w in waveforms)
    padded_len = ((longest + 127) // 128) * 128
    n = np.arange(frame)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / frame)
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    imel = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    pts = imel(np.linspace(mel(0.0), mel(8000.0), n_mels + 2))
    freqs = np.linspace(0, 8000, nfft // 2 + 1)
    fb = np.zeros((nfft // 2 + 1, n_mels))
    for j in range(n_mels):
        lo, c, hi = pts[j], pts[j + 1], pts[j + 2]
        fb[:, j] = np.maximum(0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)))
    feats, masks = [], []
    for w in waveforms:
        real = np.zeros(padded_len + 160, dtype=bool)
        real[160:160 + len(w)] = True
        x = np.zeros(padded_len + 160)
        x[160:160 + len(w)] = w
        T = (len(x) - (frame + 1)) // hop + 1
        F_ = np.empty((T, n_mels))
        mask = np.empty(T, dtype=bool)
        for t in range(T):
            seg = x[t * hop: t * hop + frame] * window
            spec = np.zeros(nfft, dtype=complex)
            k = np.arange(nfft // 2 + 1)
            # direct DFT (no FFT library): X[k] = sum_n x[n] exp(-2 pi i k n / N)
            spec = np.exp(-2j * np.pi * np.outer(k, np.arange(frame)) / nfft) @ seg
            F_[t] = np.log(np.abs(spec) @ fb + 1e-3)
            mask[t] = real[t * hop + frame]
        feats.append(F_ * mask[:, None])
        masks.append(mask)
    return np.stack(feats), np.stack(masks)


def numpy_attention_probs(cfg: Gemma4AudioConfig, q_proj, k_proj, rel_k, per_dim_scale, valid, W, P, C):
    """Attention probabilities [B, N, U, W, C] from the spec (section 6.4) for one layer."""
    B, T, _ = q_proj.shape
    N = cfg.num_attention_heads
    d = cfg.hidden_size // N
    sp = np.log1p(np.exp(per_dim_scale))
    q = q_proj.reshape(B, T, N, d) * (d ** -0.5 / np.log(2)) * sp
    k = k_proj.reshape(B, T, N, d) * (np.log(1 + np.e) / np.log(2))
    rk = rel_k.reshape(-1, N, d)
    n_rel = rk.shape[0]
    U = (T + W - 1) // W
    cap = cfg.attention_logit_cap
    out = np.zeros((B, N, U, W, C))
    for b in range(B):
        for h in range(N):
            for u in range(U):
                # the raw bd row of query slot w: bd_raw[w, j] = q_w . rk_j; then the pad/reshape shift
                qs = [q[b, u * W + w, h] if u * W + w < T else np.zeros(d) for w in range(W)]
                bd_raw = np.array([[qs[w] @ rk[j, h] for j in range(n_rel)] + [0.0] * (C + 1 - n_rel)
                                   for w in range(W)]).reshape(-1)[: W * C].reshape(W, C)
                for w in range(W):
                    qpos = u * W + w
                    logits = np.empty(C)
                    for c in range(C):  # query rows past T (block padding) are fully masked
                        kpos = u * W - P + c
                        kv = k[b, kpos, h] if 0 <= kpos < T else np.zeros(d)
                        z = qs[w] @ kv + bd_raw[w, c]
                        z = cap * np.tanh(z / cap)
                        dist = qpos - kpos
                        ok = (qpos < T and 0 <= kpos < T and valid[b, kpos]
                              and 0 <= dist < cfg.attention_context_left - 1)
                        logits[c] = z if ok else cfg.attention_invalid_logits_value
                    e = np.exp(logits - logits.max())
                    out[b, h, u, w] = e / e.sum()
    return out


def rel_l2(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    den = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / den) if den > 0 else float(np.linalg.norm(a - b))


def self_checks(cfg: Gemma4AudioConfig, holder: AudioHolder, waveforms, taps, prefix: str) -> dict:
    res = {}
    f, m = numpy_features(waveforms, taps["feature_extractor.mel_filters"].shape[1])
    res["input_features"] = rel_l2(taps["input_features"].numpy(), f)
    if not np.array_equal(taps["input_features_mask"].numpy().astype(bool), m):
        raise RuntimeError("frame mask differs from the numpy rule")
    res["input_features_mask"] = 0.0
    W = cfg.attention_chunk_size
    P = cfg.attention_context_left - 1
    C = W + P + cfg.attention_context_right
    attn = holder.model.audio_tower.layers[0].self_attn
    L = prefix + "layers.0.self_attn"
    valid = taps[prefix + "attention_mask"].numpy().astype(bool)
    probs = numpy_attention_probs(cfg, taps[L + ".q_proj"].numpy(), taps[L + ".k_proj"].numpy(),
                                  taps[L + ".relative_k_proj"].numpy(), attn.per_dim_scale.detach().numpy(),
                                  valid, W, P, C)
    res["layers.0.self_attn.attn_probs"] = rel_l2(taps[L + ".attn_probs"].numpy(), probs)
    return res

# ------------------------------------------------------------------------------------------------
# Export
# ------------------------------------------------------------------------------------------------


def build(standalone: bool, geometry: str = "tiny"):
    acfg = Gemma4AudioConfig(**GEOMETRIES[geometry][0]())
    if standalone:
        return acfg, acfg
    full = Gemma4Config(text_config=Gemma4TextConfig(**text_config_kwargs()), audio_config=acfg, vision_config=None,
                        **TOKEN_IDS)
    return full, full.audio_config


def export_bundle(seed: int, lengths: list[int], out_dir: str, standalone: bool, command_line: str,
                  geometry: str = "tiny") -> dict:
    if len(lengths) < 1 or min(lengths) < 481:
        raise ValueError("every length must be >= 481 samples (at least one valid subsampled frame)")
    # Tap names are the module paths inside Gemma4ForConditionalGeneration in both layouts; only the
    # weight names of the safetensors file differ (standalone: no prefix, no embedder).
    tap_prefix = "model.audio_tower."
    waveforms = make_waveforms(seed, lengths)
    weight_seed = seed + 1000

    with AudioPatches(enabled=True):
        full_cfg, acfg = build(standalone, geometry)
        holder = AudioHolder(full_cfg if not standalone else Gemma4Config(audio_config=acfg), standalone)
        holder.eval()
        if holder.model.audio_tower.config._attn_implementation != "eager":
            raise RuntimeError("the audio tower must run eager attention (its float mask semantics)")
        init_weights(holder, weight_seed)
        check_float64(holder)
        fe = make_feature_extractor(patched=True, feature_size=GEOMETRIES[geometry][1])
        feats, taps, rec = run(holder, fe, waveforms, tap_prefix)
        checks = self_checks(acfg, holder, waveforms, taps, tap_prefix)
    if not rec.masks5d or not rec.masks5d[0].is_floating_point():
        raise RuntimeError("the blocked attention mask is expected to be a float (additive) mask")
    for name, t in taps.items():
        if t.dtype != torch.float64:
            raise RuntimeError(f"tap {name} has dtype {t.dtype}")
    worst_check = max(checks.values())
    if worst_check > 1e-12:
        raise RuntimeError(f"numpy self-check failed: {checks}")

    # ---- files -------------------------------------------------------------------------------
    os.makedirs(out_dir, exist_ok=True)
    for fn in ("config.json", "preprocessor_config.json", "model.safetensors", "golden.h5"):
        if os.path.exists(os.path.join(out_dir, fn)):
            os.remove(os.path.join(out_dir, fn))
    state = {k: v.detach().contiguous() for k, v in holder.state_dict().items()}
    if standalone:
        state = {k[len("model.audio_tower."):]: v for k, v in state.items()}
        acfg.architectures = ["Gemma4AudioModel"]
        acfg.save_pretrained(out_dir)
    else:
        full_cfg.architectures = ["Gemma4ForConditionalGeneration"]
        full_cfg.save_pretrained(out_dir)
    safetensors.torch.save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(out_dir, "model.safetensors"), 0o644)  # safetensors writes 0600
    fe.save_pretrained(out_dir)
    gen_cfg = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)
    with open(os.path.join(out_dir, "config.json")) as fh:
        config_text = fh.read()

    # ---- reload: the files alone reproduce the taps --------------------------------------------
    with AudioPatches(enabled=True):
        holder2 = AudioHolder(full_cfg if not standalone else Gemma4Config(audio_config=acfg), standalone)
        loaded = safetensors.torch.load_file(os.path.join(out_dir, "model.safetensors"))
        if standalone:
            loaded = {"model.audio_tower." + k: v for k, v in loaded.items()}
        holder2.load_state_dict(loaded, strict=True)
        holder2.eval()
        fe2 = Gemma4AudioFeatureExtractor.from_pretrained(out_dir)
        fe2.window = window_function(fe2.frame_length)
        _, taps2, _ = run(holder2, fe2, waveforms, tap_prefix)
    reload_rel = max(rel_l2(taps2[k].numpy(), v.numpy()) for k, v in taps.items())
    if reload_rel > 1e-13:
        raise RuntimeError(f"reloading the bundle does not reproduce the taps (rel L2 {reload_rel:.3g})")

    # ---- unpatched: stock code, same weights ---------------------------------------------------
    # Stock Gemma4AudioAttention cannot run a float64 model at all (q/k/v are cast to float32, then
    # multiplied by the float64 softplus(per_dim_scale): the float32 keys meet float64 queries in the
    # matmul). Record that error, then run stock code with the weights cast to float32 (what the stock
    # path can do) and report each tap's distance to the float64 golden.
    stock_f64_error = ""
    with AudioPatches(enabled=False):
        torch.set_default_dtype(torch.float32)
        holder3 = AudioHolder(full_cfg if not standalone else Gemma4Config(audio_config=acfg), standalone)
        holder3.load_state_dict(loaded, strict=True)
        holder3.to(torch.float64).eval()
        fe3 = Gemma4AudioFeatureExtractor.from_pretrained(out_dir)
        try:
            run(holder3, fe3, waveforms, tap_prefix)
        except RuntimeError as err:
            stock_f64_error = str(err).splitlines()[0]
        holder3.to(torch.float32)
        _, taps3, _ = run(holder3, fe3, waveforms, tap_prefix)
    names = list(taps.keys())
    unpatched = np.array([rel_l2(taps3[n].numpy(), taps[n].numpy()) for n in names])

    # ---- golden.h5 ---------------------------------------------------------------------------
    B = len(waveforms)
    nmax = max(lengths)
    wav = np.zeros((B, nmax))
    for b, w in enumerate(waveforms):
        wav[b, :len(w)] = w
    with h5py.File(os.path.join(out_dir, "golden.h5"), "w", track_order=True, libver=("v110", "v110")) as f:
        f.attrs["kind"] = "audio"
        f.attrs["bundle_kind"] = "audio"
        f.attrs["model_class"] = "Gemma4AudioModel" if standalone else \
            "Gemma4ForConditionalGeneration (model.audio_tower + model.embed_audio)"
        f.attrs["transformers_version"] = str(transformers.__version__)
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["python_version"] = platform.python_version()
        f.attrs["numpy_version"] = np.__version__
        f.attrs["h5py_version"] = h5py.__version__
        f.attrs["safetensors_version"] = safetensors.__version__
        f.attrs["seed"] = np.int64(seed)
        f.attrs["weight_seed"] = np.int64(weight_seed)
        f.attrs["command_line"] = command_line
        f.attrs["config_json"] = config_text
        f.attrs["patches"] = json.dumps(PRECISION_PATCHES[:2] + AUDIO_PATCHES)
        f.attrs["tap_prefix"] = tap_prefix
        f.attrs["attn_implementation"] = "eager"
        f.attrs["selfcheck_max_rel_l2"] = worst_check
        f.attrs["reload_max_rel_l2"] = reload_rel
        g_in = f.create_group("inputs", track_order=True)
        _create(g_in, "waveform", wav)
        g_in["waveform"].attrs["meaning"] = "float64 [B, N_max], clip b in [:num_samples[b]], zeros after"
        g_in.create_dataset("num_samples", data=np.array(lengths, dtype=np.int64))
        g_in.create_dataset("sampling_rate", data=np.int64(16000))
        g_taps = f.create_group("taps", track_order=True)
        written = {}
        for name in names:
            arr = taps[name].numpy().astype(np.float64)
            key = (arr.shape, arr.tobytes())
            if key in written:
                g_taps[name] = g_taps[written[key]]  # hard link to the identical earlier tap
                continue
            written[key] = name
            ds = _create(g_taps, name, arr)
            ds.attrs["layout"] = "all"  # every element is compared (padding frames are deterministic too)
        g_prov = f.create_group("provenance", track_order=True)
        g_prov.attrs["stock_float64_error"] = stock_f64_error
        g_prov.attrs["unpatched_run"] = ("stock transformers code and feature extractor, weights cast to float32 "
                                         "(stock code raises on a float64 audio tower, see stock_float64_error); "
                                         "rel L2 to the float64 golden, every element")
        g_prov.create_dataset("unpatched_rel_l2", data=unpatched)
        g_prov.create_dataset("unpatched_tap_names", data=np.array(names, dtype=object),
                              dtype=h5py.string_dtype("utf-8"))
        g_prov.create_dataset("selfcheck_names", data=np.array(list(checks.keys()), dtype=object),
                              dtype=h5py.string_dtype("utf-8"))
        g_prov.create_dataset("selfcheck_rel_l2", data=np.array(list(checks.values()), dtype=np.float64))
    sizes = {fn: os.path.getsize(os.path.join(out_dir, fn)) for fn in sorted(os.listdir(out_dir))}
    summary = dict(out=out_dir, n_taps=len(names), sizes=sizes, total_bytes=sum(sizes.values()),
                   selfchecks=checks, reload=reload_rel, max_unpatched=float(unpatched.max()),
                   max_unpatched_tap=names[int(unpatched.argmax())], stock_float64_error=stock_f64_error,
                   frames=list(taps["input_features"].shape), tokens=list(taps[tap_prefix + "attention_mask"].shape),
                   valid_tokens=taps[tap_prefix + "attention_mask"].sum(-1).tolist())
    print(json.dumps(summary, indent=1))
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lengths", default="9000,5000", help="samples per clip (16 kHz), comma separated")
    ap.add_argument("--standalone", action="store_true", help="Gemma4AudioModel layout (no prefix, no embedder)")
    ap.add_argument("--geometry", choices=sorted(GEOMETRIES), default="tiny",
                    help="tiny (committed) or released (the released hyper-parameters at width 64)")
    ap.add_argument("--out", default=None, help="bundle directory (default golden/data/audio_tiny)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    command_line = shlex.join([os.path.relpath(sys.argv[0]) if sys.argv and sys.argv[0] else "export_audio.py"]
                              + list(sys.argv[1:] if argv is None else argv))
    out = args.out or os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                                                    "audio_tiny"))
    export_bundle(args.seed, [int(x) for x in args.lengths.split(",")], out, args.standalone, command_line,
                  args.geometry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
