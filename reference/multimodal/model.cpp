#include "reference/multimodal/model.hpp"

#include "reference/common/check.hpp"

namespace g4::mm {

PlaceholderIds placeholder_ids(const MultimodalConfig& c) {
  return {c.image_token_id, c.video_token_id, c.audio_token_id};
}

MultimodalModel::MultimodalModel(const MultimodalConfig& config, text::WeightSource& weights, text::Executor& ex,
                                 text::TapSink sink, std::string prefix, std::string text_prefix)
    : c_(config), w_(weights), ex_(ex), sink_(std::move(sink)), prefix_(std::move(prefix)) {
  text_opt_.prefix = std::move(text_prefix);
}

text::TextInputs MultimodalModel::merge(const MultimodalInputs& in, const SoftTokens& soft) {
  const PlaceholderIds p = placeholder_ids(c_);
  G4_CHECK(in.input_ids.dimension() == 2 && in.attention_mask.shape() == in.input_ids.shape(), ShapeError,
           "multimodal inputs: attention_mask must have the shape of input_ids [B, S]");
  const index_t B = in.input_ids.shape(0), S = in.input_ids.shape(1), H = c_.text.hidden_size;
  const Placeholders where = find_placeholders(in.input_ids, p);

  text::TextInputs llm;
  llm.input_ids = llm_input_ids(in.input_ids, p, c_.text.pad_token_id);  // also the PLE lookup ids
  llm.attention_mask = in.attention_mask;
  llm.mm_token_type_ids = in.mm_token_type_ids;
  text::TextModel text(c_.text, w_, ex_, sink_, text_opt_);
  Mat h = text.embed(llm);                                                   // [T, H], taps embed_tokens
  scatter_soft_tokens(h, where.image, soft.image, "Image");
  scatter_soft_tokens(h, where.video, soft.video, "Video");
  scatter_soft_tokens(h, where.audio, soft.audio, "Audio");
  if (sink_) sink_(prefix_ + "inputs_embeds", h, {B, S, H});
  llm.inputs_embeds = std::move(h);
  return llm;
}

Mat MultimodalModel::forward(const MultimodalInputs& in, const SoftTokens& soft) {
  const text::TextInputs llm = merge(in, soft);
  text::TextModel text(c_.text, w_, ex_, sink_, text_opt_);
  return text.forward(llm);
}

}  // namespace g4::mm
