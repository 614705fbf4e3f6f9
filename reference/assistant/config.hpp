#pragma once
// Gemma4AssistantConfig as data (spec 1.7; upstream transformers
// models/gemma4_assistant/configuration_gemma4_assistant.py).
//
// The assistant is a Gemma4TextModel whose EVERY layer is kv-shared: no layer computes K/V, each reads
// the target model's shared_kv_states[layer type] (the last sliding and the last full non-shared layer
// of the target). `text` holds its text config with layers[i].kv_role = kReuse and kv_source =
// kv_source_of(type) (a key into the target's K/V, not a layer of the assistant).
#include <cstdint>
#include <string>

#include "reference/common/dims.hpp"
#include "reference/text/config.hpp"

namespace g4::assistant {

struct AssistantConfig {
  std::string name = "custom";
  text::TextConfig text;
  index_t backbone_hidden_size = 1536;       // Hb: the target's hidden size
  bool use_ordered_embeddings = false;       // centroid-masked head instead of the tied lm_head
  index_t num_centroids = 2048;              // C
  index_t centroid_intermediate_top_k = 32;  // K: centroids kept per token

  index_t vocab_per_centroid() const { return text.vocab_size / num_centroids; }
  // Throws ConfigError naming the field (validate_architecture's rules plus the head's shape rules).
  void validate() const;
};

// The key under which a layer of the given type finds the target's K/V in ForwardState::shared_kv.
inline index_t kv_source_of(text::LayerType t) { return t == text::LayerType::kFull ? -2 : -1; }

// A Gemma4AssistantConfig config.json (model_type "gemma4_assistant").
AssistantConfig assistant_config_from_json(const std::string& json_text, const std::string& source);
AssistantConfig load_assistant_config(const std::string& path);

// Parameters (weights only; the layer_scalar and token_ordering buffers are not counted).
struct AssistantParams {
  std::int64_t embedding = 0;        // model.embed_tokens [V, H] (tied lm_head)
  std::int64_t pre_projection = 0;   // [H, 2·Hb]
  std::int64_t post_projection = 0;  // [Hb, H]
  std::int64_t attention = 0;        // q_proj, o_proj, q_norm per layer (no K/V weights)
  std::int64_t mlp = 0;              // gate, up, down per layer
  std::int64_t norms = 0;            // four per layer + final norm
  std::int64_t centroids = 0;        // masked_embedding.centroids [C, H] (use_ordered_embeddings)
  std::int64_t total() const {
    return embedding + pre_projection + post_projection + attention + mlp + norms + centroids;
  }
};
AssistantParams param_count(const AssistantConfig& c);

std::string describe(const AssistantConfig& c);

}  // namespace g4::assistant
