#include "reference/assistant/model.hpp"

#include "reference/assistant/head.hpp"
#include "reference/assistant/mask.hpp"
#include "reference/common/check.hpp"

namespace g4::assistant {

AssistantModel::AssistantModel(const AssistantConfig& config, text::WeightSource& weights,
                               const AssistantWeights& own, text::Executor& ex, text::TapSink sink)
    : c_(config), w_(weights), own_(own), ex_(ex), sink_(std::move(sink)) {}

const Mat& AssistantModel::tap(const std::string& name, const Mat& m, std::vector<index_t> shape) {
  if (sink_) sink_(name, m, shape);
  return m;
}

StepResult AssistantModel::forward(const Mat& inputs_embeds, index_t B, index_t Sq,
                                   const std::vector<index_t>& positions, const TargetContext& target,
                                   const std::string& prefix) {
  const text::TextConfig& tc = c_.text;
  const index_t T = B * Sq, H = tc.hidden_size, Hb = c_.backbone_hidden_size, V = tc.vocab_size;
  G4_CHECK(rows(inputs_embeds) == T && cols(inputs_embeds) == 2 * Hb, ShapeError,
           "assistant: inputs_embeds is [{}, {}], expected [{}, {}] (B·Sq, 2·backbone_hidden_size)",
           rows(inputs_embeds), cols(inputs_embeds), T, 2 * Hb);
  G4_CHECK(static_cast<index_t>(positions.size()) == T, ShapeError, "assistant: {} positions for {} queries",
           positions.size(), T);
  ex_.begin_layer(-1);
  tap(prefix + "inputs_embeds", inputs_embeds, {B, Sq, 2 * Hb});
  Mat x = tap(prefix + "pre_projection", ex_.linear(prefix + "pre_projection", inputs_embeds, own_.pre_projection),
              {B, Sq, H});

  // The target's K/V are the keys of every layer; Skv per layer type.
  text::ForwardState st;
  st.B = B;
  st.S = Sq;
  st.positions = positions;
  std::map<text::LayerType, index_t> skv;
  for (text::LayerType t : {text::LayerType::kSliding, text::LayerType::kFull}) {
    auto it = target.kv.find(t);
    if (it == target.kv.end()) continue;
    G4_CHECK(rows(it->second.first) % B == 0 && rows(it->second.first) == rows(it->second.second), ShapeError,
             "assistant: the target's {} K/V have {} and {} rows, expected a multiple of B = {}", text::to_string(t),
             rows(it->second.first), rows(it->second.second), B);
    skv[t] = rows(it->second.first) / B;
    st.shared_kv[kv_source_of(t)] = it->second;
  }
  G4_CHECK(skv.count(text::LayerType::kFull), ShapeError, "assistant: the target's full_attention K/V are missing");
  for (const auto& [t, n] : skv)
    st.masks[t] = assistant_mask(t, target.attention_mask, B, Sq, n, skv.at(text::LayerType::kFull), tc.sliding_window);

  text::ForwardOptions fo;
  fo.prefix = prefix + "model.";
  text::TextModel tm(tc, w_, ex_, sink_, fo);
  for (index_t i = 0; i < tc.num_hidden_layers; ++i) {
    const text::LayerSpec& s = tc.layers[i];
    G4_CHECK(skv.count(s.type), ShapeError, "assistant layer {} ({}): the target provides no K/V of that type", i,
             text::to_string(s.type));
    const index_t nkv = cols(st.shared_kv.at(s.kv_source).first);
    G4_CHECK(nkv == s.num_kv_heads * s.head_dim, ShapeError,
             "assistant layer {}: the target's {} K/V rows are {} wide, expected num_key_value_heads·head_dim = {}", i,
             text::to_string(s.type), nkv, s.num_kv_heads * s.head_dim);
    st.past = skv.at(s.type) - Sq;  // the target's keys act as this layer's cache: Skv = past + Sq
    const text::LayerWeights lw = w_.layer(i);
    ex_.begin_layer(i);
    x = tm.decoder_layer(i, lw, x, st);
  }
  ex_.begin_layer(-1);
  const Vec norm_w = w_.final_norm();
  const Mat hn = tap(prefix + "model.norm", ex_.rms_norm(prefix + "model.norm", x, &norm_w, tc.rms_norm_eps, H),
                     {B, Sq, H});

  StepResult r;
  r.projected = tap(prefix + "post_projection", ex_.linear(prefix + "post_projection", hn, own_.post_projection),
                    {B, Sq, Hb});
  if (c_.use_ordered_embeddings) {
    CentroidHead h = centroid_masked_head(ex_, prefix + "masked_embedding", hn, own_.centroids, own_.token_ordering,
                                          c_.centroid_intermediate_top_k, V,
                                          [&](const std::vector<std::int64_t>& ids) { return w_.embed_rows(ids); });
    tap(prefix + "masked_embedding.centroids", h.centroid_logits, {B, Sq, c_.num_centroids});
    r.logits = std::move(h.logits);
  } else {
    r.logits = ex_.linear(prefix + "lm_head", hn, w_.embed_block(0, V));  // tied to model.embed_tokens
    tap(prefix + "lm_head", r.logits, {B, Sq, V});
  }
  tap(prefix + "logits", r.logits, {B, Sq, V});
  Mat tok = Mat::from_shape({static_cast<size_t>(T), 1});
  for (index_t t = 0; t < T; ++t) {
    index_t best = 0;
    for (index_t v = 1; v < V; ++v)
      if (r.logits(t, v) > r.logits(t, best)) best = v;
    r.tokens.push_back(best);
    tok(t, 0) = static_cast<double>(best);
  }
  tap(prefix + "token", tok, {B, Sq});
  return r;
}

std::vector<StepResult> AssistantModel::draft(index_t steps, std::vector<std::int64_t> last_tokens, Mat state,
                                              index_t position,
                                              const std::function<Mat(const std::vector<std::int64_t>&)>& target_embed,
                                              const TargetContext& target) {
  const index_t B = static_cast<index_t>(last_tokens.size()), Hb = c_.backbone_hidden_size;
  G4_CHECK(rows(state) == B && cols(state) == Hb, ShapeError, "assistant: state is [{}, {}], expected [{}, {}]",
           rows(state), cols(state), B, Hb);
  std::vector<StepResult> out;
  for (index_t k = 0; k < steps; ++k) {
    const Mat emb = target_embed(last_tokens);  // [B, Hb]
    Mat in = Mat::from_shape({static_cast<size_t>(B), static_cast<size_t>(2 * Hb)});
    for (index_t b = 0; b < B; ++b)
      for (index_t d = 0; d < Hb; ++d) {
        in(b, d) = emb(b, d);
        in(b, Hb + d) = state(b, d);
      }
    StepResult r = forward(in, B, 1, std::vector<index_t>(B, position), target, "draft." + std::to_string(k) + ".");
    last_tokens = r.tokens;
    state = r.projected;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace g4::assistant
