#pragma once
// Axial 2-D rotary position embedding of the vision encoder (rotate-half within each half).
//
// Head vector x of length Dh, s = Dh/2 channels per spatial axis, inv_freq[k] = θ^(−2k/s) for
// k < s/2 (θ = rope_theta = 100; the same frequencies for both axes):
//   first half  (channels 0..s−1,  angles a_k = pos_x · inv_freq[k]):
//     y[k]        = x[k]       · cos a_k − x[k + s/2]   · sin a_k
//     y[k + s/2]  = x[k + s/2] · cos a_k + x[k]         · sin a_k
//   second half (channels s..2s−1, angles b_k = pos_y · inv_freq[k]): the same on x[s + ·].
// Padding patches carry position (−1, −1) and are rotated by −inv_freq like any other (harmless:
// they are never attended to as keys, and their outputs are zeroed before pooling).
//
//   x  row-major [T, Nh·Dh] (head-major columns);  pos_x, pos_y [T]
// Upstream: modeling_gemma4.py Gemma4VisionRotaryEmbedding (compute_axial_rope_parameters,
// recomposition_frequencies: cat[f_x, f_x, f_y, f_y]) and apply_multidimensional_rope (ndim 2).
// transformers builds inv_freq and the angles in float32; float64 here (the exporter patches it).
#include <cmath>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"

namespace g4::vision {

inline Vec rope_2d_inv_freq(double theta, index_t head_dim) {
  const index_t s = head_dim / 2;
  Vec inv = Vec::from_shape({static_cast<size_t>(s / 2)});
  for (index_t k = 0; k < s / 2; ++k)
    inv(k) = 1.0 / std::pow(theta, static_cast<double>(2 * k) / static_cast<double>(s));
  return inv;
}

inline Mat rope_2d(const Mat& x, const std::vector<index_t>& pos_x, const std::vector<index_t>& pos_y,
                   const Vec& inv_freq, index_t head_dim) {
  const index_t s = head_dim / 2, half = s / 2;
  G4_CHECK(head_dim % 4 == 0 && cols(x) % head_dim == 0 && static_cast<index_t>(inv_freq.size()) == half, ShapeError,
           "rope_2d: row width {} / head_dim {} / inv_freq {} do not fit", cols(x), head_dim, inv_freq.size());
  G4_CHECK(static_cast<index_t>(pos_x.size()) == rows(x) && static_cast<index_t>(pos_y.size()) == rows(x), ShapeError,
           "rope_2d: {} / {} positions for {} rows", pos_x.size(), pos_y.size(), rows(x));
  Mat y = x;
  const index_t heads = cols(x) / head_dim;
  std::vector<double> c(2 * half), sn(2 * half);  // [axis, k]
  for (index_t t = 0; t < rows(x); ++t) {
    for (index_t k = 0; k < half; ++k) {
      const double ax = static_cast<double>(pos_x[t]) * inv_freq(k), ay = static_cast<double>(pos_y[t]) * inv_freq(k);
      c[k] = std::cos(ax), sn[k] = std::sin(ax);
      c[half + k] = std::cos(ay), sn[half + k] = std::sin(ay);
    }
    for (index_t h = 0; h < heads; ++h)
      for (index_t axis = 0; axis < 2; ++axis) {
        const double* in = &x(t, h * head_dim + axis * s);
        double* out = &y(t, h * head_dim + axis * s);
        for (index_t k = 0; k < half; ++k) {
          const double ck = c[axis * half + k], sk = sn[axis * half + k];
          out[k] = in[k] * ck - in[k + half] * sk;
          out[k + half] = in[k + half] * ck + in[k] * sk;
        }
      }
  }
  return y;
}

}  // namespace g4::vision
