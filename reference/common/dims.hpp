#pragma once
// The dims vocabulary, defined once and used in every shape comment of the project.
//
//   B   batch                     S   sequence length (tokens per row)
//   T   tokens in a batch (B*S)   D   model width (hidden_size; "H" in the spec)
//   Nq  query heads               Nkv key/value heads of a layer
//   Dh  head dim of a layer       F   MLP width of a layer (intermediate_size, maybe doubled)
//   E   experts                   K   experts per token (top_k_experts)
//   Fe  expert MLP width          V   vocabulary
//   L   decoder layers            P   per-layer-embedding width (hidden_size_per_layer_input)
//   W   sliding window (keys a sliding query sees, self included)
//
// Layouts are row-major and said as "row-major [T, D]": the last index is contiguous.
// Linear weights are stored as transformers stores them, row-major [out, in], and y = x · Wᵀ.
#include <cstdint>

namespace g4 {
using index_t = std::int64_t;
}  // namespace g4
