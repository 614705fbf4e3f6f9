#pragma once
// `gemma4-harness verify` on a multimodal bundle (golden.h5 root attribute kind = "multimodal",
// written by golden/exporter/export_multimodal.py): the text side of Gemma4ForConditionalGeneration
// (embedders, placeholder merge, PLE pad-id rule, token-type masks, decoder, logits) against the
// transformers taps.
//
// The towers plug in through TowerHook: it returns the projected soft tokens of the bundle's
// prompt (and may hand its own taps to the sink, which compares them with the golden). Today's
// hook, soft_tokens_from_golden_towers, replays the towers' outputs recorded in the golden
// (model.vision_tower.last_hidden_state, ..., taps the exporter records from transformers) and
// runs the C++ embedders on them; a hook that runs the C++ vision/audio towers on /inputs
// (pixel_values, image_position_ids, input_features, ...) replaces it without other changes.
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
};
using TowerHook = std::function<mm::SoftTokens(TowerContext&)>;

// The towers' outputs replayed from the golden, then embed_vision / embed_audio in C++.
mm::SoftTokens soft_tokens_from_golden_towers(TowerContext& ctx);

VerifyResult verify_multimodal(const VerifyOptions& opt, const TowerHook& towers = soft_tokens_from_golden_towers);

}  // namespace g4::harness
