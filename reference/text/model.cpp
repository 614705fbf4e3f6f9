// The Gemma 4 text decoder forward. See model.hpp for the reading order.
#include "reference/text/model.hpp"

#include <cmath>

#include "reference/common/check.hpp"
#include "reference/ops/mask.hpp"
#include "reference/ops/rope.hpp"

namespace g4::text {
namespace {

// Columns [c0, c0 + n) of m: [rows, n].
Mat columns(const Mat& m, index_t c0, index_t n) {
  Mat out = Mat::from_shape({m.shape(0), static_cast<size_t>(n)});
  for (index_t r = 0; r < rows(m); ++r)
    for (index_t j = 0; j < n; ++j) out(r, j) = m(r, c0 + j);
  return out;
}

// [T, N·Dh] with T = B·S (b, s, n, d) -> [B·N·S, Dh] (b, n, s, d): transformers' K/V layout.
Mat heads_first(const Mat& m, index_t B, index_t S, index_t N, index_t Dh) {
  Mat out = Mat::from_shape({static_cast<size_t>(B * N * S), static_cast<size_t>(Dh)});
  for (index_t b = 0; b < B; ++b)
    for (index_t s = 0; s < S; ++s)
      for (index_t n = 0; n < N; ++n)
        for (index_t d = 0; d < Dh; ++d) out((b * N + n) * S + s, d) = m(b * S + s, n * Dh + d);
  return out;
}

// Cached rows [B·past, C] then new rows [B·S, C], interleaved per batch row: [B·(past + S), C].
Mat with_past(const Mat& cached, const Mat& fresh, index_t B, index_t past, index_t S) {
  G4_CHECK(rows(cached) == B * past && cols(cached) == cols(fresh), ShapeError,
           "KV cache is [{}, {}], expected [{}, {}]", rows(cached), cols(cached), B * past, cols(fresh));
  Mat out = Mat::from_shape({static_cast<size_t>(B * (past + S)), fresh.shape(1)});
  for (index_t b = 0; b < B; ++b) {
    for (index_t j = 0; j < past; ++j)
      for (index_t c = 0; c < cols(fresh); ++c) out(b * (past + S) + j, c) = cached(b * past + j, c);
    for (index_t s = 0; s < S; ++s)
      for (index_t c = 0; c < cols(fresh); ++c) out(b * (past + S) + past + s, c) = fresh(b * S + s, c);
  }
  return out;
}

// Every row equal to v: [T, n].
Mat broadcast_rows(const Vec& v, index_t T) {
  Mat out = Mat::from_shape({static_cast<size_t>(T), v.size()});
  for (index_t t = 0; t < T; ++t)
    for (size_t j = 0; j < v.size(); ++j) out(t, j) = v(j);
  return out;
}

std::vector<std::int64_t> flat_ids(const IdMat& ids) { return std::vector<std::int64_t>(ids.begin(), ids.end()); }

}  // namespace

TextModel::TextModel(const TextConfig& config, WeightSource& weights, Executor& ex, TapSink sink,
                     ForwardOptions options)
    : c_(config), w_(weights), ex_(ex), sink_(std::move(sink)), opt_(std::move(options)) {}

const Mat& TextModel::tap(const std::string& name, const Mat& m, std::vector<index_t> shape) {
  if (sink_) sink_(name, m, shape);
  return m;
}

std::string TextModel::layer_name(index_t i) const { return opt_.prefix + "layers." + std::to_string(i); }

Mat TextModel::forward(const TextInputs& in) {
  ForwardState st = prepare(in);
  ex_.begin_layer(-1);
  Mat h = in.inputs_embeds.size() ? in.inputs_embeds : embed(in);  // [T, D]
  G4_CHECK(rows(h) == st.B * st.S && cols(h) == c_.hidden_size, ShapeError,
           "inputs: inputs_embeds is [{}, {}], expected [{}, {}] (B·S, hidden_size)", rows(h), cols(h), st.B * st.S,
           c_.hidden_size);
  if (c_.ple_dim() > 0) per_layer_inputs(in, h, st);
  for (index_t i = 0; i < c_.num_hidden_layers; ++i) {
    const LayerWeights w = w_.layer(i);                     // one layer in memory at a time
    ex_.begin_layer(i);
    h = decoder_layer(i, w, h, st);
  }
  ex_.begin_layer(-1);
  return opt_.lm_head ? head(h, st) : Mat{};
}

ForwardState TextModel::prepare(const TextInputs& in, index_t past) {
  ForwardState st;
  st.B = static_cast<index_t>(in.input_ids.shape(0));
  st.S = static_cast<index_t>(in.input_ids.shape(1));
  st.past = past;
  G4_CHECK(past >= 0 && index_t(in.attention_mask.shape(0)) == st.B && index_t(in.attention_mask.shape(1)) == past + st.S,
           ShapeError, "inputs: attention_mask is [{}, {}], expected [{}, {}] (batch, cached + new tokens)",
           in.attention_mask.shape(0), in.attention_mask.shape(1), st.B, past + st.S);
  G4_CHECK(in.mm_token_type_ids.size() == 0 || in.mm_token_type_ids.shape() == in.attention_mask.shape(), ShapeError,
           "inputs: mm_token_type_ids does not match attention_mask [{}, {}]", st.B, past + st.S);
  for (auto id : in.input_ids)
    G4_CHECK(id >= 0 && id < c_.vocab_size, ShapeError, "inputs: token id {} outside the vocabulary [0, {})", id,
             c_.vocab_size);
  // Positions are 0..S-1 in every row: transformers does not shift them for padding.
  for (index_t b = 0; b < st.B; ++b)
    for (index_t s = 0; s < st.S; ++s) st.positions.push_back(past + s);
  const IdMat block = in.mm_token_type_ids.size() ? ops::vision_block_ids(in.mm_token_type_ids) : IdMat{};
  for (LayerType t : {LayerType::kSliding, LayerType::kFull})
    st.masks[t] = ops::build_mask({t, c_.sliding_window, c_.use_bidirectional_attention}, in.attention_mask, block, past);
  return st;
}

// h0 = E[ids] · sqrt(D)   (the multimodal merge replaces placeholder rows later; spec 3.1)
Mat TextModel::embed(const TextInputs& in) {
  const index_t B = in.input_ids.shape(0), S = in.input_ids.shape(1), D = c_.hidden_size;
  const Mat rows = w_.embed_rows(flat_ids(in.input_ids));                              // [T, D]
  return tap(opt_.prefix + "embed_tokens", ex_.scale("embed_tokens", rows, std::sqrt(double(D))), {B, S, D});
}

// Per-layer embeddings (spec 3.2): ple = (RMSNorm_P(h0·Wppᵀ·D^-1/2) + E_ple[ids]·sqrt(P)) · 2^-1/2
void TextModel::per_layer_inputs(const TextInputs& in, const Mat& h0, ForwardState& st) {
  const index_t B = st.B, S = st.S, L = c_.num_hidden_layers, P = c_.ple_dim(), D = c_.hidden_size;
  const std::string p = opt_.prefix;
  Mat tok = ex_.scale(p + "embed_tokens_per_layer", w_.ple_rows(flat_ids(in.input_ids)), std::sqrt(double(P)));
  tap(p + "embed_tokens_per_layer", tok, {B, S, L * P});                                  // [T, L·P]
  Mat ctx = tap(p + "per_layer_model_projection", ex_.linear(p + "per_layer_model_projection", h0,
                                                             w_.ple_model_projection()), {B, S, L * P});
  ctx = ex_.scale(p + "per_layer_model_projection.scale", ctx, std::pow(double(D), -0.5));
  const Vec norm_w = w_.ple_projection_norm();                                            // [P]
  ctx = tap(p + "per_layer_projection_norm",
            ex_.rms_norm(p + "per_layer_projection_norm", ctx, &norm_w, c_.rms_norm_eps, P), {B, S, L, P});
  const Mat ple = tap(p + "per_layer_inputs",
                      ex_.scale(p + "per_layer_inputs", ex_.add(p + "per_layer_inputs.add", ctx, tok),
                                std::pow(2.0, -0.5)),
                      {B, S, L, P});                                                      // [T, L·P]
  st.ple.clear();
  for (index_t i = 0; i < L; ++i) st.ple.push_back(columns(ple, i * P, P));              // [T, P] each
}

// One decoder layer (spec 3.4): four sandwich norms, FFN (dense or dense + MoE), PLE, layer_scalar.
Mat TextModel::decoder_layer(index_t i, const LayerWeights& w, const Mat& h_in, ForwardState& st) {
  const std::string n = layer_name(i);
  const index_t B = st.B, S = st.S, D = c_.hidden_size;
  const double eps = c_.rms_norm_eps;
  Mat a = tap(n + ".input_layernorm", ex_.rms_norm(n + ".input_layernorm", h_in, &w.input_layernorm, eps, D),
              {B, S, D});
  a = tap(n + ".self_attn", attention(i, w, a, st), {B, S, D});
  a = tap(n + ".post_attention_layernorm",
          ex_.rms_norm(n + ".post_attention_layernorm", a, &w.post_attention_layernorm, eps, D), {B, S, D});
  Mat h = ex_.add(n + ".attn_residual", h_in, a);
  h = ex_.add(n + ".ffn_residual", h, feed_forward(i, w, h, st));
  if (c_.ple_dim() > 0) h = ple_injection(i, w, h, st);
  return tap(n, ex_.scale(n + ".layer_scalar", h, w.layer_scalar), {B, S, D});
}

// Attention (spec 3.5): q/k norms with scale, v norm without, RoPE per layer type, GQA,
// k_eq_v (V from the raw K projection), KV sharing, scaling 1.
Mat TextModel::attention(index_t i, const LayerWeights& w, const Mat& a, ForwardState& st) {
  const LayerSpec& spec = c_.layers[i];
  const std::string n = layer_name(i) + ".self_attn";
  const index_t B = st.B, S = st.S, Nq = c_.num_attention_heads, Nkv = spec.num_kv_heads, Dh = spec.head_dim;
  const double eps = c_.rms_norm_eps;
  const Vec inv_freq = ops::rope_inv_freq(spec.rope, Dh);

  Mat q = tap(n + ".q_proj", ex_.linear(n + ".q_proj", a, w.q_proj), {B, S, Nq * Dh});          // [T, Nq·Dh]
  q = tap(n + ".q_norm", ex_.rms_norm(n + ".q_norm", q, &w.q_norm, eps, Dh), {B, S, Nq, Dh});
  q = tap(n + ".q_rope", ex_.rope(n + ".q_rope", q, st.positions, inv_freq, Dh), {B, S, Nq, Dh});

  Mat k, v;                                                                                      // [T, Nkv·Dh]
  if (spec.kv_role == KvRole::kReuse) {
    std::tie(k, v) = st.shared_kv.at(spec.kv_source);
  } else {
    const Mat k_raw = tap(n + ".k_proj", ex_.linear(n + ".k_proj", a, w.k_proj), {B, S, Nkv * Dh});
    const Mat v_raw = spec.k_eq_v ? k_raw : tap(n + ".v_proj", ex_.linear(n + ".v_proj", a, w.v_proj), {B, S, Nkv * Dh});
    k = tap(n + ".k_norm", ex_.rms_norm(n + ".k_norm", k_raw, &w.k_norm, eps, Dh), {B, S, Nkv, Dh});
    k = tap(n + ".k_rope", ex_.rope(n + ".k_rope", k, st.positions, inv_freq, Dh), {B, S, Nkv, Dh});
    v = tap(n + ".v_norm", ex_.rms_norm(n + ".v_norm", v_raw, nullptr, eps, Dh), {B, S, Nkv, Dh});
    if (auto c = st.cache.find(i); c != st.cache.end()) {  // prepend the cached tokens, row by row
      k = with_past(c->second.first, k, B, st.past, S);
      v = with_past(c->second.second, v, B, st.past, S);
    }
    if (st.record_cache) st.cache[i] = {k, v};
    if (spec.kv_role == KvRole::kStore) {
      st.shared_kv[i] = {k, v};  // full length: shared layers see every cached key too
      if (sink_) {
        tap(n + ".shared_k", heads_first(k, B, st.past + S, Nkv, Dh), {B, Nkv, st.past + S, Dh});
        tap(n + ".shared_v", heads_first(v, B, st.past + S, Nkv, Dh), {B, Nkv, st.past + S, Dh});
      }
    }
  }
  const index_t Skv = rows(k) / B;
  G4_CHECK(Skv == st.past + S, ShapeError, "layer {}: {} keys per row, expected past {} + {} (is the KV cache filled?)",
           i, Skv, st.past, S);
  Mat probs;
  const ops::AttentionShape shape{B, S, Nq, Nkv, Dh, 1.0, Skv};
  const Mat o = ex_.attention(n + ".attn_out", q, k, v, st.masks.at(spec.type), shape, sink_ ? &probs : nullptr);
  if (sink_ && probs.size() == static_cast<size_t>(B * Nq * S * Skv)) tap(n + ".attn_probs", probs, {B, Nq, S, Skv});
  tap(n + ".attn_out", o, {B, S, Nq * Dh});
  return tap(n + ".o_proj", ex_.linear(n + ".o_proj", o, w.o_proj), {B, S, c_.hidden_size});
}

// Feed-forward (spec 3.4 and 4): the gated-GELU MLP, plus on MoE models the router + experts
// branch read from the same residual; returns post_feedforward_layernorm's output.
Mat TextModel::feed_forward(index_t i, const LayerWeights& w, const Mat& h, const ForwardState& st) {
  const std::string n = layer_name(i);
  const index_t B = st.B, S = st.S, T = B * S, D = c_.hidden_size, F = c_.layers[i].mlp_width;
  const double eps = c_.rms_norm_eps;
  const Mat x = tap(n + ".pre_feedforward_layernorm",
                    ex_.rms_norm(n + ".pre_feedforward_layernorm", h, &w.pre_feedforward_layernorm, eps, D), {B, S, D});
  const Mat gate = tap(n + ".mlp.act_fn",
                       ex_.gelu(n + ".mlp.act_fn", tap(n + ".mlp.gate_proj", ex_.linear(n + ".mlp.gate_proj", x, w.gate_proj), {B, S, F})),
                       {B, S, F});
  const Mat up = tap(n + ".mlp.up_proj", ex_.linear(n + ".mlp.up_proj", x, w.up_proj), {B, S, F});
  Mat m = tap(n + ".mlp.down_proj", ex_.linear(n + ".mlp.down_proj", ex_.mul(n + ".mlp.gated", gate, up), w.down_proj),
              {B, S, D});
  tap(n + ".mlp", m, {B, S, D});
  if (c_.enable_moe_block) {
    const index_t E = c_.num_experts, K = c_.top_k_experts;
    const Mat m1 = tap(n + ".post_feedforward_layernorm_1",
                       ex_.rms_norm(n + ".post_feedforward_layernorm_1", m, &w.post_feedforward_layernorm_1, eps, D),
                       {B, S, D});
    // Router: reads the residual itself (not the normed FFN input).
    const Mat rn = tap(n + ".router.norm", ex_.rms_norm(n + ".router.norm", h, nullptr, eps, D), {T, D});
    const Mat z = ex_.scale(n + ".router.root_size", ex_.mul(n + ".router.scale", rn, broadcast_rows(w.router_scale, T)),
                            std::pow(double(D), -0.5));
    const Mat logits = tap(n + ".router.proj", ex_.linear(n + ".router.proj", z, w.router_proj), {T, E});
    const ops::RouterOutput r = ex_.route(n + ".router", logits, w.per_expert_scale, K);
    tap(n + ".router.probs", r.probs, {T, E});
    tap(n + ".router.weights", r.weights, {T, K});
    if (sink_) tap(n + ".router.indices", xt::cast<double>(r.index), {T, K});
    const Mat xe = tap(n + ".pre_feedforward_layernorm_2",
                       ex_.rms_norm(n + ".pre_feedforward_layernorm_2", h, &w.pre_feedforward_layernorm_2, eps, D), {T, D});
    const Mat e = tap(n + ".experts", ex_.experts(n + ".experts", xe, r, w.experts_gate_up, w.experts_down, E,
                                                  c_.moe_intermediate_size), {T, D});
    const Mat m2 = tap(n + ".post_feedforward_layernorm_2",
                       ex_.rms_norm(n + ".post_feedforward_layernorm_2", e, &w.post_feedforward_layernorm_2, eps, D),
                       {B, S, D});
    m = ex_.add(n + ".moe_combine", m1, m2);
  }
  return tap(n + ".post_feedforward_layernorm",
             ex_.rms_norm(n + ".post_feedforward_layernorm", m, &w.post_feedforward_layernorm, eps, D), {B, S, D});
}

// PLE injection (spec 3.4): h + RMSNorm(Wproj · (gelu(Wgate · h) ⊙ ple_i)).
Mat TextModel::ple_injection(index_t i, const LayerWeights& w, const Mat& h, const ForwardState& st) {
  const std::string n = layer_name(i);
  const index_t B = st.B, S = st.S, P = c_.ple_dim(), D = c_.hidden_size;
  Mat g = tap(n + ".per_layer_input_gate", ex_.linear(n + ".per_layer_input_gate", h, w.per_layer_input_gate), {B, S, P});
  g = tap(n + ".act_fn", ex_.gelu(n + ".act_fn", g), {B, S, P});
  g = ex_.mul(n + ".per_layer_input", g, st.ple[i]);
  g = tap(n + ".per_layer_projection", ex_.linear(n + ".per_layer_projection", g, w.per_layer_projection), {B, S, D});
  g = tap(n + ".post_per_layer_input_norm",
          ex_.rms_norm(n + ".post_per_layer_input_norm", g, &w.post_per_layer_input_norm, c_.rms_norm_eps, D), {B, S, D});
  return ex_.add(n + ".ple_residual", h, g);
}

// Final norm, tied LM head (embed_tokens, unscaled) in vocabulary chunks, softcap (spec 3.6).
Mat TextModel::head(const Mat& h, const ForwardState& st) {
  const index_t B = st.B, S = st.S, T = B * S, D = c_.hidden_size, V = c_.vocab_size;
  const Vec norm_w = w_.final_norm();
  const Mat hn = tap(opt_.prefix + "norm", ex_.rms_norm(opt_.prefix + "norm", h, &norm_w, c_.rms_norm_eps, D), {B, S, D});
  Mat logits = Mat::from_shape({static_cast<size_t>(T), static_cast<size_t>(V)});
  for (index_t r0 = 0; r0 < V; r0 += opt_.lm_head_rows) {
    const index_t n = std::min(opt_.lm_head_rows, V - r0);
    // Node names must be unique within a forward (executors key results and timings by name).
    const std::string node = n == V ? std::string("lm_head") : "lm_head.rows" + std::to_string(r0);
    const Mat part = ex_.linear(node, hn, w_.embed_block(r0, n));            // [T, n]
    for (index_t t = 0; t < T; ++t)
      for (index_t j = 0; j < n; ++j) logits(t, r0 + j) = part(t, j);
  }
  tap("lm_head", logits, {B, S, V});
  if (c_.final_logit_softcapping) logits = ex_.softcap("logits", logits, *c_.final_logit_softcapping);
  return tap("logits", logits, {B, S, V});
}

size_t LayerWeights::bytes() const {
  size_t n = 0;
  for (const Vec* v : {&input_layernorm, &post_attention_layernorm, &pre_feedforward_layernorm,
                       &post_feedforward_layernorm, &q_norm, &k_norm, &post_per_layer_input_norm, &router_scale,
                       &per_expert_scale, &pre_feedforward_layernorm_2, &post_feedforward_layernorm_1,
                       &post_feedforward_layernorm_2})
    n += v->size();
  for (const Mat* m : {&q_proj, &k_proj, &v_proj, &o_proj, &gate_proj, &up_proj, &down_proj, &per_layer_input_gate,
                       &per_layer_projection, &router_proj})
    n += m->size();
  n += experts_gate_up.size() + experts_down.size();
  return n * sizeof(double);
}

}  // namespace g4::text
