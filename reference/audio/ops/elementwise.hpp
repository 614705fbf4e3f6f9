#pragma once
// Element-wise functions of the audio tower.
//
//   silu(x)      = x · σ(x),  σ(x) = 1 / (1 + e^(−x))               hidden_act "silu"
//   relu(x)      = max(0, x)                                        sub-sampling activation
//   softplus(x)  = log(1 + e^x), and x itself for x > 20             torch's threshold (beta 1)
//   glu([a, g])  = a · σ(g)      (first half gated by the sigmoid of the second half, per row)
//   clamp(x, lo, hi) = min(max(x, lo), hi)                          gradient clipping, clippable linears
// Upstream: torch.nn.SiLU / ReLU, torch.nn.functional.softplus / glu, torch.clamp.
#include <algorithm>
#include <cmath>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"

namespace g4::audio::ops {

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double silu(double x) { return x * sigmoid(x); }
inline double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

template <class F>
Mat map(const Mat& x, F f) {
  Mat y = Mat::from_shape(x.shape());
  for (size_t i = 0; i < x.size(); ++i) y.data()[i] = f(x.data()[i]);
  return y;
}

inline Mat silu(const Mat& x) { return map(x, [](double v) { return silu(v); }); }
inline Mat relu(const Mat& x) { return map(x, [](double v) { return std::max(0.0, v); }); }
inline Mat clamp(const Mat& x, double lo, double hi) {
  return map(x, [=](double v) { return std::min(std::max(v, lo), hi); });
}

// x [R, 2n] -> [R, n]
inline Mat glu(const Mat& x) {
  G4_CHECK(cols(x) % 2 == 0, ShapeError, "glu: row width {} is odd", cols(x));
  const index_t n = cols(x) / 2;
  Mat y = Mat::from_shape({x.shape(0), size_t(n)});
  for (index_t r = 0; r < rows(x); ++r)
    for (index_t j = 0; j < n; ++j) y(r, j) = x(r, j) * sigmoid(x(r, n + j));
  return y;
}

}  // namespace g4::audio::ops
