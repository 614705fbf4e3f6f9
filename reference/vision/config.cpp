// Gemma4VisionConfig as data: the released towers, validation, config.json, parameter counts.
#include "reference/vision/config.hpp"

#include <set>

#include <fmt/format.h>

#include "reference/common/check.hpp"
#include "reference/common/config_reader.hpp"

namespace g4::vision {

void VisionConfig::validate() const {
  auto positive = [&](const char* field, index_t v) {
    G4_CHECK(v > 0, ConfigError, "vision config '{}': field '{}' must be positive, got {}", name, field, v);
  };
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("num_key_value_heads", num_key_value_heads);
  positive("head_dim", head_dim);
  positive("pooling_kernel_size", pooling_kernel_size);
  positive("patch_size", patch_size);
  positive("position_embedding_size", position_embedding_size);
  G4_CHECK(num_attention_heads % num_key_value_heads == 0, ConfigError,
           "vision config '{}': num_attention_heads {} is not a multiple of num_key_value_heads {}", name,
           num_attention_heads, num_key_value_heads);
  // 2-D RoPE splits each head into an x half and a y half, each rotated in rotate-half pairs.
  G4_CHECK(head_dim % 4 == 0, ConfigError,
           "vision config '{}': head_dim {} must be a multiple of 4 (two axes of rotate-half pairs)", name, head_dim);
  G4_CHECK(hidden_activation == "gelu_pytorch_tanh", ConfigError,
           "vision config '{}': hidden_activation '{}' is not supported (expected 'gelu_pytorch_tanh')", name,
           hidden_activation);
  G4_CHECK(rope_type == "axial", ConfigError,
           "vision config '{}': rope_parameters.rope_type '{}' is not supported (Gemma4VisionRotaryEmbedding "
           "accepts only 'axial')", name, rope_type);
  G4_CHECK(rope_theta > 0, ConfigError, "vision config '{}': rope_theta must be positive", name);
  G4_CHECK(!attention_bias, ConfigError,
           "vision config '{}': attention_bias = true is not supported (Gemma4VisionAttention has no bias)", name);
  G4_CHECK(rms_norm_eps >= 0, ConfigError, "vision config '{}': rms_norm_eps must be >= 0", name);
}

VisionConfig released_vision_config(const std::string& tower) {
  VisionConfig c;  // transformers' defaults are the on-device tower's dimensions
  if (tower == "on-device") {
    c.name = "on-device";
    c.use_clipped_linears = true;   // spec 1.6: E2B / E4B
    c.standardize = false;
  } else if (tower == "large") {
    c.name = "large";               // spec 1.6: 31B / 26B-A4B
    c.hidden_size = 1152;
    c.intermediate_size = 4304;
    c.num_hidden_layers = 27;
    c.num_attention_heads = 16;
    c.num_key_value_heads = 16;
    c.head_dim = 72;
    c.use_clipped_linears = false;
    c.standardize = true;
  } else {
    throw ConfigError(fmt::format("unknown vision tower '{}' (expected one of: on-device, large)", tower));
  }
  c.validate();
  return c;
}

std::vector<std::string> released_vision_towers() { return {"on-device", "large"}; }

namespace {

using json = config::json;

// PreTrainedConfig bookkeeping, plus the parallelism plans: no effect on one forward pass.
// "default_output_length" and "global_head_dim" are carried by some released vision configs and
// unused by the math (spec 1.3).
const std::set<std::string> kInertKeys = config::pretrained_inert_keys({
    "base_model_tp_plan", "base_model_pp_plan", "default_output_length", "global_head_dim"});

VisionConfig parse_vision(const json& j, const std::string& source) {
  G4_CHECK(j.is_object(), ConfigError, "{}: the vision config must be a JSON object", source);
  config::ObjectReader r(j, source, &kInertKeys);
  const std::string model_type = r.string("model_type", "gemma4_vision");
  G4_CHECK(model_type == "gemma4_vision", ConfigError, "{}: model_type '{}' is not 'gemma4_vision'", source,
           model_type);
  VisionConfig c;  // transformers' defaults for absent fields
  c.name = source;
  c.hidden_size = r.integer("hidden_size", c.hidden_size);
  c.intermediate_size = r.integer("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = r.integer("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = r.integer("num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = r.integer("num_key_value_heads", c.num_key_value_heads);
  c.head_dim = r.integer("head_dim", c.head_dim);
  c.hidden_activation = r.string("hidden_activation", c.hidden_activation);
  c.rms_norm_eps = r.number("rms_norm_eps", c.rms_norm_eps);
  c.max_position_embeddings = r.integer("max_position_embeddings", c.max_position_embeddings);
  c.attention_bias = r.boolean("attention_bias", c.attention_bias);
  c.attention_dropout = r.number("attention_dropout", c.attention_dropout);
  c.pooling_kernel_size = r.integer("pooling_kernel_size", c.pooling_kernel_size);
  c.patch_size = r.integer("patch_size", c.patch_size);
  c.position_embedding_size = r.integer("position_embedding_size", c.position_embedding_size);
  c.use_clipped_linears = r.boolean("use_clipped_linears", c.use_clipped_linears);
  c.standardize = r.boolean("standardize", c.standardize);
  c.initializer_range = r.number("initializer_range", c.initializer_range);
  if (auto rp = r.object("rope_parameters")) {
    c.rope_type = rp->string("rope_type", c.rope_type);
    c.rope_theta = rp->number("rope_theta", c.rope_theta);
    rp->check_unknown();
  }
  r.check_unknown("not a Gemma4VisionConfig field");
  c.validate();
  return c;
}

}  // namespace

VisionConfig vision_config_from_json(const std::string& json_text, const std::string& source) {
  const json j = config::parse_config_json(json_text, source);
  const auto mt = j.find("model_type");
  if (mt != j.end() && mt->is_string() && mt->get<std::string>() == "gemma4") {
    const auto vc = j.find("vision_config");
    G4_CHECK(vc != j.end() && !vc->is_null(), ConfigError, "{}: this Gemma4Config has no 'vision_config'", source);
    return parse_vision(*vc, source + ":vision_config");
  }
  return parse_vision(j, source);
}

VisionConfig load_vision_config(const std::string& path) {
  return vision_config_from_json(config::read_config_file(path), path);
}

VisionParamCount param_count(const VisionConfig& c, index_t text_hidden) {
  const index_t Hv = c.hidden_size, Dh = c.head_dim, Fv = c.intermediate_size;
  const index_t Nq = c.num_attention_heads, Nkv = c.num_key_value_heads;
  VisionParamCount n;
  n.patch_embedder = Hv * c.patch_pixels() + 2 * c.position_embedding_size * Hv;
  const index_t attn = Hv * Nq * Dh + 2 * Hv * Nkv * Dh + Nq * Dh * Hv + 2 * Dh;  // q,k,v,o + q_norm,k_norm
  const index_t mlp = 3 * Hv * Fv;                                                  // gate, up, down
  const index_t norms = 4 * Hv;                                                     // the layer sandwich
  n.encoder = c.num_hidden_layers * (attn + mlp + norms);
  if (c.use_clipped_linears) n.clip_buffers = c.num_hidden_layers * 7 * 4;          // 7 linears × 4 bounds
  if (c.standardize) n.standardize = 2 * Hv;
  n.projection = text_hidden * Hv;  // embedding_pre_projection_norm has no weight
  return n;
}

std::string describe(const VisionConfig& c) {
  std::string s;
  auto line = [&](const char* k, const std::string& v) { s += fmt::format("{:<26} {}\n", k, v); };
  line("name", c.name);
  line("hidden_size", std::to_string(c.hidden_size));
  line("intermediate_size", std::to_string(c.intermediate_size));
  line("num_hidden_layers", std::to_string(c.num_hidden_layers));
  line("num_attention_heads", std::to_string(c.num_attention_heads));
  line("num_key_value_heads", std::to_string(c.num_key_value_heads));
  line("head_dim", std::to_string(c.head_dim));
  line("hidden_activation", c.hidden_activation);
  line("rms_norm_eps", fmt::format("{}", c.rms_norm_eps));
  line("max_position_embeddings", std::to_string(c.max_position_embeddings));
  line("attention_bias", c.attention_bias ? "true" : "false");
  line("attention_dropout", fmt::format("{}", c.attention_dropout));
  line("rope_parameters", fmt::format("{{rope_type: {}, rope_theta: {}}}", c.rope_type, c.rope_theta));
  line("pooling_kernel_size", std::to_string(c.pooling_kernel_size));
  line("patch_size", std::to_string(c.patch_size));
  line("position_embedding_size", std::to_string(c.position_embedding_size));
  line("use_clipped_linears", c.use_clipped_linears ? "true" : "false");
  line("standardize", c.standardize ? "true" : "false");
  line("initializer_range", fmt::format("{}", c.initializer_range));
  return s;
}

}  // namespace g4::vision
