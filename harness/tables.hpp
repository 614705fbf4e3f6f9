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

// The multimodal towers of a released variant: the ONE place where they enter the tables (memory,
// specs). known = false until the towers' parameter counts are wired in (reference/vision
// param_count, reference/audio param_count); the tables then show text-only figures and the tower
// size the published figure implies.
struct TowerParams {
  bool known = false;
  std::int64_t vision = 0, audio = 0;
  std::int64_t total() const { return vision + audio; }
};
TowerParams tower_params(const std::string& variant);

// Weights a decoded token runs through as matrix products (FLOP = 2 per weight): every layer's
// projections (the k_eq_v / kv-shared savings included), the top-k experts and the router of a
// MoE layer, the PLE projections, and the tied LM head; not the embedding and PLE-table lookups
// or the norms.
std::int64_t matmul_params_per_token(const text::TextConfig& c);

// KV-cache bytes for one sequence of `context` tokens: every layer that owns or stores K/V (a
// kv-shared layer reads another layer's) keeps min(context, window) positions on a sliding layer
// and `context` on a full one, K and V both (a k_eq_v layer still caches V: it is v_norm(k), not
// k), Nkv x Dh values each.
struct KvBytes {
  double actual = 0;        // window and sharing applied
  double no_sharing = 0;    // window applied, every layer its own K/V
  double naive = 0;         // every layer its own K/V over the whole context
};
KvBytes kv_cache_bytes(const text::TextConfig& c, std::int64_t context, double bytes_per_value);

// Attention FLOP of one decoded token at `context` (QK^T and PV: 4 Nq Dh L_eff per layer, L_eff
// = min(context, window) on sliding layers, context on full ones).
double attention_flops_per_token(const text::TextConfig& c, std::int64_t context);

std::string specs_table();
std::string memory_table();
std::string kv_table();
std::string flops_table();
// "specs", "params", "memory", "kv", "flops" or "all"; "" for an unknown name.
std::string model_card_tables(const std::string& which);

}  // namespace g4::harness
