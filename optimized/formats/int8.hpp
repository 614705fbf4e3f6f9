#pragma once
// Symmetric int8 with one float32 scale per row of a row-major [rows, cols] matrix.
//
//   weights    [N, K] (out features x in features): rows = N, one scale per output channel
//   activations[T, K]: rows = T, one scale per token ("dynamic" per-token quantisation)
//   per-tensor: rows = 1, cols = numel
//
//   scale = amax / 127                       amax = max_j |x[r, j]|; stored as float32:
//                                            scale = float(double(amax) / 127)
//   q     = clamp(round_half_even(x / scale), -127, 127)    (x / scale evaluated in double: for
//                                            float x exactly the rounding of the exact quotient, as
//                                            the quotient of two floats cannot land on a .5 tie
//                                            unless it is one; see fp8.hpp)
//   y     = q * scale                        (exact in double; one float rounding in float32)
//
// Rounding: round half to even (banker's rounding). It is the IEEE default mode, so it is what
// the hardware conversions do (x86 cvtps2dq under the default MXCSR, CUDA __float2int_rn /
// cvt.rni, torch.round), and it has no bias on ties, which a dot product over K would otherwise
// accumulate. It is implemented with integer logic here, independent of the FPU rounding mode.
// Range: -128 is never produced: with scale = amax/127 every |x / scale| <= 127, so the grid is
// symmetric (q and -q both exist), the zero point is 0, and negating a row commutes with
// quantisation. Clamping only matters for a caller-supplied scale smaller than amax/127
// (saturation) and for the last-bit effect of storing the scale as float32.
// Error: |x - y| <= scale / 2 per element (plus float32 rounding of y when dequantised in float).
//
// Zero rows: amax = 0 gives scale = 0; quantising with scale 0 writes q = 0 and y = 0 (no 0/0).
// Rows so small that amax/127 underflows float32 (amax <= 127 * 2^-150 ~= 8.9e-44) also get
// scale 0 and flush to 0.
// Non-finite input: a row holding inf or NaN gets a NaN scale and dequantises to NaN everywhere,
// so the harness sees it (the codes of such a row are 0; an int8 cannot hold NaN).
#include <cstddef>
#include <cstdint>

#include "optimized/formats/narrow_float.hpp"

namespace g4::formats {

inline constexpr int kInt8Max = 127;

// Round v to the nearest integer, ties to even, then clamp to [lo, hi]. NaN -> 0.
// Independent of the floating-point rounding mode.
G4_FORMATS_HD constexpr int round_half_even_clamped(double v, int lo, int hi) {
  if (!(v == v)) return 0;
  if (v <= lo) return lo;  // clamping first keeps the cast below in range
  if (v >= hi) return hi;
  const auto t = static_cast<int64_t>(v);  // truncates toward zero
  const double frac = v - static_cast<double>(t);  // exact, |frac| < 1
  int64_t r = t;
  if (frac > 0.5 || (frac == 0.5 && (t & 1))) ++r;
  else if (frac < -0.5 || (frac == -0.5 && (t & 1))) --r;
  return static_cast<int>(r);
}

// x [rows, cols] -> scale [rows] = float(amax_row / 127) (NaN for a row with inf/NaN).
void int8_row_scales(const float* x, float* scale, size_t rows, size_t cols);
void int8_row_scales(const double* x, float* scale, size_t rows, size_t cols);
// x [rows, cols], scale [rows] -> q [rows, cols] = clamp(rne(x / scale), -127, 127); scale 0 -> q 0.
void quantize_int8_rows(const float* x, const float* scale, int8_t* q, size_t rows, size_t cols);
void quantize_int8_rows(const double* x, const float* scale, int8_t* q, size_t rows, size_t cols);
// q [rows, cols], scale [rows] -> y [rows, cols] = q * scale.
void dequantize_int8_rows(const int8_t* q, const float* scale, float* y, size_t rows, size_t cols);
void dequantize_int8_rows(const int8_t* q, const float* scale, double* y, size_t rows, size_t cols);
// Value after int8 storage (scales, quantise, dequantise); scale_out [rows] may be null.
// In place (x == y) is allowed.
void round_trip_int8_rows(const double* x, double* y, float* scale_out, size_t rows, size_t cols);
void round_trip_int8_rows(const float* x, float* y, float* scale_out, size_t rows, size_t cols);

}  // namespace g4::formats
