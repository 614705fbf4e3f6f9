#include "harness/metrics.hpp"

#include <chrono>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "reference/common/check.hpp"

namespace g4::harness {

namespace {
double g_seconds[3] = {0, 0, 0};
int g_depth[3] = {0, 0, 0};
double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

double overhead_seconds(Overhead kind) { return g_seconds[static_cast<int>(kind)]; }
void add_overhead(Overhead kind, double seconds) { g_seconds[static_cast<int>(kind)] += seconds; }
OverheadTimer::OverheadTimer(Overhead kind)
    : kind_(kind), t0_(now_s()), outer_(g_depth[static_cast<int>(kind)]++ == 0) {}
OverheadTimer::~OverheadTimer() {
  const int k = static_cast<int>(kind_);
  --g_depth[k];
  if (outer_) g_seconds[k] += now_s() - t0_;
}

TapMetrics compare(const double* ref, const double* x, std::size_t n, const std::uint8_t* valid) {
  const MetricsTimer timer;
  TapMetrics m;
  double dd = 0, rr = 0, xx = 0, xr = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (valid && !valid[i]) continue;
    ++m.compared;
    if (!std::isfinite(x[i])) {
      ++m.nonfinite;
      continue;
    }
    const double d = x[i] - ref[i];
    dd += d * d, rr += ref[i] * ref[i], xx += x[i] * x[i], xr += x[i] * ref[i];
    if (std::abs(d) > m.max_abs || m.max_abs_index < 0) m.max_abs = std::abs(d), m.max_abs_index = std::int64_t(i);
    if (ref[i] != 0.0) m.max_rel = std::max(m.max_rel, std::abs(d) / std::abs(ref[i]));
  }
  m.ref_norm = std::sqrt(rr);
  const double inf = std::numeric_limits<double>::infinity();
  m.rel_l2 = rr > 0 ? std::sqrt(dd / rr) : (dd > 0 ? inf : 0.0);
  m.nmse = rr > 0 ? dd / rr : (dd > 0 ? inf : 0.0);
  m.cosine = (xx > 0 && rr > 0) ? xr / std::sqrt(xx * rr) : (xx == rr ? 1.0 : 0.0);
  if (m.nonfinite > 0) m.rel_l2 = m.nmse = m.max_abs = inf;
  return m;
}

std::string coord(std::int64_t flat, const std::vector<std::int64_t>& shape) {
  if (flat < 0) return "-";
  std::vector<std::int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return fmt::format("[{}]", fmt::join(idx, ","));
}

std::vector<std::uint8_t> token_validity(const std::vector<std::int64_t>& shape, const std::string& layout,
                                         const std::vector<std::int64_t>& attention_mask, std::int64_t B,
                                         std::int64_t S) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<std::uint8_t> valid(static_cast<size_t>(n), 1);
  auto need = [&](bool ok) {
    G4_CHECK(ok, ShapeError, "tap of shape [{}] does not fit layout {} with B={} S={}", fmt::join(shape, ","), layout,
             B, S);
  };
  if (layout == "BS" || layout == "T") {
    std::int64_t per;  // elements per token
    if (layout == "BS") need(shape.size() >= 2 && shape[0] == B && shape[1] == S);
    else need(!shape.empty() && shape[0] == B * S);
    per = n / (B * S);
    for (std::int64_t t = 0; t < B * S; ++t)
      if (!attention_mask[t])
        for (std::int64_t e = 0; e < per; ++e) valid[t * per + e] = 0;
  } else if (layout == "BNS") {
    need(shape.size() >= 3 && shape[0] == B && shape[2] == S);
    const std::int64_t N = shape[1], per = n / (B * N * S);
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t h = 0; h < N; ++h)
        for (std::int64_t s = 0; s < S; ++s)
          if (!attention_mask[b * S + s])
            for (std::int64_t e = 0; e < per; ++e) valid[((b * N + h) * S + s) * per + e] = 0;
  } else {
    throw IoError(fmt::format("unknown tap layout '{}' (expected BS, T or BNS)", layout));
  }
  return valid;
}

}  // namespace g4::harness
