#pragma once
// Tables recomputed from the configs (`gemma4-harness tables`), each beside the published figure.
#include <cstdint>
#include <string>

#include "reference/text/config.hpp"

namespace g4::harness {

// Parameter counts of the text decoder as transformers instantiates it (kv-shared layers own no
// k/v weights; the LM head is tied, so counted once).
struct TextParams {
  std::int64_t embedding = 0;      // embed_tokens [V, D]
  std::int64_t ple_table = 0;      // embed_tokens_per_layer [V_ple, L·P]
  std::int64_t ple_other = 0;      // PLE projection, its norm, per-layer gate/projection/norm
  std::int64_t attention = 0;      // q/k/v/o projections and q/k norms
  std::int64_t mlp = 0;            // dense gated MLPs
  std::int64_t experts = 0;        // MoE expert weights (all experts)
  std::int64_t router = 0;         // MoE router proj, scale, per_expert_scale
  std::int64_t norms = 0;          // the layers' sandwich norms, layer_scalar, final norm
  std::int64_t total() const { return embedding + ple_table + ple_other + attention + mlp + experts + router + norms; }
  std::int64_t expert_each = 0;    // one expert's weights
};

TextParams count_text_params(const text::TextConfig& c);
std::string params_table();  // the `tables params` output

}  // namespace g4::harness
