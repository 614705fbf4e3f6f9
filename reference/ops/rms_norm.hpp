#pragma once
// RMSNorm (Gemma4RMSNorm), over contiguous groups of `dim` values.
//
//   y = x · (mean(x²) + eps)^(-1/2) · w        w: [dim], the RAW stored weight (not 1 + w:
//                                              Gemma 4 differs from Gemma 2/3 here)
//   y = x · (mean(x²) + eps)^(-1/2)            with_scale = false (v_norm, router norm)
//
//   x  row-major [T, G·dim]: each row holds G groups (heads) of `dim`; each group is normalised
//      on its own (q_norm/k_norm/v_norm act per head, all heads sharing the weight).
//   y  same shape.
// Numerics: eps is added to the mean square BEFORE the inverse square root, and the root is taken
// as pow(·, -0.5) like transformers and JAX's rsqrt. transformers runs this in float32 inside a
// float64 model; the golden exporter patches that out (golden/README.md).
// Upstream: transformers models/gemma4/modeling_gemma4.py Gemma4RMSNorm.
#include <cmath>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"

namespace g4::ops {

inline Mat rms_norm(const Mat& x, const Vec* w, double eps, index_t dim) {
  G4_CHECK(dim > 0 && cols(x) % dim == 0, ShapeError, "rms_norm: row width {} is not a multiple of dim {}", cols(x),
           dim);
  G4_CHECK(!w || static_cast<index_t>(w->size()) == dim, ShapeError, "rms_norm: weight has {} values, dim is {}",
           w ? w->size() : 0, dim);
  Mat y = Mat::from_shape(x.shape());
  const index_t groups = cols(x) / dim;
  for (index_t t = 0; t < rows(x); ++t) {
    for (index_t g = 0; g < groups; ++g) {
      const double* in = &x(t, g * dim);
      double* out = &y(t, g * dim);
      double ss = 0.0;  // Σ x²
      for (index_t i = 0; i < dim; ++i) ss += in[i] * in[i];
      const double inv = std::pow(ss / static_cast<double>(dim) + eps, -0.5);
      for (index_t i = 0; i < dim; ++i) out[i] = in[i] * inv * (w ? (*w)(i) : 1.0);
    }
  }
  return y;
}

}  // namespace g4::ops
