#pragma once
// AVX-512 in functions marked G4_AVX512, entered only after a run-time CPU check, so the library
// is built without global -mavx512 flags and still runs on CPUs without AVX-512.
//
// GCC 12's AVX-512 intrinsics trip -W(maybe-)uninitialized on their own _mm*_undefined_*
// pass-through (GCC PR 105593, fixed in 12.3/13); the warning is about the header, not our code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#define G4_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

namespace g4::cpu {

// exp(x) in float32, Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial, ×2ⁿ by scalef.
// Below ln(FLT_MIN) the result is 0 (so exp(−∞) = 0 exactly); above ~88.7 it is +∞; NaN stays NaN.
// Shared by the attention softmax and the element-wise kernels (GELU's tanh, the router).
G4_AVX512 inline __m512 exp512(__m512 x) {
  const __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654475f), _CMP_LT_OQ);
  x = _mm512_max_ps(_mm512_set1_ps(-88.0f), _mm512_min_ps(_mm512_set1_ps(88.7f), x));  // NaN passes
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~under), _mm512_scalef_ps(y, n));
}

}  // namespace g4::cpu
