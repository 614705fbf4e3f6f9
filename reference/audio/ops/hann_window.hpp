#pragma once
// Periodic Hann window of length N (the analysis window of the audio feature extractor).
//
//   w[n] = 0.5 − 0.5·cos(2πn / N),   n = 0 .. N−1
//
// "Periodic": the first N points of the symmetric window of length N+1 (w[0] = 0, w[N/2] = 1, and
// the point w[N] = 0 that would close the period is dropped).
// Computed the way numpy does it (transformers audio_utils.window_function takes np.hanning(N+1)[:-1]):
// np.hanning(M)[k] = 0.5 + 0.5·cos(π·(2k + 1 − M) / (M − 1)), M = N + 1 — the same values up to
// one rounding (the cosine argument differs by the shift of π).
// Upstream: transformers audio_utils.window_function(N, "hann", periodic=True); the feature extractor
// casts it to float32 (the golden exporter patches that out).
#include <cmath>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/dims.hpp"

namespace g4::audio::ops {

inline std::vector<double> periodic_hann(index_t N) {
  G4_CHECK(N >= 1, ShapeError, "periodic_hann: length {} must be >= 1", N);
  const double M = double(N + 1);
  std::vector<double> w(N);
  for (index_t k = 0; k < N; ++k) w[k] = 0.5 + 0.5 * std::cos(M_PI * (2.0 * double(k) + 1.0 - M) / (M - 1.0));
  return w;
}

}  // namespace g4::audio::ops
