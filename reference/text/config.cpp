// Gemma 4 text configuration: post-init rules, validation, released variants, printing.
// JSON parsing lives in config_json.cpp.
#include "reference/text/config.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "reference/common/check.hpp"

namespace g4::text {

std::string to_string(LayerType t) { return t == LayerType::kFull ? "full_attention" : "sliding_attention"; }

void TextConfig::resolve() {
  const index_t L = num_hidden_layers;
  G4_CHECK(L > 0, ConfigError, "{}: num_hidden_layers must be > 0, got {}", name, L);
  // transformers __post_init__: default pattern is 5 sliding : 1 full.
  if (layer_types.empty()) {
    for (index_t i = 0; i < L; ++i)
      layer_types.push_back((i + 1) % 6 == 0 ? LayerType::kFull : LayerType::kSliding);
  }
  G4_CHECK(static_cast<index_t>(layer_types.size()) == L, ConfigError,
           "{}: layer_types has {} entries but num_hidden_layers is {}", name, layer_types.size(), L);
  // transformers forces the last layer to full attention (with a warning); so do we.
  layer_types.back() = LayerType::kFull;
  G4_CHECK(per_layer_overrides.empty() || static_cast<index_t>(per_layer_overrides.size()) == L, ConfigError,
           "{}: per_layer_config has {} entries, expected {}", name, per_layer_overrides.size(), L);

  // KV sharing roles (transformers' Gemma4TextConfig.kv_sharing_modes).
  const index_t first_shared = L - num_kv_shared_layers;
  G4_CHECK(num_kv_shared_layers >= 0 && num_kv_shared_layers < L, ConfigError,
           "{}: num_kv_shared_layers must be in [0, {}), got {}", name, L, num_kv_shared_layers);
  index_t last_of_type[2] = {-1, -1};  // [sliding, full], among non-shared layers
  for (index_t i = 0; i < first_shared; ++i) last_of_type[layer_types[i] == LayerType::kFull] = i;

  layers.assign(L, LayerSpec{});
  for (index_t i = 0; i < L; ++i) {
    LayerSpec& s = layers[i];
    s.type = layer_types[i];
    const bool full = s.type == LayerType::kFull;
    // Per-layer head dim and KV heads: an explicit per_layer_config wins; otherwise the
    // global_head_dim / num_global_key_value_heads rule that transformers turns into one.
    s.head_dim = full ? global_head_dim : head_dim;
    s.num_kv_heads = (full && attention_k_eq_v && num_global_key_value_heads) ? *num_global_key_value_heads
                                                                               : num_key_value_heads;
    if (!per_layer_overrides.empty()) {
      s.head_dim = per_layer_overrides[i].head_dim.value_or(head_dim);
      s.num_kv_heads = per_layer_overrides[i].num_key_value_heads.value_or(num_key_value_heads);
    }
    s.k_eq_v = attention_k_eq_v && full;
    s.rope = full ? rope_full : rope_sliding;
    if (num_kv_shared_layers > 0) {
      const index_t src = last_of_type[full];
      G4_CHECK(src >= 0, ConfigError,
               "{}: layer {} ({}) is kv-shared but no non-shared layer of that type exists before layer {}", name,
               i, to_string(s.type), first_shared);
      if (i >= first_shared) {
        s.kv_role = KvRole::kReuse;
        s.kv_source = src;
      } else if (i == src) {
        s.kv_role = KvRole::kStore;
      }
    }
    const bool wide = use_double_wide_mlp && s.kv_role == KvRole::kReuse;
    s.mlp_width = intermediate_size * (wide ? 2 : 1);
  }
  validate();
}

void TextConfig::validate() const {
  auto positive = [&](index_t v, const char* field) {
    G4_CHECK(v > 0, ConfigError, "{}: field '{}' must be > 0, got {}", name, field, v);
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(num_key_value_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(sliding_window, "sliding_window");
  G4_CHECK(rms_norm_eps > 0.0, ConfigError, "{}: field 'rms_norm_eps' must be > 0, got {}", name, rms_norm_eps);
  G4_CHECK(hidden_activation == "gelu_pytorch_tanh", ConfigError,
           "{}: field 'hidden_activation' = '{}' is not supported (Gemma 4 uses 'gelu_pytorch_tanh')", name,
           hidden_activation);
  G4_CHECK(!attention_bias, ConfigError, "{}: field 'attention_bias' = true is not supported (Gemma 4 has none)",
           name);
  G4_CHECK(!final_logit_softcapping || *final_logit_softcapping > 0.0, ConfigError,
           "{}: field 'final_logit_softcapping' must be > 0 or null, got {}", name, final_logit_softcapping.value_or(0));
  G4_CHECK(pad_token_id >= 0 && pad_token_id < vocab_size, ConfigError,
           "{}: field 'pad_token_id' = {} is outside the vocabulary [0, {})", name, pad_token_id, vocab_size);
  G4_CHECK(use_bidirectional_attention != Bidirectional::kAll, ConfigError,
           "{}: field 'use_bidirectional_attention' = \"all\" (the embedding variant) is not supported: no released "
           "Gemma 4 uses it and its masks are not verified against transformers",
           name);
  G4_CHECK(tie_word_embeddings, ConfigError,
           "{}: field 'tie_word_embeddings' = false is not supported (every Gemma 4 ties the LM head)", name);
  if (hidden_size_per_layer_input > 0)
    positive(vocab_size_per_layer_input, "vocab_size_per_layer_input");
  G4_CHECK(hidden_size_per_layer_input >= 0, ConfigError, "{}: field 'hidden_size_per_layer_input' must be >= 0",
           name);
  if (enable_moe_block) {
    positive(num_experts, "num_experts");
    positive(top_k_experts, "top_k_experts");
    positive(moe_intermediate_size, "moe_intermediate_size");
    G4_CHECK(top_k_experts <= num_experts, ConfigError,
             "{}: field 'top_k_experts' = {} exceeds num_experts = {}", name, top_k_experts, num_experts);
  }
  for (const RopeParams* r : {&rope_sliding, &rope_full}) {
    G4_CHECK(r->theta > 0.0, ConfigError, "{}: field 'rope_parameters.rope_theta' must be > 0", name);
    G4_CHECK(r->partial_rotary_factor > 0.0 && r->partial_rotary_factor <= 1.0, ConfigError,
             "{}: field 'rope_parameters.partial_rotary_factor' must be in (0, 1], got {}", name,
             r->partial_rotary_factor);
    G4_CHECK(r->factor > 0.0, ConfigError, "{}: field 'rope_parameters.factor' must be > 0", name);
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& s = layers[i];
    G4_CHECK(s.head_dim > 0 && s.head_dim % 2 == 0, ConfigError,
             "{}: layer {}: head_dim must be even and > 0, got {}", name, i, s.head_dim);
    G4_CHECK(s.num_kv_heads > 0 && num_attention_heads % s.num_kv_heads == 0, ConfigError,
             "{}: layer {}: num_attention_heads = {} is not a multiple of its num_key_value_heads = {}", name, i,
             num_attention_heads, s.num_kv_heads);
    if (s.kv_role == KvRole::kReuse) {
      const LayerSpec& src = layers[s.kv_source];
      G4_CHECK(src.head_dim == s.head_dim && src.num_kv_heads == s.num_kv_heads, ConfigError,
               "{}: layer {} reuses the K/V of layer {} but their head_dim/num_key_value_heads differ", name, i,
               s.kv_source);
    }
  }
}

std::vector<std::string> released_variants() { return {"e2b", "e4b", "31b", "26b-a4b"}; }

// Spec section 1.6 (HF conversion script _VARIANTS and the published config.json files).
TextConfig released_text_config(const std::string& variant) {
  TextConfig c;
  c.name = variant;
  c.vocab_size = 262144;
  c.head_dim = 256;
  c.global_head_dim = 512;
  c.final_logit_softcapping = 30.0;
  c.vocab_size_per_layer_input = 262144;
  auto pattern = [](index_t L, index_t period) {
    std::vector<LayerType> t(L);
    for (index_t i = 0; i < L; ++i) t[i] = (i + 1) % period == 0 ? LayerType::kFull : LayerType::kSliding;
    return t;
  };
  if (variant == "e2b") {
    c.num_hidden_layers = 35, c.layer_types = pattern(35, 5);
    c.hidden_size = 1536, c.intermediate_size = 6144, c.use_double_wide_mlp = true;
    c.num_attention_heads = 8, c.num_key_value_heads = 1;
    c.sliding_window = 512, c.hidden_size_per_layer_input = 256, c.num_kv_shared_layers = 20;
    c.max_position_embeddings = 131072;
  } else if (variant == "e4b") {
    c.num_hidden_layers = 42, c.layer_types = pattern(42, 6);
    c.hidden_size = 2560, c.intermediate_size = 10240;
    c.num_attention_heads = 8, c.num_key_value_heads = 2;
    c.sliding_window = 512, c.hidden_size_per_layer_input = 256, c.num_kv_shared_layers = 18;
    c.max_position_embeddings = 131072;
  } else if (variant == "31b") {
    c.num_hidden_layers = 60, c.layer_types = pattern(60, 6);
    c.hidden_size = 5376, c.intermediate_size = 21504;
    c.num_attention_heads = 32, c.num_key_value_heads = 16, c.num_global_key_value_heads = 4;
    c.attention_k_eq_v = true, c.sliding_window = 1024, c.hidden_size_per_layer_input = 0;
    c.use_bidirectional_attention = Bidirectional::kVision, c.max_position_embeddings = 262144;
  } else if (variant == "26b-a4b") {
    c.num_hidden_layers = 30, c.layer_types = pattern(30, 6);
    c.hidden_size = 2816, c.intermediate_size = 2112;
    c.num_attention_heads = 16, c.num_key_value_heads = 8, c.num_global_key_value_heads = 2;
    c.attention_k_eq_v = true, c.sliding_window = 1024, c.hidden_size_per_layer_input = 0;
    c.enable_moe_block = true, c.num_experts = 128, c.top_k_experts = 8, c.moe_intermediate_size = 704;
    c.use_bidirectional_attention = Bidirectional::kVision, c.max_position_embeddings = 262144;
  } else {
    throw ConfigError(fmt::format("unknown variant '{}' (expected one of e2b, e4b, 31b, 26b-a4b)", variant));
  }
  c.resolve();
  return c;
}

std::string describe(const TextConfig& c) {
  std::string s = fmt::format("config {}\n", c.name);
  auto line = [&](const char* k, const std::string& v) { s += fmt::format("  {:<30} {}\n", k, v); };
  line("vocab_size", std::to_string(c.vocab_size));
  line("hidden_size", std::to_string(c.hidden_size));
  line("intermediate_size", std::to_string(c.intermediate_size));
  line("num_hidden_layers", std::to_string(c.num_hidden_layers));
  line("num_attention_heads", std::to_string(c.num_attention_heads));
  line("num_key_value_heads", std::to_string(c.num_key_value_heads));
  line("head_dim / global_head_dim", fmt::format("{} / {}", c.head_dim, c.global_head_dim));
  line("num_global_key_value_heads",
       c.num_global_key_value_heads ? std::to_string(*c.num_global_key_value_heads) : "null");
  line("attention_k_eq_v", c.attention_k_eq_v ? "true" : "false");
  line("sliding_window", std::to_string(c.sliding_window));
  line("rms_norm_eps", fmt::format("{}", c.rms_norm_eps));
  line("final_logit_softcapping",
       c.final_logit_softcapping ? fmt::format("{}", *c.final_logit_softcapping) : "null");
  line("hidden_size_per_layer_input", std::to_string(c.hidden_size_per_layer_input));
  line("vocab_size_per_layer_input", std::to_string(c.vocab_size_per_layer_input));
  line("num_kv_shared_layers", std::to_string(c.num_kv_shared_layers));
  line("use_double_wide_mlp", c.use_double_wide_mlp ? "true" : "false");
  line("enable_moe_block", c.enable_moe_block ? "true" : "false");
  if (c.enable_moe_block)
    line("experts (E / K / Fe)", fmt::format("{} / {} / {}", c.num_experts, c.top_k_experts, c.moe_intermediate_size));
  const char* bidi[] = {"null", "vision", "all"};
  line("use_bidirectional_attention", bidi[static_cast<int>(c.use_bidirectional_attention)]);
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerSpec& l = c.layers[i];
    const char* role[] = {"own", "store", "reuse"};
    s += fmt::format("  layer {:>3}: {:<17} Dh={:<4} Nkv={:<3} k_eq_v={} kv={}{} F={}\n", i, to_string(l.type),
                     l.head_dim, l.num_kv_heads, l.k_eq_v ? 1 : 0, role[static_cast<int>(l.kv_role)],
                     l.kv_role == KvRole::kReuse ? fmt::format("<-{}", l.kv_source) : "", l.mlp_width);
  }
  return s;
}

}  // namespace g4::text
