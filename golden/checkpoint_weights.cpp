#include "golden/checkpoint_weights.hpp"

#include "reference/common/check.hpp"

namespace g4::golden {

CheckpointWeights::CheckpointWeights(const text::TextConfig& config, const std::string& path)
    : c_(config), ckpt_(path) {
  for (const char* p : {"model.language_model.", "model.", ""}) {
    if (ckpt_.has(std::string(p) + "embed_tokens.weight")) {
      prefix_ = p;
      return;
    }
  }
  throw IoError(fmt::format("{}: no 'embed_tokens.weight' under any known prefix (expected "
                            "'model.embed_tokens.weight' or 'model.language_model.embed_tokens.weight')", path));
}

text::LayerWeights CheckpointWeights::layer(index_t i) {
  const text::LayerSpec& s = c_.layers.at(i);
  const index_t D = c_.hidden_size, Nq = c_.num_attention_heads, Dh = s.head_dim, Nkv = s.num_kv_heads;
  const index_t F = s.mlp_width, P = c_.ple_dim();
  const std::string n = prefix_ + "layers." + std::to_string(i) + ".";
  auto vec = [&](const std::string& k, index_t len) { return ckpt_.read_vec(n + k, len); };
  auto mat = [&](const std::string& k, index_t r, index_t c) { return ckpt_.read_mat(n + k, r, c); };

  text::LayerWeights w;
  w.input_layernorm = vec("input_layernorm.weight", D);
  w.post_attention_layernorm = vec("post_attention_layernorm.weight", D);
  w.pre_feedforward_layernorm = vec("pre_feedforward_layernorm.weight", D);
  w.post_feedforward_layernorm = vec("post_feedforward_layernorm.weight", D);
  w.layer_scalar = vec("layer_scalar", 1)(0);
  w.q_proj = mat("self_attn.q_proj.weight", Nq * Dh, D);
  w.q_norm = vec("self_attn.q_norm.weight", Dh);
  if (s.kv_role != text::KvRole::kReuse) {  // shared layers' k/v weights, if present, are ignored (as in HF)
    w.k_proj = mat("self_attn.k_proj.weight", Nkv * Dh, D);
    w.k_norm = vec("self_attn.k_norm.weight", Dh);
    if (!s.k_eq_v) w.v_proj = mat("self_attn.v_proj.weight", Nkv * Dh, D);
  }
  w.o_proj = mat("self_attn.o_proj.weight", D, Nq * Dh);
  w.gate_proj = mat("mlp.gate_proj.weight", F, D);
  w.up_proj = mat("mlp.up_proj.weight", F, D);
  w.down_proj = mat("mlp.down_proj.weight", D, F);
  if (P > 0) {
    w.per_layer_input_gate = mat("per_layer_input_gate.weight", P, D);
    w.per_layer_projection = mat("per_layer_projection.weight", D, P);
    w.post_per_layer_input_norm = vec("post_per_layer_input_norm.weight", D);
  }
  if (c_.enable_moe_block) {
    const index_t E = c_.num_experts, Fe = c_.moe_intermediate_size;
    w.router_proj = mat("router.proj.weight", E, D);
    w.router_scale = vec("router.scale", D);
    w.per_expert_scale = vec("router.per_expert_scale", E);
    w.experts_gate_up = ckpt_.read_shaped(n + "experts.gate_up_proj", {E, 2 * Fe, D});
    w.experts_down = ckpt_.read_shaped(n + "experts.down_proj", {E, D, Fe});
    w.pre_feedforward_layernorm_2 = vec("pre_feedforward_layernorm_2.weight", D);
    w.post_feedforward_layernorm_1 = vec("post_feedforward_layernorm_1.weight", D);
    w.post_feedforward_layernorm_2 = vec("post_feedforward_layernorm_2.weight", D);
  }
  return w;
}

Mat CheckpointWeights::embed_rows(const std::vector<std::int64_t>& ids) {
  const std::vector<double> v = ckpt_.read_rows(prefix_ + "embed_tokens.weight", ids);
  Mat m = Mat::from_shape({ids.size(), static_cast<size_t>(c_.hidden_size)});
  G4_CHECK(v.size() == m.size(), IoError, "{}: 'embed_tokens.weight' rows are not {} wide", ckpt_.path(),
           c_.hidden_size);
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

Mat CheckpointWeights::embed_block(index_t row0, index_t n) {
  const Mat m = ckpt_.read_row_block(prefix_ + "embed_tokens.weight", row0, n);
  G4_CHECK(cols(m) == c_.hidden_size, IoError, "{}: 'embed_tokens.weight' has {} columns, expected {}", ckpt_.path(),
           cols(m), c_.hidden_size);
  return m;
}

Vec CheckpointWeights::final_norm() { return ckpt_.read_vec(prefix_ + "norm.weight", c_.hidden_size); }

Mat CheckpointWeights::ple_rows(const std::vector<std::int64_t>& ids) {
  const index_t LP = c_.num_hidden_layers * c_.ple_dim();
  for (auto id : ids)
    G4_CHECK(id >= 0 && id < c_.vocab_size_per_layer_input, ShapeError,
             "token id {} is outside the per-layer-embedding vocabulary [0, {})", id, c_.vocab_size_per_layer_input);
  const std::vector<double> v = ckpt_.read_rows(prefix_ + "embed_tokens_per_layer.weight", ids);
  Mat m = Mat::from_shape({ids.size(), static_cast<size_t>(LP)});
  G4_CHECK(v.size() == m.size(), IoError, "{}: 'embed_tokens_per_layer.weight' rows are not L*P = {} wide",
           ckpt_.path(), LP);
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

Mat CheckpointWeights::ple_model_projection() {
  return ckpt_.read_mat(prefix_ + "per_layer_model_projection.weight", c_.num_hidden_layers * c_.ple_dim(),
                        c_.hidden_size);
}

Vec CheckpointWeights::ple_projection_norm() {
  return ckpt_.read_vec(prefix_ + "per_layer_projection_norm.weight", c_.ple_dim());
}

}  // namespace g4::golden
