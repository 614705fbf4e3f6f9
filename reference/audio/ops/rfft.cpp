#include "reference/audio/ops/rfft.hpp"

#include <cmath>
#include <mutex>

#include <fftw3.h>

#include "reference/common/check.hpp"

namespace g4::audio::ops {
namespace {
std::mutex& planner_mutex() {  // FFTW's planner is not thread-safe; execution is
  static std::mutex m;
  return m;
}
}  // namespace

RealFftMagnitude::RealFftMagnitude(index_t n) : n_(n) {
  G4_CHECK(n >= 2, ShapeError, "rfft: size {} must be >= 2", n);
  std::lock_guard<std::mutex> lock(planner_mutex());
  in_ = static_cast<double*>(fftw_malloc(sizeof(double) * size_t(n)));
  out_ = fftw_malloc(sizeof(fftw_complex) * size_t(n / 2 + 1));
  G4_CHECK(in_ && out_, Error, "rfft: cannot allocate FFT buffers of size {}", n);
  plan_ = fftw_plan_dft_r2c_1d(int(n), in_, static_cast<fftw_complex*>(out_), FFTW_ESTIMATE);
  G4_CHECK(plan_, Error, "rfft: FFTW could not plan a real transform of size {}", n);
}

RealFftMagnitude::~RealFftMagnitude() {
  std::lock_guard<std::mutex> lock(planner_mutex());
  if (plan_) fftw_destroy_plan(static_cast<fftw_plan>(plan_));
  fftw_free(in_);
  fftw_free(out_);
}

void RealFftMagnitude::operator()(const double* x, index_t len, double* mag) {
  G4_CHECK(len >= 0 && len <= n_, ShapeError, "rfft: {} samples do not fit a transform of size {}", len, n_);
  for (index_t t = 0; t < len; ++t) in_[t] = x[t];
  for (index_t t = len; t < n_; ++t) in_[t] = 0.0;
  fftw_execute(static_cast<fftw_plan>(plan_));
  const fftw_complex* X = static_cast<const fftw_complex*>(out_);
  for (index_t k = 0; k < bins(); ++k) mag[k] = std::hypot(X[k][0], X[k][1]);
}

}  // namespace g4::audio::ops
