// Parses a transformers config.json into a TextConfig.
//
// Accepted: a Gemma4TextConfig (model_type "gemma4_text") or a Gemma4Config (model_type
// "gemma4", whose text_config is used; its vision/audio sub-configs belong to the towers).
// Both the released layout (global_head_dim, num_global_key_value_heads) and the newer
// per_layer_config layout load. Every key is either consumed, or listed as carrying no
// numerical meaning for the forward; anything else is an error naming the field, since a
// field we do not know could change the numbers (no silent defaults).
#include <set>
#include <string>

#include "reference/common/check.hpp"
#include "reference/common/config_reader.hpp"
#include "reference/text/config.hpp"

namespace g4::text {
namespace {

using json = config::json;

// PreTrainedConfig bookkeeping, plus generation and training fields: no effect on one forward pass.
const std::set<std::string> kInertKeys = config::pretrained_inert_keys({
    "eos_token_id", "bos_token_id", "initializer_range", "attention_dropout", "max_position_embeddings",
    "sep_token_id", "decoder_start_token_id", "task_specific_params", "finetuning_task", "tie_encoder_decoder",
    "is_decoder", "add_cross_attention", "cross_attention_hidden_size", "base_model_tp_plan", "base_model_pp_plan",
    "quantization_config"});

// Integer fields are sizes, counts and ids: bounded so that no size computed from them (a product
// of two dimensions times the layer count) can overflow 64 bits, and so that a config declaring
// more than any machine could hold is refused here, before anything is allocated from it. The
// largest released value is the 262144-entry vocabulary (2^18); the deepest stack has 60 layers.
constexpr index_t kMaxInteger = index_t{1} << 24;
constexpr index_t kMaxLayers = 1024;

// Integer fields are also bounded in magnitude (kMaxInteger), numbers must be finite.
constexpr config::Limits kLimits{kMaxInteger, true};

RopeParams parse_rope(config::ObjectReader r) {
  RopeParams p;
  const std::string source = r.source();
  r.require("rope_type");
  r.require("rope_theta");
  const std::string t = r.string("rope_type", "");
  if (t == "default") p.type = RopeType::kDefault;
  else if (t == "proportional") p.type = RopeType::kProportional;
  else
    throw ConfigError(fmt::format("{}: field '{}' = '{}' is not supported (expected 'default' or 'proportional')",
                                  source, r.field("rope_type"), t));
  p.theta = r.number("rope_theta", p.theta);
  p.partial_rotary_factor = r.number("partial_rotary_factor", p.partial_rotary_factor);
  p.factor = r.number("factor", p.factor);
  r.check_unknown();
  G4_CHECK(p.type == RopeType::kProportional || p.factor == 1.0, ConfigError,
           "{}: field '{}' is only supported with proportional RoPE", source, r.field("factor"));
  return p;
}

TextConfig parse_text(const json& j, const std::string& source) {
  G4_CHECK(j.is_object(), ConfigError, "{}: text config must be a JSON object", source);
  config::ObjectReader r(j, source, &kInertKeys, kLimits);
  TextConfig c;
  c.name = source;
  if (const json* mt = r.get("model_type")) {
    G4_CHECK(mt->is_string() && mt->get<std::string>() == "gemma4_text", ConfigError,
             "{}: field 'model_type' = {} (expected \"gemma4_text\")", source, mt->dump());
  }
  c.vocab_size = r.integer("vocab_size", c.vocab_size);
  c.hidden_size = r.integer("hidden_size", c.hidden_size);
  c.intermediate_size = r.integer("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = r.integer("num_hidden_layers", c.num_hidden_layers);
  G4_CHECK(c.num_hidden_layers > 0 && c.num_hidden_layers <= kMaxLayers, ConfigError,
           "{}: field 'num_hidden_layers' = {} is outside [1, {}]", source, c.num_hidden_layers, kMaxLayers);
  c.num_attention_heads = r.integer("num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = r.integer("num_key_value_heads", c.num_key_value_heads);
  c.head_dim = r.integer("head_dim", c.head_dim);
  c.global_head_dim = r.integer("global_head_dim", c.global_head_dim);
  if (r.get("num_global_key_value_heads"))
    c.num_global_key_value_heads = r.integer("num_global_key_value_heads", 0);
  c.attention_k_eq_v = r.boolean("attention_k_eq_v", c.attention_k_eq_v);
  c.hidden_activation = r.string("hidden_activation", c.hidden_activation);
  c.max_position_embeddings = r.integer("max_position_embeddings", c.max_position_embeddings);
  c.rms_norm_eps = r.number("rms_norm_eps", c.rms_norm_eps);
  c.pad_token_id = r.integer("pad_token_id", c.pad_token_id);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", c.tie_word_embeddings);
  c.attention_bias = r.boolean("attention_bias", c.attention_bias);
  c.sliding_window = r.integer("sliding_window", c.sliding_window);
  if (r.get("final_logit_softcapping")) c.final_logit_softcapping = r.number("final_logit_softcapping", 0.0);
  if (r.get("use_bidirectional_attention")) {
    const std::string b = r.string("use_bidirectional_attention", "");
    if (b == "vision") c.use_bidirectional_attention = Bidirectional::kVision;
    else if (b == "all") c.use_bidirectional_attention = Bidirectional::kAll;
    else
      throw ConfigError(fmt::format("{}: field 'use_bidirectional_attention' = '{}' (expected null, \"vision\" or "
                                    "\"all\")", source, b));
  }
  c.vocab_size_per_layer_input = r.integer("vocab_size_per_layer_input", c.vocab_size_per_layer_input);
  c.hidden_size_per_layer_input = r.integer("hidden_size_per_layer_input", c.hidden_size_per_layer_input);
  c.num_kv_shared_layers = r.integer("num_kv_shared_layers", c.num_kv_shared_layers);
  c.enable_moe_block = r.boolean("enable_moe_block", c.enable_moe_block);
  c.use_double_wide_mlp = r.boolean("use_double_wide_mlp", c.use_double_wide_mlp);
  c.num_experts = r.integer("num_experts", 0);
  c.top_k_experts = r.integer("top_k_experts", 0);
  c.moe_intermediate_size = r.integer("moe_intermediate_size", 0);

  if (const json* v = r.get("layer_types")) {
    G4_CHECK(v->is_array(), ConfigError, "{}: field 'layer_types' must be a list", source);
    for (const auto& t : *v) {
      const std::string s = t.is_string() ? t.get<std::string>() : t.dump();
      if (s == "sliding_attention") c.layer_types.push_back(LayerType::kSliding);
      else if (s == "full_attention") c.layer_types.push_back(LayerType::kFull);
      else
        throw ConfigError(fmt::format("{}: field 'layer_types' has '{}' (expected \"sliding_attention\" or "
                                      "\"full_attention\")", source, s));
    }
  }
  if (auto rp = r.object("rope_parameters")) {
    if (auto sliding = rp->object("sliding_attention")) c.rope_sliding = parse_rope(*sliding);
    if (auto full = rp->object("full_attention")) c.rope_full = parse_rope(*full);
    rp->check_unknown("expected per-layer-type entries");
  }
  if (const json* v = r.get("rope_scaling")) {
    throw ConfigError(fmt::format("{}: field 'rope_scaling' = {} is not supported (Gemma 4 uses rope_parameters)",
                                  source, v->dump()));
  }
  if (auto plc = r.object("per_layer_config")) {
    c.per_layer_overrides.assign(c.num_hidden_layers, {});
    for (auto it = plc->json_object().begin(); it != plc->json_object().end(); ++it) {
      index_t layer = -1;
      try {
        layer = std::stoll(it.key());
      } catch (...) {
      }
      G4_CHECK(layer >= 0 && layer < c.num_hidden_layers, ConfigError,
               "{}: field 'per_layer_config' has key '{}' (expected a layer index below {})", source, it.key(),
               c.num_hidden_layers);
      config::ObjectReader lr = *plc->object(it.key());
      auto& o = c.per_layer_overrides[layer];
      if (lr.get("head_dim")) o.head_dim = lr.integer("head_dim", 0);
      if (lr.get("num_key_value_heads")) o.num_key_value_heads = lr.integer("num_key_value_heads", 0);
      lr.check_unknown("not supported per layer");
    }
  }
  r.check_unknown("not a Gemma4TextConfig field");
  c.resolve();
  return c;
}

}  // namespace

TextConfig text_config_from_json(const std::string& json_text, const std::string& source) {
  const json j = config::parse_config_json(json_text, source);
  try {
    const std::string model_type = j.value("model_type", std::string("gemma4_text"));
    if (model_type == "gemma4") {
      G4_CHECK(j.contains("text_config") && j["text_config"].is_object(), ConfigError,
               "{}: a gemma4 config needs a 'text_config' object", source);
      return parse_text(j["text_config"], source + ":text_config");
    }
    G4_CHECK(model_type == "gemma4_text", ConfigError,
             "{}: field 'model_type' = '{}' (expected 'gemma4_text' or 'gemma4')", source, model_type);
    return parse_text(j, source);
  } catch (const json::exception& e) {  // a value of the wrong JSON type deep inside
    throw ConfigError(fmt::format("{}: malformed config ({})", source, e.what()));
  }
}

TextConfig load_text_config(const std::string& path) {
  return text_config_from_json(config::read_config_file(path), path);
}

}  // namespace g4::text
