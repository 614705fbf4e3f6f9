#pragma once
// The multimodal merge of Gemma4Model.forward (spec section 7; upstream transformers
// models/gemma4/modeling_gemma4.py Gemma4Model.get_placeholder_mask and forward).
//
//   image_mask = ids == image_token_id, video_mask = ids == video_token_id, audio_mask = ids == audio_token_id
//   ids_llm    = ids with every placeholder (image | video | audio) replaced by pad_token_id
//   h0         = E[ids_llm]·sqrt(H)                         (so placeholder rows first hold the pad row)
//   PLE tokens = E_ple[ids_llm]·sqrt(P)                      (the PLE pad-id rule: placeholders use the
//                                                             pad row; soft tokens still reach PLE through
//                                                             the context projection of the merged h)
//   h[image_mask] = image soft tokens, in row-major (b, s) order (torch masked_scatter); then video,
//   then audio. The soft tokens are the towers' projected outputs ([n, H], embedder.hpp) and are not
//   multiplied by sqrt(H).
//   mm_token_type_ids: 0 text, 1 image, 2 video, 3 audio (processor's create_mm_token_type_ids).
// A placeholder count that differs from the number of soft tokens is a DataError naming both
// (transformers: "Image features and image tokens do not match").
#include <cstdint>
#include <string>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"

namespace g4::mm {

struct PlaceholderIds {
  std::int64_t image = -1, video = -1, audio = -1;
};

// Flat token indices t = b·S + s of each kind of placeholder, ascending (= masked_scatter order).
struct Placeholders {
  std::vector<index_t> image, video, audio;
};

inline Placeholders find_placeholders(const IdMat& ids, const PlaceholderIds& p) {
  Placeholders out;
  index_t t = 0;
  for (auto id : ids) {  // row-major walk: (b, s) order
    if (id == p.image) out.image.push_back(t);
    else if (id == p.video) out.video.push_back(t);
    else if (id == p.audio) out.audio.push_back(t);
    ++t;
  }
  return out;
}

// ids_llm: placeholders -> pad_token_id.
inline IdMat llm_input_ids(const IdMat& ids, const PlaceholderIds& p, std::int64_t pad_token_id) {
  IdMat out = ids;
  for (auto& id : out)
    if (id == p.image || id == p.video || id == p.audio) id = pad_token_id;
  return out;
}

// mm_token_type_ids from the ids (what the processor returns alongside input_ids).
inline IdMat token_type_ids(const IdMat& ids, const PlaceholderIds& p) {
  IdMat out = IdMat::from_shape(ids.shape());
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto id = ids.data()[i];
    out.data()[i] = id == p.image ? 1 : id == p.video ? 2 : id == p.audio ? 3 : 0;
  }
  return out;
}

// h[positions[i], :] = soft[i, :] for every i. `what` names the modality for the error message.
inline void scatter_soft_tokens(Mat& h /* [T, H] */, const std::vector<index_t>& positions,
                                const Mat& soft /* [n, H] */, const std::string& what) {
  const index_t n = soft.size() ? rows(soft) : 0;
  G4_CHECK(static_cast<index_t>(positions.size()) == n, DataError,
           "{} features and {} tokens do not match: {} placeholder tokens in input_ids, {} soft tokens", what, what,
           positions.size(), n);
  if (n == 0) return;
  G4_CHECK(cols(soft) == cols(h), ShapeError, "{} soft tokens are {} wide, expected the text hidden size {}", what,
           cols(soft), cols(h));
  for (index_t i = 0; i < n; ++i)
    for (index_t d = 0; d < cols(h); ++d) h(positions[i], d) = soft(i, d);
}

}  // namespace g4::mm
