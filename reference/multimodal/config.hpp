#pragma once
// What the multimodal merge needs from a Gemma4Config (model_type "gemma4"): the text config, the
// placeholder token ids, and the input widths / eps of the two Gemma4MultimodalEmbedders.
// The towers' own configs are read by reference/vision and reference/audio.
// Upstream: transformers models/gemma4/configuration_gemma4.py Gemma4Config.
#include <string>

#include "reference/common/dims.hpp"
#include "reference/text/config.hpp"

namespace g4::mm {

struct EmbedderConfig {
  bool present = false;      // the tower exists (vision_config / audio_config not null)
  index_t input_dim = 0;     // vision hidden_size, or audio output_proj_dims
  double eps = 1e-6;         // the tower's rms_norm_eps (embedding_pre_projection_norm)
};

struct MultimodalConfig {
  text::TextConfig text;
  index_t image_token_id = 258880;  // transformers' Gemma4Config defaults (spec 1.5)
  index_t video_token_id = 258884;
  index_t audio_token_id = 258881;
  EmbedderConfig vision;  // embed_vision: RMSNorm_noscale(Hv) then [H, Hv]
  EmbedderConfig audio;   // embed_audio:  RMSNorm_noscale(Ha_out) then [H, Ha_out]
};

// Parses a Gemma4Config config.json. ConfigError naming the field on anything malformed.
MultimodalConfig multimodal_config_from_json(const std::string& json_text, const std::string& source);
MultimodalConfig load_multimodal_config(const std::string& path);

}  // namespace g4::mm
