#include "optimized/formats/fp8.hpp"

#include "optimized/formats/range_stats.hpp"

namespace g4::formats {
namespace {

template <class T>
void quantize_elems(const T* x, uint8_t* y, size_t n, Fp8Format f, Saturation sat) {
  for (size_t i = 0; i < n; ++i) y[i] = static_cast<uint8_t>(round_to_narrow(x[i], fp8_spec(f), sat));
}

template <class T>
void round_trip_elems(const T* x, T* y, size_t n, Fp8Format f, Saturation sat) {
  for (size_t i = 0; i < n; ++i)
    y[i] = static_cast<T>(narrow_to_double(round_to_narrow(x[i], fp8_spec(f), sat), fp8_spec(f)));
}

template <class T>
void row_scales(const T* x, float* scale, size_t rows, size_t cols, Fp8Format f) {
  for (size_t r = 0; r < rows; ++r) {
    const detail::RangeStats s = detail::range_stats(x + r * cols, cols);
    scale[r] = detail::stored_scale(s.amax, fp8_max_finite(f), s.finite);
  }
}

// Code of x / scale; a zero scale (all-zero row) gives +0, a NaN scale gives NaN codes.
inline uint8_t scaled_code(double x, float scale, Fp8Format f, Saturation sat) {
  if (scale == 0.0f) return 0;
  return double_to_fp8(x / static_cast<double>(scale), f, sat);
}

template <class T>
void quantize_rows(const T* x, const float* scale, uint8_t* q, size_t rows, size_t cols, Fp8Format f,
                   Saturation sat) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols; ++j)
      q[r * cols + j] = scaled_code(static_cast<double>(x[r * cols + j]), scale[r], f, sat);
}

template <class T>
void dequantize_rows(const uint8_t* q, const float* scale, T* y, size_t rows, size_t cols, Fp8Format f) {
  for (size_t r = 0; r < rows; ++r) {
    const double s = scale[r];
    for (size_t j = 0; j < cols; ++j) y[r * cols + j] = static_cast<T>(fp8_to_double(q[r * cols + j], f) * s);
  }
}

template <class T>
void round_trip_rows(const T* x, T* y, float* scale_out, size_t rows, size_t cols, Fp8Format f, Saturation sat) {
  for (size_t r = 0; r < rows; ++r) {
    const detail::RangeStats st = detail::range_stats(x + r * cols, cols);
    const float s = detail::stored_scale(st.amax, fp8_max_finite(f), st.finite);
    if (scale_out) scale_out[r] = s;
    for (size_t j = 0; j < cols; ++j) {
      const uint8_t c = scaled_code(static_cast<double>(x[r * cols + j]), s, f, sat);
      y[r * cols + j] = static_cast<T>(fp8_to_double(c, f) * static_cast<double>(s));  // exact in double
    }
  }
}

}  // namespace

void quantize_fp8(const float* x, uint8_t* y, size_t n, Fp8Format f, Saturation sat) { quantize_elems(x, y, n, f, sat); }
void quantize_fp8(const double* x, uint8_t* y, size_t n, Fp8Format f, Saturation sat) { quantize_elems(x, y, n, f, sat); }
void dequantize_fp8(const uint8_t* q, float* y, size_t n, Fp8Format f) {
  for (size_t i = 0; i < n; ++i) y[i] = fp8_to_float(q[i], f);
}
void dequantize_fp8(const uint8_t* q, double* y, size_t n, Fp8Format f) {
  for (size_t i = 0; i < n; ++i) y[i] = fp8_to_double(q[i], f);
}
void round_trip_fp8(const double* x, double* y, size_t n, Fp8Format f, Saturation sat) { round_trip_elems(x, y, n, f, sat); }
void round_trip_fp8(const float* x, float* y, size_t n, Fp8Format f, Saturation sat) { round_trip_elems(x, y, n, f, sat); }

void fp8_row_scales(const float* x, float* scale, size_t rows, size_t cols, Fp8Format f) { row_scales(x, scale, rows, cols, f); }
void fp8_row_scales(const double* x, float* scale, size_t rows, size_t cols, Fp8Format f) { row_scales(x, scale, rows, cols, f); }

void quantize_fp8_rows(const float* x, const float* scale, uint8_t* q, size_t rows, size_t cols, Fp8Format f,
                       Saturation sat) {
  quantize_rows(x, scale, q, rows, cols, f, sat);
}
void quantize_fp8_rows(const double* x, const float* scale, uint8_t* q, size_t rows, size_t cols, Fp8Format f,
                       Saturation sat) {
  quantize_rows(x, scale, q, rows, cols, f, sat);
}
void dequantize_fp8_rows(const uint8_t* q, const float* scale, float* y, size_t rows, size_t cols, Fp8Format f) {
  dequantize_rows(q, scale, y, rows, cols, f);
}
void dequantize_fp8_rows(const uint8_t* q, const float* scale, double* y, size_t rows, size_t cols, Fp8Format f) {
  dequantize_rows(q, scale, y, rows, cols, f);
}
void round_trip_fp8_rows(const double* x, double* y, float* scale_out, size_t rows, size_t cols, Fp8Format f,
                         Saturation sat) {
  round_trip_rows(x, y, scale_out, rows, cols, f, sat);
}
void round_trip_fp8_rows(const float* x, float* y, float* scale_out, size_t rows, size_t cols, Fp8Format f,
                         Saturation sat) {
  round_trip_rows(x, y, scale_out, rows, cols, f, sat);
}

}  // namespace g4::formats
