// The Gemma 4 audio tower and audio embedder, float64. See model.hpp for the reading order.
#include "reference/audio/model.hpp"

#include <cmath>
#include <limits>

#include "reference/audio/ops/causal_conv1d.hpp"
#include "reference/audio/ops/chunked_attention.hpp"
#include "reference/audio/ops/conv2d.hpp"
#include "reference/audio/ops/elementwise.hpp"
#include "reference/audio/ops/layer_norm.hpp"
#include "reference/audio/ops/rel_position.hpp"
#include "reference/common/check.hpp"
#include "reference/ops/matmul.hpp"
#include "reference/ops/rms_norm.hpp"

namespace g4::audio {
namespace {

constexpr double kNormEps = 1e-6;  // Gemma4RMSNorm's default: the norms built without config.rms_norm_eps

Mat from(const std::vector<double>& v, index_t r, index_t c) {
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

// [B, C, T, F] (row-major flat) <-> [B, T, F, C]
std::vector<double> channels_last(const std::vector<double>& x, index_t B, index_t C, index_t T, index_t F) {
  std::vector<double> y(x.size());
  for (index_t b = 0; b < B; ++b)
    for (index_t c = 0; c < C; ++c)
      for (index_t t = 0; t < T; ++t)
        for (index_t f = 0; f < F; ++f) y[((b * T + t) * F + f) * C + c] = x[((b * C + c) * T + t) * F + f];
  return y;
}

std::vector<double> channels_first(const std::vector<double>& x, index_t B, index_t C, index_t T, index_t F) {
  std::vector<double> y(x.size());
  for (index_t b = 0; b < B; ++b)
    for (index_t c = 0; c < C; ++c)
      for (index_t t = 0; t < T; ++t)
        for (index_t f = 0; f < F; ++f) y[((b * C + c) * T + t) * F + f] = x[((b * T + t) * F + f) * C + c];
  return y;
}

// mask[b, ::2]: the frame mask after a stride-2 convolution (kernel 3, padding 1 keeps ceil(T/2) frames).
std::vector<std::uint8_t> every_other(const std::vector<std::uint8_t>& m, index_t B, index_t T) {
  const index_t T2 = (T + 1) / 2;
  std::vector<std::uint8_t> out(size_t(B * T2));
  for (index_t b = 0; b < B; ++b)
    for (index_t t = 0; t < T2; ++t) out[b * T2 + t] = m[b * T + 2 * t];
  return out;
}

}  // namespace

Mat AudioOutput::valid_soft_tokens() const {
  index_t n = 0;
  for (auto v : mask) n += v;
  Mat out = Mat::from_shape({size_t(n), soft_tokens.shape(1)});
  index_t r = 0;
  for (index_t t = 0; t < rows(soft_tokens); ++t)
    if (mask[t]) {
      for (index_t j = 0; j < cols(soft_tokens); ++j) out(r, j) = soft_tokens(t, j);
      ++r;
    }
  return out;
}

AudioModel::AudioModel(const AudioConfig& config, AudioWeightSource& weights, TapSink sink, AudioForwardOptions options)
    : c_(config), w_(weights), own_(std::make_unique<text::ReferenceExecutor>()), ex_(*own_), sink_(std::move(sink)),
      opt_(std::move(options)) {
  c_.validate();
}

AudioModel::AudioModel(const AudioConfig& config, AudioWeightSource& weights, text::Executor& ex, TapSink sink,
                       AudioForwardOptions options)
    : c_(config), w_(weights), ex_(ex), sink_(std::move(sink)), opt_(std::move(options)) {
  c_.validate();
}

const Mat& AudioModel::tap(const std::string& name, const Mat& m, std::vector<index_t> shape) {
  if (sink_) sink_(name, m, shape);
  return m;
}

Mat AudioModel::clip(const Mat& x) const {
  const double g = std::min(c_.gradient_clipping, std::numeric_limits<double>::max());
  return ops::clamp(x, -g, g);
}

Mat AudioModel::rms(const std::string& n, const Mat& x, const Vec* w, double eps, std::vector<index_t> shape) {
  return tap(n, ex_.rms_norm(n, x, w, eps, cols(x)), std::move(shape));
}

// Gemma4ClippableLinear: clamp the input, x·Wᵀ (tap "<n>.linear"), clamp the output (tap "<n>").
Mat AudioModel::clippable(const std::string& n, const ClippableLinear& l, const Mat& x, std::vector<index_t> shape) {
  const bool clipped = c_.use_clipped_linears;
  Mat y = ex_.linear(n, clipped ? ops::clamp(x, l.input_min, l.input_max) : x, l.w);
  tap(n + ".linear", y, shape);
  if (clipped) y = ops::clamp(y, l.output_min, l.output_max);
  return tap(n, y, std::move(shape));
}

AudioOutput AudioModel::forward(const AudioFeatures& in) {
  AudioOutput out;
  out.B = in.B;
  Mat x = subsample(in, out.T, out.mask);                                            // [B·T, D]
  const index_t B = in.B, T = out.T, D = c_.hidden_size, O = c_.output_proj_dims;
  const Mat pos = tap(opt_.tower_prefix + "rel_pos_enc", ops::relative_position_table(c_.context_size(), D),
                      {1, c_.num_rel_positions(), D});                              // [n_rel, D]
  for (index_t i = 0; i < c_.num_hidden_layers; ++i) {
    const AudioLayerWeights w = w_.layer(i);                                         // one layer in memory at a time
    ex_.begin_layer(i);
    x = layer(i, w, x, out.mask, B, T, pos);
  }
  ex_.begin_layer(-1);
  const OutputWeights ow = w_.output();
  Mat h = ex_.linear(opt_.tower_prefix + "output_proj", x, ow.output_proj);          // [B·T, O]
  for (index_t t = 0; t < rows(h); ++t)
    for (index_t j = 0; j < O; ++j) h(t, j) += ow.output_proj_bias(j);
  tap(opt_.tower_prefix + "output_proj", h, {B, T, O});
  std::string tower = opt_.tower_prefix;
  if (!tower.empty() && tower.back() == '.') tower.pop_back();
  tap(tower, h, {B, T, O});
  if (sink_) {
    Mat m = Mat::from_shape({size_t(B), size_t(T)});
    for (index_t k = 0; k < B * T; ++k) m.data()[k] = out.mask[k];
    tap(opt_.tower_prefix + "attention_mask", m, {B, T});
  }
  out.hidden = h;
  if (opt_.embed && w_.has_embedder()) {
    // Gemma4MultimodalEmbedder: RMSNorm without scale (eps = audio rms_norm_eps), then the projection.
    const std::string e = opt_.embed_prefix;
    const Mat n = rms(e + "embedding_pre_projection_norm", h, nullptr, c_.rms_norm_eps, {B, T, O});
    const Mat W = w_.embedder();                                                     // [H, O]
    out.soft_tokens = tap(e + "embedding_projection", ex_.linear(e + "embedding_projection", n, W), {B, T, rows(W)});
    std::string name = e;
    if (!name.empty() && name.back() == '.') name.pop_back();
    tap(name, out.soft_tokens, {B, T, rows(W)});
  }
  return out;
}

// Gemma4AudioSubSampleConvProjection: two (mask, Conv2d 3×3/2, LayerNorm over channels, ReLU) layers
// over [B, 1, T(time), M(freq)], then flatten (freq-major, channel-minor) and input_proj_linear.
Mat AudioModel::subsample(const AudioFeatures& in, index_t& T_out, std::vector<std::uint8_t>& mask) {
  const std::string n = opt_.tower_prefix + "subsample_conv_projection";
  const SubsampleWeights w = w_.subsample();
  const index_t B = in.B;
  const index_t ch[2] = {c_.subsampling_conv_channels[0], c_.subsampling_conv_channels[1]};
  std::vector<double> x(in.features.begin(), in.features.end());  // [B, 1, T, M]
  index_t C = 1, T = in.T, F = in.M;
  mask = in.mask;
  for (int l = 0; l < 2; ++l) {
    const std::string ln = n + ".layer" + std::to_string(l);
    for (index_t b = 0; b < B; ++b)                               // x *= mask[:, None, :, None]
      for (index_t c = 0; c < C; ++c)
        for (index_t t = 0; t < T; ++t)
          for (index_t f = 0; f < F; ++f) x[((b * C + c) * T + t) * F + f] *= double(mask[b * T + t]);
    const ops::Conv2dShape s{B, C, T, F, ch[l], 3, 3, 2, 1};
    std::vector<double> y = ops::conv2d(x, l == 0 ? w.conv0 : w.conv1, s);       // [B, C', T', F']
    const index_t To = s.Ho(), Fo = s.Wo();
    C = ch[l];
    tap(ln + ".conv", from(y, B * C * To, Fo), {B, C, To, Fo});
    y = ops::layer_norm(channels_last(y, B, C, To, Fo), l == 0 ? w.norm0 : w.norm1, c_.rms_norm_eps);  // [B, T', F', C']
    tap(ln + ".norm", from(y, B * To * Fo, C), {B, To, Fo, C});
    const Mat act = ops::relu(from(channels_first(y, B, C, To, Fo), B * C * To, Fo));
    tap(ln + ".act", act, {B, C, To, Fo});
    tap(ln, act, {B, C, To, Fo});
    x.assign(act.begin(), act.end());
    mask = every_other(mask, B, T);
    T = To;
    F = Fo;
  }
  G4_CHECK(F * C == c_.proj_input_dim(), ShapeError,
           "{}: the sub-sampled features are {} frequencies × {} channels = {} wide, but input_proj_linear takes "
           "(subsampling_conv_channels[0]/4)·channels[1] = {} (transformers assumes feature_size == channels[0])",
           c_.name, F, C, F * C, c_.proj_input_dim());
  const Mat flat = from(channels_last(x, B, C, T, F), B * T, F * C);  // [B, T4, F4·C1], index f·C1 + c
  T_out = T;
  const Mat h = tap(n + ".input_proj_linear", ex_.linear(n + ".input_proj_linear", flat, w.input_proj),
                    {B, T, c_.hidden_size});
  return tap(n, h, {B, T, c_.hidden_size});
}

// Gemma4AudioLayer: half-step FF, attention block, light conv, half-step FF, clip + norm_out.
Mat AudioModel::layer(index_t i, const AudioLayerWeights& w, const Mat& x_in, const std::vector<std::uint8_t>& mask,
                      index_t B, index_t T, const Mat& pos) {
  const std::string n = opt_.tower_prefix + "layers." + std::to_string(i);
  const index_t D = c_.hidden_size;
  Mat x = feed_forward(n + ".feed_forward1", w.feed_forward1, x_in, B, T);
  Mat a = rms(n + ".norm_pre_attn", clip(x), &w.norm_pre_attn, kNormEps, {B, T, D});
  a = tap(n + ".self_attn", attention(n + ".self_attn", w, a, mask, B, T, pos), {B, T, D});
  a = rms(n + ".norm_post_attn", clip(a), &w.norm_post_attn, kNormEps, {B, T, D});
  x = ex_.add(n + ".residual_attn", a, x);
  x = light_conv(n + ".lconv1d", w, x, B, T);
  x = feed_forward(n + ".feed_forward2", w.feed_forward2, x, B, T);
  x = rms(n + ".norm_out", clip(x), &w.norm_out, kNormEps, {B, T, D});
  return tap(n, x, {B, T, D});
}

// Gemma4AudioFeedForward: x + residual_weight · RMSNorm(clip(W2 · silu(W1 · RMSNorm(clip(x))))).
Mat AudioModel::feed_forward(const std::string& n, const FeedForwardWeights& w, const Mat& x, index_t B, index_t T) {
  const index_t D = c_.hidden_size;
  Mat h = rms(n + ".pre_layer_norm", clip(x), &w.pre_layer_norm, kNormEps, {B, T, D});
  h = clippable(n + ".ffw_layer_1", w.ffw_layer_1, h, {B, T, 4 * D});
  h = tap(n + ".act_fn", ops::silu(h), {B, T, 4 * D});
  h = clippable(n + ".ffw_layer_2", w.ffw_layer_2, h, {B, T, D});
  h = rms(n + ".post_layer_norm", clip(h), &w.post_layer_norm, kNormEps, {B, T, D});
  return tap(n, ex_.add(n + ".residual", ex_.scale(n + ".residual_scale", h, c_.residual_weight), x), {B, T, D});
}

// Gemma4AudioAttention: q·(d^-1/2 / ln 2)·softplus(per_dim_scale), k·ln(1+e)/ln 2, relative keys from
// the sinusoidal table, chunked local attention with softcap (ops/chunked_attention.hpp), post.
Mat AudioModel::attention(const std::string& n, const AudioLayerWeights& w, const Mat& x,
                          const std::vector<std::uint8_t>& mask, index_t B, index_t T, const Mat& pos) {
  const index_t D = c_.hidden_size, N = c_.num_attention_heads, d = c_.head_dim();
  Mat q = clippable(n + ".q_proj", w.q_proj, x, {B, T, D});
  Mat k = clippable(n + ".k_proj", w.k_proj, x, {B, T, D});
  const Mat v = clippable(n + ".v_proj", w.v_proj, x, {B, T, D});
  const double q_scale = std::pow(double(d), -0.5) / std::log(2.0);
  const double k_scale = std::log(1.0 + M_E) / std::log(2.0);
  for (index_t t = 0; t < rows(q); ++t)
    for (index_t j = 0; j < D; ++j) {
      q(t, j) = q(t, j) * q_scale * ops::softplus(w.per_dim_scale(j % d));
      k(t, j) = k(t, j) * k_scale;
    }
  const Mat rk =
      tap(n + ".relative_k_proj", ex_.linear(n + ".relative_k_proj", pos, w.relative_k_proj), {1, rows(pos), D});
  const ops::ChunkedAttentionShape s{B, T, N, d, c_.attention_chunk_size, c_.max_past_horizon(),
                                     c_.attention_context_right};
  std::vector<double> probs;
  const Mat o = ops::chunked_attention(q, k, v, rk, mask, s, c_.attention_logit_cap, c_.attention_invalid_logits_value,
                                       sink_ ? &probs : nullptr);
  if (sink_) tap(n + ".attn_probs", from(probs, B * N * s.U() * s.W, s.C()), {B, N, s.U(), s.W, s.C()});
  return clippable(n + ".post", w.post, o, {B, T, D});
}

// Gemma4AudioLightConv1d: x + W_end · silu(RMSNorm(clip(causal_dwconv(GLU(W_start · RMSNorm(x)))))).
Mat AudioModel::light_conv(const std::string& n, const AudioLayerWeights& w, const Mat& x, index_t B, index_t T) {
  const index_t D = c_.hidden_size;
  Mat h = rms(n + ".pre_layer_norm", x, &w.lconv_pre_layer_norm, c_.rms_norm_eps, {B, T, D});
  h = clippable(n + ".linear_start", w.linear_start, h, {B, T, 2 * D});
  h = ops::glu(h);                                                                   // [B·T, D]
  h = ops::causal_depthwise_conv1d(h, w.depthwise_conv1d, B);
  if (sink_) {  // transformers' tap is channel-first [B, D, T]
    Mat ct = Mat::from_shape({size_t(B * D), size_t(T)});
    for (index_t b = 0; b < B; ++b)
      for (index_t t = 0; t < T; ++t)
        for (index_t c = 0; c < D; ++c) ct(b * D + c, t) = h(b * T + t, c);
    tap(n + ".depthwise_conv1d", ct, {B, D, T});
  }
  h = rms(n + ".conv_norm", clip(h), &w.conv_norm, c_.rms_norm_eps, {B, T, D});
  h = tap(n + ".act_fn", ops::silu(h), {B, T, D});
  h = clippable(n + ".linear_end", w.linear_end, h, {B, T, D});
  return tap(n, ex_.add(n + ".residual", h, x), {B, T, D});
}

}  // namespace g4::audio
