#pragma once
// LayerNorm over the last axis, weight only (torch.nn.LayerNorm(n, eps, bias=False)).
//
//   μ = mean(x),  σ² = mean((x − μ)²)   (biased variance)
//   y = (x − μ) · (σ² + eps)^(-1/2) · w
//
//   x, y  row-major [R, n]: each row normalised on its own;  w: [n]
// Upstream: Gemma4AudioSubSampleConvProjectionLayer.norm (applied channel-last, eps = rms_norm_eps).
#include <cmath>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/dims.hpp"

namespace g4::audio::ops {

inline std::vector<double> layer_norm(const std::vector<double>& x, const std::vector<double>& w, double eps) {
  const index_t n = index_t(w.size());
  G4_CHECK(n > 0 && index_t(x.size()) % n == 0, ShapeError, "layer_norm: {} values are not rows of {}", x.size(), n);
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / size_t(n); ++r) {
    const double* in = &x[r * n];
    double mu = 0.0;
    for (index_t i = 0; i < n; ++i) mu += in[i];
    mu /= double(n);
    double var = 0.0;
    for (index_t i = 0; i < n; ++i) var += (in[i] - mu) * (in[i] - mu);
    var /= double(n);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (index_t i = 0; i < n; ++i) y[r * n + i] = (in[i] - mu) * inv * w[i];
  }
  return y;
}

}  // namespace g4::audio::ops
