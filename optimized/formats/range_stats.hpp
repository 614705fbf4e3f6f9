#pragma once
// Range of a run of values, in double: what every scale in this folder is computed from.
// Internal to optimized/formats (fp8, int8, int4 scaling).
#include <cmath>
#include <cstddef>
#include <limits>

namespace g4::formats::detail {

struct RangeStats {
  double amax = 0;     // max |x| over finite values
  double lo = 0;       // min(min x, 0)
  double hi = 0;       // max(max x, 0)
  bool finite = true;  // false when any value is inf or NaN
};

template <class T>
RangeStats range_stats(const T* x, size_t n) {
  RangeStats s;
  for (size_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(x[i]);
    if (!std::isfinite(v)) {
      s.finite = false;
      continue;
    }
    s.amax = std::fmax(s.amax, std::fabs(v));
    s.lo = std::fmin(s.lo, v);
    s.hi = std::fmax(s.hi, v);
  }
  return s;
}

// A scale stored as float32: float(numerator / denominator) with the quotient taken in double;
// NaN when the run held a non-finite value.
inline float stored_scale(double numerator, double denominator, bool finite) {
  if (!finite) return std::numeric_limits<float>::quiet_NaN();
  return static_cast<float>(numerator / denominator);
}

}  // namespace g4::formats::detail
