#pragma once
// Attention masks of the text decoder, as booleans allowed[b, q, kv] (row-major [B, S, S]).
//
//   full layers       kv ≤ q                                   (causal)
//   sliding layers    q − W < kv ≤ q                           (W keys, self included; the key
//                                                              at distance exactly W is out)
//   key padding       kv must be a real token (attention_mask[b, kv] == 1), on every layer
//   vision bidirectional (use_bidirectional_attention == "vision", mm_token_type_ids given):
//     block[b, s] = index of the maximal run of image/video tokens (type 1 or 2) containing s,
//                   numbered 0, 1, … per row; −1 for every other token.
//     full layers:    causal only (no bidirectional overlay)
//     sliding layers: ((kv ≤ q) or (block[q] == block[kv] ≥ 0)) and (kv > q − W)
//     (the window has no upper bound, so inside one block a query sees every later block token)
// Positions are 0..S−1 in every row (transformers does not shift them for padding). With a KV
// cache of `past` tokens, query i sits at position past + i and keys span 0..past + S − 1.
// Upstream: transformers masking_utils.py (create_causal_mask, sliding_window_overlay),
// modeling_gemma4.py create_masks_for_vision_model, get_block_sequence_ids_for_mask.
#include <cstdint>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"
#include "reference/text/config.hpp"

namespace g4::ops {

// block ids from mm_token_type_ids [B, S] (0 text, 1 image, 2 video, 3 audio).
inline IdMat vision_block_ids(const IdMat& mm_types) {
  IdMat block = IdMat::from_shape(mm_types.shape());
  for (size_t b = 0; b < mm_types.shape(0); ++b) {
    std::int64_t count = -1;
    bool prev = false;
    for (size_t s = 0; s < mm_types.shape(1); ++s) {
      const bool vis = mm_types(b, s) == 1 || mm_types(b, s) == 2;
      if (vis && !prev) ++count;
      block(b, s) = vis ? count : -1;
      prev = vis;
    }
  }
  return block;
}

struct MaskSpec {
  text::LayerType type = text::LayerType::kFull;
  index_t window = 0;                                          // W (sliding layers)
  text::Bidirectional bidirectional = text::Bidirectional::kNone;
};

// attention_mask: [B, Skv] of 0/1 over every key (cache included); block: [B, Skv] from
// vision_block_ids, or empty; past: cached tokens before the S = Skv − past queries.
// Returns allowed, row-major [B, S, Skv].
inline std::vector<std::uint8_t> build_mask(const MaskSpec& m, const IdMat& attention_mask, const IdMat& block,
                                            index_t past = 0) {
  const index_t B = attention_mask.shape(0), Skv = attention_mask.shape(1), S = Skv - past;
  G4_CHECK(S > 0, ShapeError, "build_mask: {} keys with {} cached leave no query", Skv, past);
  const bool use_block = m.bidirectional == text::Bidirectional::kVision && block.size() > 0;
  std::vector<std::uint8_t> allowed(static_cast<size_t>(B * S * Skv), 0);
  for (index_t b = 0; b < B; ++b) {
    for (index_t qi = 0; qi < S; ++qi) {
      const index_t q = past + qi;  // the query's position
      for (index_t kv = 0; kv < Skv; ++kv) {
        bool ok = kv <= q;
        if (m.type == text::LayerType::kSliding) {
          if (use_block) ok = ok || (block(b, q) >= 0 && block(b, q) == block(b, kv));
          ok = ok && kv > q - m.window;
        }
        ok = ok && attention_mask(b, kv) != 0;
        allowed[static_cast<size_t>((b * S + qi) * Skv + kv)] = ok ? 1 : 0;
      }
    }
  }
  return allowed;
}

}  // namespace g4::ops
