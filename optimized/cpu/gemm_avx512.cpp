// AVX-512 kernels of the CPU GEMM (F/BW/VL + BF16 + VNNI). Compiled with AVX-512 flags on this
// file only; gemm.cpp calls in here only after a run-time CPU check. See gemm_internal.hpp for the
// layouts and for why this file uses no standard-library templates.
//
// GEMV (M == 1): the threads claim chunks of consecutive 32-row panels (about 8 chunks per
// thread; a panel is one contiguous run of the packed weights) and stream them once: per k-pair
// one broadcast activation pair and two 64-byte weight vectors into vdpbf16ps (bf16; fp8 and
// int4 decoded to bf16 in registers), per k-quad two vpdpbusd (int8 × int8), or per 16 int8
// weights one vcvtdq2ps + FMA (int8 × bf16). Several independent accumulators hide the latency.
// GEMM (M > 1): A converted and packed once into row blocks ([K/2][rows] bf16 pairs or
// [K/4][rows] u8 quads, contiguous per block); the threads claim chunks of panels (or of row
// blocks when there are few panels); per K block each panel is decoded to bf16 pairs once (a
// pointer into W for bf16 and int8 × int8) and multiplied into every row block by a
// register-tiled micro-kernel: rows × 32 columns, 2·rows accumulators (12 × 32 vdpbf16ps or
// vpdpbusd; 6 × 32 plus 12 group sums for int4, whose group scales apply inside the K loop).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "optimized/cpu/gemm_internal.hpp"

// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_* self-initialisation, GCC bug
// 105593); nothing in this file reads an uninitialised value.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace g4::cpu::detail {
namespace {

using i64 = std::int64_t;

inline i64 min64(i64 a, i64 b) { return a < b ? a : b; }
inline __mmask16 tail_mask16(i64 n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// ---- Activation conversion (bit-identical to optimized/formats) -------------------------------

// float32 -> bf16 RNE, NaN -> 0x7FFF: formats::float_to_bf16 on 16 lanes (as 32-bit lanes).
inline __m512i bf16_rne(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), lsb), 16);
  const __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
  return _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7FFF));
}

// max |x| over a row and whether all values are finite (formats' range_stats: amax over finite).
inline float row_amax(const float* a, i64 K, bool* finite) {
  __m512 mx = _mm512_setzero_ps();
  __mmask16 bad = 0;
  const __m512i absmask = _mm512_set1_epi32(0x7FFFFFFF), inf = _mm512_set1_epi32(0x7F800000);
  for (i64 k = 0; k < K; k += 16) {
    const __mmask16 m = tail_mask16(K - k);
    const __m512i u = _mm512_and_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, a + k)), absmask);
    bad |= _mm512_mask_cmpge_epu32_mask(m, u, inf);
    mx = _mm512_max_ps(mx, _mm512_castsi512_ps(u));
  }
  *finite = bad == 0;
  return _mm512_reduce_max_ps(mx);
}

// Scale stored as float32 from a double quotient, NaN for a non-finite row (formats' stored_scale).
inline float stored_scale(float amax, double denom, bool finite) {
  if (!finite) return __builtin_nanf("");
  return static_cast<float>(static_cast<double>(amax) / denom);
}

// Row of K floats -> bf16 codes, zero-padded to Kp.
void row_to_bf16(const float* a, i64 K, i64 Kp, std::uint16_t* out) {
  for (i64 k = 0; k < K; k += 16) {
    const __mmask16 m = tail_mask16(K - k);
    _mm512_mask_cvtepi32_storeu_epi16(out + k, m, bf16_rne(_mm512_maskz_loadu_ps(m, a + k)));
  }
  for (i64 k = K; k < Kp; ++k) out[k] = 0;
}

// Row -> fp16-rounded values as float32 (vcvtps2ph RNE, exact widening back), NaN canonical.
void row_to_f16_values(const float* a, i64 K, float* out) {
  for (i64 k = 0; k < K; k += 16) {
    const __mmask16 m = tail_mask16(K - k);
    const __m512 x = _mm512_maskz_loadu_ps(m, a + k);
    __m512 y = _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    y = _mm512_mask_mov_ps(y, nan, _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF)));
    _mm512_mask_storeu_ps(out + k, m, y);
  }
}

// e4m3 value of 8 doubles, saturating, RNE from the exact double (formats::double_to_fp8 with
// Saturation::finite, as a value). Normal range: round the double's significand to 3 bits;
// subnormal range (|v| < 2^-6, quantum 2^-9): (|v| + 2^43) − 2^43 rounds to a multiple of 2^-9.
inline __m512d e4m3_round_pd(__m512d v) {
  const __m512d av = _mm512_min_pd(_mm512_abs_pd(v), _mm512_set1_pd(448.0));
  const __m512i b = _mm512_castpd_si512(av);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi64(b, 49), _mm512_set1_epi64(1));
  __m512i rn = _mm512_add_epi64(_mm512_add_epi64(b, _mm512_set1_epi64((1LL << 48) - 1)), lsb);
  rn = _mm512_andnot_si512(_mm512_set1_epi64((1LL << 49) - 1), rn);
  const __m512d magic = _mm512_set1_pd(8796093022208.0);  // 2^43
  const __m512d sub = _mm512_sub_pd(_mm512_add_pd(av, magic), magic);
  const __mmask8 is_sub = _mm512_cmp_pd_mask(av, _mm512_set1_pd(0.015625), _CMP_LT_OQ);
  const __m512d r = _mm512_mask_mov_pd(_mm512_castsi512_pd(rn), is_sub, sub);
  const __m512i sign = _mm512_and_si512(_mm512_castpd_si512(v), _mm512_set1_epi64(static_cast<long long>(1ULL << 63)));
  return _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(r), sign));
}

// Row -> per-token fp8 e4m3 (scale = amax/448): bf16 codes of the e4m3 values (exact), zero
// padded to Kp. A NaN scale (non-finite row) gives NaN values.
void row_to_fp8_bf16(const float* a, i64 K, i64 Kp, std::uint16_t* out, float* scale) {
  bool finite = true;
  const float amax = row_amax(a, K, &finite);
  const float s = stored_scale(amax, 448.0, finite);
  *scale = s;
  if (!(s > 0.0f)) {  // zero row -> +0 codes; NaN row -> NaN
    const std::uint16_t fill = s == 0.0f ? 0 : 0x7FC0;
    for (i64 k = 0; k < K; ++k) out[k] = fill;
  } else {
    const __m512d sd = _mm512_set1_pd(static_cast<double>(s));
    for (i64 k = 0; k < K; k += 8) {
      const __mmask8 m = static_cast<__mmask8>(K - k >= 8 ? 0xFF : (1u << (K - k)) - 1u);
      const __m512d x = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, a + k));
      const __m256 f = _mm512_cvtpd_ps(e4m3_round_pd(_mm512_div_pd(x, sd)));  // exact
      const __m256i bits = _mm256_srli_epi32(_mm256_castps_si256(f), 16);
      _mm256_mask_cvtepi32_storeu_epi16(out + k, m, bits);
    }
  }
  for (i64 k = K; k < Kp; ++k) out[k] = 0;
}

// Row -> per-token int8 (scale = amax/127, q = clamp(rne(x / scale), ±127), x / scale in double),
// stored as q + 128 (u8) when offset, else as int8; zero padded (q = 0) to Kp.
void row_to_int8(const float* a, i64 K, i64 Kp, std::uint8_t* out, float* scale, bool offset) {
  bool finite = true;
  const float amax = row_amax(a, K, &finite);
  const float s = stored_scale(amax, 127.0, finite);
  *scale = s;
  const std::uint8_t zero = offset ? 128 : 0;
  if (!(s > 0.0f)) {  // zero or NaN scale -> codes 0
    for (i64 k = 0; k < K; ++k) out[k] = zero;
  } else {
    const __m512d sd = _mm512_set1_pd(static_cast<double>(s));
    const __m512d lo = _mm512_set1_pd(-127.0), hi = _mm512_set1_pd(127.0);
    for (i64 k = 0; k < K; k += 8) {
      const __mmask8 m = static_cast<__mmask8>(K - k >= 8 ? 0xFF : (1u << (K - k)) - 1u);
      const __m512d x = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, a + k));
      __m512d q = _mm512_roundscale_pd(_mm512_div_pd(x, sd), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm512_min_pd(_mm512_max_pd(q, lo), hi);
      __m256i qi = _mm512_cvtpd_epi32(q);
      if (offset) qi = _mm256_add_epi32(qi, _mm256_set1_epi32(128));
      _mm256_mask_cvtepi32_storeu_epi8(out + k, m, qi);
    }
  }
  for (i64 k = K; k < Kp; ++k) out[k] = zero;
}

// ---- Weight decoders: 32 stored values -> one zmm of 32 bf16 (16 rows × 2 k) --------------------

inline __m512i dec_bf16(const std::uint8_t* p) { return _mm512_loadu_si512(p); }

inline __m512i dec_int8(const std::uint8_t* p) {
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(b)));
  const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(b, 1)));
  return _mm512_castps_si512(reinterpret_cast<__m512>(_mm512_cvtne2ps_pbh(hi, lo)));  // exact: |q| <= 127
}

// e4m3 code -> bf16: normals (exponent field e >= 1) map to ((e + 120) << 7) | (m << 4), i.e.
// (code & 0x7F) << 4 plus 120 << 7; subnormals m·2^-9 (e = 0) come from an 8-entry table.
struct Fp8Tables {
  __m512i sub;
};
inline Fp8Tables fp8_tables() {
  alignas(64) std::uint16_t t[32] = {};
  for (int m = 1; m < 8; ++m) {
    const float v = static_cast<float>(m) * (1.0f / 512.0f);
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    t[m] = static_cast<std::uint16_t>(u >> 16);  // exact
  }
  return Fp8Tables{_mm512_load_si512(t)};
}
inline __m512i dec_fp8(const std::uint8_t* p, const Fp8Tables& tb) {
  const __m512i w = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  const __m512i mag = _mm512_and_si512(w, _mm512_set1_epi16(0x7F));
  const __m512i sign = _mm512_slli_epi16(_mm512_and_si512(w, _mm512_set1_epi16(0x80)), 8);
  const __m512i normal = _mm512_add_epi16(_mm512_slli_epi16(mag, 4), _mm512_set1_epi16(120 << 7));
  const __mmask32 sub = _mm512_cmplt_epu16_mask(mag, _mm512_set1_epi16(8));
  const __m512i r = _mm512_mask_permutexvar_epi16(normal, sub, mag, tb.sub);
  return _mm512_or_si512(r, sign);
}

// int4 decode tables for vpermw, which reads only bits 4:0 of each index word:
//   symmetric (nibble c = q + 8):  t[i] = bf16((i mod 16) − 8), the 16 values twice, so the bits
//                                  above the nibble are ignored and no masking is needed;
//   asymmetric (nibble q, value q − z): t[i] = bf16(i − 16), indexed by q + (16 − z).
inline __m512i int4_table(bool asym) {
  alignas(64) std::uint16_t t[32];
  for (int i = 0; i < 32; ++i) {
    const float v = static_cast<float>(asym ? i - 16 : (i % 16) - 8);
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    t[i] = static_cast<std::uint16_t>(u >> 16);
  }
  return _mm512_load_si512(t);
}

// One 64-byte int4 chunk -> four zmm of bf16 pairs: d[0] = (pair 2q, rows 0-15), d[1] = (2q, 16-31),
// d[2] = (2q+1, 0-15), d[3] = (2q+1, 16-31). Nibble t of every word is element t: three shifts and
// four vpermw (symmetric); asymmetric adds the per-row offsets off0 / off1 (rows 0-15 / 16-31)
// to the masked nibbles.
template <bool Asym>
inline void dec_int4(const std::uint8_t* p, __m512i table, __m512i off0, __m512i off1, __m512i d[4]) {
  const __m512i v = _mm512_loadu_si512(p);
  if constexpr (Asym) {
    const __m512i nib = _mm512_set1_epi16(0xF);
    d[0] = _mm512_permutexvar_epi16(_mm512_add_epi16(_mm512_and_si512(v, nib), off0), table);
    d[1] = _mm512_permutexvar_epi16(_mm512_add_epi16(_mm512_and_si512(_mm512_srli_epi16(v, 4), nib), off1), table);
    d[2] = _mm512_permutexvar_epi16(_mm512_add_epi16(_mm512_and_si512(_mm512_srli_epi16(v, 8), nib), off0), table);
    d[3] = _mm512_permutexvar_epi16(_mm512_add_epi16(_mm512_srli_epi16(v, 12), off1), table);
  } else {
    d[0] = _mm512_permutexvar_epi16(v, table);
    d[1] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), table);
    d[2] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 8), table);
    d[3] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 12), table);
  }
}

inline __m512 dpbf16(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(a), reinterpret_cast<__m512bh>(b));
}

// acc += Σ_4 a.u8 · b.s8 per 32-bit lane. Inline asm: GCC 12 compiles _mm512_dpbusd_epi32 in a
// register-tiled loop with a copy (and spills) per instruction, at half the speed.
inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

// ---- GEMV (M == 1) ------------------------------------------------------------------------------

struct GemvCtx {
  const WeightView* w;
  const void* a;  // bf16 pairs [Kp/2] (u32), u8 quads [Kp/4] (u32), or floats [K]
  float sa;       // activation scale (fp8, int8)
  float* c;
  i64 next;       // chunk counter
  i64 per_chunk;  // panels (rows for the row layouts) per chunk
  i64 chunks;
};

// Claims the next chunk of panels [*j0, *j1); false when none is left.
inline bool next_panels(GemvCtx& x, i64 total, i64* j0, i64* j1) {
  const i64 ch = claim_chunk(&x.next);
  if (ch >= x.chunks) return false;
  *j0 = ch * x.per_chunk;
  *j1 = min64(total, *j0 + x.per_chunk);
  return true;
}

// Stores the 32 outputs of panel j (rows n0 .. n0+31, masked at N).
inline void store_panel(float* c, i64 N, i64 j, __m512 lo, __m512 hi) {
  const i64 n0 = j * kNR;
  _mm512_mask_storeu_ps(c + n0, tail_mask16(N - n0), lo);
  if (N - n0 > 16) _mm512_mask_storeu_ps(c + n0 + 16, tail_mask16(N - n0 - 16), hi);
}

// Pair layouts decoded to bf16 in registers: bf16 (no decoding) and fp8 e4m3 (times the
// activation and weight scales at the end).
template <bool Fp8>
void gemv_pairs(void* vctx, int tid, int nt) {
  GemvCtx& x = *static_cast<GemvCtx*>(vctx);
  const WeightView& w = *x.w;
  const i64 K2 = w.Kp / 2;
  const i64 esize = Fp8 ? 1 : 2;  // bytes per stored value
  const std::uint32_t* a = static_cast<const std::uint32_t*>(x.a);
  const Fp8Tables tb = fp8_tables();
  i64 j0, j1;
  auto dec = [&](const std::uint8_t* p) -> __m512i {
    if constexpr (Fp8) return dec_fp8(p, tb);
    else return dec_bf16(p);
  };
  while (next_panels(x, w.NP, &j0, &j1))
  for (i64 j = j0; j < j1; ++j) {
    const std::uint8_t* wp = w.data + j * K2 * 64 * esize;
    __m512 acc[4][2];
    for (int u = 0; u < 4; ++u) acc[u][0] = acc[u][1] = _mm512_setzero_ps();
    i64 p = 0;
    for (; p + 4 <= K2; p += 4) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        const std::uint8_t* q = wp + (p + u) * 64 * esize;
        const __m512i ab = _mm512_set1_epi32(static_cast<int>(a[p + u]));
        acc[u][0] = dpbf16(acc[u][0], ab, dec(q));
        acc[u][1] = dpbf16(acc[u][1], ab, dec(q + 32 * esize));
      }
    }
    for (; p < K2; ++p) {
      const std::uint8_t* q = wp + p * 64 * esize;
      const __m512i ab = _mm512_set1_epi32(static_cast<int>(a[p]));
      acc[0][0] = dpbf16(acc[0][0], ab, dec(q));
      acc[0][1] = dpbf16(acc[0][1], ab, dec(q + 32 * esize));
    }
    __m512 lo = _mm512_add_ps(_mm512_add_ps(acc[0][0], acc[1][0]), _mm512_add_ps(acc[2][0], acc[3][0]));
    __m512 hi = _mm512_add_ps(_mm512_add_ps(acc[0][1], acc[1][1]), _mm512_add_ps(acc[2][1], acc[3][1]));
    if constexpr (Fp8) {  // c = acc · a_scale · w_scale[n], in that order (as gemm_naive)
      const float* s = w.scales + j * kNR;
      lo = _mm512_mul_ps(_mm512_mul_ps(lo, _mm512_set1_ps(x.sa)), _mm512_loadu_ps(s));
      hi = _mm512_mul_ps(_mm512_mul_ps(hi, _mm512_set1_ps(x.sa)), _mm512_loadu_ps(s + 16));
    }
    store_panel(x.c, w.N, j, lo, hi);
  }
}

// int8 weights × bf16 activations in float32 FMAs: per 16 weights (8 rows × 2 k) one sign
// extension, one int->float conversion and one FMA against the activation pair (a_2p, a_2p+1)
// broadcast as a 64-bit pattern; the lanes hold (row, k parity) partial sums, added pairwise at the
// end. Same products and float32 sums as vdpbf16ps on the decoded weights, 20 % faster than
// decoding to bf16 first (25 vs 21 G weights/s per core, in L1). a: activations as float32 [Kp].
void gemv_int8w(void* vctx, int tid, int nt) {
  GemvCtx& x = *static_cast<GemvCtx*>(vctx);
  const WeightView& w = *x.w;
  const i64 K2 = w.Kp / 2;
  const double* a2 = static_cast<const double*>(x.a);  // float pairs, one 64-bit unit per pair
  // Gathers the even / odd lanes of (lo, hi): rows 0-7 of lo then rows 8-15 of hi.
  alignas(64) static const int even_idx[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
  alignas(64) static const int odd_idx[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
  const __m512i ie = _mm512_load_si512(even_idx), io = _mm512_load_si512(odd_idx);
  i64 j0, j1;
  while (next_panels(x, w.NP, &j0, &j1))
  for (i64 j = j0; j < j1; ++j) {
    const std::int8_t* wp = reinterpret_cast<const std::int8_t*>(w.data) + j * K2 * 64;
    __m512 acc[2][4];
    for (int u = 0; u < 2; ++u)
      for (int h = 0; h < 4; ++h) acc[u][h] = _mm512_setzero_ps();
    for (i64 p = 0; p < K2; p += 2) {  // K2 is even (Kp is a multiple of 4)
#pragma GCC unroll 2
      for (int u = 0; u < 2; ++u) {
        const std::int8_t* q = wp + (p + u) * 64;
        const __m512 av = _mm512_castpd_ps(_mm512_set1_pd(a2[p + u]));
#pragma GCC unroll 4
        for (int h = 0; h < 4; ++h) {
          const __m512i wi = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * h)));
          acc[u][h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(wi), av, acc[u][h]);
        }
      }
    }
    __m512 r[4];
    for (int h = 0; h < 4; ++h) r[h] = _mm512_add_ps(acc[0][h], acc[1][h]);
    // r[0] rows 0-7, r[1] rows 8-15, r[2] rows 16-23, r[3] rows 24-31, lanes (row, parity).
    __m512 lo = _mm512_add_ps(_mm512_permutex2var_ps(r[0], ie, r[1]), _mm512_permutex2var_ps(r[0], io, r[1]));
    __m512 hi = _mm512_add_ps(_mm512_permutex2var_ps(r[2], ie, r[3]), _mm512_permutex2var_ps(r[2], io, r[3]));
    const float* s = w.scales + j * kNR;
    lo = _mm512_mul_ps(lo, _mm512_loadu_ps(s));
    hi = _mm512_mul_ps(hi, _mm512_loadu_ps(s + 16));
    store_panel(x.c, w.N, j, lo, hi);
  }
}

// int4 groups: per group two partial sums per half, then acc += group_sum · scale.
template <bool Asym>
void gemv_int4(void* vctx, int tid, int nt) {
  GemvCtx& x = *static_cast<GemvCtx*>(vctx);
  const WeightView& w = *x.w;
  const i64 K4 = w.Kp / 4, G = w.G, gq = w.group / 4;  // quads per group
  const std::uint32_t* a = static_cast<const std::uint32_t*>(x.a);
  const __m512i table = int4_table(Asym);
  i64 j0, j1;
  while (next_panels(x, w.NP, &j0, &j1))
  for (i64 j = j0; j < j1; ++j) {
    const std::uint8_t* wp = w.data + j * K4 * 64;
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
    __m512i off0 = _mm512_set1_epi16(8), off1 = off0;
    for (i64 g = 0; g < G; ++g) {
      if constexpr (Asym) {
        const std::int16_t* zo = w.zoff + (j * G + g) * 2 * kNR;
        off0 = _mm512_loadu_si512(zo);
        off1 = _mm512_loadu_si512(zo + kNR);
      }
      __m512 g0 = _mm512_setzero_ps(), g1 = g0, g2 = g0, g3 = g0;
      const i64 q0 = g * gq;
      for (i64 q = q0; q < q0 + gq; ++q) {
        __m512i d[4];
        dec_int4<Asym>(wp + q * 64, table, off0, off1, d);
        const __m512i a0 = _mm512_set1_epi32(static_cast<int>(a[2 * q]));
        const __m512i a1 = _mm512_set1_epi32(static_cast<int>(a[2 * q + 1]));
        g0 = dpbf16(g0, a0, d[0]);
        g1 = dpbf16(g1, a0, d[1]);
        g2 = dpbf16(g2, a1, d[2]);
        g3 = dpbf16(g3, a1, d[3]);
      }
      const float* s = w.scales + (j * G + g) * kNR;
      lo = _mm512_fmadd_ps(_mm512_add_ps(g0, g2), _mm512_loadu_ps(s), lo);
      hi = _mm512_fmadd_ps(_mm512_add_ps(g1, g3), _mm512_loadu_ps(s + 16), hi);
    }
    store_panel(x.c, w.N, j, lo, hi);
  }
}

// int8 × int8 (VNNI): u8 (q_a + 128) · s8 q_w summed in int32, minus 128 · Σq_w.
void gemv_int8_vnni(void* vctx, int tid, int nt) {
  GemvCtx& x = *static_cast<GemvCtx*>(vctx);
  const WeightView& w = *x.w;
  const i64 K4 = w.Kp / 4;
  const std::uint32_t* a = static_cast<const std::uint32_t*>(x.a);
  i64 j0, j1;
  while (next_panels(x, w.NP, &j0, &j1))
  for (i64 j = j0; j < j1; ++j) {
    const std::uint8_t* wp = w.data + j * K4 * 128;
    __m512i acc[4][2];
    for (int u = 0; u < 4; ++u) acc[u][0] = acc[u][1] = _mm512_setzero_si512();
    i64 q = 0;
    for (; q + 4 <= K4; q += 4) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        const std::uint8_t* p = wp + (q + u) * 128;
        const __m512i ab = _mm512_set1_epi32(static_cast<int>(a[q + u]));
        acc[u][0] = dpbusd(acc[u][0], ab, _mm512_loadu_si512(p));
        acc[u][1] = dpbusd(acc[u][1], ab, _mm512_loadu_si512(p + 64));
      }
    }
    for (; q < K4; ++q) {
      const std::uint8_t* p = wp + q * 128;
      const __m512i ab = _mm512_set1_epi32(static_cast<int>(a[q]));
      acc[0][0] = dpbusd(acc[0][0], ab, _mm512_loadu_si512(p));
      acc[0][1] = dpbusd(acc[0][1], ab, _mm512_loadu_si512(p + 64));
    }
    __m512i lo = _mm512_add_epi32(_mm512_add_epi32(acc[0][0], acc[1][0]), _mm512_add_epi32(acc[2][0], acc[3][0]));
    __m512i hi = _mm512_add_epi32(_mm512_add_epi32(acc[0][1], acc[1][1]), _mm512_add_epi32(acc[2][1], acc[3][1]));
    const std::int32_t* ws = w.wsum + j * kNR;
    lo = _mm512_sub_epi32(lo, _mm512_slli_epi32(_mm512_loadu_si512(ws), 7));
    hi = _mm512_sub_epi32(hi, _mm512_slli_epi32(_mm512_loadu_si512(ws + 16), 7));
    const __m512 sa = _mm512_set1_ps(x.sa);
    const float* s = w.scales + j * kNR;
    const __m512 flo = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(lo), sa), _mm512_loadu_ps(s));
    const __m512 fhi = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), sa), _mm512_loadu_ps(s + 16));
    store_panel(x.c, w.N, j, flo, fhi);
  }
}

// Row layouts (float32, fp16): rows split over threads, four rows at a time against one
// activation vector (float32 values; fp16-rounded for F16).
template <bool Half>
void gemv_rows(void* vctx, int tid, int nt) {
  GemvCtx& x = *static_cast<GemvCtx*>(vctx);
  const WeightView& w = *x.w;
  const i64 N = w.N, K = w.K;
  const float* a = static_cast<const float*>(x.a);
  auto load = [&](i64 n, i64 k, __mmask16 m) -> __m512 {
    if constexpr (Half) {
      const auto* h = reinterpret_cast<const std::uint16_t*>(w.data) + n * K + k;
      return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h));
    } else {
      return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(w.data) + n * K + k);
    }
  };
  i64 n0, n1;
  while (next_panels(x, N, &n0, &n1)) {
  i64 n = n0;
  for (; n + 4 <= n1; n += 4) {
    __m512 acc[4][2];
    for (int r = 0; r < 4; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    i64 k = 0;
    for (; k + 32 <= K; k += 32) {
      const __m512 a0 = _mm512_loadu_ps(a + k), a1 = _mm512_loadu_ps(a + k + 16);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        // Rows are short streams (a few KiB): prefetch the same columns of the next four rows,
        // so memory sees one continuous stream instead of four that each restart the prefetcher.
        if (n + 8 <= N) {
          const char* nx = reinterpret_cast<const char*>(w.data) + ((n + 4 + r) * K + k) * (Half ? 2 : 4);
          _mm_prefetch(nx, _MM_HINT_T0);
          if (!Half) _mm_prefetch(nx + 64, _MM_HINT_T0);
        }
        acc[r][0] = _mm512_fmadd_ps(load(n + r, k, 0xFFFF), a0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(load(n + r, k + 16, 0xFFFF), a1, acc[r][1]);
      }
    }
    for (; k < K; k += 16) {
      const __mmask16 m = tail_mask16(K - k);
      const __m512 a0 = _mm512_maskz_loadu_ps(m, a + k);
      for (int r = 0; r < 4; ++r) acc[r][0] = _mm512_fmadd_ps(load(n + r, k, m), a0, acc[r][0]);
    }
    for (int r = 0; r < 4; ++r) x.c[n + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
  }
  for (; n < n1; ++n) {
    __m512 acc = _mm512_setzero_ps();
    for (i64 k = 0; k < K; k += 16) {
      const __mmask16 m = tail_mask16(K - k);
      acc = _mm512_fmadd_ps(load(n, k, m), _mm512_maskz_loadu_ps(m, a + k), acc);
    }
    x.c[n] = _mm512_reduce_add_ps(acc);
  }
  }
}

// ---- GEMM micro-kernels (M > 1) -------------------------------------------------------------------

// c[MR, 32] (+)= Σ_p a[p][r] · w[p] over kc pairs. a: [kc][MR] bf16 pairs; w: [kc][32][2] bf16.
template <int MR>
void uk_bf16(i64 kc, const std::uint32_t* a, const std::uint16_t* w, float* c, i64 ldc, __mmask16 m0, __mmask16 m1,
             bool first) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (i64 p = 0; p < kc; ++p) {
    const __m512i w0 = _mm512_loadu_si512(w + p * 64), w1 = _mm512_loadu_si512(w + p * 64 + 32);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512i ab = _mm512_set1_epi32(static_cast<int>(a[p * MR + r]));
      acc0[r] = dpbf16(acc0[r], ab, w0);
      acc1[r] = dpbf16(acc1[r], ab, w1);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    if (!first) {
      acc0[r] = _mm512_add_ps(acc0[r], _mm512_maskz_loadu_ps(m0, cr));
      acc1[r] = _mm512_add_ps(acc1[r], _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    _mm512_mask_storeu_ps(cr, m0, acc0[r]);
    _mm512_mask_storeu_ps(cr + 16, m1, acc1[r]);
  }
}

// As uk_bf16 with int4 group scales: kc pairs = whole groups of gp pairs; after each group
// acc += group_sum · scale[g] (scales [groups][32] from s).
template <int MR>
void uk_bf16_groups(i64 kc, i64 gp, const std::uint32_t* a, const std::uint16_t* w, const float* s, float* c, i64 ldc,
                    __mmask16 m0, __mmask16 m1, bool first) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (i64 p0 = 0; p0 < kc; p0 += gp) {
    __m512 g0[MR], g1[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) g0[r] = g1[r] = _mm512_setzero_ps();
    for (i64 p = p0; p < p0 + gp; ++p) {
      const __m512i w0 = _mm512_loadu_si512(w + p * 64), w1 = _mm512_loadu_si512(w + p * 64 + 32);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512i ab = _mm512_set1_epi32(static_cast<int>(a[p * MR + r]));
        g0[r] = dpbf16(g0[r], ab, w0);
        g1[r] = dpbf16(g1[r], ab, w1);
      }
    }
    const float* sg = s + (p0 / gp) * kNR;
    const __m512 s0 = _mm512_loadu_ps(sg), s1 = _mm512_loadu_ps(sg + 16);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      acc0[r] = _mm512_fmadd_ps(g0[r], s0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(g1[r], s1, acc1[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    if (!first) {
      acc0[r] = _mm512_add_ps(acc0[r], _mm512_maskz_loadu_ps(m0, cr));
      acc1[r] = _mm512_add_ps(acc1[r], _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    _mm512_mask_storeu_ps(cr, m0, acc0[r]);
    _mm512_mask_storeu_ps(cr + 16, m1, acc1[r]);
  }
}

// int8 × int8: c (as int32) (+)= Σ_q a[q][r] · w[q] over kc quads. a: [kc][MR] u8 quads;
// w: [kc][32][4] s8.
template <int MR>
void uk_vnni(i64 kc, const std::uint32_t* a, const std::uint8_t* w, std::int32_t* c, i64 ldc, __mmask16 m0,
             __mmask16 m1, bool first) {
  __m512i acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_si512();
  for (i64 q = 0; q < kc; ++q) {
    const __m512i w0 = _mm512_loadu_si512(w + q * 128), w1 = _mm512_loadu_si512(w + q * 128 + 64);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512i ab = _mm512_set1_epi32(static_cast<int>(a[q * MR + r]));
      acc0[r] = dpbusd(acc0[r], ab, w0);
      acc1[r] = dpbusd(acc1[r], ab, w1);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    std::int32_t* cr = c + r * ldc;
    if (!first) {
      acc0[r] = _mm512_add_epi32(acc0[r], _mm512_maskz_loadu_epi32(m0, cr));
      acc1[r] = _mm512_add_epi32(acc1[r], _mm512_maskz_loadu_epi32(m1, cr + 16));
    }
    _mm512_mask_storeu_epi32(cr, m0, acc0[r]);
    _mm512_mask_storeu_epi32(cr + 16, m1, acc1[r]);
  }
}

constexpr int kMrPlain = 12;  // rows per block: 24 accumulators + 2 weight vectors
constexpr int kMrGroup = 6;   // int4: 12 group sums + 12 accumulators + 2 weights + 2 scales
// K block: at most kKcMax pairs (quads for int8), split evenly. Measured (one thread, thread CPU
// time, M = 512, N = 2048, bf16): K = 1536 with KC = 64 / 128 / 256 / 768 pairs: 154 / 169 / 182 /
// 196 GFLOP/s; K = 5376 with KC = 256 / 512 / 1344 / 2688: 177 / 189 / 198 / 193. Longer blocks
// reload the C tile less often; the weight block (KC · 128 B) then lives in L2, which feeds one
// 64-byte vector per 12 vdpbf16ps easily.
constexpr i64 kKcMax = 1024;
inline i64 k_block(i64 units, i64 multiple) {
  const i64 nb = (units + kKcMax - 1) / kKcMax;
  const i64 kc = (units + nb - 1) / nb;
  return (kc + multiple - 1) / multiple * multiple;
}

// Calls uk<rows> for rows in 1..MAX (a switch over a compile-time list).
#define G4_DISPATCH_ROWS(ROWS, CALL) \
  switch (ROWS) {                   \
    case 1: CALL(1); break;         \
    case 2: CALL(2); break;         \
    case 3: CALL(3); break;         \
    case 4: CALL(4); break;         \
    case 5: CALL(5); break;         \
    case 6: CALL(6); break;         \
    case 7: CALL(7); break;         \
    case 8: CALL(8); break;         \
    case 9: CALL(9); break;         \
    case 10: CALL(10); break;       \
    case 11: CALL(11); break;       \
    case 12: CALL(12); break;       \
    default: break;                 \
  }

struct GemmCtx {
  const WeightView* w;
  i64 M;
  int mrp;                  // rows per A block
  const std::uint32_t* a;   // packed A: block b at b·mrp·(Kp/2 or Kp/4), [pairs|quads][rows]
  const float* sa;          // per-row activation scales (fp8, int8)
  float* c;
  i64 next;                 // chunk counter
  bool by_panels;           // chunks of panels (all row blocks) or of row blocks (all panels)
  i64 per_chunk, chunks;
};

// Claims the next chunk: panels [*j0, *j1) × row blocks [*b0, *b1).
inline bool next_tile(GemmCtx& x, i64 NP, i64 MB, i64* j0, i64* j1, i64* b0, i64* b1) {
  const i64 ch = claim_chunk(&x.next);
  if (ch >= x.chunks) return false;
  const i64 total = x.by_panels ? NP : MB;
  const i64 lo = ch * x.per_chunk, hi = min64(total, lo + x.per_chunk);
  if (x.by_panels) *j0 = lo, *j1 = hi, *b0 = 0, *b1 = MB;
  else *j0 = 0, *j1 = NP, *b0 = lo, *b1 = hi;
  return true;
}

// Decodes pairs [p0, p0 + np) of panel j into bf16 pairs dst[np][32][2] (np even for int4).
void decode_panel(const WeightView& w, i64 j, i64 p0, i64 np, std::uint16_t* dst, const Fp8Tables& tb,
                  __m512i table) {
  const i64 K2 = w.Kp / 2;
  __m512i* out = reinterpret_cast<__m512i*>(dst);
  switch (w.layout) {
    case Layout::kInt8Pairs:
    case Layout::kFp8Pairs: {
      const std::uint8_t* src = w.data + (j * K2 + p0) * 64;
      for (i64 p = 0; p < np; ++p) {
        const std::uint8_t* q = src + p * 64;
        if (w.layout == Layout::kInt8Pairs) {
          _mm512_store_si512(out + 2 * p, dec_int8(q));
          _mm512_store_si512(out + 2 * p + 1, dec_int8(q + 32));
        } else {
          _mm512_store_si512(out + 2 * p, dec_fp8(q, tb));
          _mm512_store_si512(out + 2 * p + 1, dec_fp8(q + 32, tb));
        }
      }
      return;
    }
    case Layout::kInt4Quads: {
      const i64 K4 = w.Kp / 4, gq = w.group / 4;
      __m512i off0 = _mm512_set1_epi16(8), off1 = off0;
      for (i64 q = p0 / 2; q < (p0 + np) / 2; ++q) {
        if (w.asym) {
          const std::int16_t* zo = w.zoff + (j * w.G + q / gq) * 2 * kNR;
          off0 = _mm512_loadu_si512(zo);
          off1 = _mm512_loadu_si512(zo + kNR);
        }
        __m512i d[4];
        if (w.asym)
          dec_int4<true>(w.data + (j * K4 + q) * 64, table, off0, off1, d);
        else
          dec_int4<false>(w.data + (j * K4 + q) * 64, table, off0, off1, d);
        __m512i* o = out + 2 * (2 * q - p0);
        _mm512_store_si512(o, d[0]);
        _mm512_store_si512(o + 1, d[1]);
        _mm512_store_si512(o + 2, d[2]);
        _mm512_store_si512(o + 3, d[3]);
      }
      return;
    }
    default: return;
  }
}

void gemm_bf16_worker(void* vctx, int tid, int nt) {
  GemmCtx& x = *static_cast<GemmCtx*>(vctx);
  const WeightView& w = *x.w;
  const i64 M = x.M, N = w.N, K2 = w.Kp / 2, MB = (M + x.mrp - 1) / x.mrp;
  const bool groups = w.layout == Layout::kInt4Quads;
  const i64 gp = groups ? w.group / 2 : 1;  // pairs per group
  const i64 kc_max = k_block(K2, groups ? gp : 2);  // int4: whole groups
  i64 j0, j1, b0, b1;
  std::uint16_t* buf = nullptr;
  // Weights that are used by two or more row blocks are first copied / decoded into a 64-byte
  // aligned buffer: the packed vector sits at 16 mod 64 (malloc), and split-line loads cost ~15 %
  // of the bf16 micro-kernel's speed (E2B q_proj, M = 512: 146 -> 170 GFLOP/s).
  const bool copy = w.layout != Layout::kBf16Pairs || MB >= 2;
  if (copy) buf = static_cast<std::uint16_t*>(thread_scratch(0, static_cast<std::size_t>(kc_max) * 128));
  const Fp8Tables tb = fp8_tables();
  const __m512i table = int4_table(w.asym);
  while (next_tile(x, w.NP, MB, &j0, &j1, &b0, &b1)) {
  for (i64 kb = 0; kb < K2; kb += kc_max) {
    const i64 kc = min64(kc_max, K2 - kb);
    for (i64 j = j0; j < j1; ++j) {
      const std::uint16_t* wp;
      if (w.layout == Layout::kBf16Pairs) {
        wp = reinterpret_cast<const std::uint16_t*>(w.data) + (j * K2 + kb) * 64;
        if (copy) {
          std::memcpy(buf, wp, static_cast<std::size_t>(kc) * 128);
          wp = buf;
        }
      } else {
        decode_panel(w, j, kb, kc, buf, tb, table);
        wp = buf;
      }
      const __mmask16 m0 = tail_mask16(N - j * kNR), m1 = tail_mask16(N - j * kNR - 16);
      for (i64 b = b0; b < b1; ++b) {
        const i64 rows = min64(x.mrp, M - b * x.mrp);
        const std::uint32_t* ab = x.a + b * x.mrp * K2 + kb * rows;
        float* cb = x.c + b * x.mrp * N + j * kNR;
        if (groups) {
          const float* s = w.scales + (j * w.G + kb / gp) * kNR;
#define G4_CALL(R) uk_bf16_groups<R>(kc, gp, ab, wp, s, cb, N, m0, m1, kb == 0)
          G4_DISPATCH_ROWS(rows, G4_CALL)
#undef G4_CALL
        } else {
#define G4_CALL(R) uk_bf16<R>(kc, ab, wp, cb, N, m0, m1, kb == 0)
          G4_DISPATCH_ROWS(rows, G4_CALL)
#undef G4_CALL
        }
      }
    }
  }
  // Epilogue: per-row weight scales (int8, fp8) and per-token activation scales (fp8).
  if (w.layout == Layout::kInt8Pairs || w.layout == Layout::kFp8Pairs) {
    for (i64 b = b0; b < b1; ++b)
      for (i64 m = b * x.mrp; m < min64(M, (b + 1) * x.mrp); ++m)
        for (i64 j = j0; j < j1; ++j) {
          float* cr = x.c + m * N + j * kNR;
          const float* s = w.scales + j * kNR;
          for (int h = 0; h < 2; ++h) {
            const __mmask16 mk = tail_mask16(N - j * kNR - 16 * h);
            if (!mk) continue;
            __m512 v = _mm512_maskz_loadu_ps(mk, cr + 16 * h);
            if (w.layout == Layout::kFp8Pairs) v = _mm512_mul_ps(v, _mm512_set1_ps(x.sa[m]));
            _mm512_mask_storeu_ps(cr + 16 * h, mk, _mm512_mul_ps(v, _mm512_loadu_ps(s + 16 * h)));
          }
        }
  }
  }
}

void gemm_vnni_worker(void* vctx, int tid, int nt) {
  GemmCtx& x = *static_cast<GemmCtx*>(vctx);
  const WeightView& w = *x.w;
  const i64 M = x.M, N = w.N, K4 = w.Kp / 4, MB = (M + x.mrp - 1) / x.mrp;
  const i64 kc_max = k_block(K4, 1);
  i64 j0, j1, b0, b1;
  std::int32_t* ci = reinterpret_cast<std::int32_t*>(x.c);  // int32 partial sums, converted below
  std::uint8_t* buf = MB >= 2 ? static_cast<std::uint8_t*>(thread_scratch(0, static_cast<std::size_t>(kc_max) * 128))
                              : nullptr;
  while (next_tile(x, w.NP, MB, &j0, &j1, &b0, &b1)) {
  for (i64 kb = 0; kb < K4; kb += kc_max) {
    const i64 kc = min64(kc_max, K4 - kb);
    for (i64 j = j0; j < j1; ++j) {
      const std::uint8_t* wp = w.data + (j * K4 + kb) * 128;
      if (buf) {  // aligned copy, as in gemm_bf16_worker
        std::memcpy(buf, wp, static_cast<std::size_t>(kc) * 128);
        wp = buf;
      }
      const __mmask16 m0 = tail_mask16(N - j * kNR), m1 = tail_mask16(N - j * kNR - 16);
      for (i64 b = b0; b < b1; ++b) {
        const i64 rows = min64(x.mrp, M - b * x.mrp);
        const std::uint32_t* ab = x.a + b * x.mrp * K4 + kb * rows;
        std::int32_t* cb = ci + b * x.mrp * N + j * kNR;
#define G4_CALL(R) uk_vnni<R>(kc, ab, wp, cb, N, m0, m1, kb == 0)
        G4_DISPATCH_ROWS(rows, G4_CALL)
#undef G4_CALL
      }
    }
  }
  for (i64 b = b0; b < b1; ++b)
    for (i64 m = b * x.mrp; m < min64(M, (b + 1) * x.mrp); ++m)
      for (i64 j = j0; j < j1; ++j) {
        std::int32_t* cr = ci + m * N + j * kNR;
        for (int h = 0; h < 2; ++h) {
          const __mmask16 mk = tail_mask16(N - j * kNR - 16 * h);
          if (!mk) continue;
          __m512i v = _mm512_maskz_loadu_epi32(mk, cr + 16 * h);
          v = _mm512_sub_epi32(v, _mm512_slli_epi32(_mm512_loadu_si512(w.wsum + j * kNR + 16 * h), 7));
          __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(x.sa[m]));
          f = _mm512_mul_ps(f, _mm512_loadu_ps(w.scales + j * kNR + 16 * h));
          _mm512_mask_storeu_ps(reinterpret_cast<float*>(cr) + 16 * h, mk, f);
        }
      }
  }
}

// A [M, K] -> packed blocks of mrp rows: [units][rows] u32 per block, units = pairs (bf16, fp8)
// or quads (int8). Row conversion into a scratch row first, then the transpose into the block.
struct PackCtx {
  const float* a;
  i64 M, K, Kp;
  int mrp;
  AIn in;
  std::uint32_t* out;
  float* sa;
  i64 next;  // chunk counter (chunks of kPackRows rows)
};
constexpr i64 kPackRows = 8;

void pack_a_worker(void* vctx, int tid, int nt) {
  PackCtx& x = *static_cast<PackCtx*>(vctx);
  const i64 units = x.in == AIn::kInt8 ? x.Kp / 4 : x.Kp / 2;
  std::uint32_t* row = static_cast<std::uint32_t*>(thread_scratch(3, static_cast<std::size_t>(x.Kp) * 2 + 64));
  for (i64 ch; (ch = claim_chunk(&x.next)) * kPackRows < x.M;)
  for (i64 m = ch * kPackRows; m < min64(x.M, (ch + 1) * kPackRows); ++m) {
    const float* am = x.a + m * x.K;
    float s = 1.0f;
    if (x.in == AIn::kBf16)
      row_to_bf16(am, x.K, x.Kp, reinterpret_cast<std::uint16_t*>(row));
    else if (x.in == AIn::kFp8)
      row_to_fp8_bf16(am, x.K, x.Kp, reinterpret_cast<std::uint16_t*>(row), &s);
    else
      row_to_int8(am, x.K, x.Kp, reinterpret_cast<std::uint8_t*>(row), &s, true);
    if (x.sa) x.sa[m] = s;
    const i64 b = m / x.mrp, r = m % x.mrp, rows = min64(x.mrp, x.M - b * x.mrp);
    std::uint32_t* blk = x.out + b * x.mrp * units;
    for (i64 u = 0; u < units; ++u) blk[u * rows + r] = row[u];
  }
}

}  // namespace

// ---- Entry points ---------------------------------------------------------------------------------

void avx512_f16_to_f32(const std::uint16_t* x, float* y, i64 n) {
  for (i64 i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask16(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
  }
}

void avx512_convert_row(const float* a, i64 K, AIn in, float* values, float* scale) {
  *scale = 1.0f;
  const i64 Kp = (K + 3) / 4 * 4;
  switch (in) {
    case AIn::kF32:
      std::memcpy(values, a, static_cast<std::size_t>(K) * 4);
      return;
    case AIn::kF16:
      row_to_f16_values(a, K, values);
      return;
    case AIn::kBf16:
    case AIn::kFp8: {
      std::uint16_t* b = static_cast<std::uint16_t*>(thread_scratch(2, static_cast<std::size_t>(Kp) * 2));
      if (in == AIn::kBf16)
        row_to_bf16(a, K, Kp, b);
      else
        row_to_fp8_bf16(a, K, Kp, b, scale);
      for (i64 k = 0; k < K; ++k) {
        const std::uint32_t u = static_cast<std::uint32_t>(b[k]) << 16;
        std::memcpy(values + k, &u, 4);
      }
      return;
    }
    case AIn::kInt8: {
      std::int8_t* q = static_cast<std::int8_t*>(thread_scratch(2, static_cast<std::size_t>(Kp)));
      row_to_int8(a, K, Kp, reinterpret_cast<std::uint8_t*>(q), scale, false);
      for (i64 k = 0; k < K; ++k) values[k] = q[k];
      return;
    }
  }
}

void avx512_gemm(const float* a, i64 M, const WeightView& w, float* c) {
  const i64 K = w.K, Kp = w.Kp;
  const i64 nt = pool_threads();
  if (M == 1) {
    // Chunks: about 8 per thread, so a late or descheduled thread only takes fewer.
    GemvCtx x{&w, nullptr, 1.0f, c, 0, 1, 1};
    const i64 units = w.NP > 0 ? w.NP : w.N;
    x.per_chunk = units / (nt * 8) > 1 ? units / (nt * 8) : 1;
    if (w.NP == 0) x.per_chunk = (x.per_chunk + 3) / 4 * 4;  // rows: multiples of 4
    x.chunks = (units + x.per_chunk - 1) / x.per_chunk;
    void (*fn)(void*, int, int) = nullptr;
    switch (w.layout) {
      case Layout::kF32Rows:
        x.a = a;
        fn = gemv_rows<false>;
        break;
      case Layout::kF16Rows: {
        float* av = static_cast<float*>(thread_scratch(1, static_cast<std::size_t>(K) * 4));
        row_to_f16_values(a, K, av);
        x.a = av;
        fn = gemv_rows<true>;
        break;
      }
      case Layout::kInt8Quads: {
        std::uint8_t* q = static_cast<std::uint8_t*>(thread_scratch(1, static_cast<std::size_t>(Kp)));
        row_to_int8(a, K, Kp, q, &x.sa, true);
        x.a = q;
        fn = gemv_int8_vnni;
        break;
      }
      case Layout::kInt8Pairs: {
        // Activations rounded to bf16, then widened (exactly) to float32 for the FMA kernel.
        const i64 K16 = (Kp + 15) / 16 * 16;
        std::uint16_t* b = static_cast<std::uint16_t*>(thread_scratch(1, static_cast<std::size_t>(K16) * 6));
        float* af = reinterpret_cast<float*>(b + K16);
        row_to_bf16(a, K, K16, b);
        for (i64 k = 0; k < K16; k += 16)
          _mm512_storeu_si512(af + k, _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(
                                                            reinterpret_cast<const __m256i*>(b + k))), 16));
        x.a = af;
        fn = gemv_int8w;
        break;
      }
      default: {
        std::uint16_t* b = static_cast<std::uint16_t*>(thread_scratch(1, static_cast<std::size_t>(Kp) * 2));
        if (w.input == AIn::kFp8)
          row_to_fp8_bf16(a, K, Kp, b, &x.sa);
        else
          row_to_bf16(a, K, Kp, b);
        x.a = b;
        if (w.layout == Layout::kBf16Pairs) fn = gemv_pairs<false>;
        else if (w.layout == Layout::kFp8Pairs) fn = gemv_pairs<true>;
        else fn = w.asym ? gemv_int4<true> : gemv_int4<false>;
      }
    }
    pool_run(fn, &x);
    return;
  }
  // M > 1: panel layouts only (gemm.cpp routes the row layouts elsewhere).
  const bool vnni = w.layout == Layout::kInt8Quads;
  const int mrp = w.layout == Layout::kInt4Quads ? kMrGroup : kMrPlain;
  const i64 units = vnni ? Kp / 4 : Kp / 2;
  const i64 MB = (M + mrp - 1) / mrp;
  std::uint32_t* ap = static_cast<std::uint32_t*>(thread_scratch(1, static_cast<std::size_t>(MB * mrp * units) * 4));
  float* sa = static_cast<float*>(thread_scratch(2, static_cast<std::size_t>(M) * 4));
  PackCtx pk{a, M, K, Kp, mrp, w.input, ap, sa, 0};
  pool_run(pack_a_worker, &pk);
  GemmCtx x{&w, M, mrp, ap, sa, c, 0, true, 1, 1};
  // Chunks of panels (all row blocks each) when there are enough panels, else of row blocks.
  x.by_panels = w.NP >= 2 * nt || MB < 2 * nt;
  const i64 total = x.by_panels ? w.NP : MB;
  x.per_chunk = total / (nt * 4) > 1 ? total / (nt * 4) : 1;
  x.chunks = (total + x.per_chunk - 1) / x.per_chunk;
  pool_run(vnni ? gemm_vnni_worker : gemm_bf16_worker, &x);
}

}  // namespace g4::cpu::detail
