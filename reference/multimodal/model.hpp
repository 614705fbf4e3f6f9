#pragma once
// Gemma4Model.forward's text side (Gemma4ForConditionalGeneration): placeholder merge, the PLE
// pad-id rule, token-type-driven masks, then the text decoder and the tied head.
// Reading order: forward() -> merge.hpp (find_placeholders, llm_input_ids, scatter_soft_tokens)
// -> text::TextModel::forward with inputs_embeds.
//
// The towers are outside this class: forward() takes their projected soft tokens (SoftTokens),
// however they were produced (the C++ vision/audio towers followed by embedder.hpp, or a golden).
//
// Taps (besides the text model's, under "<prefix>language_model."):
//   <prefix>language_model.embed_tokens   [B, S, H]  E[ids_llm]·sqrt(H) (placeholders hold the pad row)
//   <prefix>inputs_embeds                 [B, S, H]  after the merge
#include <string>

#include "reference/multimodal/config.hpp"
#include "reference/multimodal/merge.hpp"
#include "reference/text/model.hpp"

namespace g4::mm {

// The towers' outputs after their embedders, [n, H] each, in placeholder order; empty when the
// prompt has none of that kind. image: every image's soft tokens concatenated (padding stripped);
// video: every frame's; audio: every clip's valid soft tokens (padding stripped).
struct SoftTokens {
  Mat image, video, audio;
};

struct MultimodalInputs {
  IdMat input_ids;          // [B, S] with placeholder ids
  IdMat attention_mask;     // [B, S]
  IdMat mm_token_type_ids;  // [B, S] or empty (then the vision-bidirectional overlay is off, as upstream)
};

class MultimodalModel {
 public:
  // `prefix`: the Gemma4Model module prefix of the taps ("model." in Gemma4ForConditionalGeneration);
  // `text_prefix`: the text model's ("model.language_model.").
  MultimodalModel(const MultimodalConfig& config, text::WeightSource& weights, text::Executor& ex,
                  text::TapSink sink, std::string prefix = "model.", std::string text_prefix = "model.language_model.");

  // The merged text inputs (ids_llm, masks, inputs_embeds), tapping embed_tokens and inputs_embeds.
  text::TextInputs merge(const MultimodalInputs& in, const SoftTokens& soft);
  // merge + text decoder + head: logits [B·S, V].
  Mat forward(const MultimodalInputs& in, const SoftTokens& soft);

 private:
  const MultimodalConfig& c_;
  text::WeightSource& w_;
  text::Executor& ex_;
  text::TapSink sink_;
  std::string prefix_;
  text::ForwardOptions text_opt_;
};

PlaceholderIds placeholder_ids(const MultimodalConfig& c);

}  // namespace g4::mm
