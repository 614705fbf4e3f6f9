#pragma once
// The mixture-of-experts block of 26B-A4B (Gemma4TextRouter + Gemma4TextExperts).
//
// Router, per token t (x = the residual stream entering the FFN, [T, D]):
//   z      = RMSNorm(x; no scale) · scale · D^(-1/2)       scale: [D]
//   logits = z · Wrᵀ                                        Wr: [E, D]
//   p      = softmax(logits)                                [T, E]
//   (w, i) = top-K of p, sorted descending (ties: lower expert index first)
//   w      = w / Σ w,   then w_j · per_expert_scale[i_j]   per_expert_scale: [E]
// Experts, per token t and slot j with e = i[t, j] (xe = pre_feedforward_layernorm_2(x)):
//   gu = xe[t] · gate_upᵀ[e] ([2·Fe]; gate = first Fe, up = last Fe)
//   out[t] += w[t, j] · ((gelu_tanh(gate) ⊙ up) · downᵀ[e])     gate_up: [E, 2Fe, D], down: [E, D, Fe]
// transformers sums the experts of a token in increasing expert index (index_add_ per expert);
// we sum in the same order, so the only difference left is inside each dot product.
// Upstream: modeling_gemma4.py Gemma4TextRouter, Gemma4TextExperts.
#include <algorithm>
#include <numeric>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"
#include "reference/ops/activations.hpp"
#include "reference/ops/matmul.hpp"
#include "reference/ops/softmax.hpp"

namespace g4::ops {

struct RouterOutput {
  Mat probs;                          // [T, E]
  Mat weights;                        // [T, K]  renormalised and per-expert scaled
  xt::xtensor<std::int64_t, 2> index; // [T, K]  expert ids, by descending probability
};

// logits: [T, E] (the router projection), per_expert_scale: [E].
inline RouterOutput route(const Mat& logits, const Vec& per_expert_scale, index_t top_k) {
  const index_t T = rows(logits), E = cols(logits);
  G4_CHECK(top_k > 0 && top_k <= E && static_cast<index_t>(per_expert_scale.size()) == E, ShapeError,
           "route: top_k {} with {} experts and {} per-expert scales", top_k, E, per_expert_scale.size());
  RouterOutput r;
  r.probs = Mat::from_shape({static_cast<size_t>(T), static_cast<size_t>(E)});
  r.weights = Mat::from_shape({static_cast<size_t>(T), static_cast<size_t>(top_k)});
  r.index = xt::xtensor<std::int64_t, 2>::from_shape({static_cast<size_t>(T), static_cast<size_t>(top_k)});
  std::vector<index_t> order(E);
  for (index_t t = 0; t < T; ++t) {
    softmax_row(&logits(t, 0), nullptr, &r.probs(t, 0), E);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) { return r.probs(t, a) > r.probs(t, b); });
    double sum = 0.0;
    for (index_t j = 0; j < top_k; ++j) sum += r.probs(t, order[j]);
    for (index_t j = 0; j < top_k; ++j) {
      r.index(t, j) = order[j];
      r.weights(t, j) = r.probs(t, order[j]) / sum * per_expert_scale(order[j]);
    }
  }
  return r;
}

// The tokens routed to expert e, in increasing token order, with their routing weights: the
// gather every executor's experts op starts from (Token / Weight: the executor's index and
// weight types; a weight converted with static_cast).
template <class Token = index_t, class Weight = double>
struct ExpertTokens {
  std::vector<Token> tokens;
  std::vector<Weight> weights;
};
template <class Token = index_t, class Weight = double>
inline ExpertTokens<Token, Weight> tokens_of_expert(const RouterOutput& r, index_t e) {
  ExpertTokens<Token, Weight> g;
  const index_t T = rows(r.index), K = cols(r.index);
  for (index_t t = 0; t < T; ++t)
    for (index_t j = 0; j < K; ++j)
      if (r.index(t, j) == e) g.tokens.push_back(static_cast<Token>(t)), g.weights.push_back(static_cast<Weight>(r.weights(t, j)));
  return g;
}

// xe: [T, D]; gate_up: [E·2Fe·D] row-major [E, 2Fe, D]; down: [E, D, Fe]. Returns [T, D].
inline Mat experts(const Mat& xe, const RouterOutput& r, const std::vector<double>& gate_up,
                   const std::vector<double>& down, index_t E, index_t Fe) {
  const index_t T = rows(xe), D = cols(xe);
  G4_CHECK(static_cast<index_t>(gate_up.size()) == E * 2 * Fe * D && static_cast<index_t>(down.size()) == E * D * Fe,
           ShapeError, "experts: weights do not match E={} Fe={} D={}", E, Fe, D);
  Mat out = xt::zeros<double>({static_cast<size_t>(T), static_cast<size_t>(D)});
  for (index_t e = 0; e < E; ++e) {
    const auto [tok, wt] = tokens_of_expert(r, e);
    if (tok.empty()) continue;
    Mat xs = Mat::from_shape({tok.size(), static_cast<size_t>(D)});
    for (size_t n = 0; n < tok.size(); ++n)
      for (index_t d = 0; d < D; ++d) xs(n, d) = xe(tok[n], d);
    const Mat gu = linear(xs, &gate_up[static_cast<size_t>(e * 2 * Fe * D)], 2 * Fe, D);  // [n, 2Fe]
    Mat hidden = Mat::from_shape({tok.size(), static_cast<size_t>(Fe)});
    for (size_t n = 0; n < tok.size(); ++n)
      for (index_t f = 0; f < Fe; ++f) hidden(n, f) = gelu_tanh(gu(n, f)) * gu(n, Fe + f);
    const Mat y = linear(hidden, &down[static_cast<size_t>(e * D * Fe)], D, Fe);  // [n, D]
    for (size_t n = 0; n < tok.size(); ++n)
      for (index_t d = 0; d < D; ++d) out(tok[n], d) += wt[n] * y(n, d);
  }
  return out;
}

}  // namespace g4::ops
