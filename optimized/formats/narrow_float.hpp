#pragma once
// Narrow binary floating formats (bf16, fp16, fp8 e4m3 / e5m2): one parameterised rounding core.
//
// A format is 1 sign bit, E exponent bits, M fraction bits, exponent bias B. Its values are
//   exponent field 0      : (-1)^s * f       * 2^(1 - B - M)      (zero and subnormals)
//   exponent field 1..top : (-1)^s * (2^M+f) * 2^(e - B - M)      (normals)
// and the top of the code space is special:
//   IEEE-like (bf16, fp16, e5m2): exponent all ones, f = 0 is +-inf, f != 0 is NaN;
//   OCP e4m3 "fn" (finite, NaN only): S.1111.111 is NaN, there is no inf, and S.1111.000..110
//   are ordinary numbers, so the largest finite value is 1.75 * 2^8 = 448.
//
// Rounding rule (every conversion INTO a format in this folder): round to nearest, ties to even
// (IEEE 754 roundTiesToEven), computed from the exact input value, with gradual underflow
// (subnormals) and the overflow rule of the format:
//   - the exact input is rounded as if the exponent range were unbounded above; a result whose
//     code lies past the largest finite code has overflowed. That reproduces IEEE's "overflow
//     threshold is max + ulp/2 and a tie there goes to the even neighbour, i.e. to infinity"
//     (fp16: |x| >= 65520 -> inf; bf16: |x| >= 0x1.FFp127 -> inf; e5m2: |x| >= 61440 -> inf),
//     and for e4m3 it says |x| > 464 overflows while 464 itself is a tie that goes to 448 (even);
//   - on overflow: Saturation::finite clamps to +-max_finite (this is CUDA's __NV_SATFINITE, and it
//     also maps +-inf to +-max_finite); Saturation::none gives +-inf where the format has one
//     (IEEE-like) and NaN (S.1111.111, sign kept) for e4m3 (CUDA's __NV_NOSAT).
//   - NaN in -> the canonical quiet NaN out: all ones except the sign (0x7FFF for 16-bit formats,
//     0x7F for fp8), sign dropped. This is what CUDA's host conversions produce for float input
//     (cuda_bf16.hpp / cuda_fp16.hpp / cuda_fp8.hpp, compared bit for bit in the tests).
//
// The rounding works on the exact significand of the input (24 bits for float, 53 for double)
// with integer arithmetic, so either input is rounded ONCE to the narrow format, and the float
// overload gives exactly the double overload's result on static_cast<double>(x). Rounding
// double -> float -> narrow would round twice and can differ (example: 1 + 2^-8 + 2^-30 -> float
// gives the bf16 tie 1 + 2^-8, which goes to even 1.0, while the exact value is above the tie and
// rounds to 1 + 2^-7); tests/optimized/formats shows it.
//
// Decoding (narrow -> float or double) is exact: every value of these formats is a float32.
// NaN decodes to the canonical quiet NaN of the wide type (0x7FFFFFFF for float, as CUDA's host
// __half2float does).
//
// Plain constexpr functions on integers: no tables, no xtensor, usable from host kernels and (with
// the G4_FORMATS_HD annotation) from CUDA device code.
#include <cstdint>

#if defined(__CUDACC__)
#define G4_FORMATS_HD __host__ __device__
#else
#define G4_FORMATS_HD
#endif

namespace g4::formats {

namespace detail {

// std::bit_cast through the compiler builtin (GCC >= 11, Clang, NVCC), so that it is also
// callable from CUDA device code without --expt-relaxed-constexpr.
template <class To, class From>
G4_FORMATS_HD constexpr To bit_cast(const From& from) {
  return __builtin_bit_cast(To, from);
}

}  // namespace detail

// What happens to a finite value beyond max_finite (and to +-inf) when rounding into a format
// that offers the choice (fp8). The 16-bit formats always behave as Saturation::none.
enum class Saturation {
  finite,  // clamp to +-max_finite, like __NV_SATFINITE / PTX cvt .satfinite
  none,    // +-inf (IEEE-like) or NaN (e4m3), like __NV_NOSAT
};

// The shape of a narrow binary floating format; codes are the low 1 + exp_bits + man_bits bits of
// a uint32_t.
struct NarrowFloat {
  int exp_bits;       // E
  int man_bits;       // M, stored fraction bits (precision p = M + 1)
  int bias;           // B
  bool ieee_specials; // true: exponent all ones = inf/NaN; false: only all-ones code is NaN (e4m3fn)

  G4_FORMATS_HD constexpr uint32_t sign_bit() const { return 1u << (exp_bits + man_bits); }
  G4_FORMATS_HD constexpr uint32_t nan_code() const { return sign_bit() - 1u; }  // canonical NaN, all ones
  G4_FORMATS_HD constexpr uint32_t inf_code() const { return ((1u << exp_bits) - 1u) << man_bits; }
  G4_FORMATS_HD constexpr uint32_t max_code() const { return ieee_specials ? inf_code() - 1u : nan_code() - 1u; }
  G4_FORMATS_HD constexpr int emin() const { return 1 - bias; }  // exponent of the smallest normal
};

// The formats, as functions (usable in CUDA device code, where namespace-scope objects are not)
// and as constants for host code.
G4_FORMATS_HD constexpr NarrowFloat bf16_format() { return {8, 7, 127, true}; }
G4_FORMATS_HD constexpr NarrowFloat fp16_format() { return {5, 10, 15, true}; }
G4_FORMATS_HD constexpr NarrowFloat e4m3_format() { return {4, 3, 7, false}; }
G4_FORMATS_HD constexpr NarrowFloat e5m2_format() { return {5, 2, 15, true}; }
inline constexpr NarrowFloat kBf16Format = bf16_format();
inline constexpr NarrowFloat kFp16Format = fp16_format();
inline constexpr NarrowFloat kE4m3Format = e4m3_format();
inline constexpr NarrowFloat kE5m2Format = e5m2_format();

namespace detail {

// 2^k as a double, built from its bits; valid for normal doubles, -1022 <= k <= 1023.
G4_FORMATS_HD constexpr double pow2(int k) {
  return detail::bit_cast<double>(static_cast<uint64_t>(k + 1023) << 52);
}

}  // namespace detail

namespace detail {

// Bit layout of the IEEE source types.
template <class T>
struct SourceBits;
template <>
struct SourceBits<double> {
  using UInt = uint64_t;
  static constexpr int kMant = 52, kBias = 1023, kExpMax = 2047;
};
template <>
struct SourceBits<float> {
  using UInt = uint32_t;
  static constexpr int kMant = 23, kBias = 127, kExpMax = 255;
};

// The rounding core for a float or double source, on its own integer width.
template <class T>
G4_FORMATS_HD constexpr uint32_t round_bits_to_narrow(T x, NarrowFloat f, Saturation sat) {
  using B = SourceBits<T>;
  using U = typename B::UInt;
  constexpr U kSign = U{1} << (sizeof(U) * 8 - 1);
  constexpr U kInf = static_cast<U>(B::kExpMax) << B::kMant;
  constexpr U kMantMask = (U{1} << B::kMant) - 1;
  const U u = detail::bit_cast<U>(x);
  const uint32_t sign = (u & kSign) ? f.sign_bit() : 0u;
  const U a = u & ~kSign;
  if (a > kInf) return f.nan_code();  // NaN: canonical, sign dropped
  if (a == 0) return sign;            // +-0

  // x = sig * 2^(ue - kMant), sig with the implicit bit for normals.
  const int e_field = static_cast<int>(a >> B::kMant);  // kExpMax for inf: rounds past max_code
  U sig = a & kMantMask;
  int ue = e_field - B::kBias;
  if (e_field == 0) ue = 1 - B::kBias;  // source subnormal: no implicit bit
  else sig |= U{1} << B::kMant;

  // Target quantum 2^(max(ue, emin) - M); keep sig >> shift, rounding the dropped bits RNE.
  const int emin = f.emin();
  const int shift = B::kMant - f.man_bits + (ue < emin ? emin - ue : 0);  // >= 13 for these formats
  U q = 0;
  if (shift <= B::kMant + 1) {  // otherwise sig < 2^(kMant+1) <= half a quantum: rounds to zero
    q = sig >> shift;
    const U rem = sig & ((U{1} << shift) - 1);
    const U half = U{1} << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;  // a carry into 2^(M+1) bumps the exponent
  }
  // Normals: q in [2^M, 2^(M+1)] and the code is ((ue - emin) << M) + q, since the biased exponent
  // field is ue - emin + 1; subnormals: code = q (q = 2^M is the smallest normal, as it should be).
  const uint64_t code = (ue >= emin ? static_cast<uint64_t>(ue - emin) << f.man_bits : 0) + q;
  if (code > f.max_code()) {
    if (sat == Saturation::finite) return sign | f.max_code();
    return f.ieee_specials ? (sign | f.inf_code()) : (sign | f.nan_code());
  }
  return sign | static_cast<uint32_t>(code);
}

}  // namespace detail

// Round the exact value of x to the narrow format f, ties to even; see the header comment for
// overflow, inf and NaN. Returns the code in the low bits. The float overload gives the same
// result as the double one on static_cast<double>(x) (widening is exact); it only works on
// 32-bit integers.
G4_FORMATS_HD constexpr uint32_t round_to_narrow(double x, NarrowFloat f, Saturation sat) {
  return detail::round_bits_to_narrow(x, f, sat);
}
G4_FORMATS_HD constexpr uint32_t round_to_narrow(float x, NarrowFloat f, Saturation sat) {
  return detail::round_bits_to_narrow(x, f, sat);
}

// True when the code is a NaN of format f.
G4_FORMATS_HD constexpr bool narrow_is_nan(uint32_t code, NarrowFloat f) {
  const uint32_t mag = code & (f.sign_bit() - 1u);
  if (!f.ieee_specials) return mag == f.nan_code();
  return mag > f.inf_code();
}

// Exact value of a code as double. NaN -> canonical quiet NaN (0x7FF8000000000000, positive).
G4_FORMATS_HD constexpr double narrow_to_double(uint32_t code, NarrowFloat f) {
  const uint32_t mag = code & (f.sign_bit() - 1u);
  const bool neg = (code & f.sign_bit()) != 0;
  if (narrow_is_nan(code, f)) return detail::bit_cast<double>(0x7FF8000000000000ull);
  if (f.ieee_specials && mag == f.inf_code())
    return neg ? -detail::bit_cast<double>(0x7FF0000000000000ull) : detail::bit_cast<double>(0x7FF0000000000000ull);
  const int e = static_cast<int>(mag >> f.man_bits);
  const uint32_t frac = mag & ((1u << f.man_bits) - 1u);
  const double v = e == 0 ? static_cast<double>(frac) * detail::pow2(f.emin() - f.man_bits)
                          : static_cast<double>(frac | (1u << f.man_bits)) * detail::pow2(e - f.bias - f.man_bits);
  return neg ? -v : v;
}

// Exact value of a code as float (every value of these formats is a float32). NaN -> 0x7FFFFFFF.
G4_FORMATS_HD constexpr float narrow_to_float(uint32_t code, NarrowFloat f) {
  if (narrow_is_nan(code, f)) return detail::bit_cast<float>(0x7FFFFFFFu);
  return static_cast<float>(narrow_to_double(code, f));
}

// Largest finite value and unit roundoff 2^-(M+1) of a format, as doubles.
G4_FORMATS_HD constexpr double narrow_max_finite(NarrowFloat f) { return narrow_to_double(f.max_code(), f); }
G4_FORMATS_HD constexpr double narrow_unit_roundoff(NarrowFloat f) { return detail::pow2(-(f.man_bits + 1)); }

}  // namespace g4::formats
