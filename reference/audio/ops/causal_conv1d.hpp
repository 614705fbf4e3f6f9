#pragma once
// Causal depthwise 1-D convolution over time (one filter per channel), no bias.
//
//   y[b, t, c] = Σ_{k<K} w[c, k] · x[b, t − (K − 1) + k, c]      (x = 0 for t' < 0: left pad K − 1)
//
//   x, y  row-major [B·T, D] (time-major rows of each batch element, T per element)
//   w     row-major [D, K]   (torch's depthwise Conv1d weight [D, 1, K])
// Output t sees inputs t−K+1 .. t only (left pad = (K−1)·dilation + 1 − stride = K − 1 with stride 1).
// Upstream: Gemma4AudioCausalConv1d (groups = D) inside Gemma4AudioLightConv1d.
#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"

namespace g4::audio::ops {

inline Mat causal_depthwise_conv1d(const Mat& x, const Mat& w, index_t B) {
  const index_t D = cols(x), K = cols(w);
  G4_CHECK(rows(w) == D && B > 0 && rows(x) % B == 0, ShapeError,
           "causal_depthwise_conv1d: x [{}, {}], weight [{}, {}], batch {}", rows(x), D, rows(w), K, B);
  const index_t T = rows(x) / B;
  Mat y = Mat::from_shape(x.shape());
  for (index_t b = 0; b < B; ++b)
    for (index_t t = 0; t < T; ++t)
      for (index_t c = 0; c < D; ++c) {
        double acc = 0.0;
        for (index_t k = 0; k < K; ++k) {
          const index_t src = t - (K - 1) + k;
          if (src >= 0) acc += w(c, k) * x(b * T + src, c);
        }
        y(b * T + t, c) = acc;
      }
  return y;
}

}  // namespace g4::audio::ops
