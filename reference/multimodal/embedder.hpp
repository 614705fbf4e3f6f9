#pragma once
// Gemma4MultimodalEmbedder (embed_vision, embed_audio): a tower's output into the text model.
//
//   y = RMSNorm_noscale(x) · Wᵀ      RMSNorm_noscale(x) = x · (mean(x²) + eps)^(-1/2)
//   x: [n, Hm] (vision hidden_size, or audio output_proj_dims), W: [H, Hm] embedding_projection.weight,
//   y: [n, H]. No bias, no post-norm, no sqrt(H) scale (spec 5.5).
// Upstream: transformers models/gemma4/modeling_gemma4.py Gemma4MultimodalEmbedder.
#include <string>

#include "reference/text/executor.hpp"

namespace g4::mm {

inline Mat embed_soft_tokens(text::Executor& ex, const std::string& name, const Mat& x, const Mat& w, double eps) {
  const Mat n = ex.rms_norm(name + ".embedding_pre_projection_norm", x, nullptr, eps, cols(x));
  return ex.linear(name + ".embedding_projection", n, w);
}

}  // namespace g4::mm
