#include "optimized/formats/int4.hpp"

#include <algorithm>
#include <cmath>

#include "optimized/formats/range_stats.hpp"
#include "reference/common/check.hpp"

namespace g4::formats {
namespace {

struct GroupParams {
  float scale = 0;
  int zero = 0;  // asymmetric zero point 0..15; 0 in symmetric mode
};

template <class T>
GroupParams group_params(const T* w, size_t len, Int4Mode mode) {
  const detail::RangeStats st = detail::range_stats(w, len);
  GroupParams p;
  if (mode == Int4Mode::symmetric) {
    p.scale = detail::stored_scale(st.amax, 7.0, st.finite);
  } else {
    p.scale = detail::stored_scale(st.hi - st.lo, 15.0, st.finite);
    if (p.scale > 0.0f)  // false for 0 and NaN
      p.zero = round_half_even_clamped(-st.lo / static_cast<double>(p.scale), 0, 15);
  }
  return p;
}

// Code (symmetric -7..7, asymmetric 0..15) of w in a group with parameters p.
inline int group_code(double w, GroupParams p, Int4Mode mode) {
  if (!(p.scale > 0.0f)) return mode == Int4Mode::symmetric ? 0 : p.zero;  // zero or NaN scale
  const double v = w / static_cast<double>(p.scale);
  if (mode == Int4Mode::symmetric) return round_half_even_clamped(v, -7, 7);
  if (!(v == v)) return p.zero;
  // clamp(rne(v) + z, 0, 15) == clamp(rne(v), -z, 15 - z) + z since z is an integer
  return round_half_even_clamped(v, -p.zero, 15 - p.zero) + p.zero;
}

inline double group_value(int code, GroupParams p, Int4Mode mode) {
  const int q = mode == Int4Mode::symmetric ? code : code - p.zero;
  return q * static_cast<double>(p.scale);  // exact: 5-bit integer times a float32
}

void check_group(size_t group) {
  G4_CHECK(group > 0, ShapeError, "int4 group quantisation: group size must be >= 1, got 0");
}

void check_args(size_t group, const uint8_t* zeros, Int4Mode mode) {
  check_group(group);
  G4_CHECK(mode == Int4Mode::symmetric || zeros != nullptr, ShapeError,
           "int4 asymmetric quantisation needs a zero-point buffer [N, G], got null");
}

template <class T>
void quantize(const T* w, uint8_t* packed, float* scales, uint8_t* zeros, size_t n, size_t k, size_t group,
              Int4Mode mode) {
  check_args(group, zeros, mode);
  const size_t groups = int4_groups(k, group), row_bytes = int4_row_bytes(k);
  for (size_t r = 0; r < n; ++r) {
    const T* wr = w + r * k;
    uint8_t* pr = packed + r * row_bytes;
    std::fill(pr, pr + row_bytes, uint8_t{0});  // odd K: the padding nibble reads 0
    for (size_t g = 0; g < groups; ++g) {
      const size_t j0 = g * group, j1 = std::min(k, j0 + group);
      const GroupParams p = group_params(wr + j0, j1 - j0, mode);
      scales[r * groups + g] = p.scale;
      if (mode == Int4Mode::asymmetric) zeros[r * groups + g] = static_cast<uint8_t>(p.zero);
      for (size_t j = j0; j < j1; ++j) {
        const unsigned nib = static_cast<unsigned>(group_code(static_cast<double>(wr[j]), p, mode)) & 0xFu;
        pr[j >> 1] = static_cast<uint8_t>(pr[j >> 1] | (nib << ((j & 1) * 4)));
      }
    }
  }
}

template <class T>
void dequantize(const uint8_t* packed, const float* scales, const uint8_t* zeros, T* w, size_t n, size_t k,
                size_t group, Int4Mode mode) {
  check_args(group, zeros, mode);
  const size_t groups = int4_groups(k, group), row_bytes = int4_row_bytes(k);
  for (size_t r = 0; r < n; ++r) {
    const uint8_t* pr = packed + r * row_bytes;
    for (size_t j = 0; j < k; ++j) {
      const size_t g = j / group;
      GroupParams p;
      p.scale = scales[r * groups + g];
      p.zero = mode == Int4Mode::asymmetric ? zeros[r * groups + g] : 0;
      const int code = mode == Int4Mode::symmetric ? int4_signed(pr, j) : static_cast<int>(int4_nibble(pr, j));
      w[r * k + j] = static_cast<T>(group_value(code, p, mode));
    }
  }
}

template <class T>
void round_trip(const T* w, T* y, size_t n, size_t k, size_t group, Int4Mode mode) {
  check_group(group);
  const size_t groups = int4_groups(k, group);
  for (size_t r = 0; r < n; ++r)
    for (size_t g = 0; g < groups; ++g) {
      const size_t j0 = r * k + g * group, j1 = r * k + std::min(k, (g + 1) * group);
      const GroupParams p = group_params(w + j0, j1 - j0, mode);
      for (size_t j = j0; j < j1; ++j)
        y[j] = static_cast<T>(group_value(group_code(static_cast<double>(w[j]), p, mode), p, mode));
    }
}

}  // namespace

void quantize_int4(const float* w, uint8_t* packed, float* scales, uint8_t* zeros, size_t n, size_t k, size_t group,
                   Int4Mode mode) {
  quantize(w, packed, scales, zeros, n, k, group, mode);
}
void quantize_int4(const double* w, uint8_t* packed, float* scales, uint8_t* zeros, size_t n, size_t k,
                   size_t group, Int4Mode mode) {
  quantize(w, packed, scales, zeros, n, k, group, mode);
}
void dequantize_int4(const uint8_t* packed, const float* scales, const uint8_t* zeros, float* w, size_t n, size_t k,
                     size_t group, Int4Mode mode) {
  dequantize(packed, scales, zeros, w, n, k, group, mode);
}
void dequantize_int4(const uint8_t* packed, const float* scales, const uint8_t* zeros, double* w, size_t n,
                     size_t k, size_t group, Int4Mode mode) {
  dequantize(packed, scales, zeros, w, n, k, group, mode);
}
void round_trip_int4(const double* w, double* y, size_t n, size_t k, size_t group, Int4Mode mode) {
  round_trip(w, y, n, k, group, mode);
}
void round_trip_int4(const float* w, float* y, size_t n, size_t k, size_t group, Int4Mode mode) {
  round_trip(w, y, n, k, group, mode);
}

}  // namespace g4::formats
