#pragma once
// Audio tower + audio embedder weights, handed out one conformer layer at a time (DESIGN.md section 3).
// Names in comments are transformers' parameter names under the tower prefix ("model.audio_tower." in a
// Gemma4ForConditionalGeneration checkpoint, "" in a standalone Gemma4AudioModel checkpoint) and the
// embedder prefix ("model.embed_audio.").
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "reference/audio/config.hpp"
#include "reference/common/tensor.hpp"

namespace g4::audio {

// Gemma4ClippableLinear: y = clamp(clamp(x, in_min, in_max)·Wᵀ, out_min, out_max); the four bounds
// are scalar buffers (±inf when use_clipped_linears is false or never set: the clamps are no-ops).
struct ClippableLinear {
  Mat w;  // [out, in]   <name>.linear.weight
  double input_min = -std::numeric_limits<double>::infinity();
  double input_max = std::numeric_limits<double>::infinity();
  double output_min = -std::numeric_limits<double>::infinity();
  double output_max = std::numeric_limits<double>::infinity();
};

struct SubsampleWeights {
  std::vector<double> conv0;  // [C0, 1, 3, 3]   subsample_conv_projection.layer0.conv.weight
  std::vector<double> norm0;  // [C0]            subsample_conv_projection.layer0.norm.weight
  std::vector<double> conv1;  // [C1, C0, 3, 3]  subsample_conv_projection.layer1.conv.weight
  std::vector<double> norm1;  // [C1]
  Mat input_proj;             // [D, (C0/4)·C1]  subsample_conv_projection.input_proj_linear.weight
};

struct FeedForwardWeights {   // layers.i.feed_forward{1,2}.
  ClippableLinear ffw_layer_1;  // [4D, D]
  ClippableLinear ffw_layer_2;  // [D, 4D]
  Vec pre_layer_norm;           // [D]
  Vec post_layer_norm;          // [D]
};

struct AudioLayerWeights {
  FeedForwardWeights feed_forward1, feed_forward2;
  ClippableLinear q_proj, k_proj, v_proj, post;  // [D, D]   self_attn.*
  Mat relative_k_proj;                           // [D, D]   self_attn.relative_k_proj.weight
  Vec per_dim_scale;                             // [d]      self_attn.per_dim_scale
  ClippableLinear linear_start;                  // [2D, D]  lconv1d.linear_start
  ClippableLinear linear_end;                    // [D, D]   lconv1d.linear_end
  Mat depthwise_conv1d;                          // [D, K]   lconv1d.depthwise_conv1d.weight [D, 1, K]
  Vec lconv_pre_layer_norm;                      // [D]      lconv1d.pre_layer_norm.weight
  Vec conv_norm;                                 // [D]      lconv1d.conv_norm.weight
  Vec norm_pre_attn, norm_post_attn, norm_out;   // [D]
};

struct OutputWeights {
  Mat output_proj;       // [O, D]  output_proj.weight
  Vec output_proj_bias;  // [O]     output_proj.bias
};

class AudioWeightSource {
 public:
  virtual ~AudioWeightSource() = default;
  virtual SubsampleWeights subsample() = 0;
  virtual AudioLayerWeights layer(index_t i) = 0;
  virtual OutputWeights output() = 0;
  virtual bool has_embedder() const = 0;
  virtual Mat embedder() = 0;  // [H, O]  embed_audio.embedding_projection.weight
};

// Named tensors from some store (a safetensors checkpoint in golden/, adapted by the harness): the
// reference stays free of file formats.
class TensorReader {
 public:
  virtual ~TensorReader() = default;
  virtual bool has(const std::string& name) const = 0;
  // The whole tensor as float64, after checking its shape (IoError naming the tensor otherwise).
  // Scalars (shape []) may be ±inf (clip bounds); everything else must be finite.
  virtual std::vector<double> read(const std::string& name, const std::vector<std::int64_t>& shape) const = 0;
};

// The tensor-name layout of a checkpoint: the tower prefix is found from the names
// ("model.audio_tower." or ""); the embedder is present only in a full checkpoint.
struct AudioPrefixes {
  std::string tower;     // "model.audio_tower." or ""
  std::string embedder;  // "model.embed_audio." or "" if absent
  bool has_embedder = false;
};
AudioPrefixes find_audio_prefixes(const TensorReader& r);  // IoError if no audio tower tensors

class NamedAudioWeights : public AudioWeightSource {
 public:
  NamedAudioWeights(const AudioConfig& config, const TensorReader& reader);
  SubsampleWeights subsample() override;
  AudioLayerWeights layer(index_t i) override;
  OutputWeights output() override;
  bool has_embedder() const override { return prefixes_.has_embedder; }
  Mat embedder() override;
  const AudioPrefixes& prefixes() const { return prefixes_; }

 private:
  Mat mat(const std::string& name, index_t r, index_t c) const;
  Vec vec(const std::string& name, index_t n) const;
  ClippableLinear clippable(const std::string& name, index_t out, index_t in) const;
  FeedForwardWeights feed_forward(const std::string& name) const;

  const AudioConfig c_;
  const TensorReader& r_;
  AudioPrefixes prefixes_;
};

// Parameter counts (what transformers' num_parameters() counts: parameters, not the clip buffers).
struct AudioParams {
  std::int64_t subsample = 0;   // two convs, two LayerNorms, input projection
  std::int64_t layers = 0;      // every conformer layer
  std::int64_t output = 0;      // output_proj weight + bias
  std::int64_t embedder = 0;    // embed_audio projection into the text width
  std::int64_t clip_buffers = 0;  // 4 scalars per clippable linear (buffers, not in total())
  std::int64_t total() const { return subsample + layers + output + embedder; }
};
// text_hidden_size: the embedder's output width (0: no embedder).
AudioParams param_count(const AudioConfig& c, index_t text_hidden_size);

}  // namespace g4::audio
