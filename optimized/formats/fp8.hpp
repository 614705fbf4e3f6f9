#pragma once
// 8-bit floating formats (OCP OFP8 / NVIDIA cuda_fp8.h):
//
//   e4m3 ("E4M3FN": finite + NaN): 1 sign, 4 exponent, 3 fraction bits, bias 7.
//     normals (-1)^s * 1.f * 2^(e-7), e = 1..15 (e = 15 with f = 111 excluded); subnormals
//     (-1)^s * 0.f * 2^-6. No inf; NaN = S.1111.111 (0x7F / 0xFF). max finite 0x7E = 448,
//     min normal 2^-6, min subnormal 2^-9, unit roundoff 2^-4.
//   e5m2 (IEEE-like): 1 sign, 5 exponent, 2 fraction bits, bias 15; e = 31: inf (f = 0) / NaN.
//     max finite 0x7B = 57344, min normal 2^-14, min subnormal 2^-16, unit roundoff 2^-3.
//
// float / double -> fp8: the exact input is rounded once, to nearest, ties to even, with
// subnormals (narrow_float.hpp). Overflow (|x| > 464 for e4m3, |x| >= 61440 for e5m2, and +-inf):
//   Saturation::finite (CUDA __NV_SATFINITE): +-max_finite (448 / 57344), inf included;
//   Saturation::none   (CUDA __NV_NOSAT):     e4m3 -> NaN with the input's sign (0x7F/0xFF),
//                                             e5m2 -> +-inf (0x7C/0xFC).
// NaN -> 0x7F (canonical, sign dropped): what __nv_cvt_float_to_fp8 returns for any NaN float.
// (CUDA's double entry point keeps the NaN's sign and, for e5m2, payload bits; ours does not.)
// fp8 -> float / double: exact; NaN -> canonical quiet NaN (0x7FFFFFFF for float).
//
// Scaled storage (the precision policies' fp8 weights and activations):
//   stored code   q = fp8(x / scale)      (x / scale evaluated in double; see below)
//   stored value  y = value(q) * scale
//   scale         = amax / fmt_max, per row of a row-major [rows, cols] matrix, kept as float32:
//                   scale = float(double(amax) / fmt_max), fmt_max = 448 (e4m3) or 57344 (e5m2).
// So the row's largest |x| lands on (about) fmt_max and uses the whole range. One helper serves
// the three granularities, which differ only in what a "row" is:
//   per-tensor : rows = 1, cols = numel                (one scale)
//   per-channel: a weight [N, K] (out features x in features), rows = N: one scale per output channel
//   per-token  : activations [T, K], rows = T: one scale per token
// A row with amax = 0 gets scale 0; it quantises to +0 codes and dequantises to 0 (no 0/0).
// A row holding inf or NaN gets a NaN scale, and its stored values are all NaN: a non-finite input
// is made visible, never hidden by the scale.
// The quotient: for float x (and float scale) the double quotient rounds to the same fp8 code as
// the exact x / scale would: a quotient of two floats that is not itself an fp8 tie or value lies
// at least ~2^-29 (relative) away from one, far beyond double's 2^-53, so the double rounding
// cannot create or break a tie. For double x the last bit of the quotient can, very rarely, decide
// a near-tie; that is far below the fp8 step and accepted.
// Dequantising in float32 (dequantize_fp8_rows) gives float(value(q) * scale) (one rounding);
// round_trip_fp8_rows returns value(q) * scale exactly, in double.
#include <cstddef>
#include <cstdint>

#include "optimized/formats/narrow_float.hpp"

namespace g4::formats {

enum class Fp8Format { e4m3, e5m2 };

G4_FORMATS_HD constexpr NarrowFloat fp8_spec(Fp8Format f) {
  return f == Fp8Format::e4m3 ? e4m3_format() : e5m2_format();
}

// 448 for e4m3, 57344 for e5m2.
G4_FORMATS_HD constexpr double fp8_max_finite(Fp8Format f) { return narrow_max_finite(fp8_spec(f)); }

G4_FORMATS_HD constexpr uint8_t double_to_fp8(double x, Fp8Format f, Saturation sat = Saturation::finite) {
  return static_cast<uint8_t>(round_to_narrow(x, fp8_spec(f), sat));
}
G4_FORMATS_HD constexpr uint8_t float_to_fp8(float x, Fp8Format f, Saturation sat = Saturation::finite) {
  return static_cast<uint8_t>(round_to_narrow(x, fp8_spec(f), sat));
}
G4_FORMATS_HD constexpr float fp8_to_float(uint8_t q, Fp8Format f) { return narrow_to_float(q, fp8_spec(f)); }
G4_FORMATS_HD constexpr double fp8_to_double(uint8_t q, Fp8Format f) { return narrow_to_double(q, fp8_spec(f)); }

// Unscaled element-wise conversions (scale 1).
void quantize_fp8(const float* x, uint8_t* y, size_t n, Fp8Format f, Saturation sat);
void quantize_fp8(const double* x, uint8_t* y, size_t n, Fp8Format f, Saturation sat);
void dequantize_fp8(const uint8_t* q, float* y, size_t n, Fp8Format f);
void dequantize_fp8(const uint8_t* q, double* y, size_t n, Fp8Format f);
void round_trip_fp8(const double* x, double* y, size_t n, Fp8Format f, Saturation sat);
void round_trip_fp8(const float* x, float* y, size_t n, Fp8Format f, Saturation sat);

// Scaled, one scale per row of a row-major [rows, cols] matrix (see the header comment).
// x [rows, cols] -> scale [rows] = float(amax_row / fmt_max).
void fp8_row_scales(const float* x, float* scale, size_t rows, size_t cols, Fp8Format f);
void fp8_row_scales(const double* x, float* scale, size_t rows, size_t cols, Fp8Format f);
// x [rows, cols], scale [rows] -> q [rows, cols] = fp8(x / scale); a zero scale gives +0 codes.
void quantize_fp8_rows(const float* x, const float* scale, uint8_t* q, size_t rows, size_t cols, Fp8Format f,
                       Saturation sat);
void quantize_fp8_rows(const double* x, const float* scale, uint8_t* q, size_t rows, size_t cols, Fp8Format f,
                       Saturation sat);
// q [rows, cols], scale [rows] -> y [rows, cols] = value(q) * scale.
void dequantize_fp8_rows(const uint8_t* q, const float* scale, float* y, size_t rows, size_t cols, Fp8Format f);
void dequantize_fp8_rows(const uint8_t* q, const float* scale, double* y, size_t rows, size_t cols, Fp8Format f);
// Value after scaled fp8 storage: scales from the rows' amax, then quantise and dequantise.
// scale_out [rows] receives the scales when not null. In place (x == y) is allowed.
void round_trip_fp8_rows(const double* x, double* y, float* scale_out, size_t rows, size_t cols, Fp8Format f,
                         Saturation sat);
void round_trip_fp8_rows(const float* x, float* y, float* scale_out, size_t rows, size_t cols, Fp8Format f,
                         Saturation sat);

}  // namespace g4::formats
