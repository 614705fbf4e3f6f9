#pragma once
// `gemma4-harness verify` on a multimodal bundle (golden.h5 root attribute kind = "multimodal",
// written by golden/exporter/export_multimodal.py): the text side of Gemma4ForConditionalGeneration
// (embedders, placeholder merge, PLE pad-id rule, token-type masks, decoder, logits) against the
// transformers taps.
//
// The towers plug in through TowerHook: it returns the projected soft tokens of the bundle's
// prompt (and may hand its own taps to the sink, which compares them with the golden). The default,
// soft_tokens_from_cpp_towers, runs the float64 C++ vision tower on /inputs (pixel_values +
// image_position_ids, pixel_values_videos + video_position_ids) and the C++ audio tower on
// input_features + input_features_mask, with the bundle's checkpoint and the vision_config /
// audio_config of its config.json, so a bundle verifies the whole Gemma4ForConditionalGeneration
// forward end to end. soft_tokens_from_golden_towers instead replays the towers' outputs recorded in
// the golden (isolates the text side: the embedders, the merge and the decoder).
#include <functional>

#include "golden/bundle.hpp"
#include "golden/safetensors.hpp"
#include "harness/verify.hpp"
#include "reference/multimodal/config.hpp"
#include "reference/multimodal/model.hpp"
#include "reference/text/executor.hpp"

namespace g4::harness {

struct TowerContext {
  const golden::GoldenBundle& bundle;   // /inputs holds what the towers need, under transformers' names
  const mm::MultimodalConfig& config;
  const golden::Checkpoint& checkpoint; // the whole Gemma4ForConditionalGeneration checkpoint
  text::Executor& ex;
  const text::TapSink& sink;            // taps handed here are compared with the golden
  std::vector<std::string>& golden_inputs;  // golden taps the hook READ (not compared; reported)
  std::vector<std::string>& not_run;        // golden taps inside a tower the hook does not run (neither
                                            // compared nor counted as missing)
};
using TowerHook = std::function<mm::SoftTokens(TowerContext&)>;

// The C++ towers on /inputs, then embed_vision / embed_audio. Taps handed to the sink, under the
// golden's names: model.vision_tower.last_hidden_state [n_img_tokens, Hv],
// model.vision_tower.video_last_hidden_state [n_vid_tokens, Hv], model.audio_tower.last_hidden_state
// [n_clips, T_a, Ha_out], model.audio_tower.output_mask [n_clips, T_a], the projected
// model.{image,video,audio}_features, and any tower-internal tap (model.vision_tower.encoder...,
// model.audio_tower.layers...) of the image / audio call that the golden records.
mm::SoftTokens soft_tokens_from_cpp_towers(TowerContext& ctx);

// The towers' outputs replayed from the golden, then embed_vision / embed_audio in C++ (the tower
// outputs are read as inputs: VerifyResult::golden_inputs lists them; the golden's tower-internal
// taps go to TowerContext::not_run).
mm::SoftTokens soft_tokens_from_golden_towers(TowerContext& ctx);

VerifyResult verify_multimodal(const VerifyOptions& opt, const TowerHook& towers = soft_tokens_from_cpp_towers);

}  // namespace g4::harness
