#include "optimized/formats/bf16.hpp"

namespace g4::formats {

void quantize_bf16(const float* x, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = float_to_bf16(x[i]);
}
void quantize_bf16(const double* x, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = double_to_bf16(x[i]);
}
void dequantize_bf16(const uint16_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_to_float(x[i]);
}
void dequantize_bf16(const uint16_t* x, double* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_to_double(x[i]);
}
void round_trip_bf16(const double* x, double* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_to_double(double_to_bf16(x[i]));
}
void round_trip_bf16(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_to_float(float_to_bf16(x[i]));
}

}  // namespace g4::formats
