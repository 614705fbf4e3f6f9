#pragma once
// Gemma 4 text-decoder configuration as data (DESIGN.md section 3).
//
// Every field of transformers' Gemma4TextConfig (configuration_gemma4.py) is here under its
// transformers name. After `resolve()`, the per-layer vectors say everything the forward needs
// about layer i (type, head dim, KV heads, k_eq_v, KV-sharing role and source, MLP width, RoPE),
// so the forward never tests a layer index (conventions rule 4).
#include <optional>
#include <string>
#include <vector>

#include "reference/common/dims.hpp"

namespace g4::text {

enum class LayerType { kSliding, kFull };
enum class RopeType { kDefault, kProportional };
enum class Bidirectional { kNone, kVision, kAll };
enum class KvRole { kOwn, kStore, kReuse };  // transformers' kv_sharing_modes: None / "store" / "reuse"

struct RopeParams {
  RopeType type = RopeType::kDefault;
  double theta = 10000.0;
  double partial_rotary_factor = 1.0;  // proportional only
  double factor = 1.0;                 // proportional only: inv_freq /= factor
};

// Everything the forward needs to know about one decoder layer.
struct LayerSpec {
  LayerType type = LayerType::kSliding;
  index_t head_dim = 0;       // Dh
  index_t num_kv_heads = 0;   // Nkv
  bool k_eq_v = false;        // V from the raw K projection (no v_proj)
  KvRole kv_role = KvRole::kOwn;
  index_t kv_source = -1;     // for kReuse: the layer whose K/V this layer reads
  index_t mlp_width = 0;      // F (intermediate_size, doubled on kv-shared layers if double-wide)
  RopeParams rope;
};

struct TextConfig {
  std::string name = "custom";  // released variant name, or the file it came from

  index_t vocab_size = 262144;
  index_t hidden_size = 2304;
  index_t intermediate_size = 9216;
  index_t num_hidden_layers = 30;
  index_t num_attention_heads = 8;
  index_t num_key_value_heads = 4;
  index_t head_dim = 256;
  index_t global_head_dim = 512;
  std::optional<index_t> num_global_key_value_heads;
  bool attention_k_eq_v = false;
  std::string hidden_activation = "gelu_pytorch_tanh";
  index_t max_position_embeddings = 131072;
  double rms_norm_eps = 1e-6;
  index_t pad_token_id = 0;
  bool tie_word_embeddings = true;
  RopeParams rope_sliding{RopeType::kDefault, 10000.0, 1.0, 1.0};
  RopeParams rope_full{RopeType::kProportional, 1000000.0, 0.25, 1.0};
  bool attention_bias = false;
  index_t sliding_window = 512;
  std::vector<LayerType> layer_types;  // empty -> 5 sliding : 1 full pattern
  std::optional<double> final_logit_softcapping;
  Bidirectional use_bidirectional_attention = Bidirectional::kNone;
  index_t vocab_size_per_layer_input = 262144;
  index_t hidden_size_per_layer_input = 256;
  index_t num_kv_shared_layers = 0;
  bool enable_moe_block = false;
  bool use_double_wide_mlp = false;
  index_t num_experts = 0;
  index_t top_k_experts = 0;
  index_t moe_intermediate_size = 0;

  // transformers' per_layer_config: per-layer head_dim / num_key_value_heads overrides.
  // Empty -> derived from global_head_dim / num_global_key_value_heads for full layers.
  struct Override {
    std::optional<index_t> head_dim, num_key_value_heads;
  };
  std::vector<Override> per_layer_overrides;  // [L] or empty

  // Filled by resolve(): one entry per layer.
  std::vector<LayerSpec> layers;  // [L]

  // Applies transformers' __post_init__ rules (default layer pattern, last layer forced full,
  // bidirectional "all" window) and fills `layers`. Calls validate().
  void resolve();
  // Throws g4::ConfigError naming the first bad field.
  void validate() const;

  index_t ple_dim() const { return hidden_size_per_layer_input; }  // P (0: no PLE)
  index_t first_kv_shared_layer() const { return num_hidden_layers - num_kv_shared_layers; }
};

// Released text configs (spec section 1.6): "e2b", "e4b", "31b", "26b-a4b".
TextConfig released_text_config(const std::string& variant);
std::vector<std::string> released_variants();

// Parses a transformers config.json (a Gemma4TextConfig, or a Gemma4Config whose text_config
// is used). Unknown fields and bad values are ConfigErrors naming `source` and the field.
TextConfig text_config_from_json(const std::string& json_text, const std::string& source);
TextConfig load_text_config(const std::string& path);

std::string to_string(LayerType t);
std::string describe(const TextConfig& c);  // every field, one per line
}  // namespace g4::text
