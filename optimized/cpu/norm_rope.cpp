// RMSNorm and RoPE kernels of the CPU executor; see norm_rope.hpp for the contract and numerics.
#include "optimized/cpu/norm_rope.hpp"

#include "optimized/cpu/avx512_target.hpp"

#include <cmath>
#include <vector>

#include "reference/common/check.hpp"


namespace g4::cpu {
namespace {

using i64 = std::int64_t;

bool have_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return ok;
}

inline __mmask16 tail_mask(i64 n) { return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u); }

// 1 / sqrt(Σx² / dim + eps), float32.
inline float inv_rms(float ss, i64 dim, float eps) { return 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps); }

// ---------------------------------------------------------------------------------------------
// Portable bodies (plain loops; sums in 16 lanes like the AVX-512 ones, so both are blocked).

float sumsq_portable(const float* x, i64 n) {
  float acc[16] = {};
  i64 i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] += x[i + l] * x[i + l];
  for (int l = 0; i + l < n; ++l) acc[l] += x[i + l] * x[i + l];
  for (int w = 8; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}

void scale_portable(const float* x, float inv, const float* w, float* y, i64 n) {
  if (w)
    for (i64 i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
  else
    for (i64 i = 0; i < n; ++i) y[i] = x[i] * inv;
}

// The add pass of add_rms_norm: sum = x + r, returns Σ sum².
float add_sumsq_portable(const float* x, const float* r, float* sum, i64 n) {
  for (i64 i = 0; i < n; ++i) sum[i] = x[i] + r[i];
  return sumsq_portable(sum, n);
}

// One head: y = rotate(x · inv · w) (inv = 1, w = nullptr: plain RoPE).
void rotate_portable(const float* x, float inv, const float* w, const float* c, const float* s, float* y, i64 half) {
  for (i64 k = 0; k < half; ++k) {
    float a = x[k] * inv, b = x[k + half] * inv;
    if (w) a *= w[k], b *= w[k + half];
    y[k] = a * c[k] - b * s[k];
    y[k + half] = b * c[k] + a * s[k];
  }
}

// ---------------------------------------------------------------------------------------------
// AVX-512 bodies.

G4_AVX512 float sumsq_avx512(const float* x, i64 n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  i64 i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
    a0 = _mm512_fmadd_ps(v0, v0, a0);
    a1 = _mm512_fmadd_ps(v1, v1, a1);
  }
  for (; i < n; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
    a0 = _mm512_fmadd_ps(v, v, a0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

G4_AVX512 void scale_avx512(const float* x, float inv, const float* w, float* y, i64 n) {
  const __m512 vi = _mm512_set1_ps(inv);
  for (i64 i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vi);
    if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
    _mm512_mask_storeu_ps(y + i, m, v);
  }
}

G4_AVX512 float add_sumsq_avx512(const float* x, const float* r, float* sum, i64 n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  i64 i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 v0 = _mm512_add_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(r + i));
    const __m512 v1 = _mm512_add_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(r + i + 16));
    _mm512_storeu_ps(sum + i, v0);
    _mm512_storeu_ps(sum + i + 16, v1);
    a0 = _mm512_fmadd_ps(v0, v0, a0);
    a1 = _mm512_fmadd_ps(v1, v1, a1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, r + i));
    _mm512_mask_storeu_ps(sum + i, m, v);
    a0 = _mm512_fmadd_ps(v, v, a0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

G4_AVX512 void rotate_avx512(const float* x, float inv, const float* w, const float* c, const float* s, float* y,
                             i64 half) {
  const __m512 vi = _mm512_set1_ps(inv);
  for (i64 k = 0; k < half; k += 16) {
    const __mmask16 m = tail_mask(half - k);
    __m512 a = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), vi);
    __m512 b = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + half + k), vi);
    if (w) {
      a = _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, w + k));
      b = _mm512_mul_ps(b, _mm512_maskz_loadu_ps(m, w + half + k));
    }
    const __m512 vc = _mm512_maskz_loadu_ps(m, c + k), vs = _mm512_maskz_loadu_ps(m, s + k);
    _mm512_mask_storeu_ps(y + k, m, _mm512_fmsub_ps(a, vc, _mm512_mul_ps(b, vs)));
    _mm512_mask_storeu_ps(y + half + k, m, _mm512_fmadd_ps(b, vc, _mm512_mul_ps(a, vs)));
  }
}

struct Bodies {
  float (*sumsq)(const float*, i64);
  void (*scale)(const float*, float, const float*, float*, i64);
  float (*add_sumsq)(const float*, const float*, float*, i64);
  void (*rotate)(const float*, float, const float*, const float*, const float*, float*, i64);
};

const Bodies& bodies(const NormRopeTuning& t) {
  static const Bodies simd{sumsq_avx512, scale_avx512, add_sumsq_avx512, rotate_avx512};
  static const Bodies portable{sumsq_portable, scale_portable, add_sumsq_portable, rotate_portable};
  return t.simd && have_avx512() ? simd : portable;
}

void check_norm(const RmsNormProblem& p, const char* who) {
  G4_CHECK(p.rows >= 0 && p.dim > 0 && p.groups > 0, ShapeError, "{}: rows={} dim={} groups={}", who, p.rows, p.dim,
           p.groups);
}

void check_rope(const RopeProblem& p, const char* who) {
  G4_CHECK(p.rows >= 0 && p.heads > 0 && p.head_dim > 0 && p.head_dim % 2 == 0 && p.n_pos >= 0 &&
               (p.rows == 0 || (p.positions && p.cos_table && p.sin_table)),
           ShapeError, "{}: rows={} heads={} head_dim={} (even) n_pos={}, positions and tables required", who, p.rows,
           p.heads, p.head_dim, p.n_pos);
  for (i64 t = 0; t < p.rows; ++t)
    G4_CHECK(p.positions[t] >= 0 && p.positions[t] < p.n_pos, ShapeError,
             "{}: position {} of row {} outside the table [0, {})", who, p.positions[t], t, p.n_pos);
}

}  // namespace

void rms_norm(const float* x, const float* w, float* y, const RmsNormProblem& p, const NormRopeTuning& t) {
  check_norm(p, "rms_norm");
  const Bodies& f = bodies(t);
  for (i64 g = 0; g < p.rows * p.groups; ++g) {
    const float* in = x + g * p.dim;
    f.scale(in, inv_rms(f.sumsq(in, p.dim), p.dim, p.eps), w, y + g * p.dim, p.dim);
  }
}

void rms_norm_naive(const float* x, const float* w, float* y, const RmsNormProblem& p) {
  check_norm(p, "rms_norm_naive");
  for (i64 g = 0; g < p.rows * p.groups; ++g) {
    const float* in = x + g * p.dim;
    float* out = y + g * p.dim;
    float ss = 0.0f;
    for (i64 i = 0; i < p.dim; ++i) ss += in[i] * in[i];
    const float inv = inv_rms(ss, p.dim, p.eps);
    for (i64 i = 0; i < p.dim; ++i) out[i] = in[i] * inv * (w ? w[i] : 1.0f);
  }
}

void add_rms_norm(const float* x, const float* r, const float* w, float* sum, float* y, const RmsNormProblem& p,
                  const NormRopeTuning& t) {
  check_norm(p, "add_rms_norm");
  const Bodies& f = bodies(t);
  for (i64 g = 0; g < p.rows * p.groups; ++g) {
    const i64 o = g * p.dim;
    const float ss = f.add_sumsq(x + o, r + o, sum + o, p.dim);
    f.scale(sum + o, inv_rms(ss, p.dim, p.eps), w, y + o, p.dim);
  }
}

void add_rms_norm_naive(const float* x, const float* r, const float* w, float* sum, float* y,
                        const RmsNormProblem& p) {
  check_norm(p, "add_rms_norm_naive");
  const i64 n = p.rows * p.groups * p.dim;
  for (i64 i = 0; i < n; ++i) sum[i] = x[i] + r[i];
  rms_norm_naive(sum, w, y, p);
}

void rope_table_at(const double* inv_freq, std::int64_t half, const std::int64_t* positions, std::int64_t n,
                   float* cos_table, float* sin_table) {
  for (i64 r = 0; r < n; ++r)
    for (i64 k = 0; k < half; ++k) {
      const double angle = static_cast<double>(positions[r]) * inv_freq[k];
      cos_table[r * half + k] = static_cast<float>(std::cos(angle));
      sin_table[r * half + k] = static_cast<float>(std::sin(angle));
    }
}

void rope_table(const double* inv_freq, std::int64_t half, std::int64_t n_pos, float* cos_table, float* sin_table) {
  std::vector<std::int64_t> positions(static_cast<std::size_t>(std::max<i64>(n_pos, 0)));
  for (i64 pos = 0; pos < n_pos; ++pos) positions[pos] = pos;
  rope_table_at(inv_freq, half, positions.data(), n_pos, cos_table, sin_table);
}

void rope(const float* x, float* y, const RopeProblem& p, const NormRopeTuning& t) {
  check_rope(p, "rope");
  const Bodies& f = bodies(t);
  const i64 half = p.head_dim / 2;
  for (i64 t = 0; t < p.rows; ++t) {
    const float* c = p.cos_table + p.positions[t] * half;
    const float* s = p.sin_table + p.positions[t] * half;
    for (i64 h = 0; h < p.heads; ++h) {
      const i64 o = (t * p.heads + h) * p.head_dim;
      f.rotate(x + o, 1.0f, nullptr, c, s, y + o, half);
    }
  }
}

void rope_naive(const float* x, float* y, const RopeProblem& p) {
  check_rope(p, "rope_naive");
  const i64 half = p.head_dim / 2;
  for (i64 t = 0; t < p.rows; ++t) {
    const float* c = p.cos_table + p.positions[t] * half;
    const float* s = p.sin_table + p.positions[t] * half;
    for (i64 h = 0; h < p.heads; ++h) {
      const float* in = x + (t * p.heads + h) * p.head_dim;
      float* out = y + (t * p.heads + h) * p.head_dim;
      for (i64 k = 0; k < half; ++k) {
        const float a = in[k], b = in[k + half];
        out[k] = a * c[k] - b * s[k];
        out[k + half] = b * c[k] + a * s[k];
      }
    }
  }
}

void rms_norm_rope(const float* x, const float* w, float eps, float* y, const RopeProblem& p,
                   const NormRopeTuning& t) {
  check_rope(p, "rms_norm_rope");
  const Bodies& f = bodies(t);
  const i64 half = p.head_dim / 2;
  for (i64 t = 0; t < p.rows; ++t) {
    const float* c = p.cos_table + p.positions[t] * half;
    const float* s = p.sin_table + p.positions[t] * half;
    for (i64 h = 0; h < p.heads; ++h) {
      const i64 o = (t * p.heads + h) * p.head_dim;
      f.rotate(x + o, inv_rms(f.sumsq(x + o, p.head_dim), p.head_dim, eps), w, c, s, y + o, half);
    }
  }
}

void rms_norm_rope_naive(const float* x, const float* w, float eps, float* y, const RopeProblem& p) {
  check_rope(p, "rms_norm_rope_naive");
  std::vector<float> tmp(static_cast<size_t>(p.rows * p.heads * p.head_dim));
  rms_norm_naive(x, w, tmp.data(), {p.rows, p.head_dim, p.heads, eps});
  rope_naive(tmp.data(), y, p);
}

}  // namespace g4::cpu
