#pragma once
// Rotary position embedding, rotate-half convention (transformers apply_rotary_pos_emb).
//
// For each head vector x of length Dh and angles θ_k = pos · inv_freq[k], k < Dh/2:
//   y[k]        = x[k]        · cos θ_k − x[k + Dh/2] · sin θ_k
//   y[k + Dh/2] = x[k + Dh/2] · cos θ_k + x[k]        · sin θ_k
//
// inv_freq (length Dh/2):
//   default       inv_freq[k] = θ_base^(−2k/Dh)                          (sliding layers)
//   proportional  n_rot = floor(p·Dh / 2);  inv_freq[k] = θ_base^(−2k/Dh) / factor for k < n_rot,
//                 0 otherwise: the exponent's denominator is the FULL head dim, and the dims
//                 n_rot..Dh/2−1 (and their partners) pass through unrotated (cos 1, sin 0).
// Upstream: modeling_gemma4.py Gemma4TextRotaryEmbedding; modeling_rope_utils.py
// _compute_proportional_rope_parameters. transformers builds inv_freq and the angles in float32;
// here everything is float64 (the exporter patches transformers to match).
#include <cmath>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"
#include "reference/text/config.hpp"

namespace g4::ops {

inline Vec rope_inv_freq(const text::RopeParams& p, index_t head_dim) {
  const index_t half = head_dim / 2;
  Vec inv = xt::zeros<double>({static_cast<size_t>(half)});
  index_t n_rot = half;
  if (p.type == text::RopeType::kProportional)
    n_rot = static_cast<index_t>(std::floor(p.partial_rotary_factor * static_cast<double>(head_dim) / 2.0));
  G4_CHECK(n_rot <= half, ConfigError, "rope: {} rotated pairs exceed head_dim/2 = {}", n_rot, half);
  const double factor = p.type == text::RopeType::kProportional ? p.factor : 1.0;
  for (index_t k = 0; k < n_rot; ++k)
    inv(k) = 1.0 / std::pow(p.theta, static_cast<double>(2 * k) / static_cast<double>(head_dim)) / factor;
  return inv;
}

// x: row-major [T, N·Dh] (N heads of Dh), positions: [T]. Returns the rotated copy.
inline Mat rope(const Mat& x, const std::vector<index_t>& positions, const Vec& inv_freq, index_t head_dim) {
  const index_t half = head_dim / 2;
  G4_CHECK(cols(x) % head_dim == 0 && static_cast<index_t>(inv_freq.size()) == half, ShapeError,
           "rope: row width {} / head_dim {} / inv_freq {} do not fit", cols(x), head_dim, inv_freq.size());
  G4_CHECK(static_cast<index_t>(positions.size()) == rows(x), ShapeError, "rope: {} positions for {} rows",
           positions.size(), rows(x));
  Mat y = x;
  const index_t heads = cols(x) / head_dim;
  std::vector<double> c(half), s(half);
  for (index_t t = 0; t < rows(x); ++t) {
    for (index_t k = 0; k < half; ++k) {
      const double angle = static_cast<double>(positions[t]) * inv_freq(k);
      c[k] = std::cos(angle);
      s[k] = std::sin(angle);
    }
    for (index_t h = 0; h < heads; ++h) {
      const double* in = &x(t, h * head_dim);
      double* out = &y(t, h * head_dim);
      for (index_t k = 0; k < half; ++k) {
        out[k] = in[k] * c[k] - in[k + half] * s[k];
        out[k + half] = in[k + half] * c[k] + in[k] * s[k];
      }
    }
  }
  return y;
}

}  // namespace g4::ops
