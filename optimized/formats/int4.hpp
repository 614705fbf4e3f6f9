#pragma once
// Weight-only int4 group quantisation along K.
//
// Layout. A weight is row-major [N, K] (out features x in features). Each row is cut along K into
// G = ceil(K / group) groups of `group` consecutive elements; when K is not a multiple of the group
// the LAST group of every row is shorter (K - (G-1)*group elements). The presets use group = 32
// (int4-g32) and 128 (int4-g128); any group >= 1 works.
//   packed [N, ceil(K/2)] bytes   two nibbles per byte: element 2j in bits 0..3 (low nibble), element
//                                 2j+1 in bits 4..7 (high nibble) of byte j of its row, i.e. the
//                                 first element in the low nibble, as ONNX INT4/UINT4 and
//                                 PyTorch's packed uint4 do. Each row starts on a byte; with odd K
//                                 the last byte's high nibble is padding, written as 0.
//   scales [N, G] float32         one scale per group.
//   zeros  [N, G] uint8           asymmetric mode only: one integer zero point per group, in 0..15.
//
// Symmetric (Int4Mode::symmetric), per group with amax = max |w|:
//   scale = float(double(amax) / 7)
//   q     = clamp(round_half_even(w / scale), -7, 7)    stored as a 4-bit two's complement nibble
//                                                       (q & 0xF; -7 = 0x9, -1 = 0xF)
//   w'    = q * scale
// -8 (0x8) is never written: with scale = amax/7 the grid -7..7 is symmetric (as int8 leaves -128
// unused), so a group and its negation quantise alike and 0 is exact. The decoder sign-extends any
// nibble, so 0x8 would read back as -8.
//
// Asymmetric (Int4Mode::asymmetric), per group, GPTQ convention (range widened to contain 0):
//   lo = min(min w, 0), hi = max(max w, 0)
//   scale = float(double(hi - lo) / 15)
//   z     = round_half_even(-lo / scale), clamped to 0..15 (an integer: 0.0 is stored exactly)
//   q     = clamp(round_half_even(w / scale) + z, 0, 15)    stored as an unsigned nibble
//   w'    = (q - z) * scale
// Widening the range to contain 0 keeps z in 0..15 without clamping, which is what makes the
// per-element bound hold at both ends of the range (an AWQ-style clamped z would not).
//
// Both modes: |w - w'| <= scale/2 per element (plus float32 rounding of w' when dequantised to
// float). Divisions are done in double (for float w that equals rounding the exact quotient; see
// fp8.hpp). A group with scale 0 (all zero, or so small that the scale underflows float32) stores
// q = 0 (z = 0) and reads back 0. A group holding inf or NaN gets a NaN scale and dequantises to
// NaN (codes 0 / z 0), so the harness sees it. Rounding is round-half-to-even for the reasons
// given in int8.hpp.
#include <cstddef>
#include <cstdint>

#include "optimized/formats/int8.hpp"

namespace g4::formats {

enum class Int4Mode { symmetric, asymmetric };

G4_FORMATS_HD constexpr size_t int4_groups(size_t k, size_t group) { return (k + group - 1) / group; }
G4_FORMATS_HD constexpr size_t int4_row_bytes(size_t k) { return (k + 1) / 2; }

// Nibble j of a packed row (low nibble first), raw 0..15.
G4_FORMATS_HD constexpr unsigned int4_nibble(const uint8_t* row, size_t j) {
  return (j & 1) ? (row[j >> 1] >> 4) & 0xFu : row[j >> 1] & 0xFu;
}
// Symmetric code of nibble j, sign-extended to -8..7.
G4_FORMATS_HD constexpr int int4_signed(const uint8_t* row, size_t j) {
  const int v = static_cast<int>(int4_nibble(row, j));
  return v >= 8 ? v - 16 : v;
}

// w [n, k] -> packed [n, int4_row_bytes(k)], scales [n, int4_groups(k, group)], and for the
// asymmetric mode zeros [n, int4_groups(k, group)] (may be null in symmetric mode).
// Throws g4::ShapeError when group == 0 or zeros is null in asymmetric mode.
void quantize_int4(const float* w, uint8_t* packed, float* scales, uint8_t* zeros, size_t n, size_t k, size_t group,
                   Int4Mode mode);
void quantize_int4(const double* w, uint8_t* packed, float* scales, uint8_t* zeros, size_t n, size_t k,
                   size_t group, Int4Mode mode);
// packed, scales, zeros (as above) -> w [n, k].
void dequantize_int4(const uint8_t* packed, const float* scales, const uint8_t* zeros, float* w, size_t n, size_t k,
                     size_t group, Int4Mode mode);
void dequantize_int4(const uint8_t* packed, const float* scales, const uint8_t* zeros, double* w, size_t n,
                     size_t k, size_t group, Int4Mode mode);
// Value of w [n, k] after int4 group storage, as w's type (exact q*scale in double).
// In place (w == y) is allowed.
void round_trip_int4(const double* w, double* y, size_t n, size_t k, size_t group, Int4Mode mode);
void round_trip_int4(const float* w, float* y, size_t n, size_t k, size_t group, Int4Mode mode);

}  // namespace g4::formats
