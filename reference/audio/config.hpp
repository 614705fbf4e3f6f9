#pragma once
// Gemma 4 audio tower and audio feature extractor configuration, as data (DESIGN.md section 3).
//
// AudioConfig carries every field of transformers' Gemma4AudioConfig (configuration_gemma4.py) under its
// transformers name, plus the one field of the enclosing Gemma4Config the audio embedder needs (the text
// hidden size). FeatureConfig carries every field of Gemma4AudioFeatureExtractor
// (feature_extraction_gemma4.py, as saved in preprocessor_config.json) and the two __call__ defaults
// that shape the batch (pad_to_multiple_of 128, max_length 480000).
// Spec: ../shared/spec/gemma4-architecture.md sections 1.4 and 6.
#include <optional>
#include <string>
#include <vector>

#include "reference/common/dims.hpp"

namespace g4::audio {

struct AudioConfig {
  std::string name = "custom";

  index_t hidden_size = 1024;                  // D
  index_t num_hidden_layers = 12;
  index_t num_attention_heads = 8;             // N (head dim d = D / N)
  std::string hidden_act = "silu";             // the only activation the reference implements
  index_t subsampling_conv_channels[2] = {128, 32};
  index_t conv_kernel_size = 5;                // light conv depthwise kernel
  double residual_weight = 0.5;                // feed-forward branch scale
  index_t attention_chunk_size = 12;           // W: query block
  index_t attention_context_left = 13;         // past horizon P = context_left - 1
  index_t attention_context_right = 0;         // future horizon F
  double attention_logit_cap = 50.0;
  double attention_invalid_logits_value = -1.0e9;
  bool use_clipped_linears = true;
  double rms_norm_eps = 1e-6;                  // subsampling LayerNorms, conv_norm, embedder norm
  double gradient_clipping = 1e10;             // clamp value (float64: min(this, DBL_MAX))
  index_t output_proj_dims = 1536;             // O
  double initializer_range = 0.02;             // training only

  // From the enclosing Gemma4Config's text_config.hidden_size: the audio embedder's output width.
  // Empty for a standalone Gemma4AudioConfig (the embedder is then not part of the model).
  std::optional<index_t> text_hidden_size;

  index_t head_dim() const { return hidden_size / num_attention_heads; }
  index_t max_past_horizon() const { return attention_context_left - 1; }
  index_t context_size() const { return attention_chunk_size + max_past_horizon() + attention_context_right; }
  index_t num_rel_positions() const { return context_size() / 2 + 1; }
  index_t ffw_width() const { return 4 * hidden_size; }
  // Width of the flattened sub-sampling output as transformers codes it: (channels[0] / 4) · channels[1].
  index_t proj_input_dim() const { return (subsampling_conv_channels[0] / 4) * subsampling_conv_channels[1]; }

  // Throws g4::ConfigError naming the first bad field.
  void validate() const;
};

struct FeatureConfig {
  index_t feature_size = 128;                  // M: mel bins
  index_t sampling_rate = 16000;
  double padding_value = 0.0;
  bool return_attention_mask = true;
  index_t frame_length = 320;                  // samples (20 ms)
  index_t hop_length = 160;                    // samples (10 ms)
  index_t fft_length = 512;                    // 2^ceil(log2(frame_length)), doubled with fft_overdrive
  double min_frequency = 0.0;
  double max_frequency = 8000.0;
  double preemphasis = 0.0;
  bool preemphasis_htk_flavor = true;
  bool fft_overdrive = false;
  double dither = 0.0;                         // must be 0: dithering draws random noise
  double input_scale_factor = 1.0;
  double mel_floor = 1e-3;
  std::vector<double> per_bin_mean;            // [M] or empty
  std::vector<double> per_bin_stddev;          // [M] or empty
  // __call__ arguments (defaults of Gemma4AudioFeatureExtractor.__call__).
  index_t pad_to_multiple_of = 128;
  index_t max_length = 480000;                 // 30 s at 16 kHz; longer audio is bad input here

  void validate() const;
};

// The released audio tower (E2B and E4B: identical, the spec section 1.4 defaults), embedder into
// text_hidden_size (E2B 1536, E4B 2560).
AudioConfig released_audio_config(const std::string& variant);  // "e2b" or "e4b"

// transformers config.json: a Gemma4AudioConfig (model_type "gemma4_audio") or a Gemma4Config
// (model_type "gemma4") whose audio_config is used (and text_config.hidden_size). Unknown fields are
// ConfigErrors naming `source` and the field.
AudioConfig audio_config_from_json(const std::string& json_text, const std::string& source);
AudioConfig load_audio_config(const std::string& path);

// preprocessor_config.json of a Gemma4AudioFeatureExtractor (or a processor config holding a
// "feature_extractor" object). Unknown fields are ConfigErrors.
FeatureConfig feature_config_from_json(const std::string& json_text, const std::string& source);
FeatureConfig load_feature_config(const std::string& path);

std::string describe(const AudioConfig& c);    // every field, one per line
std::string describe(const FeatureConfig& c);

}  // namespace g4::audio
