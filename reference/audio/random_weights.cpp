#include "reference/audio/random_weights.hpp"

#include <cmath>

#include "reference/common/check.hpp"
#include "reference/text/random_weights.hpp"

namespace g4::audio {
namespace {

using text::NormalStream;

std::vector<double> normal(std::uint64_t seed, index_t layer, const std::string& name, index_t n, double sigma,
                           double mean = 0.0) {
  NormalStream g(seed, layer, ("audio." + name).c_str());
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = mean + sigma * g.next();
  return v;
}

Mat normal_mat(std::uint64_t seed, index_t layer, const std::string& name, index_t r, index_t c) {
  const std::vector<double> v = normal(seed, layer, name, r * c, 1.0 / std::sqrt(double(c)));
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

Vec around_one(std::uint64_t seed, index_t layer, const std::string& name, index_t n) {
  const std::vector<double> v = normal(seed, layer, name, n, 0.1, 1.0);
  Vec out = Vec::from_shape({size_t(n)});
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

ClippableLinear linear(std::uint64_t seed, index_t layer, const std::string& name, index_t out, index_t in) {
  ClippableLinear l;
  l.w = normal_mat(seed, layer, name, out, in);
  return l;
}

}  // namespace

SubsampleWeights RandomAudioWeights::subsample() {
  const index_t C0 = c_.subsampling_conv_channels[0], C1 = c_.subsampling_conv_channels[1];
  SubsampleWeights s;
  s.conv0 = normal(seed_, -1, "layer0.conv", C0 * 9, 1.0 / 3.0);
  s.norm0 = normal(seed_, -1, "layer0.norm", C0, 0.1, 1.0);
  s.conv1 = normal(seed_, -1, "layer1.conv", C1 * C0 * 9, 1.0 / std::sqrt(double(C0 * 9)));
  s.norm1 = normal(seed_, -1, "layer1.norm", C1, 0.1, 1.0);
  s.input_proj = normal_mat(seed_, -1, "input_proj_linear", c_.hidden_size, c_.proj_input_dim());
  return s;
}

AudioLayerWeights RandomAudioWeights::layer(index_t i) {
  G4_CHECK(i >= 0 && i < c_.num_hidden_layers, ShapeError, "audio layer {} outside [0, {})", i, c_.num_hidden_layers);
  const index_t D = c_.hidden_size;
  auto ffw = [&](const std::string& n) {
    return FeedForwardWeights{linear(seed_, i, n + ".ffw_layer_1", 4 * D, D), linear(seed_, i, n + ".ffw_layer_2", D, 4 * D),
                              around_one(seed_, i, n + ".pre_layer_norm", D), around_one(seed_, i, n + ".post_layer_norm", D)};
  };
  AudioLayerWeights w;
  w.feed_forward1 = ffw("feed_forward1");
  w.feed_forward2 = ffw("feed_forward2");
  w.q_proj = linear(seed_, i, "q_proj", D, D);
  w.k_proj = linear(seed_, i, "k_proj", D, D);
  w.v_proj = linear(seed_, i, "v_proj", D, D);
  w.post = linear(seed_, i, "post", D, D);
  w.relative_k_proj = normal_mat(seed_, i, "relative_k_proj", D, D);
  const std::vector<double> pds = normal(seed_, i, "per_dim_scale", c_.head_dim(), 0.1);
  w.per_dim_scale = Vec::from_shape({pds.size()});
  std::copy(pds.begin(), pds.end(), w.per_dim_scale.begin());
  w.linear_start = linear(seed_, i, "linear_start", 2 * D, D);
  w.linear_end = linear(seed_, i, "linear_end", D, D);
  w.depthwise_conv1d = normal_mat(seed_, i, "depthwise_conv1d", D, c_.conv_kernel_size);
  w.lconv_pre_layer_norm = around_one(seed_, i, "lconv1d.pre_layer_norm", D);
  w.conv_norm = around_one(seed_, i, "conv_norm", D);
  w.norm_pre_attn = around_one(seed_, i, "norm_pre_attn", D);
  w.norm_post_attn = around_one(seed_, i, "norm_post_attn", D);
  w.norm_out = around_one(seed_, i, "norm_out", D);
  return w;
}

OutputWeights RandomAudioWeights::output() {
  OutputWeights o;
  o.output_proj = normal_mat(seed_, -1, "output_proj", c_.output_proj_dims, c_.hidden_size);
  const std::vector<double> b = normal(seed_, -1, "output_proj.bias", c_.output_proj_dims, 0.1);
  o.output_proj_bias = Vec::from_shape({b.size()});
  std::copy(b.begin(), b.end(), o.output_proj_bias.begin());
  return o;
}

Mat RandomAudioWeights::embedder() {
  G4_CHECK(c_.text_hidden_size.has_value(), ConfigError, "{}: no text hidden size for the audio embedder", c_.name);
  return normal_mat(seed_, -1, "embed_audio", *c_.text_hidden_size, c_.output_proj_dims);
}

}  // namespace g4::audio
