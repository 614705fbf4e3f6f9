#pragma once
// HTK mel filter bank without area normalisation: row-major [n_freq, n_mels].
//
//   mel(f) = 2595·log10(1 + f/700),   f(mel) = 700·(10^(mel/2595) − 1)          (HTK scale)
//   p_j    = f(linspace(mel(f_min), mel(f_max), n_mels + 2)[j]),  j = 0 .. n_mels+1  (edges, centres)
//   φ_i    = linspace(0, sr/2, n_freq)[i]                                         (FFT bin frequencies)
//   H[i,m] = max(0, min((φ_i − p_m)/(p_{m+1} − p_m), (p_{m+2} − φ_i)/(p_{m+2} − p_{m+1})))
//
// Each filter is a triangle rising from p_m to 1 at its centre p_{m+1} and falling to 0 at p_{m+2};
// peaks are 1 only where a bin falls on the centre (norm=None: no 2/(p_{m+2} − p_m) area scaling).
// linspace is numpy's: start + k·step with step = (stop − start)/(n − 1), the last point set to stop.
// Upstream: transformers audio_utils.mel_filter_bank(norm=None, mel_scale="htk",
// triangularize_in_mel_space=False) and _create_triangular_filter_bank; sr // 2 is integer division.
#include <cmath>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"

namespace g4::audio::ops {

inline double hz_to_mel_htk(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }
inline double mel_to_hz_htk(double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); }

// numpy.linspace(start, stop, n) (endpoint=True).
inline std::vector<double> linspace(double start, double stop, index_t n) {
  std::vector<double> y(n);
  if (n == 1) {
    y[0] = start;
    return y;
  }
  const double step = (stop - start) / double(n - 1);
  for (index_t k = 0; k < n; ++k) y[k] = double(k) * step + start;
  y[n - 1] = stop;
  return y;
}

inline Mat mel_filter_bank(index_t n_freq, index_t n_mels, double f_min, double f_max, index_t sampling_rate) {
  G4_CHECK(n_freq >= 2 && n_mels >= 1 && f_min <= f_max, ShapeError,
           "mel_filter_bank: n_freq {} (>= 2), n_mels {} (>= 1), f_min {} <= f_max {}", n_freq, n_mels, f_min, f_max);
  const std::vector<double> mels = linspace(hz_to_mel_htk(f_min), hz_to_mel_htk(f_max), n_mels + 2);
  std::vector<double> p(mels.size());
  for (size_t j = 0; j < mels.size(); ++j) p[j] = mel_to_hz_htk(mels[j]);
  const std::vector<double> phi = linspace(0.0, double(sampling_rate / 2), n_freq);
  Mat H = Mat::from_shape({size_t(n_freq), size_t(n_mels)});
  for (index_t i = 0; i < n_freq; ++i) {
    for (index_t m = 0; m < n_mels; ++m) {
      // transformers: slopes = p − φ; down = −slopes[m]/diff[m]; up = slopes[m+2]/diff[m+1]
      const double down = -(p[m] - phi[i]) / (p[m + 1] - p[m]);
      const double up = (p[m + 2] - phi[i]) / (p[m + 2] - p[m + 1]);
      H(i, m) = std::max(0.0, std::min(down, up));
    }
  }
  return H;
}

}  // namespace g4::audio::ops
