#pragma once
// Chunked local self-attention with relative-position logits (the conformer attention of the audio tower).
//
// Blocks (all positions are frame indices in [0, T) of one batch element):
//   queries are cut into U = ceil(T/W) blocks of W; block u holds positions q = u·W + w, w < W
//   (rows q ≥ T are zero padding); its keys/values are the C = W + P + F positions
//   k = u·W − P + c, c < C (zero vectors outside [0, T)).
//
//   allowed[b,u,w,c] = q < T  ∧  0 ≤ k < T  ∧  valid[b,k]  ∧  (0 ≤ q − k < P  ∨  0 < k − q < F)
//                     with P = context_left − 1 (self + P − 1 past), F = context_right;
//                     rows q ≥ T are fully masked (transformers pads the 4-D mask with its min there)
//
//   AC[w,c] = q_w · k_c
//   BD[w,c] = raw[r, j] if j < n_rel else 0,  where  r·(C+1) + j = w·C + c  (0 ≤ j ≤ C)
//             raw[w, j] = q_w · Rk[j] for the n_rel = C/2 + 1 rows of the relative table Rk
//             (Transformer-XL's pad-and-reshape "rel shift": pad raw to C+1 columns with zeros, read the
//             first W·C values as [W, C]; for c ≥ w it is raw[w, c − w], for c < w a value of row w − 1)
//   z       = cap · tanh((AC + BD) / cap);   z = invalid (−1e9) where not allowed
//   p       = softmax_c(z)   (a fully masked row has C equal logits: uniform, as in transformers)
//   o_w     = Σ_c p[w,c] · v_c
// per batch element and head; q, k are passed already scaled (q·d^-1/2/ln2·softplus(s), k·ln(1+e)/ln2).
//
//   q, k, v  row-major [B·T, N·d] (head-major columns)      Rk: row-major [n_rel, N·d]
//   valid    [B·T] (1 = real frame)                          returns o [B·T, N·d]
//   probs    (optional) row-major [B, N, U, W, C]: transformers' attention weights
// Upstream: Gemma4AudioAttention.forward (_convert_to_block, _extract_block_context, _rel_shift),
// Gemma4AudioModel._convert_4d_mask_to_blocked_5d, sliding_window_mask_function. transformers computes
// this in float32 (the exporter patches that out).
#include <cmath>
#include <cstdint>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"

namespace g4::audio::ops {

struct ChunkedAttentionShape {
  index_t B = 1, T = 0, N = 1, d = 1;
  index_t W = 1;   // chunk (query block) size
  index_t P = 0;   // max past horizon = context_left − 1
  index_t F = 0;   // max future horizon = context_right
  index_t C() const { return W + P + F; }
  index_t U() const { return (T + W - 1) / W; }
  index_t n_rel() const { return C() / 2 + 1; }
};

// allowed [B, U, W, C]
inline std::vector<std::uint8_t> chunked_allowed(const std::vector<std::uint8_t>& valid, const ChunkedAttentionShape& s) {
  G4_CHECK(index_t(valid.size()) == s.B * s.T, ShapeError, "chunked_allowed: {} validity flags, expected {}·{}",
           valid.size(), s.B, s.T);
  const index_t U = s.U(), C = s.C();
  std::vector<std::uint8_t> a(size_t(s.B * U * s.W * C), 0);
  for (index_t b = 0; b < s.B; ++b)
    for (index_t u = 0; u < U; ++u)
      for (index_t w = 0; w < s.W; ++w)
        for (index_t c = 0; c < C; ++c) {
          const index_t q = u * s.W + w, k = u * s.W - s.P + c, dist = q - k;
          const bool window = (dist >= 0 && dist < s.P) || (dist < 0 && -dist < s.F);
          a[((b * U + u) * s.W + w) * C + c] = q < s.T && k >= 0 && k < s.T && valid[b * s.T + k] && window;
        }
  return a;
}

inline Mat chunked_attention(const Mat& q, const Mat& k, const Mat& v, const Mat& rk,
                             const std::vector<std::uint8_t>& valid, const ChunkedAttentionShape& s, double cap,
                             double invalid, std::vector<double>* probs) {
  const index_t B = s.B, T = s.T, N = s.N, d = s.d, W = s.W, P = s.P, C = s.C(), U = s.U(), n_rel = s.n_rel();
  G4_CHECK(rows(q) == B * T && cols(q) == N * d && k.shape() == q.shape() && v.shape() == q.shape(), ShapeError,
           "chunked_attention: q/k/v must be [{}, {}]", B * T, N * d);
  G4_CHECK(rows(rk) == n_rel && cols(rk) == N * d, ShapeError, "chunked_attention: relative keys [{}, {}], expected [{}, {}]",
           rows(rk), cols(rk), n_rel, N * d);
  const std::vector<std::uint8_t> allowed = chunked_allowed(valid, s);
  if (probs) probs->assign(size_t(B * N * U * W * C), 0.0);
  Mat o = Mat::from_shape({size_t(B * T), size_t(N * d)});
  o.fill(0.0);
  std::vector<double> raw(size_t(W * (C + 1))), z(C), p(C);
  auto dot = [&](const Mat& a, index_t ra, const Mat& bm, index_t rb, index_t h) {
    double acc = 0.0;
    for (index_t i = 0; i < d; ++i) acc += a(ra, h * d + i) * bm(rb, h * d + i);
    return acc;
  };
  for (index_t b = 0; b < B; ++b)
    for (index_t h = 0; h < N; ++h)
      for (index_t u = 0; u < U; ++u) {
        // raw[w, j], padded to C + 1 columns with zeros (zero query rows past T give zeros)
        for (index_t w = 0; w < W; ++w)
          for (index_t j = 0; j <= C; ++j) {
            const index_t qp = u * W + w;
            raw[w * (C + 1) + j] = (j < n_rel && qp < T) ? dot(q, b * T + qp, rk, j, h) : 0.0;
          }
        for (index_t w = 0; w < W; ++w) {
          const index_t qp = u * W + w;
          for (index_t c = 0; c < C; ++c) {
            const index_t kp = u * W - P + c;
            const double ac = (qp < T && kp >= 0 && kp < T) ? dot(q, b * T + qp, k, b * T + kp, h) : 0.0;
            const double bd = raw[w * C + c];  // flat index w·C + c of the padded [W, C+1] block
            const double logit = cap * std::tanh((ac + bd) / cap);
            z[c] = allowed[((b * U + u) * W + w) * C + c] ? logit : invalid;
          }
          double m = z[0];
          for (index_t c = 1; c < C; ++c) m = std::max(m, z[c]);
          double sum = 0.0;
          for (index_t c = 0; c < C; ++c) sum += (p[c] = std::exp(z[c] - m));
          for (index_t c = 0; c < C; ++c) p[c] /= sum;
          if (probs)
            for (index_t c = 0; c < C; ++c) (*probs)[(((b * N + h) * U + u) * W + w) * C + c] = p[c];
          if (qp >= T) continue;
          for (index_t c = 0; c < C; ++c) {
            const index_t kp = u * W - P + c;
            if (kp < 0 || kp >= T || p[c] == 0.0) continue;
            for (index_t i = 0; i < d; ++i) o(b * T + qp, h * d + i) += p[c] * v(b * T + kp, h * d + i);
          }
        }
      }
  return o;
}

}  // namespace g4::audio::ops
