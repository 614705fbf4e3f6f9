#include "harness/cpu_executor.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "optimized/cpu/attention.hpp"
#include "optimized/cpu/elementwise.hpp"
#include "optimized/cpu/norm_rope.hpp"
#include "optimized/formats/bf16.hpp"
#include "optimized/formats/fp16.hpp"
#include "reference/common/check.hpp"

namespace g4::harness {

std::uint64_t weight_fingerprint(const double* w, std::size_t n) {
  std::uint64_t h = 1469598103934665603ULL ^ n;
  const std::size_t step = std::max<std::size_t>(1, n / 61);
  for (std::size_t i = 0; i < n; i += step) {
    std::uint64_t bits;
    std::memcpy(&bits, &w[i], 8);
    h = (h ^ bits) * 1099511628211ULL;
  }
  std::uint64_t last;
  std::memcpy(&last, &w[n - 1], 8);
  return (h ^ last) * 1099511628211ULL;
}

namespace {

void round_storage(std::vector<float>& y, cpu::Fmt f) {
  if (f == cpu::Fmt::kBF16) formats::round_trip_bf16(y.data(), y.data(), y.size());
  else if (f == cpu::Fmt::kF16) formats::round_trip_fp16(y.data(), y.data(), y.size());
  else G4_CHECK(f == cpu::Fmt::kF32, ConfigError, "storage format {} is not supported", cpu::fmt_name(f));
}

}  // namespace

double storage_max(const cpu::Policy& p) {
  switch (p.storage) {
    case cpu::Fmt::kBF16: return formats::bf16_to_double(0x7f7f);
    case cpu::Fmt::kF16: return 65504.0;
    default: return std::numeric_limits<float>::max();
  }
}

double weight_bytes(const cpu::Policy& p) {
  switch (p.weights) {
    case cpu::Fmt::kF32: return 4;
    case cpu::Fmt::kBF16:
    case cpu::Fmt::kF16: return 2;
    case cpu::Fmt::kInt4: return 0.5 + 4.0 / std::max(1, p.weight_group);
    default: return 1;  // int8, fp8 (one float32 scale per row of thousands: negligible)
  }
}

double act_bytes(const cpu::Policy& p) { return p.storage == cpu::Fmt::kF32 ? 4 : 2; }

CpuExecutor::CpuExecutor(cpu::Policy policy, bool naive, std::shared_ptr<PackCache> shared)
    : policy_(std::move(policy)), naive_(naive), shared_(shared != nullptr),
      cache_(shared ? std::move(shared) : std::make_shared<PackCache>()) {}

void CpuExecutor::begin_layer(index_t) {
  if (!shared_) cache_->clear();
}

std::vector<float> CpuExecutor::load(const Mat& x, cpu::Fmt f) {
  std::vector<float> y(x.size());
  switch (f) {
    case cpu::Fmt::kBF16: {
      std::vector<std::uint16_t> b(x.size());  // the array forms vectorise (formats/bf16.cpp)
      formats::quantize_bf16(x.data(), b.data(), b.size());
      formats::dequantize_bf16(b.data(), y.data(), b.size());
      break;
    }
    case cpu::Fmt::kF16:
      for (std::size_t i = 0; i < y.size(); ++i) y[i] = formats::fp16_to_float(formats::double_to_fp16(x.data()[i]));
      break;
    default:
      for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(x.data()[i]);
  }
  return y;
}

Mat CpuExecutor::widen(const std::vector<float>& y, index_t r, index_t c) {
  Mat m = Mat::from_shape({static_cast<size_t>(r), static_cast<size_t>(c)});
  std::copy(y.begin(), y.end(), m.begin());
  return m;
}

namespace {
// Evicts this CPU's caches (L3 32 MiB here): reads one word per cache line of a buffer twice that.
void evict_caches() {
  static std::vector<std::uint64_t> buf(std::size_t(64) << 17, 1);  // 64 MiB
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i < buf.size(); i += 8) acc += buf[i];
  volatile std::uint64_t sink = acc;
  (void)sink;
}
}  // namespace

template <class F>
void CpuExecutor::kernel(F&& f, std::size_t cold_bytes) {
  if (kernel_repeats_ <= 0) {
    f();
    return;
  }
  using Clock = std::chrono::steady_clock;
  const auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  const bool cold = cold_bytes >= (std::size_t(1) << 20);
  const auto t_all = Clock::now();
  f();  // warm-up
  std::vector<double> t(static_cast<std::size_t>(kernel_repeats_));
  for (double& ti : t) {
    if (cold) evict_caches();
    const auto t0 = Clock::now();
    f();
    ti = since(t0);
  }
  last_kernel_.median_s = median(std::move(t));
  last_kernel_.total_s = since(t_all);
}

const cpu::PackedWeight& CpuExecutor::packed(const double* w, index_t N, index_t K) {
  const auto key = std::make_tuple(w, N, K, weight_fingerprint(w, static_cast<std::size_t>(N * K)));
  auto it = cache_->find(key);
  if (it == cache_->end()) it = cache_->emplace(key, cpu::pack_weight(w, N, K, policy_)).first;
  return it->second;
}

void CpuExecutor::matmul(const std::vector<float>& a, index_t M, const cpu::PackedWeight& w, float* c) const {
  if (naive_) cpu::gemm_exact(a.data(), M, w, c);
  else cpu::gemm(a.data(), M, w, c);
}

// Each op below: inputs converted from the graph's float64 (the boundary), then kernel(): the
// cpu:: computation and the rounding of its float32 output to the storage format, then the output
// widened back to float64 (the boundary).
Mat CpuExecutor::linear(const std::string&, const Mat& x, const Mat& w) {
  G4_CHECK(cols(x) == cols(w), ShapeError, "linear: [{}, {}] · [{}, {}]ᵀ", rows(x), cols(x), rows(w), cols(w));
  const auto& pw = packed(w.data(), rows(w), cols(w));
  const std::vector<float> a = load(x, policy_.storage);
  std::vector<float> y(static_cast<std::size_t>(rows(x) * rows(w)));
  kernel(
      [&] {
        matmul(a, rows(x), pw, y.data());
        round_storage(y, policy_.storage);
      },
      pw.bytes());
  return widen(y, rows(x), rows(w));
}

// RMSNorm in float32 with float32 sums (optimized/cpu/norm_rope.hpp).
Mat CpuExecutor::rms_norm(const std::string&, const Mat& x, const Vec* w, double eps, index_t dim) {
  const std::vector<float> a = load(x, policy_.storage);
  std::vector<float> wf, y(a.size());
  if (w) wf.assign(w->begin(), w->end());
  const cpu::RmsNormProblem p{rows(x), dim, cols(x) / dim, static_cast<float>(eps)};
  kernel([&] {
    if (naive_) cpu::rms_norm_naive(a.data(), w ? wf.data() : nullptr, y.data(), p);
    else cpu::rms_norm(a.data(), w ? wf.data() : nullptr, y.data(), p);
    round_storage(y, policy_.storage);
  });
  return widen(y, rows(x), cols(x));
}

// RoPE: angles pos·inv_freq in double, cos/sin rounded once to float32 (a table over the
// distinct positions present: a decode step at position 4096 needs one row, not 4097),
// rotation in float32.
Mat CpuExecutor::rope(const std::string&, const Mat& x, const std::vector<index_t>& positions, const Vec& inv_freq,
                      index_t head_dim) {
  const std::vector<float> a = load(x, policy_.storage);
  std::vector<float> y(a.size());
  const index_t half = head_dim / 2;
  std::vector<index_t> distinct(positions);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  const auto n_pos = static_cast<index_t>(distinct.size());
  std::vector<float> cos_t(static_cast<std::size_t>(n_pos * half)), sin_t(cos_t.size());
  const std::vector<double> freq(inv_freq.begin(), inv_freq.end());
  const std::vector<std::int64_t> at(distinct.begin(), distinct.end());
  std::vector<std::int64_t> pos(positions.size());  // each token's row of the table
  for (std::size_t t = 0; t < pos.size(); ++t)
    pos[t] = std::lower_bound(distinct.begin(), distinct.end(), positions[t]) - distinct.begin();
  const cpu::RopeProblem p{rows(x), cols(x) / head_dim, head_dim, pos.data(), cos_t.data(), sin_t.data(), n_pos};
  kernel([&] {  // the table is the kernel's work too (a decode step builds one row)
    cpu::rope_table_at(freq.data(), half, at.data(), n_pos, cos_t.data(), sin_t.data());
    if (naive_) cpu::rope_naive(a.data(), y.data(), p);
    else cpu::rope(a.data(), y.data(), p);
    round_storage(y, policy_.storage);
  });
  return widen(y, rows(x), cols(x));
}

// Attention in float32 with K/V stored in the policy's KV format (optimized/cpu/attention.hpp:
// flash-style online softmax; the naive twin computes scores, softmax, P·V in two passes). K/V
// are converted to the KV format at the boundary: a decode step's cache is already stored so.
Mat CpuExecutor::attention(const std::string&, const Mat& q, const Mat& k, const Mat& v,
                           const std::vector<std::uint8_t>& allowed, const ops::AttentionShape& a, Mat*) {
  const std::vector<float> qf = load(q, policy_.storage);
  cpu::AttentionProblem p;
  p.B = a.B, p.Sq = a.S, p.Skv = a.keys(), p.Nq = a.Nq, p.Nkv = a.Nkv, p.Dh = a.Dh;
  p.scaling = static_cast<float>(a.scaling);
  p.allowed = allowed.data();
  std::vector<float> out(static_cast<std::size_t>(a.B * a.S * a.Nq * a.Dh));
  if (policy_.kv == cpu::Fmt::kBF16) {
    std::vector<std::uint16_t> kb(k.size()), vb(v.size());
    formats::quantize_bf16(k.data(), kb.data(), k.size());
    formats::quantize_bf16(v.data(), vb.data(), v.size());
    kernel([&] {
      if (naive_) cpu::attention_naive(qf.data(), kb.data(), vb.data(), out.data(), p);
      else cpu::attention(qf.data(), kb.data(), vb.data(), out.data(), p);
      round_storage(out, policy_.storage);
    });
  } else {
    const std::vector<float> kf = load(k, policy_.kv), vf = load(v, policy_.kv);
    kernel([&] {
      if (naive_) cpu::attention_naive(qf.data(), kf.data(), vf.data(), out.data(), p);
      else cpu::attention(qf.data(), kf.data(), vf.data(), out.data(), p);
      round_storage(out, policy_.storage);
    });
  }
  return widen(out, a.B * a.S, a.Nq * a.Dh);
}

Mat CpuExecutor::gelu(const std::string&, const Mat& x) {
  const std::vector<float> a = load(x, policy_.storage);
  std::vector<float> y(a.size());
  kernel([&] {
    if (naive_) cpu::gelu_tanh_naive(a.data(), y.data(), static_cast<std::int64_t>(a.size()));
    else cpu::gelu_tanh(a.data(), y.data(), static_cast<std::int64_t>(a.size()));
    round_storage(y, policy_.storage);
  });
  return widen(y, rows(x), cols(x));
}
Mat CpuExecutor::scale(const std::string&, const Mat& x, double s) {
  const std::vector<float> a = load(x, policy_.storage);
  std::vector<float> y(a.size());
  kernel([&] {
    cpu::scale(a.data(), static_cast<float>(s), y.data(), static_cast<std::int64_t>(a.size()));
    round_storage(y, policy_.storage);
  });
  return widen(y, rows(x), cols(x));
}
Mat CpuExecutor::softcap(const std::string&, const Mat& x, double cap) {
  const std::vector<float> a = load(x, policy_.storage);
  std::vector<float> y(a.size());
  const auto n = static_cast<std::int64_t>(a.size());
  kernel([&] {
    if (naive_) cpu::softcap_naive(a.data(), y.data(), n, static_cast<float>(cap));
    else cpu::softcap(a.data(), y.data(), n, static_cast<float>(cap));
    round_storage(y, policy_.storage);
  });
  return widen(y, rows(x), cols(x));
}
Mat CpuExecutor::mul(const std::string&, const Mat& a, const Mat& b) {
  const std::vector<float> x = load(a, policy_.storage), z = load(b, policy_.storage);
  std::vector<float> y(x.size());
  kernel([&] {
    cpu::mul(x.data(), z.data(), y.data(), static_cast<std::int64_t>(x.size()));
    round_storage(y, policy_.storage);
  });
  return widen(y, rows(a), cols(a));
}
Mat CpuExecutor::add(const std::string&, const Mat& a, const Mat& b) {
  const std::vector<float> x = load(a, policy_.storage), z = load(b, policy_.storage);
  std::vector<float> y(x.size());
  kernel([&] {
    cpu::add(x.data(), z.data(), y.data(), static_cast<std::int64_t>(x.size()));
    round_storage(y, policy_.storage);
  });
  return widen(y, rows(a), cols(a));
}

// Router in float32 (a "wide" op in every policy; optimized/cpu/elementwise.hpp route): softmax,
// top-k by probability (ties to the lower expert index), renormalise, per-expert scale.
ops::RouterOutput CpuExecutor::route(const std::string&, const Mat& logits, const Vec& per_expert_scale,
                                     index_t top_k) {
  const std::vector<float> z = load(logits, policy_.storage);
  const std::vector<float> pes(per_expert_scale.begin(), per_expert_scale.end());
  const index_t T = rows(logits), E = cols(logits);
  std::vector<float> probs(static_cast<std::size_t>(T * E)), weights(static_cast<std::size_t>(T * top_k));
  std::vector<std::int32_t> index(weights.size());
  kernel([&] {
    cpu::route(z.data(), pes.data(), probs.data(), weights.data(), index.data(), cpu::RouterProblem{T, E, top_k});
  });
  ops::RouterOutput r;
  r.probs = Mat::from_shape({static_cast<size_t>(T), static_cast<size_t>(E)});
  r.weights = Mat::from_shape({static_cast<size_t>(T), static_cast<size_t>(top_k)});
  r.index = xt::xtensor<std::int64_t, 2>::from_shape({static_cast<size_t>(T), static_cast<size_t>(top_k)});
  std::copy(probs.begin(), probs.end(), r.probs.begin());
  std::copy(weights.begin(), weights.end(), r.weights.begin());
  std::copy(index.begin(), index.end(), r.index.begin());
  return r;
}

// Experts: tokens gathered per expert, gate_up and down GEMMs on packed expert slices, the
// gated GELU in float32 (rounded to storage between the GEMMs), weighted sum in float32.
Mat CpuExecutor::experts(const std::string&, const Mat& xe, const ops::RouterOutput& r,
                         const std::vector<double>& gate_up, const std::vector<double>& down, index_t E, index_t Fe) {
  const index_t T = rows(xe), D = cols(xe);
  const std::vector<float> x = load(xe, policy_.storage);
  // Routing lists and packed slices of the experts hit (packing is the boundary's work).
  struct Hit {
    std::vector<index_t> tok;
    std::vector<float> wt;
    const cpu::PackedWeight *gate_up = nullptr, *down = nullptr;
  };
  std::vector<Hit> hits;
  for (index_t e = 0; e < E; ++e) {
    Hit h;
    auto [tok, wt] = ops::tokens_of_expert<index_t, float>(r, e);
    if (tok.empty()) continue;
    h.tok = std::move(tok), h.wt = std::move(wt);
    h.gate_up = &packed(&gate_up[static_cast<std::size_t>(e * 2 * Fe * D)], 2 * Fe, D);
    h.down = &packed(&down[static_cast<std::size_t>(e * D * Fe)], D, Fe);
    hits.push_back(std::move(h));
  }
  std::vector<float> out(static_cast<std::size_t>(T * D));
  std::size_t weight_bytes = 0;
  for (const Hit& h : hits) weight_bytes += h.gate_up->bytes() + h.down->bytes();
  kernel(
      [&] {
        std::fill(out.begin(), out.end(), 0.f);
        for (const Hit& h : hits) {
          const index_t n = static_cast<index_t>(h.tok.size());
          std::vector<float> xs(static_cast<std::size_t>(n * D));
          for (index_t i = 0; i < n; ++i)
            std::copy_n(&x[static_cast<std::size_t>(h.tok[i] * D)], D, &xs[static_cast<std::size_t>(i * D)]);
          std::vector<float> gu(static_cast<std::size_t>(n * 2 * Fe));  // [n, 2Fe]
          matmul(xs, n, *h.gate_up, gu.data());
          std::vector<float> hidden(static_cast<std::size_t>(n * Fe));
          const cpu::GatedProblem gp{n, Fe, 2 * Fe, 2 * Fe, Fe};  // gate = gu[:, :Fe], up = gu[:, Fe:]
          if (naive_) cpu::gelu_gate_mul_naive(gu.data(), gu.data() + Fe, hidden.data(), gp);
          else cpu::gelu_gate_mul(gu.data(), gu.data() + Fe, hidden.data(), gp);
          round_storage(hidden, policy_.storage);
          std::vector<float> y(static_cast<std::size_t>(n * D));  // [n, D]
          matmul(hidden, n, *h.down, y.data());
          for (index_t i = 0; i < n; ++i)
            for (index_t d = 0; d < D; ++d) out[static_cast<std::size_t>(h.tok[i] * D + d)] += h.wt[i] * y[i * D + d];
        }
        round_storage(out, policy_.storage);
      },
      weight_bytes);
  return widen(out, T, D);
}

}  // namespace g4::harness
