#pragma once
// The Gemma 4 audio tower (Gemma4AudioModel) and the audio embedder (Gemma4MultimodalEmbedder over
// output_proj_dims), float64, written once. Reading order: forward() -> subsample() -> layer() ->
// feed_forward() / attention() / light_conv() -> output / embed().
// Spec: ../shared/spec/gemma4-architecture.md section 6; upstream: transformers
// models/gemma4/modeling_gemma4.py (the classes named at each function).
//
// Taps are the module paths inside Gemma4ForConditionalGeneration ("model.audio_tower.layers.0.
// self_attn.q_proj", ...) with transformers' shapes; golden/exporter/export_audio.py records the same
// names. Suffixes without a module: self_attn.attn_probs [B, N, U, W, C] (the attention weights the
// module returns) and attention_mask [B, T] (the tower's output mask, 1.0 = valid). Before the tower:
// feature_extractor.window, feature_extractor.mel_filters, input_features, input_features_mask.
//
// The matmuls (every linear: feed-forward, attention projections, relative keys, sub-sampling and
// output projections, embedder), the RMSNorms and the residual adds go through a text::Executor, as
// in the text and vision graphs, so the optimized executors run them under their precision
// policies; the tower's own ops (sub-sampling convolutions and LayerNorm, SiLU, GLU, the causal
// depthwise convolution, chunked local attention) stay float64 in every run (no executor
// implements them).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "reference/audio/config.hpp"
#include "reference/audio/features.hpp"
#include "reference/audio/weights.hpp"
#include "reference/common/tensor.hpp"
#include "reference/text/executor.hpp"

namespace g4::audio {

using TapSink = std::function<void(const std::string& name, const Mat& value, const std::vector<index_t>& shape)>;

struct AudioOutput {
  index_t B = 0, T = 0;              // T: frames after the two stride-2 convolutions
  Mat hidden;                        // [B·T, O]  last_hidden_state (output_proj)
  std::vector<std::uint8_t> mask;    // [B·T]     1 = valid frame (a soft token)
  Mat soft_tokens;                   // [B·T, H]  embed_audio(hidden); empty without an embedder
  // Rows of soft_tokens whose mask is 1, in batch order: what the multimodal merge scatters into the
  // <|audio|> placeholders.
  Mat valid_soft_tokens() const;
};

struct AudioForwardOptions {
  std::string tower_prefix = "model.audio_tower.";  // tap names
  std::string embed_prefix = "model.embed_audio.";
  bool embed = true;                                  // run the embedder when the weights have one
};

class AudioModel {
 public:
  // On the float64 reference executor.
  AudioModel(const AudioConfig& config, AudioWeightSource& weights, TapSink sink, AudioForwardOptions options = {});
  // On `ex` (the harness's policies; node names are the module paths of the taps).
  AudioModel(const AudioConfig& config, AudioWeightSource& weights, text::Executor& ex, TapSink sink,
             AudioForwardOptions options = {});

  AudioOutput forward(const AudioFeatures& in);

  // Pieces (public for the benchmark and the tests).
  // Sub-sampling: returns [B·T4, D] and fills mask with the sub-sampled frame mask.
  Mat subsample(const AudioFeatures& in, index_t& T4, std::vector<std::uint8_t>& mask);
  Mat layer(index_t i, const AudioLayerWeights& w, const Mat& x, const std::vector<std::uint8_t>& mask, index_t B,
            index_t T, const Mat& pos);

 private:
  Mat feed_forward(const std::string& n, const FeedForwardWeights& w, const Mat& x, index_t B, index_t T);
  Mat attention(const std::string& n, const AudioLayerWeights& w, const Mat& x, const std::vector<std::uint8_t>& mask,
                index_t B, index_t T, const Mat& pos);
  Mat light_conv(const std::string& n, const AudioLayerWeights& w, const Mat& x, index_t B, index_t T);
  Mat clippable(const std::string& n, const ClippableLinear& l, const Mat& x, std::vector<index_t> shape);
  Mat rms(const std::string& n, const Mat& x, const Vec* w, double eps, std::vector<index_t> shape);
  Mat clip(const Mat& x) const;  // ±min(gradient_clipping, DBL_MAX)
  const Mat& tap(const std::string& name, const Mat& m, std::vector<index_t> shape);

  const AudioConfig& c_;
  AudioWeightSource& w_;
  std::unique_ptr<text::Executor> own_;  // the reference executor of the first constructor
  text::Executor& ex_;
  TapSink sink_;
  AudioForwardOptions opt_;
};

}  // namespace g4::audio
