#pragma once
// IEEE 754 binary16 ("half", fp16): 1 sign, 5 exponent, 10 fraction bits, bias 15.
//   value = (-1)^s * 1.f * 2^(e-15) for e in 1..30; (-1)^s * 0.f * 2^-14 for e = 0; e = 31: inf/NaN.
//   max finite 0x7BFF = 65504; unit roundoff 2^-11; min normal 2^-14 ~= 6.10e-5;
//   min subnormal 2^-24 ~= 5.96e-8.
//
// float32 / double -> fp16: round the exact input to nearest, ties to even, with subnormals
// (gradual underflow: |x| <= 2^-25 -> +-0, the tie at 2^-25 going to even 0), and IEEE overflow:
// |x| >= 65520 (= max + ulp/2, a tie whose even neighbour is 2^16) -> +-inf; +-inf -> +-inf;
// NaN -> canonical quiet NaN 0x7FFF (sign dropped), as CUDA's host __float2half does.
// The double input is rounded ONCE (no double -> float -> half double rounding); see
// narrow_float.hpp, which does the work for both input types (float widens to double exactly).
// fp16 -> float32 / double: exact; NaN -> canonical quiet NaN (0x7FFFFFFF for float, as the host
// __half2float).
//
// Array forms take raw pointers and a count; in place (x == y) is allowed for round_trip.
#include <cstddef>
#include <cstdint>

#include "optimized/formats/narrow_float.hpp"

namespace g4::formats {

G4_FORMATS_HD constexpr uint16_t float_to_fp16(float x) {
  return static_cast<uint16_t>(round_to_narrow(x, fp16_format(), Saturation::none));
}

G4_FORMATS_HD constexpr uint16_t double_to_fp16(double x) {
  return static_cast<uint16_t>(round_to_narrow(x, fp16_format(), Saturation::none));
}

G4_FORMATS_HD constexpr float fp16_to_float(uint16_t h) { return narrow_to_float(h, fp16_format()); }
G4_FORMATS_HD constexpr double fp16_to_double(uint16_t h) { return narrow_to_double(h, fp16_format()); }

void quantize_fp16(const float* x, uint16_t* y, size_t n);
void quantize_fp16(const double* x, uint16_t* y, size_t n);
void dequantize_fp16(const uint16_t* x, float* y, size_t n);
void dequantize_fp16(const uint16_t* x, double* y, size_t n);
// y[i] = value of x[i] after storage as fp16 (single RNE rounding; overflow gives +-inf).
void round_trip_fp16(const double* x, double* y, size_t n);
void round_trip_fp16(const float* x, float* y, size_t n);

}  // namespace g4::formats
