#include "optimized/formats/fp16.hpp"

namespace g4::formats {

void quantize_fp16(const float* x, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = float_to_fp16(x[i]);
}
void quantize_fp16(const double* x, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = double_to_fp16(x[i]);
}
void dequantize_fp16(const uint16_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = fp16_to_float(x[i]);
}
void dequantize_fp16(const uint16_t* x, double* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = fp16_to_double(x[i]);
}
void round_trip_fp16(const double* x, double* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = fp16_to_double(double_to_fp16(x[i]));
}
void round_trip_fp16(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = fp16_to_float(float_to_fp16(x[i]));
}

}  // namespace g4::formats
