// Parses a transformers config.json into a TextConfig.
//
// Accepted: a Gemma4TextConfig (model_type "gemma4_text") or a Gemma4Config (model_type
// "gemma4", whose text_config is used; its vision/audio sub-configs belong to the towers).
// Both the released layout (global_head_dim, num_global_key_value_heads) and the newer
// per_layer_config layout load. Every key is either consumed, or listed as carrying no
// numerical meaning for the forward; anything else is an error naming the field, since a
// field we do not know could change the numbers (no silent defaults).
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "reference/common/check.hpp"
#include "reference/text/config.hpp"

namespace g4::text {
namespace {

using json = nlohmann::json;

// PreTrainedConfig bookkeeping and generation fields: no effect on one forward pass.
const std::set<std::string> kInertKeys = {
    "transformers_version", "architectures", "output_hidden_states", "return_dict", "dtype", "torch_dtype",
    "chunk_size_feed_forward", "is_encoder_decoder", "id2label", "label2id", "problem_type", "_name_or_path",
    "output_attentions", "use_cache", "eos_token_id", "bos_token_id", "initializer_range", "attention_dropout",
    "max_position_embeddings", "model_type", "tokenizer_class", "prefix", "sep_token_id", "decoder_start_token_id",
    "task_specific_params", "finetuning_task", "tie_encoder_decoder", "is_decoder", "add_cross_attention",
    "cross_attention_hidden_size", "pruned_heads", "torchscript", "_attn_implementation_autoset",
    "use_return_dict", "base_model_tp_plan", "base_model_pp_plan", "quantization_config"};

// Integer fields are sizes, counts and ids: bounded so that no size computed from them (a product
// of two dimensions times the layer count) can overflow 64 bits, and so that a config declaring
// more than any machine could hold is refused here, before anything is allocated from it. The
// largest released value is the 262144-entry vocabulary (2^18); the deepest stack has 60 layers.
constexpr index_t kMaxInteger = index_t{1} << 24;
constexpr index_t kMaxLayers = 1024;

struct Reader {
  const json& j;
  std::string source;
  std::set<std::string> used;

  const json* get(const std::string& key) {
    used.insert(key);
    auto it = j.find(key);
    return (it == j.end() || it->is_null()) ? nullptr : &*it;
  }
  index_t integer(const std::string& key, index_t fallback) {
    const json* v = get(key);
    if (!v) return fallback;
    G4_CHECK(v->is_number_integer(), ConfigError, "{}: field '{}' must be an integer, got {}", source, key,
             v->dump());
    G4_CHECK(!v->is_number_unsigned() || v->get<std::uint64_t>() <= static_cast<std::uint64_t>(kMaxInteger),
             ConfigError, "{}: field '{}' = {} is over the limit of {} (2^24)", source, key, v->dump(), kMaxInteger);
    const index_t x = v->get<index_t>();
    G4_CHECK(x >= -kMaxInteger && x <= kMaxInteger, ConfigError, "{}: field '{}' = {} is outside [-2^24, 2^24]",
             source, key, x);
    return x;
  }
  double number(const std::string& key, double fallback) {
    const json* v = get(key);
    if (!v) return fallback;
    G4_CHECK(v->is_number(), ConfigError, "{}: field '{}' must be a number, got {}", source, key, v->dump());
    G4_CHECK(std::isfinite(v->get<double>()), ConfigError, "{}: field '{}' = {} is not finite", source, key,
             v->get<double>());
    return v->get<double>();
  }
  bool boolean(const std::string& key, bool fallback) {
    const json* v = get(key);
    if (!v) return fallback;
    G4_CHECK(v->is_boolean(), ConfigError, "{}: field '{}' must be true or false, got {}", source, key, v->dump());
    return v->get<bool>();
  }
  void check_unknown() const {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (used.count(it.key()) || kInertKeys.count(it.key())) continue;
      throw ConfigError(fmt::format("{}: unknown config field '{}' (not a Gemma4TextConfig field)", source, it.key()));
    }
  }
};

RopeParams parse_rope(const json& r, const std::string& source, const std::string& where) {
  G4_CHECK(r.is_object(), ConfigError, "{}: field '{}' must be an object", source, where);
  RopeParams p;
  for (auto it = r.begin(); it != r.end(); ++it) {
    const std::string& k = it.key();
    if (k == "rope_type") {
      const std::string t = it->get<std::string>();
      if (t == "default") p.type = RopeType::kDefault;
      else if (t == "proportional") p.type = RopeType::kProportional;
      else
        throw ConfigError(fmt::format("{}: field '{}.rope_type' = '{}' is not supported (expected 'default' or "
                                      "'proportional')", source, where, t));
    } else if (k == "rope_theta") {
      p.theta = it->get<double>();
    } else if (k == "partial_rotary_factor") {
      p.partial_rotary_factor = it->get<double>();
    } else if (k == "factor") {
      p.factor = it->get<double>();
    } else {
      throw ConfigError(fmt::format("{}: unknown config field '{}.{}'", source, where, k));
    }
  }
  G4_CHECK(r.contains("rope_type"), ConfigError, "{}: field '{}.rope_type' is missing", source, where);
  G4_CHECK(r.contains("rope_theta"), ConfigError, "{}: field '{}.rope_theta' is missing", source, where);
  G4_CHECK(p.type == RopeType::kProportional || p.factor == 1.0, ConfigError,
           "{}: field '{}.factor' is only supported with proportional RoPE", source, where);
  return p;
}

TextConfig parse_text(const json& j, const std::string& source) {
  G4_CHECK(j.is_object(), ConfigError, "{}: text config must be a JSON object", source);
  Reader r{j, source, {}};
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
  if (const json* v = r.get("hidden_activation")) c.hidden_activation = v->get<std::string>();
  c.max_position_embeddings = r.integer("max_position_embeddings", c.max_position_embeddings);
  c.rms_norm_eps = r.number("rms_norm_eps", c.rms_norm_eps);
  c.pad_token_id = r.integer("pad_token_id", c.pad_token_id);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", c.tie_word_embeddings);
  c.attention_bias = r.boolean("attention_bias", c.attention_bias);
  c.sliding_window = r.integer("sliding_window", c.sliding_window);
  if (const json* v = r.get("final_logit_softcapping")) c.final_logit_softcapping = v->get<double>();
  if (const json* v = r.get("use_bidirectional_attention")) {
    const std::string b = v->get<std::string>();
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
  if (const json* v = r.get("rope_parameters")) {
    G4_CHECK(v->is_object(), ConfigError, "{}: field 'rope_parameters' must be an object", source);
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (it.key() == "sliding_attention") c.rope_sliding = parse_rope(*it, source, "rope_parameters.sliding_attention");
      else if (it.key() == "full_attention") c.rope_full = parse_rope(*it, source, "rope_parameters.full_attention");
      else
        throw ConfigError(fmt::format("{}: unknown config field 'rope_parameters.{}' (expected per-layer-type "
                                      "entries)", source, it.key()));
    }
  }
  if (const json* v = r.get("rope_scaling")) {
    throw ConfigError(fmt::format("{}: field 'rope_scaling' = {} is not supported (Gemma 4 uses rope_parameters)",
                                  source, v->dump()));
  }
  if (const json* v = r.get("per_layer_config")) {
    G4_CHECK(v->is_object(), ConfigError, "{}: field 'per_layer_config' must be an object", source);
    c.per_layer_overrides.assign(c.num_hidden_layers, {});
    for (auto it = v->begin(); it != v->end(); ++it) {
      index_t layer = -1;
      try {
        layer = std::stoll(it.key());
      } catch (...) {
      }
      G4_CHECK(layer >= 0 && layer < c.num_hidden_layers, ConfigError,
               "{}: field 'per_layer_config' has key '{}' (expected a layer index below {})", source, it.key(),
               c.num_hidden_layers);
      G4_CHECK(it->is_object(), ConfigError, "{}: field 'per_layer_config.{}' must be an object", source, it.key());
      Reader lr{*it, fmt::format("{}: per_layer_config.{}", source, it.key()), {}};
      for (auto f = it->begin(); f != it->end(); ++f) {
        if (f.key() == "head_dim") c.per_layer_overrides[layer].head_dim = lr.integer("head_dim", 0);
        else if (f.key() == "num_key_value_heads")
          c.per_layer_overrides[layer].num_key_value_heads = lr.integer("num_key_value_heads", 0);
        else
          throw ConfigError(fmt::format("{}: field 'per_layer_config.{}.{}' is not supported", source, it.key(),
                                        f.key()));
      }
    }
  }
  r.check_unknown();
  c.resolve();
  return c;
}

}  // namespace

TextConfig text_config_from_json(const std::string& json_text, const std::string& source) {
  json j;
  // Real configs nest 5 deep (text_config.rope_parameters.full_attention...); deeper input is
  // refused while parsing, before recursive walks (dump() in messages) could overflow the stack.
  constexpr int kMaxDepth = 64;
  const json::parser_callback_t cb = [&](int depth, json::parse_event_t e, json&) {
    G4_CHECK(!((e == json::parse_event_t::object_start || e == json::parse_event_t::array_start) && depth >= kMaxDepth),
             ConfigError, "{}: JSON nested deeper than {} levels; not a config.json", source, kMaxDepth);
    return true;
  };
  try {
    j = json::parse(json_text, cb);
  } catch (const json::exception& e) {
    throw ConfigError(fmt::format("{}: not valid JSON ({})", source, e.what()));
  }
  G4_CHECK(j.is_object(), ConfigError, "{}: expected a JSON object at the top level", source);
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
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  G4_CHECK(!std::filesystem::exists(st) || std::filesystem::is_regular_file(st), IoError,
           "{}: cannot read config file (not a regular file)", path);
  std::ifstream in(path, std::ios::binary);
  G4_CHECK(in.good(), IoError, "{}: cannot open config file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return text_config_from_json(ss.str(), path);
}

}  // namespace g4::text
