#pragma once
// bfloat16: 1 sign, 8 exponent, 7 fraction bits, bias 127 (the top half of a float32).
//   value = (-1)^s * 1.f * 2^(e-127) for e in 1..254; (-1)^s * 0.f * 2^-126 for e = 0; e = 255: inf/NaN.
//   max finite 0x7F7F = (2 - 2^-7) * 2^127 ~= 3.3895e38; unit roundoff 2^-8; min normal 2^-126;
//   min subnormal 2^-133.
//
// float32 -> bf16: round to nearest, ties to even, on the 16 dropped bits:
//   code = (u + 0x7FFF + ((u >> 16) & 1)) >> 16       (u the float's bits, NaN handled first)
// The add carries into the exponent when the fraction rounds up past all ones, and FLT_MAX-sized
// values carry into 0x7F80 = inf, which is exactly IEEE's overflow (|x| >= 0x1.FF8p127 -> inf,
// the tie at max + ulp/2 going to even = inf). NaN -> canonical quiet NaN 0x7FFF (sign dropped),
// as CUDA's __float2bfloat16 does on the host.
// bf16 -> float32: exact, u = code << 16 (NaN payload and sign kept, as __bfloat162float).
//
// double -> bf16: the double's exact value is rounded ONCE to bf16 (narrow_float.hpp core,
// integer RNE on the 53-bit significand). It is NOT static_cast<float> followed by float -> bf16:
// that rounds twice and can land on a false tie (1 + 2^-8 + 2^-30 -> float 1 + 2^-8, a tie, -> 1.0;
// the correct bf16 is 1 + 2^-7). CUDA's __double2bfloat16 (round-to-odd to float, then RNE) gives the
// same single rounding; the tests compare against it. bf16 -> double: exact.
//
// Array forms take raw pointers and a count; n = 0 is fine; x and y may not overlap partially.
#include <cstddef>
#include <cstdint>

#include "optimized/formats/narrow_float.hpp"

namespace g4::formats {

G4_FORMATS_HD constexpr uint16_t float_to_bf16(float x) {
  uint32_t u = detail::bit_cast<uint32_t>(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFF;  // NaN -> canonical quiet NaN
  u += 0x7FFFu + ((u >> 16) & 1u);                      // RNE on the low 16 bits
  return static_cast<uint16_t>(u >> 16);
}

G4_FORMATS_HD constexpr float bf16_to_float(uint16_t b) {
  return detail::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

G4_FORMATS_HD constexpr uint16_t double_to_bf16(double x) {
  return static_cast<uint16_t>(round_to_narrow(x, bf16_format(), Saturation::none));
}

G4_FORMATS_HD constexpr double bf16_to_double(uint16_t b) { return static_cast<double>(bf16_to_float(b)); }

// y[i] = float_to_bf16(x[i]) / double_to_bf16(x[i]), i < n.
void quantize_bf16(const float* x, uint16_t* y, size_t n);
void quantize_bf16(const double* x, uint16_t* y, size_t n);
// y[i] = exact value of x[i].
void dequantize_bf16(const uint16_t* x, float* y, size_t n);
void dequantize_bf16(const uint16_t* x, double* y, size_t n);
// y[i] = value of x[i] after storage as bf16 (single RNE rounding), in the input's type.
// In place (x == y) is allowed.
void round_trip_bf16(const double* x, double* y, size_t n);
void round_trip_bf16(const float* x, float* y, size_t n);

}  // namespace g4::formats
