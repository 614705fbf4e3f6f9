#include "harness/verify_vision.hpp"

#include <fmt/format.h>

#include "golden/h5.hpp"
#include "harness/vision_bundle.hpp"
#include "reference/common/check.hpp"
#include "reference/ops/matmul.hpp"
#include "reference/text/executor.hpp"
#include "reference/vision/image_io.hpp"

namespace g4::harness {

CheckpointVisionWeights::CheckpointVisionWeights(const vision::VisionConfig& config, const std::string& path)
    : c_(config), ckpt_(path) {
  bool found = false;
  for (const char* p : {"model.vision_tower.", "vision_tower.", ""})
    if (ckpt_.has(std::string(p) + "patch_embedder.input_proj.weight")) {
      tower_ = p, found = true;
      break;
    }
  G4_CHECK(found, IoError, "{}: no 'patch_embedder.input_proj.weight' under any known prefix (expected "
           "'model.vision_tower.', 'vision_tower.' or none)", path);
  for (const char* p : {"model.embed_vision.", "embed_vision."})
    if (ckpt_.has(std::string(p) + "embedding_projection.weight")) {
      embed_ = p;
      break;
    }
}

Mat CheckpointVisionWeights::input_proj() {
  return ckpt_.read_mat(tower_ + "patch_embedder.input_proj.weight", c_.hidden_size, c_.patch_pixels());
}

Mat CheckpointVisionWeights::position_rows(index_t axis, const std::vector<std::int64_t>& ids) {
  // The table is [2, P, Hv]; rows of axis a are rows a·P + id of its [2·P, Hv] view.
  const std::string name = tower_ + "patch_embedder.position_embedding_table";
  const auto& info = ckpt_.info(name);
  const std::vector<std::int64_t> want = {2, c_.position_embedding_size, c_.hidden_size};
  G4_CHECK(info.shape == want, IoError, "{}: '{}' has shape {}, expected {}", ckpt_.path(), name,
           golden::shape_str(info.shape), golden::shape_str(want));
  std::vector<double> all = ckpt_.read(name);
  Mat m = Mat::from_shape({ids.size(), static_cast<size_t>(c_.hidden_size)});
  for (size_t r = 0; r < ids.size(); ++r) {
    G4_CHECK(ids[r] >= 0 && ids[r] < c_.position_embedding_size, ShapeError, "{}: position {} outside [0, {})", name,
             ids[r], c_.position_embedding_size);
    const double* src = &all[static_cast<size_t>((axis * c_.position_embedding_size + ids[r]) * c_.hidden_size)];
    std::copy(src, src + c_.hidden_size, &m(r, 0));
  }
  return m;
}

vision::ClippedLinear CheckpointVisionWeights::clipped(const std::string& name, index_t out, index_t in) {
  vision::ClippedLinear l;
  l.w = ckpt_.read_mat(name + ".linear.weight", out, in);
  if (c_.use_clipped_linears) {
    l.input_min = ckpt_.read_vec(name + ".input_min", 1)(0);
    l.input_max = ckpt_.read_vec(name + ".input_max", 1)(0);
    l.output_min = ckpt_.read_vec(name + ".output_min", 1)(0);
    l.output_max = ckpt_.read_vec(name + ".output_max", 1)(0);
  }
  return l;
}

vision::VisionLayerWeights CheckpointVisionWeights::layer(index_t i) {
  const index_t Hv = c_.hidden_size, Dh = c_.head_dim, F = c_.intermediate_size;
  const index_t Nq = c_.num_attention_heads, Nkv = c_.num_key_value_heads;
  const std::string n = tower_ + "encoder.layers." + std::to_string(i) + ".";
  vision::VisionLayerWeights w;
  w.input_layernorm = ckpt_.read_vec(n + "input_layernorm.weight", Hv);
  w.post_attention_layernorm = ckpt_.read_vec(n + "post_attention_layernorm.weight", Hv);
  w.pre_feedforward_layernorm = ckpt_.read_vec(n + "pre_feedforward_layernorm.weight", Hv);
  w.post_feedforward_layernorm = ckpt_.read_vec(n + "post_feedforward_layernorm.weight", Hv);
  w.q_proj = clipped(n + "self_attn.q_proj", Nq * Dh, Hv);
  w.k_proj = clipped(n + "self_attn.k_proj", Nkv * Dh, Hv);
  w.v_proj = clipped(n + "self_attn.v_proj", Nkv * Dh, Hv);
  w.o_proj = clipped(n + "self_attn.o_proj", Hv, Nq * Dh);
  w.q_norm = ckpt_.read_vec(n + "self_attn.q_norm.weight", Dh);
  w.k_norm = ckpt_.read_vec(n + "self_attn.k_norm.weight", Dh);
  w.gate_proj = clipped(n + "mlp.gate_proj", F, Hv);
  w.up_proj = clipped(n + "mlp.up_proj", F, Hv);
  w.down_proj = clipped(n + "mlp.down_proj", Hv, F);
  return w;
}

Vec CheckpointVisionWeights::std_bias() { return ckpt_.read_vec(tower_ + "std_bias", c_.hidden_size); }
Vec CheckpointVisionWeights::std_scale() { return ckpt_.read_vec(tower_ + "std_scale", c_.hidden_size); }

Mat CheckpointVisionWeights::embedding_projection() {
  G4_CHECK(!embed_.empty(), IoError, "{}: no 'embed_vision.embedding_projection.weight' (the vision embedder)",
           ckpt_.path());
  const std::string name = embed_ + "embedding_projection.weight";
  const auto& info = ckpt_.info(name);
  G4_CHECK(info.shape.size() == 2 && info.shape[1] == c_.hidden_size, IoError, "{}: '{}' has shape {}, expected [H, {}]",
           ckpt_.path(), name, golden::shape_str(info.shape), c_.hidden_size);
  return ckpt_.read_mat(name, info.shape[0], c_.hidden_size);
}

VerifyResult verify_vision(const VerifyOptions& opt) {
  VisionBundle b(opt.bundle);  // config, weights, pixel_values and positions, tap prefixes
  text::ReferenceExecutor ex;
  ops::set_matmul_body(opt.naive_matmul ? ops::MatmulBody::kNaive : ops::MatmulBody::kBlas);

  // Every element is compared, padding patches included: the reference computes them exactly as
  // transformers does (padding keys masked, padding rows zeroed before pooling). The tower's and the
  // embedder's outputs are tapped under their prefixes without the dot, both "" when the prefixes are
  // empty (a standalone checkpoint): only the first value of a name is compared.
  TapComparer taps(opt, h5_tap_source(b.h5, b.h5_path), TapComparer::Repeats::kFirst);
  vision::VisionModel model(b.config, b.weights, ex, taps.sink(), b.options);
  model.forward(b.inputs);
  return taps.finish();
}

int vision_preprocess_command(const std::string& image, long long budget) {
  vision::check_budget(budget);  // before touching the file: a bad budget is the first thing to say
  const vision::VisionConfig cfg = vision::released_vision_config("on-device");  // p = 16, k = 3: both towers
  const vision::RgbImage img = vision::read_image(image);
  const vision::PreprocessedImage pre = vision::preprocess_image(img, budget, cfg);
  const vision::ImageGeometry& g = pre.geometry;
  fmt::print("image            {}\n", image);
  fmt::print("size             {} x {} (height x width)\n", g.height, g.width);
  fmt::print("budget           {} soft tokens (max_patches {})\n", g.budget, g.max_patches);
  fmt::print("target size      {} x {}{}\n", g.target_height, g.target_width,
             g.target_height == g.height && g.target_width == g.width ? " (no resize)" : "");
  fmt::print("patch grid       {} x {} = {} patches of {} x {} ({} padding)\n", g.patches_y, g.patches_x,
             g.num_patches(), cfg.patch_size, cfg.patch_size, g.max_patches - g.num_patches());
  fmt::print("soft tokens      {}\n", g.soft_tokens);
  fmt::print("prompt           <|image> + {} x <|image|> + <image|> ({} tokens)\n", g.soft_tokens, g.soft_tokens + 2);
  return 0;
}

}  // namespace g4::harness
