#pragma once
// The Gemma 4 vision tower's configuration as data (transformers Gemma4VisionConfig,
// model_type "gemma4_vision"), the two released towers, config.json loading, parameter counts.
// Spec: ../shared/spec/gemma4-architecture.md sections 1.3, 1.6, 5; upstream: transformers
// models/gemma4/configuration_gemma4.py Gemma4VisionConfig.
//
// Dims used in shape comments of reference/vision/*:  Hv vision width (hidden_size),
// Np patches per image (max_patches incl. padding), Pd = 3·p² patch pixels, Nt soft tokens,
// Dh head dim, Nh heads, Fv MLP width, H text width (projection target).
#include <string>
#include <vector>

#include "reference/common/dims.hpp"

namespace g4::vision {

struct VisionConfig {
  std::string name = "custom";              // "on-device", "large" or where it was loaded from
  index_t hidden_size = 768;                // Hv
  index_t intermediate_size = 3072;         // Fv
  index_t num_hidden_layers = 16;
  index_t num_attention_heads = 12;         // Nh
  index_t num_key_value_heads = 12;
  index_t head_dim = 64;                    // Dh
  std::string hidden_activation = "gelu_pytorch_tanh";
  double rms_norm_eps = 1e-6;
  index_t max_position_embeddings = 131072; // not used by the math
  bool attention_bias = false;              // must be false (no bias in Gemma4VisionAttention)
  double attention_dropout = 0.0;           // inference: unused
  std::string rope_type = "axial";          // the only type Gemma4VisionRotaryEmbedding accepts
  double rope_theta = 100.0;
  index_t pooling_kernel_size = 3;          // k
  index_t patch_size = 16;                  // p
  index_t position_embedding_size = 10240;  // rows of each of the two learned position tables
  bool use_clipped_linears = false;         // on-device tower: every linear clamps input and output
  bool standardize = false;                 // large tower: (pooled − std_bias) · std_scale
  double initializer_range = 0.02;          // not used by the math

  index_t patch_pixels() const { return 3 * patch_size * patch_size; }  // Pd
  // Throws ConfigError naming the field when the config cannot describe a Gemma 4 vision tower.
  void validate() const;
};

// The released towers (spec 1.6): "on-device" (E2B, E4B: 768 wide, 16 layers, clipped linears)
// and "large" (31B, 26B-A4B: 1152 wide, 27 layers, head_dim 72, standardize).
VisionConfig released_vision_config(const std::string& tower);
std::vector<std::string> released_vision_towers();

// A transformers config.json: a standalone Gemma4VisionConfig (model_type "gemma4_vision") or a
// full Gemma4Config (model_type "gemma4"; its "vision_config" is used). Every field is consumed
// or known to be inert; anything else -> ConfigError naming it.
VisionConfig vision_config_from_json(const std::string& json_text, const std::string& source);
VisionConfig load_vision_config(const std::string& path);

// Parameter counts (elements), with the projection into a text model of width text_hidden
// (embed_vision.embedding_projection [H, Hv]; 0 = without it). The clip bounds (4 scalars per
// clippable linear) and std_bias/std_scale are buffers in transformers but stored in the
// checkpoint, so they are counted, separately.
struct VisionParamCount {
  index_t patch_embedder = 0;   // input_proj [Hv, Pd] + position table [2, 10240, Hv]
  index_t encoder = 0;          // every layer's weights
  index_t clip_buffers = 0;     // 4 per clippable linear (on-device tower)
  index_t standardize = 0;      // std_bias + std_scale (large tower)
  index_t projection = 0;       // embed_vision.embedding_projection
  index_t total() const { return patch_embedder + encoder + clip_buffers + standardize + projection; }
};
VisionParamCount param_count(const VisionConfig& c, index_t text_hidden);

std::string describe(const VisionConfig& c);  // every field, one per line

}  // namespace g4::vision
