#pragma once
// Text-decoder weights, handed out ONE LAYER AT A TIME (DESIGN.md section 3): a real-size model
// never sits in memory whole. Names in comments are transformers' parameter names under the
// text model prefix ("model." for Gemma4ForCausalLM, "model.language_model." for the
// multimodal checkpoints).
#include <memory>
#include <vector>

#include "reference/common/tensor.hpp"
#include "reference/text/config.hpp"

namespace g4::text {

struct LayerWeights {
  Vec input_layernorm;             // [D]        layers.i.input_layernorm.weight
  Vec post_attention_layernorm;    // [D]
  Vec pre_feedforward_layernorm;   // [D]
  Vec post_feedforward_layernorm;  // [D]
  double layer_scalar = 1.0;       //            layers.i.layer_scalar (buffer [1])

  Mat q_proj;  // [Nq·Dh, D]
  Vec q_norm;  // [Dh]
  Mat k_proj;  // [Nkv·Dh, D]   empty on kv-shared layers
  Vec k_norm;  // [Dh]          empty on kv-shared layers
  Mat v_proj;  // [Nkv·Dh, D]   empty on kv-shared and k_eq_v layers
  Mat o_proj;  // [D, Nq·Dh]

  Mat gate_proj;  // [F, D]
  Mat up_proj;    // [F, D]
  Mat down_proj;  // [D, F]

  // Per-layer embeddings (P > 0).
  Mat per_layer_input_gate;       // [P, D]
  Mat per_layer_projection;       // [D, P]
  Vec post_per_layer_input_norm;  // [D]

  // Mixture of experts (enable_moe_block).
  Mat router_proj;                      // [E, D]     router.proj.weight
  Vec router_scale;                     // [D]        router.scale
  Vec per_expert_scale;                 // [E]        router.per_expert_scale
  std::vector<double> experts_gate_up;  // [E, 2Fe, D] experts.gate_up_proj
  std::vector<double> experts_down;     // [E, D, Fe]  experts.down_proj
  Vec pre_feedforward_layernorm_2;      // [D]
  Vec post_feedforward_layernorm_1;     // [D]
  Vec post_feedforward_layernorm_2;     // [D]

  size_t bytes() const;  // float64 bytes held
};

// Where weights come from: a golden bundle / HF checkpoint (golden/checkpoint_weights.*), or
// seeded random generation (random_weights.*). Every call returns fresh copies; nothing is cached.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual LayerWeights layer(index_t i) = 0;
  // Rows of embed_tokens.weight [V, D] for the given ids (unscaled): [n, D].
  virtual Mat embed_rows(const std::vector<std::int64_t>& ids) = 0;
  // Rows [row0, row0 + n) of embed_tokens.weight: the tied LM head, in chunks.
  virtual Mat embed_block(index_t row0, index_t n) = 0;
  virtual Vec final_norm() = 0;  // norm.weight [D]
  // PLE (P > 0): rows of embed_tokens_per_layer.weight [V_ple, L·P] (unscaled): [n, L·P];
  // per_layer_model_projection.weight [L·P, D]; per_layer_projection_norm.weight [P].
  virtual Mat ple_rows(const std::vector<std::int64_t>& ids) = 0;
  virtual Mat ple_model_projection() = 0;
  virtual Vec ple_projection_norm() = 0;
};

}  // namespace g4::text
