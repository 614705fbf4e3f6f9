#pragma once
// Gemma4AssistantForCausalLM (the drafter), written against the text Executor. Reading order:
// draft() -> forward() -> pre_projection, TextModel::decoder_layer per layer (each reads the target's
// K/V: kv_role kReuse), final norm, post_projection, head (tied lm_head or head.hpp).
// Spec 1.7; upstream transformers models/gemma4_assistant/modeling_gemma4_assistant.py and
// generation/candidate_generator.py (Gemma4AssistantCandidateGenerator.get_candidates).
//
// Taps, each under the step's prefix ("draft.<k>."): inputs_embeds [B, Sq, 2Hb], pre_projection
// [B, Sq, H], the text model's per-layer taps under "model." (input_layernorm, self_attn.q_proj,
// q_norm, q_rope, attn_probs, attn_out, o_proj, ..., layers.i), model.norm, post_projection
// [B, Sq, Hb], masked_embedding.centroids [B, Sq, C] (ordered head) or lm_head (tied head), logits [B, Sq, V],
// token [B, Sq] (argmax, as double).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "reference/assistant/config.hpp"
#include "reference/text/model.hpp"

namespace g4::assistant {

// The assistant's own weights outside its text model.
struct AssistantWeights {
  Mat pre_projection;                        // [H, 2·Hb]
  Mat post_projection;                       // [Hb, H]
  Mat centroids;                             // [C, H]   (use_ordered_embeddings)
  std::vector<std::int64_t> token_ordering;  // [V]      (use_ordered_embeddings)
};

// What the assistant reads from the target model.
struct TargetContext {
  // shared_kv_states per layer type: K and V, token-major [B·Skv, Nkv·Dh] (transformers' [B, Nkv, Skv, Dh]
  // with the head axis moved inside the row, the layout of the reference's own K/V).
  std::map<text::LayerType, std::pair<Mat, Mat>> kv;
  IdMat attention_mask;  // [B, ≥ Skv_full] of the target's tokens, or empty
};

struct StepResult {
  Mat projected;                     // [B·Sq, Hb]  post_projection: the next drafting state
  Mat logits;                        // [B·Sq, V]
  std::vector<std::int64_t> tokens;  // [B·Sq]      argmax (first maximum)
};

class AssistantModel {
 public:
  // `weights`: the assistant's text model (layers without K/V, embed_tokens = tied lm_head, norm).
  AssistantModel(const AssistantConfig& config, text::WeightSource& weights, const AssistantWeights& own,
                 text::Executor& ex, text::TapSink sink);

  // One forward: inputs_embeds [B·Sq, 2Hb]; positions [B·Sq] (the RoPE positions of the queries).
  StepResult forward(const Mat& inputs_embeds, index_t B, index_t Sq, const std::vector<index_t>& positions,
                     const TargetContext& target, const std::string& prefix);

  // transformers' drafting loop: for k = 0..steps−1,
  //   inputs_embeds = [target_embed(last_tokens) | state]   ([B, Hb] each; target_embed returns the
  //                   target's scaled embeddings E_t[ids]·sqrt(Hb))
  //   forward at position `position` (the last prompt token's, S − 1), prefix "draft.<k>."
  //   last_tokens = argmax, state = post_projection.
  std::vector<StepResult> draft(index_t steps, std::vector<std::int64_t> last_tokens, Mat state, index_t position,
                                const std::function<Mat(const std::vector<std::int64_t>&)>& target_embed,
                                const TargetContext& target);

 private:
  const Mat& tap(const std::string& name, const Mat& m, std::vector<index_t> shape);

  const AssistantConfig& c_;
  text::WeightSource& w_;
  const AssistantWeights& own_;
  text::Executor& ex_;
  text::TapSink sink_;
};

}  // namespace g4::assistant
