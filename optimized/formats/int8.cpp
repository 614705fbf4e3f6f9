#include "optimized/formats/int8.hpp"

#include "optimized/formats/range_stats.hpp"

namespace g4::formats {
namespace {

// Code of x / scale; scale 0 (zero row) -> 0; NaN scale -> 0 (the row dequantises to NaN).
inline int8_t scaled_code(double x, float scale) {
  if (scale == 0.0f) return 0;
  return static_cast<int8_t>(round_half_even_clamped(x / static_cast<double>(scale), -kInt8Max, kInt8Max));
}

template <class T>
void row_scales(const T* x, float* scale, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; ++r) {
    const detail::RangeStats s = detail::range_stats(x + r * cols, cols);
    scale[r] = detail::stored_scale(s.amax, kInt8Max, s.finite);
  }
}

template <class T>
void quantize_rows(const T* x, const float* scale, int8_t* q, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols; ++j) q[r * cols + j] = scaled_code(static_cast<double>(x[r * cols + j]), scale[r]);
}

template <class T>
void dequantize_rows(const int8_t* q, const float* scale, T* y, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; ++r) {
    const double s = scale[r];
    for (size_t j = 0; j < cols; ++j) y[r * cols + j] = static_cast<T>(q[r * cols + j] * s);  // exact in double
  }
}

template <class T>
void round_trip_rows(const T* x, T* y, float* scale_out, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; ++r) {
    const detail::RangeStats st = detail::range_stats(x + r * cols, cols);
    const float s = detail::stored_scale(st.amax, kInt8Max, st.finite);
    if (scale_out) scale_out[r] = s;
    for (size_t j = 0; j < cols; ++j)
      y[r * cols + j] = static_cast<T>(scaled_code(static_cast<double>(x[r * cols + j]), s) * static_cast<double>(s));
  }
}

}  // namespace

void int8_row_scales(const float* x, float* scale, size_t rows, size_t cols) { row_scales(x, scale, rows, cols); }
void int8_row_scales(const double* x, float* scale, size_t rows, size_t cols) { row_scales(x, scale, rows, cols); }
void quantize_int8_rows(const float* x, const float* scale, int8_t* q, size_t rows, size_t cols) {
  quantize_rows(x, scale, q, rows, cols);
}
void quantize_int8_rows(const double* x, const float* scale, int8_t* q, size_t rows, size_t cols) {
  quantize_rows(x, scale, q, rows, cols);
}
void dequantize_int8_rows(const int8_t* q, const float* scale, float* y, size_t rows, size_t cols) {
  dequantize_rows(q, scale, y, rows, cols);
}
void dequantize_int8_rows(const int8_t* q, const float* scale, double* y, size_t rows, size_t cols) {
  dequantize_rows(q, scale, y, rows, cols);
}
void round_trip_int8_rows(const double* x, double* y, float* scale_out, size_t rows, size_t cols) {
  round_trip_rows(x, y, scale_out, rows, cols);
}
void round_trip_int8_rows(const float* x, float* y, float* scale_out, size_t rows, size_t cols) {
  round_trip_rows(x, y, scale_out, rows, cols);
}

}  // namespace g4::formats
