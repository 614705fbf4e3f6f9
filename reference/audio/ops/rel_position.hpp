#pragma once
// Sinusoidal relative-position table of the audio attention: row-major [n_rel, D].
//
//   n_rel = C/2 + 1 rows (C = context size), row j holds position s_j = C/2 − j  (C/2, …, 1, 0)
//   inv[m] = exp(−m · ln(10000) / max(D/2 − 1, 1)),   m = 0 .. D/2 − 1
//   pe[j]  = [sin(s_j·inv[0..D/2)), cos(s_j·inv[0..D/2))]         (sine half first)
// Upstream: Gemma4AudioRelPositionalEncoding (min_timescale 1, max_timescale 1e4); inv_timescales is
// built in the default dtype (float32 unless the exporter sets float64).
#include <cmath>

#include "reference/common/tensor.hpp"

namespace g4::audio::ops {

inline Mat relative_position_table(index_t context_size, index_t D) {
  const index_t n_rel = context_size / 2 + 1, half = D / 2;
  const double incr = std::log(10000.0 / 1.0) / double(std::max<index_t>(half - 1, 1));
  Mat pe = Mat::from_shape({size_t(n_rel), size_t(D)});
  for (index_t j = 0; j < n_rel; ++j) {
    const double s = double(context_size / 2 - j);
    for (index_t m = 0; m < half; ++m) {
      const double a = s * std::exp(double(m) * -incr);
      pe(j, m) = std::sin(a);
      pe(j, half + m) = std::cos(a);
    }
  }
  return pe;
}

}  // namespace g4::audio::ops
