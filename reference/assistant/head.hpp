#pragma once
// The centroid-masked head (Gemma4AssistantMaskedEmbedder, use_ordered_embeddings = true).
//
//   c      = h · Wcᵀ                       [T, C]   centroid logits (masked_embedding.centroids)
//   top_t  = the K largest entries of c[t], in descending order (torch.topk)
//   sel_t  = concat_k ordering[top_t[k]·Vc .. top_t[k]·Vc + Vc)   [K·Vc] canonical token ids,
//            Vc = V / C, ordering = token_ordering viewed as [C, Vc]
//   s[t,i] = h[t] · E[sel_t[i]]            selected logits (E = lm_head = embed_tokens, [V, H])
//   m      = min over ALL t, i of s − 1    (one fill value for the whole batch: .min().item())
//   logits[t, v] = s[t, i] if v = sel_t[i], else m
// Ties in top-k are not expected (random float64 logits); the order among equal values would be torch's.
// Upstream: transformers models/gemma4_assistant/modeling_gemma4_assistant.py.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/text/executor.hpp"

namespace g4::assistant {

struct CentroidHead {
  Mat centroid_logits;  // [T, C]
  Mat logits;           // [T, V]
};

// h: [T, H]; centroids: [C, H]; ordering: [V] (a permutation of 0..V−1); embed(ids) returns rows of E.
template <class EmbedRows>
CentroidHead centroid_masked_head(text::Executor& ex, const std::string& name, const Mat& h, const Mat& centroids,
                                  const std::vector<std::int64_t>& ordering, index_t top_k, index_t V,
                                  EmbedRows&& embed) {
  const index_t T = rows(h), C = rows(centroids), Vc = V / C;
  G4_CHECK(static_cast<index_t>(ordering.size()) == V && Vc * C == V, ShapeError,
           "{}: token_ordering has {} entries for vocab {} and {} centroids", name, ordering.size(), V, C);
  CentroidHead out;
  out.centroid_logits = ex.linear(name + ".centroids", h, centroids);  // [T, C]
  std::vector<std::vector<std::int64_t>> sel(T);
  std::vector<Mat> vals(T);
  double lo = std::numeric_limits<double>::infinity();
  for (index_t t = 0; t < T; ++t) {
    std::vector<index_t> idx(C);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](index_t a, index_t b) {
      return out.centroid_logits(t, a) > out.centroid_logits(t, b);
    });
    for (index_t k = 0; k < top_k; ++k)
      for (index_t j = 0; j < Vc; ++j) sel[t].push_back(ordering[idx[k] * Vc + j]);
    Mat ht = Mat::from_shape({1, h.shape(1)});
    for (size_t d = 0; d < h.shape(1); ++d) ht(0, d) = h(t, d);
    vals[t] = ex.linear(name + ".selected." + std::to_string(t), ht, embed(sel[t]));  // [1, K·Vc]
    for (double v : vals[t]) lo = std::min(lo, v);
  }
  out.logits = Mat::from_shape({static_cast<size_t>(T), static_cast<size_t>(V)});
  out.logits.fill(lo - 1.0);
  for (index_t t = 0; t < T; ++t)
    for (size_t i = 0; i < sel[t].size(); ++i) out.logits(t, sel[t][i]) = vals[t](0, i);
  return out;
}

}  // namespace g4::assistant
