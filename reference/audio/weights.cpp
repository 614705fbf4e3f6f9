#include "reference/audio/weights.hpp"

#include <fmt/format.h>

#include "reference/common/check.hpp"

namespace g4::audio {

AudioPrefixes find_audio_prefixes(const TensorReader& r) {
  const std::string probe = "subsample_conv_projection.layer0.conv.weight";
  AudioPrefixes p;
  if (r.has("model.audio_tower." + probe)) p.tower = "model.audio_tower.";
  else if (r.has(probe)) p.tower = "";
  else
    throw IoError(fmt::format("no audio tower in this checkpoint: neither 'model.audio_tower.{0}' "
                              "(Gemma4ForConditionalGeneration) nor '{0}' (Gemma4AudioModel) is present", probe));
  for (const char* e : {"model.embed_audio.", "embed_audio."})
    if (r.has(std::string(e) + "embedding_projection.weight")) {
      p.embedder = e;
      p.has_embedder = true;
      break;
    }
  return p;
}

NamedAudioWeights::NamedAudioWeights(const AudioConfig& config, const TensorReader& reader)
    : c_(config), r_(reader), prefixes_(find_audio_prefixes(reader)) {}

Mat NamedAudioWeights::mat(const std::string& name, index_t r, index_t c) const {
  const std::vector<double> v = r_.read(name, {r, c});
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

Vec NamedAudioWeights::vec(const std::string& name, index_t n) const {
  const std::vector<double> v = r_.read(name, {n});
  Vec out = Vec::from_shape({size_t(n)});
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

ClippableLinear NamedAudioWeights::clippable(const std::string& name, index_t out, index_t in) const {
  ClippableLinear l;
  l.w = mat(name + ".linear.weight", out, in);
  if (c_.use_clipped_linears) {  // transformers registers the buffers only then (and ignores them otherwise)
    l.input_min = r_.read(name + ".input_min", {})[0];
    l.input_max = r_.read(name + ".input_max", {})[0];
    l.output_min = r_.read(name + ".output_min", {})[0];
    l.output_max = r_.read(name + ".output_max", {})[0];
  }
  return l;
}

FeedForwardWeights NamedAudioWeights::feed_forward(const std::string& n) const {
  const index_t D = c_.hidden_size;
  return {clippable(n + ".ffw_layer_1", 4 * D, D), clippable(n + ".ffw_layer_2", D, 4 * D),
          vec(n + ".pre_layer_norm.weight", D), vec(n + ".post_layer_norm.weight", D)};
}

SubsampleWeights NamedAudioWeights::subsample() {
  const std::string n = prefixes_.tower + "subsample_conv_projection.";
  const index_t C0 = c_.subsampling_conv_channels[0], C1 = c_.subsampling_conv_channels[1];
  SubsampleWeights s;
  s.conv0 = r_.read(n + "layer0.conv.weight", {C0, 1, 3, 3});
  s.norm0 = r_.read(n + "layer0.norm.weight", {C0});
  s.conv1 = r_.read(n + "layer1.conv.weight", {C1, C0, 3, 3});
  s.norm1 = r_.read(n + "layer1.norm.weight", {C1});
  s.input_proj = mat(n + "input_proj_linear.weight", c_.hidden_size, c_.proj_input_dim());
  return s;
}

AudioLayerWeights NamedAudioWeights::layer(index_t i) {
  G4_CHECK(i >= 0 && i < c_.num_hidden_layers, ShapeError, "audio layer {} outside [0, {})", i, c_.num_hidden_layers);
  const std::string n = prefixes_.tower + "layers." + std::to_string(i) + ".";
  const index_t D = c_.hidden_size, K = c_.conv_kernel_size;
  AudioLayerWeights w;
  w.feed_forward1 = feed_forward(n + "feed_forward1");
  w.feed_forward2 = feed_forward(n + "feed_forward2");
  w.q_proj = clippable(n + "self_attn.q_proj", D, D);
  w.k_proj = clippable(n + "self_attn.k_proj", D, D);
  w.v_proj = clippable(n + "self_attn.v_proj", D, D);
  w.post = clippable(n + "self_attn.post", D, D);
  w.relative_k_proj = mat(n + "self_attn.relative_k_proj.weight", D, D);
  w.per_dim_scale = vec(n + "self_attn.per_dim_scale", c_.head_dim());
  w.linear_start = clippable(n + "lconv1d.linear_start", 2 * D, D);
  w.linear_end = clippable(n + "lconv1d.linear_end", D, D);
  const std::vector<double> dw = r_.read(n + "lconv1d.depthwise_conv1d.weight", {D, 1, K});
  w.depthwise_conv1d = Mat::from_shape({size_t(D), size_t(K)});
  std::copy(dw.begin(), dw.end(), w.depthwise_conv1d.begin());
  w.lconv_pre_layer_norm = vec(n + "lconv1d.pre_layer_norm.weight", D);
  w.conv_norm = vec(n + "lconv1d.conv_norm.weight", D);
  w.norm_pre_attn = vec(n + "norm_pre_attn.weight", D);
  w.norm_post_attn = vec(n + "norm_post_attn.weight", D);
  w.norm_out = vec(n + "norm_out.weight", D);
  return w;
}

OutputWeights NamedAudioWeights::output() {
  return {mat(prefixes_.tower + "output_proj.weight", c_.output_proj_dims, c_.hidden_size),
          vec(prefixes_.tower + "output_proj.bias", c_.output_proj_dims)};
}

Mat NamedAudioWeights::embedder() {
  G4_CHECK(prefixes_.has_embedder, IoError, "this checkpoint has no audio embedder (embed_audio.embedding_projection.weight)");
  G4_CHECK(c_.text_hidden_size.has_value(), ConfigError,
           "{}: the audio embedder needs the text hidden size (a Gemma4Config with text_config)", c_.name);
  return mat(prefixes_.embedder + "embedding_projection.weight", *c_.text_hidden_size, c_.output_proj_dims);
}

AudioParams param_count(const AudioConfig& c, index_t text_hidden_size) {
  const std::int64_t D = c.hidden_size, C0 = c.subsampling_conv_channels[0], C1 = c.subsampling_conv_channels[1];
  const std::int64_t K = c.conv_kernel_size, O = c.output_proj_dims, d = c.head_dim();
  AudioParams p;
  p.subsample = C0 * 1 * 9 + C0 + C1 * C0 * 9 + C1 + D * c.proj_input_dim();
  const std::int64_t ffw = 2 * (4 * D * D) + 2 * D;               // two linears, two norms
  const std::int64_t attn = 4 * D * D + D * D + d;                 // q, k, v, post, relative_k_proj, per_dim_scale
  const std::int64_t lconv = 2 * D * D + D * D + D * K + 2 * D;    // linear_start, linear_end, depthwise, two norms
  p.layers = c.num_hidden_layers * (2 * ffw + attn + lconv + 3 * D);
  p.output = O * D + O;
  p.embedder = text_hidden_size * O;                                // its pre-projection norm has no weight
  p.clip_buffers = c.use_clipped_linears ? c.num_hidden_layers * 10 * 4 : 0;  // 2·2 ffw, q/k/v/post, start/end
  return p;
}

}  // namespace g4::audio
