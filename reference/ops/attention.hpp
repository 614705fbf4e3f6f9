#pragma once
// Scaled dot-product attention with grouped KV heads (GQA), given a boolean mask.
//
//   q  row-major [B·S, Nq·Dh]     S queries per batch row, head-major columns ([B, S, Nq, Dh])
//   k  row-major [B·Skv, Nkv·Dh]  Skv keys per batch row (Skv = past + S with a KV cache); v likewise
//   allowed [B, S, Skv] (ops/mask.hpp)
//   scores[b, h, i, j] = scaling · q[b, i, h] · k[b, j, h / (Nq/Nkv)]     Gemma 4: scaling = 1
//   P = softmax_j(scores) over allowed j;   o[b, i, h] = Σ_j P[b, h, i, j] · v[b, j, h / (Nq/Nkv)]
//   returns o: row-major [B·S, Nq·Dh];  probs (optional): row-major [B·Nq·S, Skv] = [B, Nq, S, Skv]
// The two products go through ops::linear (the one matmul primitive, dgemm by default, the naive
// loop with `--matmul naive`): plain dot-product loops here ran at ~4 GFLOP/s and took half of
// a real-size E2B layer (bench/README.md).
// Upstream: modeling_gemma4.py eager_attention_forward (repeat_kv for GQA).
#include <cstdint>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"
#include "reference/ops/matmul.hpp"
#include "reference/ops/softmax.hpp"

namespace g4::ops {

struct AttentionShape {
  index_t B = 0, S = 0, Nq = 0, Nkv = 0, Dh = 0;
  double scaling = 1.0;
  index_t Skv = 0;  // keys per batch row; 0 means S (no cache)
  index_t keys() const { return Skv ? Skv : S; }
};

inline Mat attention(const Mat& q, const Mat& k, const Mat& v, const std::vector<std::uint8_t>& allowed,
                     const AttentionShape& a, Mat* probs) {
  const index_t T = a.B * a.S, Skv = a.keys();
  G4_CHECK(rows(q) == T && cols(q) == a.Nq * a.Dh && rows(k) == a.B * Skv && cols(k) == a.Nkv * a.Dh &&
               rows(v) == a.B * Skv && cols(v) == a.Nkv * a.Dh && a.Nq % a.Nkv == 0,
           ShapeError, "attention: q [{}, {}], k [{}, {}], v [{}, {}] do not fit B={} S={} Skv={} Nq={} Nkv={} Dh={}",
           rows(q), cols(q), rows(k), cols(k), rows(v), cols(v), a.B, a.S, Skv, a.Nq, a.Nkv, a.Dh);
  G4_CHECK(static_cast<index_t>(allowed.size()) == a.B * a.S * Skv, ShapeError, "attention: mask has {} entries",
           allowed.size());
  const index_t group = a.Nq / a.Nkv;
  const size_t S = static_cast<size_t>(a.S), K = static_cast<size_t>(Skv), Dh = static_cast<size_t>(a.Dh);
  Mat out = xt::zeros<double>({static_cast<size_t>(T), static_cast<size_t>(a.Nq * a.Dh)});
  if (probs) *probs = xt::zeros<double>({static_cast<size_t>(a.B * a.Nq * a.S), K});
  // Per (batch, head): scores = scaling · Q_h · K_gᵀ and o_h = P · V_g, both through the one
  // matmul primitive (ops/matmul.hpp), so `--matmul naive` gives the plain-loop definition.
  Mat qh = Mat::from_shape({S, Dh}), kg = Mat::from_shape({K, Dh}), vg_t = Mat::from_shape({Dh, K});
  Mat p = Mat::from_shape({S, K});                                                  // [S, Skv]
  for (index_t b = 0; b < a.B; ++b) {
    for (index_t h = 0; h < a.Nq; ++h) {
      const index_t g = h / group;  // the KV head this query head reads
      for (index_t s = 0; s < a.S; ++s)
        for (index_t d = 0; d < a.Dh; ++d) qh(s, d) = q(b * a.S + s, h * a.Dh + d);
      for (index_t j = 0; j < Skv; ++j)
        for (index_t d = 0; d < a.Dh; ++d) {
          kg(j, d) = k(b * Skv + j, g * a.Dh + d);
          vg_t(d, j) = v(b * Skv + j, g * a.Dh + d);
        }
      Mat z = linear(qh, kg);                                                       // [S, Skv]
      for (index_t i = 0; i < a.S; ++i) {
        double* zi = &z(i, 0);
        for (index_t j = 0; j < Skv; ++j) zi[j] *= a.scaling;
        softmax_row(zi, &allowed[static_cast<size_t>((b * a.S + i) * Skv)], &p(i, 0), Skv);
      }
      const Mat o = linear(p, vg_t);                                                // [S, Dh]
      for (index_t i = 0; i < a.S; ++i) {
        for (index_t d = 0; d < a.Dh; ++d) out(b * a.S + i, h * a.Dh + d) = o(i, d);
        if (probs)
          for (index_t j = 0; j < Skv; ++j) (*probs)((b * a.Nq + h) * a.S + i, j) = p(i, j);
      }
    }
  }
  return out;
}

}  // namespace g4::ops
