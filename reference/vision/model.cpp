// The Gemma 4 vision tower forward. See model.hpp for the reading order.
#include "reference/vision/model.hpp"

#include <algorithm>
#include <cmath>

#include "reference/common/check.hpp"
#include "reference/text/random_weights.hpp"
#include "reference/vision/pool.hpp"
#include "reference/vision/rope_2d.hpp"

namespace g4::vision {
namespace {

bool is_padding(const VisionInputs& in, index_t r) { return in.pos_x[r] == -1 && in.pos_y[r] == -1; }

// Element-wise clamp to [lo, hi] (torch.clamp; ±inf bounds leave x unchanged).
Mat clamp(const Mat& x, double lo, double hi) {
  Mat y = Mat::from_shape(x.shape());
  for (size_t i = 0; i < x.size(); ++i) y.data()[i] = std::min(std::max(x.data()[i], lo), hi);
  return y;
}

// Rows [r0, r0 + n) of m.
Mat row_block(const Mat& m, index_t r0, index_t n) {
  Mat out = Mat::from_shape({static_cast<size_t>(n), m.shape(1)});
  std::copy(&m(r0, 0), &m(r0, 0) + n * cols(m), out.data());
  return out;
}

}  // namespace

VisionModel::VisionModel(const VisionConfig& config, VisionWeightSource& weights, text::Executor& ex, TapSink sink,
                         VisionForwardOptions options)
    : c_(config), w_(weights), ex_(ex), sink_(std::move(sink)), opt_(std::move(options)) {
  c_.validate();
  inv_freq_ = rope_2d_inv_freq(c_.rope_theta, c_.head_dim);
}

const Mat& VisionModel::tap(const std::string& name, const Mat& m, std::vector<index_t> shape) {
  if (sink_) sink_(name, m, shape);
  return m;
}

// Gemma4ClippableLinear: y = clamp(clamp(x, in_min, in_max) · Wᵀ, out_min, out_max).
// Taps "<name>.linear" (the nn.Linear inside) and "<name>" (the module's output).
Mat VisionModel::clipped_linear(const std::string& name, const Mat& x, const ClippedLinear& l,
                                std::vector<index_t> shape) {
  const bool clip = c_.use_clipped_linears;
  const Mat y = tap(name + ".linear", ex_.linear(name, clip ? clamp(x, l.input_min, l.input_max) : x, l.w), shape);
  return tap(name, clip ? clamp(y, l.output_min, l.output_max) : y, shape);
}

void VisionModel::prepare(const VisionInputs& in) {
  const index_t B = in.B, Np = in.Np, k = c_.pooling_kernel_size;
  G4_CHECK(B > 0 && Np > 0 && rows(in.pixel_values) == B * Np && cols(in.pixel_values) == c_.patch_pixels() &&
               static_cast<index_t>(in.pos_x.size()) == B * Np && static_cast<index_t>(in.pos_y.size()) == B * Np,
           ShapeError, "vision inputs: pixel_values [{}, {}] / {} positions do not fit B={} Np={} Pd={}",
           rows(in.pixel_values), cols(in.pixel_values), in.pos_x.size(), B, Np, c_.patch_pixels());
  G4_CHECK(Np % (k * k) == 0, ShapeError, "vision inputs: {} patches per image is not a multiple of k² = {}", Np, k * k);
  // Bidirectional attention; padding patches are never keys (create_bidirectional_mask).
  allowed_.assign(static_cast<size_t>(B * Np * Np), 0);
  for (index_t b = 0; b < B; ++b)
    for (index_t i = 0; i < Np; ++i)
      for (index_t j = 0; j < Np; ++j) allowed_[(b * Np + i) * Np + j] = is_padding(in, b * Np + j) ? 0 : 1;
}

VisionOutput VisionModel::forward(const VisionInputs& in) {
  prepare(in);
  ex_.begin_layer(-1);
  Mat h = patch_embed(in);                                                             // [B·Np, Hv]
  for (index_t i = 0; i < c_.num_hidden_layers; ++i) {
    const VisionLayerWeights w = w_.layer(i);                                          // one layer at a time
    ex_.begin_layer(i);
    h = encoder_layer(i, w, h, in);
  }
  ex_.begin_layer(-1);
  return head(h, in);
}

// The encoder's output -> pooler -> valid soft tokens -> standardize -> embed_vision.
VisionOutput VisionModel::head(const Mat& h, const VisionInputs& in) {
  const index_t B = in.B, Np = in.Np, Hv = c_.hidden_size, k = c_.pooling_kernel_size;
  const std::string p = opt_.tower_prefix;
  tap(p + "encoder", h, {B, Np, Hv});

  // Pooler: zero the padding rows, average k×k cells by position, scale by sqrt(Hv).
  const index_t Nt = Np / (k * k);                                                     // output_length
  Mat pooled = xt::zeros<double>({static_cast<size_t>(B * Nt), static_cast<size_t>(Hv)});  // [B·Nt, Hv]
  std::vector<std::uint8_t> valid(static_cast<size_t>(B * Nt), 0);
  for (index_t b = 0; b < B; ++b) {
    Mat hb = row_block(h, b * Np, Np);                                                 // [Np, Hv]
    for (index_t r = 0; r < Np; ++r)
      if (is_padding(in, b * Np + r)) std::fill(&hb(r, 0), &hb(r, 0) + Hv, 0.0);
    std::vector<std::uint8_t> vb;
    Mat pb;
    if (Nt == Np) {  // pooling skipped: the mask is the non-padding patches
      pb = hb;
      for (index_t r = 0; r < Np; ++r) vb.push_back(is_padding(in, b * Np + r) ? 0 : 1);
    } else {
      const std::vector<index_t> px(in.pos_x.begin() + b * Np, in.pos_x.begin() + (b + 1) * Np);
      const std::vector<index_t> py(in.pos_y.begin() + b * Np, in.pos_y.begin() + (b + 1) * Np);
      pb = avg_pool_by_positions(hb, px, py, Nt, &vb);                                 // [Nt, Hv]
    }
    std::copy(pb.begin(), pb.end(), &pooled(b * Nt, 0));
    std::copy(vb.begin(), vb.end(), valid.begin() + b * Nt);
  }
  pooled = ex_.scale(p + "pooler", pooled, std::sqrt(static_cast<double>(Hv)));
  tap(p + "pooler", pooled, {B, Nt, Hv});

  // Keep the valid slots of every image, in order; standardize (large tower).
  VisionOutput out;
  std::vector<index_t> keep;
  for (index_t b = 0; b < B; ++b) {
    index_t n = 0;
    for (index_t s = 0; s < Nt; ++s)
      if (valid[b * Nt + s]) keep.push_back(b * Nt + s), ++n;
    out.tokens_per_image.push_back(n);
  }
  const index_t N = static_cast<index_t>(keep.size());
  Mat soft = Mat::from_shape({static_cast<size_t>(N), static_cast<size_t>(Hv)});       // [N, Hv]
  for (index_t r = 0; r < N; ++r) std::copy(&pooled(keep[r], 0), &pooled(keep[r], 0) + Hv, &soft(r, 0));
  if (c_.standardize) {
    const Vec bias = w_.std_bias(), scale = w_.std_scale();                            // [Hv]
    for (index_t r = 0; r < N; ++r)
      for (index_t d = 0; d < Hv; ++d) soft(r, d) = (soft(r, d) - bias(d)) * scale(d);
  }
  std::string tower = p;
  if (!tower.empty() && tower.back() == '.') tower.pop_back();
  out.soft_tokens = tap(tower, soft, {N, Hv});

  // embed_vision: v = RMSNorm_Hv(soft; no scale) · W_mmᵀ   (spec 5.5)
  if (opt_.project) {
    const std::string e = opt_.embedder_prefix;
    const Mat w_mm = w_.embedding_projection();                                       // [H, Hv]
    const index_t H = rows(w_mm);
    const Mat normed = tap(e + "embedding_pre_projection_norm",
                           ex_.rms_norm(e + "embedding_pre_projection_norm", soft, nullptr, c_.rms_norm_eps, Hv), {N, Hv});
    out.projected = tap(e + "embedding_projection", ex_.linear(e + "embedding_projection", normed, w_mm), {N, H});
    std::string emb = e;
    if (!emb.empty() && emb.back() == '.') emb.pop_back();
    tap(emb, out.projected, {N, H});
  }
  return out;
}

// x0 = (2·(pix − 0.5)) · W_inᵀ + T[0][max(pos_x,0)] + T[1][max(pos_y,0)]   (0 for padding patches)
Mat VisionModel::patch_embed(const VisionInputs& in) {
  const index_t B = in.B, Np = in.Np, Hv = c_.hidden_size, T = B * Np;
  const std::string p = opt_.tower_prefix + "patch_embedder";
  const Mat pix = ex_.scale(p + ".rescale", in.pixel_values - 0.5, 2.0);              // [T, Pd] in [−1, 1]
  const Mat e = tap(p + ".input_proj", ex_.linear(p + ".input_proj", pix, w_.input_proj()), {B, Np, Hv});
  std::vector<std::int64_t> ix(T), iy(T);
  for (index_t r = 0; r < T; ++r) ix[r] = std::max<index_t>(in.pos_x[r], 0), iy[r] = std::max<index_t>(in.pos_y[r], 0);
  for (index_t r = 0; r < T; ++r)
    G4_CHECK(ix[r] < c_.position_embedding_size && iy[r] < c_.position_embedding_size, ShapeError,
             "vision inputs: patch position ({}, {}) is outside the {}-row position table", ix[r], iy[r],
             c_.position_embedding_size);
  Mat pe = w_.position_rows(0, ix) + w_.position_rows(1, iy);                          // [T, Hv]
  for (index_t r = 0; r < T; ++r)
    if (is_padding(in, r)) std::fill(&pe(r, 0), &pe(r, 0) + Hv, 0.0);
  return tap(p, ex_.add(p, e, pe), {B, Np, Hv});
}

// Sandwich layer (spec 5.3): h + post_attn_norm(attn(input_norm(h))), then the same with the MLP.
Mat VisionModel::encoder_layer(index_t i, const VisionLayerWeights& w, const Mat& h, const VisionInputs& in) {
  const index_t B = in.B, Np = in.Np, Hv = c_.hidden_size;
  const double eps = c_.rms_norm_eps;
  const std::string n = opt_.tower_prefix + "encoder.layers." + std::to_string(i);
  auto norm = [&](const std::string& what, const Mat& x, const Vec& wt) {
    return tap(n + "." + what, ex_.rms_norm(n + "." + what, x, &wt, eps, Hv), {B, Np, Hv});
  };
  const Mat a = norm("input_layernorm", h, w.input_layernorm);
  const Mat o = attention(n + ".self_attn", w, a, in);
  const Mat h1 = ex_.add(n + ".residual_attn", h, norm("post_attention_layernorm", o, w.post_attention_layernorm));
  const Mat f = mlp(n + ".mlp", w, norm("pre_feedforward_layernorm", h1, w.pre_feedforward_layernorm), in);
  const Mat h2 = ex_.add(n + ".residual_mlp", h1, norm("post_feedforward_layernorm", f, w.post_feedforward_layernorm));
  return tap(n, h2, {B, Np, Hv});
}

// q = rope2d(q_norm(q_proj a)), k = rope2d(k_norm(k_proj a)), v = v_norm(v_proj a) (no scale);
// bidirectional softmax attention with scaling 1 over valid keys; o_proj.
Mat VisionModel::attention(const std::string& n, const VisionLayerWeights& w, const Mat& a, const VisionInputs& in) {
  const index_t B = in.B, Np = in.Np, Hv = c_.hidden_size, Dh = c_.head_dim;
  const index_t Nq = c_.num_attention_heads, Nkv = c_.num_key_value_heads;
  const double eps = c_.rms_norm_eps;
  auto proj = [&](const std::string& what, const Mat& x, const ClippedLinear& l, index_t width) {
    return clipped_linear(n + "." + what, x, l, {B, Np, width});
  };
  const Mat q = proj("q_proj", a, w.q_proj, Nq * Dh);                                  // [T, Nq·Dh]
  const Mat k = proj("k_proj", a, w.k_proj, Nkv * Dh);                                 // [T, Nkv·Dh]
  const Mat v = proj("v_proj", a, w.v_proj, Nkv * Dh);
  const Mat qn = tap(n + ".q_norm", ex_.rms_norm(n + ".q_norm", q, &w.q_norm, eps, Dh), {B, Np, Nq, Dh});
  const Mat kn = tap(n + ".k_norm", ex_.rms_norm(n + ".k_norm", k, &w.k_norm, eps, Dh), {B, Np, Nkv, Dh});
  const Mat vn = tap(n + ".v_norm", ex_.rms_norm(n + ".v_norm", v, nullptr, eps, Dh), {B, Np, Nkv, Dh});
  const Mat qr = rope_2d(qn, in.pos_x, in.pos_y, inv_freq_, Dh);
  const Mat kr = rope_2d(kn, in.pos_x, in.pos_y, inv_freq_, Dh);
  ops::AttentionShape s;
  s.B = B, s.S = Np, s.Nq = Nq, s.Nkv = Nkv, s.Dh = Dh, s.scaling = 1.0;
  const Mat ctx = ex_.attention(n + ".attention", qr, kr, vn, allowed_, s, nullptr);  // [T, Nq·Dh]
  return tap(n, proj("o_proj", ctx, w.o_proj, Hv), {B, Np, Hv});
}

// GeGLU: down(gelu_tanh(gate(x)) ⊙ up(x)), every linear clippable.
Mat VisionModel::mlp(const std::string& n, const VisionLayerWeights& w, const Mat& x, const VisionInputs& vin) {
  const index_t Hv = c_.hidden_size, F = c_.intermediate_size;
  auto proj = [&](const std::string& what, const Mat& in, const ClippedLinear& l, index_t width) {
    return clipped_linear(n + "." + what, in, l, {vin.B, vin.Np, width});
  };
  const Mat g = tap(n + ".act_fn", ex_.gelu(n + ".act_fn", proj("gate_proj", x, w.gate_proj, F)), {vin.B, vin.Np, F});
  const Mat u = proj("up_proj", x, w.up_proj, F);
  const Mat d = proj("down_proj", ex_.mul(n + ".gate_up", g, u), w.down_proj, Hv);
  return tap(n, d, {vin.B, vin.Np, Hv});
}

// ------------------------------------------------------------------------------------------------
// Seeded random weights
// ------------------------------------------------------------------------------------------------
namespace {

Mat normal_mat(std::uint64_t seed, index_t layer, const char* name, index_t r, index_t c, double sigma,
               double mean = 0.0) {
  text::NormalStream g(seed, layer, name);
  Mat m = Mat::from_shape({static_cast<size_t>(r), static_cast<size_t>(c)});
  for (auto& v : m) v = mean + sigma * g.next();
  return m;
}

Vec normal_vec(std::uint64_t seed, index_t layer, const char* name, index_t n, double sigma, double mean) {
  text::NormalStream g(seed, layer, name);
  Vec v = Vec::from_shape({static_cast<size_t>(n)});
  for (auto& x : v) x = mean + sigma * g.next();
  return v;
}

ClippedLinear random_linear(std::uint64_t seed, index_t layer, const char* name, index_t out, index_t in) {
  return ClippedLinear{normal_mat(seed, layer, name, out, in, 1.0 / std::sqrt(static_cast<double>(in)))};
}

}  // namespace

Mat RandomVisionWeights::input_proj() {
  return normal_mat(seed_, -1, "vision.input_proj", c_.hidden_size, c_.patch_pixels(),
                    1.0 / std::sqrt(static_cast<double>(c_.patch_pixels())));
}

// Row r of table `axis` is drawn from its own stream, so any subset of rows is cheap.
Mat RandomVisionWeights::position_rows(index_t axis, const std::vector<std::int64_t>& ids) {
  Mat m = Mat::from_shape({ids.size(), static_cast<size_t>(c_.hidden_size)});
  for (size_t r = 0; r < ids.size(); ++r) {
    text::NormalStream g(seed_ ^ (0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(ids[r] + 1)), axis,
                         "vision.position_embedding_table");
    for (index_t d = 0; d < c_.hidden_size; ++d) m(r, d) = g.next() / std::sqrt(2.0);
  }
  return m;
}

VisionLayerWeights RandomVisionWeights::layer(index_t i) {
  const index_t Hv = c_.hidden_size, Dh = c_.head_dim, F = c_.intermediate_size;
  const index_t Nq = c_.num_attention_heads, Nkv = c_.num_key_value_heads;
  const double qk = std::pow(static_cast<double>(Dh), -0.25);
  VisionLayerWeights w;
  w.input_layernorm = normal_vec(seed_, i, "vision.input_layernorm", Hv, 0.1, 1.0);
  w.post_attention_layernorm = normal_vec(seed_, i, "vision.post_attention_layernorm", Hv, 0.1, 1.0);
  w.pre_feedforward_layernorm = normal_vec(seed_, i, "vision.pre_feedforward_layernorm", Hv, 0.1, 1.0);
  w.post_feedforward_layernorm = normal_vec(seed_, i, "vision.post_feedforward_layernorm", Hv, 0.1, 1.0);
  w.q_proj = random_linear(seed_, i, "vision.q_proj", Nq * Dh, Hv);
  w.k_proj = random_linear(seed_, i, "vision.k_proj", Nkv * Dh, Hv);
  w.v_proj = random_linear(seed_, i, "vision.v_proj", Nkv * Dh, Hv);
  w.o_proj = random_linear(seed_, i, "vision.o_proj", Hv, Nq * Dh);
  w.q_norm = normal_vec(seed_, i, "vision.q_norm", Dh, 0.1 * qk, qk);
  w.k_norm = normal_vec(seed_, i, "vision.k_norm", Dh, 0.1 * qk, qk);
  w.gate_proj = random_linear(seed_, i, "vision.gate_proj", F, Hv);
  w.up_proj = random_linear(seed_, i, "vision.up_proj", F, Hv);
  w.down_proj = random_linear(seed_, i, "vision.down_proj", Hv, F);
  return w;
}

Vec RandomVisionWeights::std_bias() { return normal_vec(seed_, -1, "vision.std_bias", c_.hidden_size, 0.1, 0.0); }
Vec RandomVisionWeights::std_scale() { return normal_vec(seed_, -1, "vision.std_scale", c_.hidden_size, 0.1, 1.0); }
Mat RandomVisionWeights::embedding_projection() {
  return normal_mat(seed_, -1, "vision.embedding_projection", text_hidden_, c_.hidden_size,
                    1.0 / std::sqrt(static_cast<double>(c_.hidden_size)));
}

}  // namespace g4::vision
