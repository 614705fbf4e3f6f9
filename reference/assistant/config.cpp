#include "reference/assistant/config.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "reference/common/check.hpp"

namespace g4::assistant {
namespace {

using json = nlohmann::json;

// Top-level keys with no effect on the assistant's forward (token ids of the multimodal processor,
// bookkeeping); anything else unknown is an error.
const std::set<std::string> kInert = {
    "architectures", "dtype", "torch_dtype", "transformers_version", "model_type", "_name_or_path",
    "initializer_range", "audio_token_id", "image_token_id", "video_token_id", "boi_token_id", "eoi_token_id",
    "boa_token_id", "eoa_token_id", "eoa_token_index", "pad_token_id", "bos_token_id", "eos_token_id",
    "output_hidden_states", "output_attentions", "return_dict", "use_cache", "vision_soft_tokens_per_image"};
const std::set<std::string> kFields = {"text_config", "backbone_hidden_size", "use_ordered_embeddings",
                                       "num_centroids", "centroid_intermediate_top_k", "tie_word_embeddings"};

}  // namespace

void AssistantConfig::validate() const {
  const std::string& n = name;
  G4_CHECK(text.hidden_size_per_layer_input == 0, ConfigError,
           "{}: text_config.hidden_size_per_layer_input must be 0 for an assistant, got {}", n,
           text.hidden_size_per_layer_input);
  G4_CHECK(!text.enable_moe_block, ConfigError, "{}: text_config.enable_moe_block must be false for an assistant", n);
  G4_CHECK(!text.use_double_wide_mlp, ConfigError, "{}: text_config.use_double_wide_mlp must be false for an assistant",
           n);
  G4_CHECK(text.vocab_size_per_layer_input == 0, ConfigError,
           "{}: text_config.vocab_size_per_layer_input must be 0 for an assistant, got {}", n,
           text.vocab_size_per_layer_input);
  G4_CHECK(backbone_hidden_size > 0, ConfigError, "{}: field 'backbone_hidden_size' must be > 0", n);
  if (use_ordered_embeddings) {
    G4_CHECK(num_centroids > 0 && text.vocab_size % num_centroids == 0, ConfigError,
             "{}: field 'num_centroids' = {} must divide vocab_size = {}", n, num_centroids, text.vocab_size);
    G4_CHECK(centroid_intermediate_top_k > 0 && centroid_intermediate_top_k <= num_centroids, ConfigError,
             "{}: field 'centroid_intermediate_top_k' = {} must be in [1, num_centroids = {}]", n,
             centroid_intermediate_top_k, num_centroids);
  }
}

AssistantConfig assistant_config_from_json(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw ConfigError(fmt::format("{}: not valid JSON ({})", source, e.what()));
  }
  G4_CHECK(j.is_object() && j.value("model_type", std::string()) == "gemma4_assistant", ConfigError,
           "{}: field 'model_type' must be \"gemma4_assistant\"", source);
  for (auto it = j.begin(); it != j.end(); ++it)
    G4_CHECK(kFields.count(it.key()) || kInert.count(it.key()), ConfigError,
             "{}: unknown config field '{}' (not a Gemma4AssistantConfig field)", source, it.key());
  G4_CHECK(j.contains("text_config") && j["text_config"].is_object(), ConfigError,
           "{}: a gemma4_assistant config needs a 'text_config' object", source);
  AssistantConfig c;
  c.name = source;
  json t = j["text_config"];
  // Gemma4AssistantConfig.__post_init__: num_kv_shared_layers 0 -> num_hidden_layers; validate_architecture
  // requires it to equal num_hidden_layers. The text parser resolves a config without sharing (every
  // layer's head dim, RoPE, width), then every layer is marked as reading the target's K/V.
  const std::int64_t L = t.value("num_hidden_layers", std::int64_t{30});
  const std::int64_t shared = t.contains("num_kv_shared_layers") && !t["num_kv_shared_layers"].is_null()
                                  ? t["num_kv_shared_layers"].get<std::int64_t>() : 0;
  G4_CHECK(shared == 0 || shared == L, ConfigError,
           "{}: text_config.num_kv_shared_layers = {}: every layer of an assistant must be shared (expected {} or 0)",
           source, shared, L);
  t["num_kv_shared_layers"] = 0;
  t["model_type"] = "gemma4_text";
  c.text = text::text_config_from_json(t.dump(), source + ":text_config");
  for (text::LayerSpec& s : c.text.layers) {
    s.kv_role = text::KvRole::kReuse;
    s.kv_source = kv_source_of(s.type);
  }
  c.text.num_kv_shared_layers = c.text.num_hidden_layers;
  auto integer = [&](const char* key, index_t fallback) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    G4_CHECK(j[key].is_number_integer(), ConfigError, "{}: field '{}' must be an integer", source, key);
    return j[key].get<index_t>();
  };
  c.backbone_hidden_size = integer("backbone_hidden_size", c.backbone_hidden_size);
  c.num_centroids = integer("num_centroids", c.num_centroids);
  c.centroid_intermediate_top_k = integer("centroid_intermediate_top_k", c.centroid_intermediate_top_k);
  if (j.contains("use_ordered_embeddings")) {
    G4_CHECK(j["use_ordered_embeddings"].is_boolean(), ConfigError, "{}: field 'use_ordered_embeddings' must be "
             "true or false", source);
    c.use_ordered_embeddings = j["use_ordered_embeddings"].get<bool>();
  }
  if (j.contains("tie_word_embeddings"))
    G4_CHECK(j["tie_word_embeddings"] == true, ConfigError,
             "{}: field 'tie_word_embeddings' = false is not supported (the assistant ties lm_head)", source);
  c.validate();
  return c;
}

AssistantConfig load_assistant_config(const std::string& path) {
  std::ifstream f(path);
  G4_CHECK(f.good(), IoError, "{}: cannot open the config", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return assistant_config_from_json(ss.str(), path);
}

AssistantParams param_count(const AssistantConfig& c) {
  const text::TextConfig& t = c.text;
  const std::int64_t H = t.hidden_size, Hb = c.backbone_hidden_size, Nq = t.num_attention_heads;
  AssistantParams p;
  p.embedding = std::int64_t(t.vocab_size) * H;
  p.pre_projection = 2 * Hb * H;
  p.post_projection = Hb * H;
  for (const text::LayerSpec& s : t.layers) {
    p.attention += 2 * Nq * s.head_dim * H + s.head_dim;  // q_proj, o_proj, q_norm
    p.mlp += 3 * std::int64_t(s.mlp_width) * H;
    p.norms += 4 * H;
  }
  p.norms += H;  // final norm
  if (c.use_ordered_embeddings) p.centroids = std::int64_t(c.num_centroids) * H;
  return p;
}

std::string describe(const AssistantConfig& c) {
  std::string out = fmt::format(
      "assistant {}\n  backbone_hidden_size {}\n  use_ordered_embeddings {}\n  num_centroids {}\n"
      "  centroid_intermediate_top_k {}\n  every layer reads the target's K/V (num_kv_shared_layers = {})\n",
      c.name, c.backbone_hidden_size, c.use_ordered_embeddings, c.num_centroids, c.centroid_intermediate_top_k,
      c.text.num_hidden_layers);
  return out + text::describe(c.text);
}

}  // namespace g4::assistant
