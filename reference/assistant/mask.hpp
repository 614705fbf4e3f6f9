#pragma once
// The assistant's attention masks (Gemma4AssistantForCausalLM.create_attention_masks), booleans
// allowed[b, q, j], row-major [B, Sq, Skv]. The target's K/V act as the keys; there is no causality.
//
//   full layers:    allowed = attention_mask[b, j]                        for j < Skv_full
//                   (create_bidirectional_mask over attention_mask[:, :Skv_full])
//   sliding layers: m = attention_mask[:, :Skv_full][:, −Skv_sliding:]
//                   allowed = m[b, j] and |q − (Skv_sliding − 1 − j)| ≤ W
//                   (create_bidirectional_sliding_window_mask on the key-flipped m, window inclusive
//                   (masking_utils sliding_window_bidirectional_overlay: distance ≤ W), then flipped
//                   back along the keys: query q = 0 sees the last W + 1 keys)
// q is the query's index 0..Sq−1 (not its position id).
#include <cstdint>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"
#include "reference/text/config.hpp"

namespace g4::assistant {

// attention_mask: [B, ≥ Skv_full] of 0/1 (the target's), or empty (every key valid).
inline std::vector<std::uint8_t> assistant_mask(text::LayerType type, const IdMat& attention_mask, index_t B,
                                                index_t Sq, index_t skv, index_t skv_full, index_t window) {
  G4_CHECK(attention_mask.size() == 0 || (index_t(attention_mask.shape(0)) == B &&
                                          index_t(attention_mask.shape(1)) >= skv_full),
           ShapeError, "assistant mask: attention_mask must be [{}, >= {}]", B, skv_full);
  G4_CHECK(skv <= skv_full || type == text::LayerType::kFull, ShapeError,
           "assistant mask: {} sliding keys exceed the {} full-attention keys", skv, skv_full);
  std::vector<std::uint8_t> allowed(static_cast<size_t>(B * Sq * skv), 0);
  for (index_t b = 0; b < B; ++b)
    for (index_t q = 0; q < Sq; ++q)
      for (index_t j = 0; j < skv; ++j) {
        // key j of this layer type is column (skv_full − skv + j) of the cut mask (sliding: the last skv)
        const index_t col = type == text::LayerType::kSliding ? skv_full - skv + j : j;
        bool ok = attention_mask.size() == 0 || attention_mask(b, col) != 0;
        if (type == text::LayerType::kSliding) ok = ok && std::abs(q - (skv - 1 - j)) <= window;
        allowed[static_cast<size_t>((b * Sq + q) * skv + j)] = ok ? 1 : 0;
      }
  return allowed;
}

}  // namespace g4::assistant
