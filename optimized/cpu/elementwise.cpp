// Element-wise kernels and the MoE router of the CPU executor; see elementwise.hpp.
#include "optimized/cpu/elementwise.hpp"

#include "optimized/cpu/avx512_target.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "reference/common/check.hpp"


namespace g4::cpu {
namespace {

using i64 = std::int64_t;

constexpr float kSqrt2OverPi = 0.797884560802865356f;  // √(2/π)
constexpr float kGeluCubic = 0.044715f;

bool have_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return ok;
}

inline __mmask16 tail_mask(i64 n) { return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u); }

// ---------------------------------------------------------------------------------------------
// Scalar forms (portable path and naive twins).

inline float gelu_sigmoid_form(float x) {  // x / (1 + e^(−2z)) = 0.5·x·(1 + tanh z)
  const float z = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return x / (1.0f + std::exp(-2.0f * z));
}
inline float gelu_literal(float x) {
  const float z = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return 0.5f * x * (1.0f + std::tanh(z));
}

// ---------------------------------------------------------------------------------------------
// AVX-512 forms.


// tanh(t), Cephes tanhf: |t| < 0.625: t + t·t²·P(t²); else sign(t)·(1 − 2/(e^(2|t|) + 1)).
G4_AVX512 inline __m512 tanh512(__m512 t) {
  const __m512 a = _mm512_abs_ps(t);
  const __m512 z = _mm512_mul_ps(t, t);
  __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), t, t);
  const __m512 e = exp512(_mm512_add_ps(a, a));
  __m512 large = _mm512_sub_ps(_mm512_set1_ps(1.0f),
                               _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
  large = _mm512_or_ps(large, _mm512_and_ps(t, _mm512_set1_ps(-0.0f)));  // sign of t
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ), large, small);
}

G4_AVX512 inline __m512 gelu512(__m512 x) {
  const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  const __m512 z = _mm512_mul_ps(_mm512_set1_ps(kSqrt2OverPi), _mm512_fmadd_ps(_mm512_set1_ps(kGeluCubic), x3, x));
  const __m512 e = exp512(_mm512_mul_ps(_mm512_set1_ps(-2.0f), z));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

G4_AVX512 void gelu_avx512(const float* x, float* y, i64 n) {
  for (i64 i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, gelu512(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

G4_AVX512 void gelu_mul_avx512(const float* g, const float* u, float* y, i64 n) {
  for (i64 i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(gelu512(_mm512_maskz_loadu_ps(m, g + i)), _mm512_maskz_loadu_ps(m, u + i)));
  }
}

G4_AVX512 void softcap_avx512(const float* x, float* y, i64 n, float cap) {
  const __m512 c = _mm512_set1_ps(cap);
  for (i64 i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(c, tanh512(_mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), c))));
  }
}

void gelu_portable(const float* x, float* y, i64 n) {
  for (i64 i = 0; i < n; ++i) y[i] = gelu_sigmoid_form(x[i]);
}
void gelu_mul_portable(const float* g, const float* u, float* y, i64 n) {
  for (i64 i = 0; i < n; ++i) y[i] = gelu_sigmoid_form(g[i]) * u[i];
}
void softcap_portable(const float* x, float* y, i64 n, float cap) {
  for (i64 i = 0; i < n; ++i) y[i] = cap * std::tanh(x[i] / cap);
}

}  // namespace

void gelu_tanh(const float* x, float* y, std::int64_t n, const ElementwiseTuning& t) {
  if (t.simd && have_avx512())
    gelu_avx512(x, y, n);
  else
    gelu_portable(x, y, n);
}

void gelu_tanh_naive(const float* x, float* y, std::int64_t n) {
  for (i64 i = 0; i < n; ++i) y[i] = gelu_literal(x[i]);
}

namespace {
GatedProblem resolved(GatedProblem p) {
  if (p.ld_gate == 0) p.ld_gate = p.cols;
  if (p.ld_up == 0) p.ld_up = p.cols;
  if (p.ld_out == 0) p.ld_out = p.cols;
  G4_CHECK(p.rows >= 0 && p.cols >= 0 && p.ld_gate >= p.cols && p.ld_up >= p.cols && p.ld_out >= p.cols, ShapeError,
           "gelu_gate_mul: rows={} cols={} ld_gate={} ld_up={} ld_out={}", p.rows, p.cols, p.ld_gate, p.ld_up,
           p.ld_out);
  return p;
}
}  // namespace

void gelu_gate_mul(const float* gate, const float* up, float* out, const GatedProblem& p0,
                   const ElementwiseTuning& tu) {
  const GatedProblem p = resolved(p0);
  const bool simd = tu.simd && have_avx512();
  for (i64 t = 0; t < p.rows; ++t) {
    const float* g = gate + t * p.ld_gate;
    const float* u = up + t * p.ld_up;
    float* o = out + t * p.ld_out;
    if (simd)
      gelu_mul_avx512(g, u, o, p.cols);
    else
      gelu_mul_portable(g, u, o, p.cols);
  }
}

void gelu_gate_mul_naive(const float* gate, const float* up, float* out, const GatedProblem& p0) {
  const GatedProblem p = resolved(p0);
  for (i64 t = 0; t < p.rows; ++t)
    for (i64 f = 0; f < p.cols; ++f) out[t * p.ld_out + f] = gelu_literal(gate[t * p.ld_gate + f]) * up[t * p.ld_up + f];
}

void softcap(const float* x, float* y, std::int64_t n, float cap, const ElementwiseTuning& t) {
  if (t.simd && have_avx512())
    softcap_avx512(x, y, n, cap);
  else
    softcap_portable(x, y, n, cap);
}

void softcap_naive(const float* x, float* y, std::int64_t n, float cap) {
  for (i64 i = 0; i < n; ++i) y[i] = cap * std::tanh(x[i] / cap);
}

// Plain loops: the compiler vectorises them for the baseline ISA, and they are memory-bound.
void add(const float* a, const float* b, float* y, std::int64_t n) {
  for (i64 i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
void mul(const float* a, const float* b, float* y, std::int64_t n) {
  for (i64 i = 0; i < n; ++i) y[i] = a[i] * b[i];
}
void scale(const float* x, float s, float* y, std::int64_t n) {
  for (i64 i = 0; i < n; ++i) y[i] = x[i] * s;
}
void mul_rows(const float* x, const float* v, float* y, std::int64_t rows, std::int64_t cols) {
  for (i64 t = 0; t < rows; ++t)
    for (i64 c = 0; c < cols; ++c) y[t * cols + c] = x[t * cols + c] * v[c];
}

void route(const float* logits, const float* per_expert_scale, float* probs, float* weights, std::int32_t* index,
           const RouterProblem& p) {
  G4_CHECK(p.T >= 0 && p.E > 0 && p.K > 0 && p.K <= p.E, ShapeError, "route: T={} E={} K={} (need 0 < K ≤ E)", p.T,
           p.E, p.K);
  std::vector<float> pr(static_cast<size_t>(p.E));
  std::vector<std::int32_t> order(static_cast<size_t>(p.E));
  for (i64 t = 0; t < p.T; ++t) {
    const float* z = logits + t * p.E;
    float mx = -std::numeric_limits<float>::infinity();
    for (i64 e = 0; e < p.E; ++e) mx = std::max(mx, z[e]);
    float sum = 0.0f;
    for (i64 e = 0; e < p.E; ++e) sum += pr[static_cast<size_t>(e)] = std::exp(z[e] - mx);
    for (i64 e = 0; e < p.E; ++e) pr[static_cast<size_t>(e)] /= sum;
    if (probs) std::copy(pr.begin(), pr.end(), probs + t * p.E);
    std::iota(order.begin(), order.end(), 0);
    // Descending probability, ties to the lower index: the first K of the reference's stable sort.
    std::partial_sort(order.begin(), order.begin() + p.K, order.end(), [&](std::int32_t a, std::int32_t b) {
      const float pa = pr[static_cast<size_t>(a)], pb = pr[static_cast<size_t>(b)];
      return pa > pb || (pa == pb && a < b);
    });
    float top = 0.0f;
    for (i64 j = 0; j < p.K; ++j) top += pr[static_cast<size_t>(order[static_cast<size_t>(j)])];
    for (i64 j = 0; j < p.K; ++j) {
      const std::int32_t e = order[static_cast<size_t>(j)];
      index[t * p.K + j] = e;
      weights[t * p.K + j] = pr[static_cast<size_t>(e)] / top * per_expert_scale[e];
    }
  }
}

}  // namespace g4::cpu
