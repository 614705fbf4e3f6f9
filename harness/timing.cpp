#include "harness/timing.hpp"

#include "harness/metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace g4::harness {

double median(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

template <class F>
auto TimingExecutor::timed(const std::string& name, const char* kind, double flops, double bytes, F&& f)
    -> decltype(f()) {
  if (kernel_timed_ && repeats_ > 0) {  // the executor repeats its kernel; the op runs once
    kernel_timed_->time_kernels(repeats_);
    const auto t0 = std::chrono::steady_clock::now();
    auto out = f();
    const double wall = seconds_since(t0);
    const KernelTimed::Times k = kernel_timed_->last_kernel();
    kernel_timed_->time_kernels(0);
    if (!std::isnan(k.median_s)) {
      const double boundary = std::max(0.0, wall - k.total_s);
      boundary_s_ += boundary;
      add_overhead(Overhead::kBoundary, boundary);
      timings_[name] = NodeTiming{k.median_s, repeats_, flops, bytes, kind};
      return out;
    }
  }
  auto out = f();  // warm-up (and the result if repeats_ == 0)
  std::vector<double> t;
  for (int r = 0; r < repeats_; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    out = f();
    t.push_back(seconds_since(t0));
  }
  if (!t.empty()) timings_[name] = NodeTiming{median(std::move(t)), repeats_, flops, bytes, kind};
  return out;
}

namespace {
double n_of(const Mat& m) { return static_cast<double>(m.size()); }
}  // namespace

// Analytic counts (DESIGN.md section 6): a matmul is 2·M·N·K FLOPs and reads its weights once;
// attention counts 4·Dh FLOPs per allowed (query, key) pair and head; element-wise ops one FLOP
// per element (a few for norms and RoPE).
Mat TimingExecutor::linear(const std::string& n, const Mat& x, const Mat& w) {
  const double M = double(rows(x)), N = double(rows(w)), K = double(cols(w));
  return timed(n, "linear", 2 * M * N * K, N * K * wb_ + (M * K + M * N) * ab_, [&] { return inner_.linear(n, x, w); });
}
Mat TimingExecutor::rms_norm(const std::string& n, const Mat& x, const Vec* w, double eps, index_t dim) {
  return timed(n, "rms_norm", 4 * n_of(x), 2 * n_of(x) * ab_, [&] { return inner_.rms_norm(n, x, w, eps, dim); });
}
Mat TimingExecutor::rope(const std::string& n, const Mat& x, const std::vector<index_t>& p, const Vec& f, index_t d) {
  return timed(n, "rope", 3 * n_of(x), 2 * n_of(x) * ab_, [&] { return inner_.rope(n, x, p, f, d); });
}
Mat TimingExecutor::attention(const std::string& n, const Mat& q, const Mat& k, const Mat& v,
                              const std::vector<std::uint8_t>& a, const ops::AttentionShape& s, Mat* probs) {
  // Bytes: q read and the output written, and the K/V rows some query may see (a sliding-window
  // decode step at a context of 4096 reads its last W keys, not 4096).
  double pairs = 0, keys_read = 0;
  const index_t Skv = s.keys();
  for (index_t b = 0; b < s.B; ++b)
    for (index_t j = 0; j < Skv; ++j) {
      bool seen = false;
      for (index_t i = 0; i < s.S; ++i) {
        const bool ok = a[static_cast<std::size_t>((b * s.S + i) * Skv + j)] != 0;
        pairs += ok;
        seen = seen || ok;
      }
      keys_read += seen;
    }
  const double flops = 4.0 * double(s.Dh) * double(s.Nq) * pairs;
  const double bytes = (2 * n_of(q) + 2 * keys_read * double(s.Nkv * s.Dh)) * ab_;
  return timed(n, "attention", flops, bytes, [&] { return inner_.attention(n, q, k, v, a, s, probs); });
}
Mat TimingExecutor::gelu(const std::string& n, const Mat& x) {
  return timed(n, "gelu", 8 * n_of(x), 2 * n_of(x) * ab_, [&] { return inner_.gelu(n, x); });
}
Mat TimingExecutor::mul(const std::string& n, const Mat& a, const Mat& b) {
  return timed(n, "mul", n_of(a), 3 * n_of(a) * ab_, [&] { return inner_.mul(n, a, b); });
}
Mat TimingExecutor::add(const std::string& n, const Mat& a, const Mat& b) {
  return timed(n, "add", n_of(a), 3 * n_of(a) * ab_, [&] { return inner_.add(n, a, b); });
}
Mat TimingExecutor::scale(const std::string& n, const Mat& x, double s) {
  return timed(n, "scale", n_of(x), 2 * n_of(x) * ab_, [&] { return inner_.scale(n, x, s); });
}
Mat TimingExecutor::softcap(const std::string& n, const Mat& x, double cap) {
  return timed(n, "softcap", 3 * n_of(x), 2 * n_of(x) * ab_, [&] { return inner_.softcap(n, x, cap); });
}
ops::RouterOutput TimingExecutor::route(const std::string& n, const Mat& logits, const Vec& pes, index_t k) {
  return timed(n, "route", 5 * n_of(logits), n_of(logits) * ab_, [&] { return inner_.route(n, logits, pes, k); });
}
Mat TimingExecutor::experts(const std::string& n, const Mat& xe, const ops::RouterOutput& r,
                            const std::vector<double>& gu, const std::vector<double>& dn, index_t E, index_t Fe) {
  // Each routed (token, expert) pair costs 3 matmul rows of Fe·D; the weights of every expert
  // hit at least once are read.
  const double D = double(cols(xe)), pairs = double(r.index.size());
  std::vector<std::uint8_t> hit(static_cast<std::size_t>(E), 0);
  for (auto e : r.index) hit[static_cast<std::size_t>(e)] = 1;
  double experts_hit = 0;
  for (auto h : hit) experts_hit += h;
  return timed(n, "experts", 2 * pairs * 3 * double(Fe) * D, experts_hit * 3 * double(Fe) * D * wb_ + 2 * n_of(xe) * ab_,
               [&] { return inner_.experts(n, xe, r, gu, dn, E, Fe); });
}

}  // namespace g4::harness
