#pragma once
// Magnitude of the real-input DFT, zero-padded to n points (FFTW3, double precision).
//
//   X[k] = Σ_{t=0}^{len−1} x[t]·e^(−2πi·k·t/n),   k = 0 .. n/2      (x zero-padded from len to n)
//   |X[k]| = hypot(Re X[k], Im X[k])                                  (magnitude, not power)
//
// FFTW's r2c transform computes exactly this unnormalised forward DFT; numpy.fft.rfft(x, n) (what
// transformers calls) is the same transform through pocketfft, so the two differ by rounding only
// (O(log n)·u relative to ‖x‖). The plan is made once per object (FFTW_ESTIMATE: no timing runs, so the
// plan and its results are deterministic); one object must not be used from two threads at once.
// Upstream: numpy.fft.rfft + numpy.abs in Gemma4AudioFeatureExtractor._extract_spectrogram.
#include <vector>

#include "reference/common/dims.hpp"

namespace g4::audio::ops {

class RealFftMagnitude {
 public:
  explicit RealFftMagnitude(index_t n);
  ~RealFftMagnitude();
  RealFftMagnitude(const RealFftMagnitude&) = delete;
  RealFftMagnitude& operator=(const RealFftMagnitude&) = delete;

  index_t size() const { return n_; }
  index_t bins() const { return n_ / 2 + 1; }
  // x: len <= n samples; mag: n/2 + 1 outputs.
  void operator()(const double* x, index_t len, double* mag);

 private:
  index_t n_;
  double* in_ = nullptr;   // fftw_malloc'ed [n]
  void* out_ = nullptr;    // fftw_complex [n/2 + 1]
  void* plan_ = nullptr;   // fftw_plan
};

}  // namespace g4::audio::ops
