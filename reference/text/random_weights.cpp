#include "reference/text/random_weights.hpp"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

namespace g4::text {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t fnv1a(const char* s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 0x100000001b3ULL;
  return h;
}

// Chunks of 2^16 values, each drawn from its own stream (seeded by the tensor and the chunk
// index), generated on all cores: the same numbers whatever the thread count.
void fill_normal(double* out, std::size_t n, std::uint64_t seed, index_t layer, const char* name, double sigma) {
  const std::size_t chunk = std::size_t(1) << 16, chunks = (n + chunk - 1) / chunk;
  auto work = [&](std::size_t first, std::size_t step) {
    for (std::size_t ch = first; ch < chunks; ch += step) {
      NormalStream g(seed ^ (0xd1b54a32d192ed03ULL * (ch + 1)), layer, name);
            const std::size_t end = std::min(n, (ch + 1) * chunk);
      for (std::size_t i = ch * chunk; i < end; ++i) out[i] = sigma * g.next();
    }
  };
  const unsigned threads = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, t, threads);
  work(0, threads);
  for (auto& th : pool) th.join();
}

Mat normal_mat(std::uint64_t seed, index_t layer, const char* name, index_t r, index_t c, double sigma) {
  Mat m = Mat::from_shape({static_cast<size_t>(r), static_cast<size_t>(c)});
  fill_normal(m.data(), m.size(), seed, layer, name, sigma);
  return m;
}

std::vector<double> normal_vec(std::uint64_t seed, index_t layer, const char* name, std::size_t n, double sigma) {
  std::vector<double> v(n);
  fill_normal(v.data(), n, seed, layer, name, sigma);
  return v;
}

Vec around_one(std::uint64_t seed, index_t layer, const char* name, index_t n, double spread) {
  NormalStream g(seed, layer, name);
  Vec v = Vec::from_shape({static_cast<size_t>(n)});
  for (auto& x : v) x = 1.0 + spread * g.next();
  return v;
}

}  // namespace

NormalStream::NormalStream(std::uint64_t seed, index_t layer, const char* name)
    : state_(seed ^ (static_cast<std::uint64_t>(layer + 1) * 0x632be59bd9b4e019ULL) ^ fnv1a(name)) {}

double NormalStream::uniform() { return static_cast<double>(splitmix64(state_) >> 11) * 0x1.0p-53; }

// Marsaglia's polar method: two normals per accepted point of the unit disc (no trigonometry).
double NormalStream::next() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u, v, s;
  do {
    u = 2.0 * uniform() - 1.0;
    v = 2.0 * uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double f = std::sqrt(-2.0 * std::log(s) / s);
  spare_ = v * f;
  has_spare_ = true;
  return u * f;
}

LayerWeights RandomWeights::layer(index_t i) {
  const LayerSpec& s = c_.layers.at(i);
  const index_t D = c_.hidden_size, Nq = c_.num_attention_heads, Dh = s.head_dim, Nkv = s.num_kv_heads;
  const index_t F = s.mlp_width, P = c_.ple_dim();
  const double inv_d = 1.0 / std::sqrt(double(D));
  LayerWeights w;
  w.input_layernorm = around_one(seed_, i, "input_layernorm", D, 0.1);
  w.post_attention_layernorm = around_one(seed_, i, "post_attention_layernorm", D, 0.1);
  w.pre_feedforward_layernorm = around_one(seed_, i, "pre_feedforward_layernorm", D, 0.1);
  w.post_feedforward_layernorm = around_one(seed_, i, "post_feedforward_layernorm", D, 0.1);
  w.layer_scalar = 0.5 + 0.5 * NormalStream(seed_, i, "layer_scalar").uniform();
  w.q_proj = normal_mat(seed_, i, "q_proj", Nq * Dh, D, inv_d);
  // Gemma 4 attends with scaling 1.0: the usual 1/sqrt(Dh) temperature lives in the learned q/k
  // norm scales. Each is drawn around Dh^(-1/4), so q·k has unit variance (not Dh).
  const double qk_scale = std::pow(double(Dh), -0.25);
  w.q_norm = around_one(seed_, i, "q_norm", Dh, 0.1) * qk_scale;
  if (s.kv_role != KvRole::kReuse) {
    w.k_proj = normal_mat(seed_, i, "k_proj", Nkv * Dh, D, inv_d);
    w.k_norm = around_one(seed_, i, "k_norm", Dh, 0.1) * qk_scale;
    if (!s.k_eq_v) w.v_proj = normal_mat(seed_, i, "v_proj", Nkv * Dh, D, inv_d);
  }
  w.o_proj = normal_mat(seed_, i, "o_proj", D, Nq * Dh, 1.0 / std::sqrt(double(Nq * Dh)));
  w.gate_proj = normal_mat(seed_, i, "gate_proj", F, D, inv_d);
  w.up_proj = normal_mat(seed_, i, "up_proj", F, D, inv_d);
  w.down_proj = normal_mat(seed_, i, "down_proj", D, F, 1.0 / std::sqrt(double(F)));
  if (P > 0) {
    w.per_layer_input_gate = normal_mat(seed_, i, "per_layer_input_gate", P, D, inv_d);
    w.per_layer_projection = normal_mat(seed_, i, "per_layer_projection", D, P, 1.0 / std::sqrt(double(P)));
    w.post_per_layer_input_norm = around_one(seed_, i, "post_per_layer_input_norm", D, 0.1);
  }
  if (c_.enable_moe_block) {
    const index_t E = c_.num_experts, Fe = c_.moe_intermediate_size;
    w.router_proj = normal_mat(seed_, i, "router.proj", E, D, inv_d);
    w.router_scale = around_one(seed_, i, "router.scale", D, 0.1);
    NormalStream u(seed_, i, "router.per_expert_scale");
    w.per_expert_scale = Vec::from_shape({static_cast<size_t>(E)});
    for (auto& x : w.per_expert_scale) x = 0.5 + u.uniform();
    w.experts_gate_up = normal_vec(seed_, i, "experts.gate_up_proj", std::size_t(E * 2 * Fe * D), inv_d);
    w.experts_down = normal_vec(seed_, i, "experts.down_proj", std::size_t(E * D * Fe), 1.0 / std::sqrt(double(Fe)));
    w.pre_feedforward_layernorm_2 = around_one(seed_, i, "pre_feedforward_layernorm_2", D, 0.1);
    w.post_feedforward_layernorm_1 = around_one(seed_, i, "post_feedforward_layernorm_1", D, 0.1);
    w.post_feedforward_layernorm_2 = around_one(seed_, i, "post_feedforward_layernorm_2", D, 0.1);
  }
  return w;
}

// Embedding rows are drawn per row (stream seeded by the row id), so any row costs O(D).
Mat RandomWeights::embed_rows(const std::vector<std::int64_t>& ids) {
  const index_t D = c_.hidden_size;
  Mat m = Mat::from_shape({ids.size(), static_cast<size_t>(D)});
  for (size_t r = 0; r < ids.size(); ++r) {
    NormalStream g(seed_, -2 - ids[r], "embed_tokens");
    for (index_t d = 0; d < D; ++d) m(r, d) = g.next() / std::sqrt(double(D));
  }
  return m;
}

Mat RandomWeights::embed_block(index_t row0, index_t n) {
  std::vector<std::int64_t> ids(n);
  for (index_t j = 0; j < n; ++j) ids[j] = row0 + j;
  return embed_rows(ids);
}

Vec RandomWeights::final_norm() { return around_one(seed_, -1, "norm", c_.hidden_size, 0.1); }

Mat RandomWeights::ple_rows(const std::vector<std::int64_t>& ids) {
  const index_t LP = c_.num_hidden_layers * c_.ple_dim();
  Mat m = Mat::from_shape({ids.size(), static_cast<size_t>(LP)});
  for (size_t r = 0; r < ids.size(); ++r) {
    NormalStream g(seed_, -2 - ids[r], "embed_tokens_per_layer");
    for (index_t d = 0; d < LP; ++d) m(r, d) = g.next() / std::sqrt(double(c_.ple_dim()));
  }
  return m;
}

Mat RandomWeights::ple_model_projection() {
  return normal_mat(seed_, -1, "per_layer_model_projection", c_.num_hidden_layers * c_.ple_dim(), c_.hidden_size,
                    1.0);
}

Vec RandomWeights::ple_projection_norm() { return around_one(seed_, -1, "per_layer_projection_norm", c_.ple_dim(), 0.1); }

}  // namespace g4::text
