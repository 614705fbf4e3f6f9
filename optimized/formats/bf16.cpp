#include "optimized/formats/bf16.hpp"

namespace g4::formats {

void quantize_bf16(const float* x, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = float_to_bf16(x[i]);
}
namespace {

// double_to_bf16 for bf16's normal range and overflow, |x| in [2^-126, 2^128): round the double's
// significand ONCE to 8 bits (integer RNE at bit 45 = 52 − 7), which leaves a double that float
// holds exactly (or 2^128, which narrows to inf: IEEE overflow), and take the float's top half.
// Branch-free, so the array loops vectorise (the generic narrow_float path is ~10x slower);
// zero, subnormals, inf, NaN and |x| >= 2^128 go through double_to_bf16 in a second pass.
inline uint16_t bf16_of_normal(double x) {
  uint64_t u = detail::bit_cast<uint64_t>(x);
  u += 0x00000FFFFFFFFFFFull + ((u >> 45) & 1u);
  u &= ~0x00001FFFFFFFFFFFull;
  return static_cast<uint16_t>(detail::bit_cast<uint32_t>(static_cast<float>(detail::bit_cast<double>(u))) >> 16);
}
inline bool bf16_normal_input(double x) {
  const uint64_t a = detail::bit_cast<uint64_t>(x) & 0x7FFFFFFFFFFFFFFFull;
  return a >= 0x3810000000000000ull && a < 0x47F0000000000000ull;  // 2^-126 <= |x| < 2^128
}

}  // namespace

void quantize_bf16(const double* x, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_of_normal(x[i]);
  for (size_t i = 0; i < n; ++i)
    if (!bf16_normal_input(x[i])) y[i] = double_to_bf16(x[i]);
}
void dequantize_bf16(const uint16_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_to_float(x[i]);
}
void dequantize_bf16(const uint16_t* x, double* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_to_double(x[i]);
}
void round_trip_bf16(const double* x, double* y, size_t n) {
  for (size_t i = 0; i < n; ++i) {  // in place allowed: each element read before it is written
    const double v = x[i];
    y[i] = bf16_normal_input(v) ? bf16_to_double(bf16_of_normal(v)) : bf16_to_double(double_to_bf16(v));
  }
}
void round_trip_bf16(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_to_float(float_to_bf16(x[i]));
}

}  // namespace g4::formats
