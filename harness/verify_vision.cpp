#include "harness/verify_vision.hpp"

#include <filesystem>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "golden/h5.hpp"
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
  namespace fs = std::filesystem;
  const std::string dir = opt.bundle, h5_path = dir + "/golden.h5";
  G4_CHECK(fs::is_directory(dir), IoError, "{}: not a golden bundle directory", dir);
  const vision::VisionConfig cfg = vision::load_vision_config(dir + "/config.json");
  golden::H5Reader h5(h5_path);
  CheckpointVisionWeights weights(cfg, dir + "/model.safetensors");
  text::ReferenceExecutor ex;
  ops::set_matmul_body(opt.naive_matmul ? ops::MatmulBody::kNaive : ops::MatmulBody::kBlas);

  std::regex pattern;
  try {
    pattern = std::regex(opt.taps_pattern.empty() ? ".*" : opt.taps_pattern);
  } catch (const std::regex_error& e) {
    throw ConfigError(fmt::format("--taps '{}': not a valid regular expression ({})", opt.taps_pattern, e.what()));
  }

  // Inputs: pixel_values [B, Np, Pd], pixel_position_ids [B, Np, 2] (x, y; −1 = padding).
  const auto pshape = h5.shape("/inputs/pixel_values");
  G4_CHECK(pshape.size() == 3 && pshape[2] == cfg.patch_pixels(), IoError,
           "{}: '/inputs/pixel_values' has shape {}, expected [B, Np, {}]", h5_path, golden::shape_str(pshape),
           cfg.patch_pixels());
  vision::VisionInputs in;
  in.B = pshape[0], in.Np = pshape[1];
  const std::vector<double> pix = h5.read_f64("/inputs/pixel_values");
  in.pixel_values = Mat::from_shape({static_cast<size_t>(in.B * in.Np), static_cast<size_t>(cfg.patch_pixels())});
  std::copy(pix.begin(), pix.end(), in.pixel_values.begin());
  G4_CHECK(h5.shape("/inputs/pixel_position_ids") == (std::vector<std::int64_t>{in.B, in.Np, 2}), IoError,
           "{}: '/inputs/pixel_position_ids' has shape {}, expected [{}, {}, 2]", h5_path,
           golden::shape_str(h5.shape("/inputs/pixel_position_ids")), in.B, in.Np);
  const std::vector<std::int64_t> pos = h5.read_i64("/inputs/pixel_position_ids");
  for (index_t r = 0; r < in.B * in.Np; ++r) in.pos_x.push_back(pos[2 * r]), in.pos_y.push_back(pos[2 * r + 1]);

  VerifyResult res;
  std::set<std::string> produced;
  auto sink = [&](const std::string& name, const Mat& value, const std::vector<index_t>& shape) {
    if (!produced.insert(name).second) return;
    if (!std::regex_search(name, pattern)) return;
    VerifyRow row{name, std::vector<std::int64_t>(shape.begin(), shape.end()), {}, {}};
    const std::string ds = "/taps/" + name;
    G4_CHECK(h5.is_dataset(ds), IoError, "{}: dataset '{}' is missing (the reference produces it for this config)",
             h5_path, ds);
    const auto gshape = h5.shape(ds);
    G4_CHECK(gshape == row.shape, IoError, "{}: dataset '{}' has shape {}, expected {} for this config", h5_path, ds,
             golden::shape_str(gshape), golden::shape_str(row.shape));
    const std::vector<double> g = h5.read_f64(ds);
    // Every element is compared, padding patches included: the reference computes them exactly as
    // transformers does (padding keys masked, padding rows zeroed before pooling).
    row.m = compare(g.data(), value.data(), g.size(), nullptr);
    if (row.m.compared == 0) row.problem = "no element to compare";
    res.rows.push_back(std::move(row));
  };
  vision::VisionForwardOptions fo;
  fo.tower_prefix = h5.has_attr("/", "tower_prefix") ? h5.attr_string("/", "tower_prefix") : "model.vision_tower.";
  fo.embedder_prefix =
      h5.has_attr("/", "embedder_prefix") ? h5.attr_string("/", "embedder_prefix") : "model.embed_vision.";
  fo.project = weights.has_projection();
  vision::VisionModel model(cfg, weights, ex, sink, fo);
  model.forward(in);

  for (const std::string& name : h5.list("/taps"))
    if (!produced.count(name) && std::regex_search(name, pattern)) res.golden_only.push_back(name);
  for (const VerifyRow& r : res.rows) {
    const bool bad = !r.problem.empty() || !(r.m.rel_l2 <= opt.tolerance);
    if (bad) res.pass = false;
    if (r.problem.empty() && (res.worst_tap.empty() || r.m.rel_l2 > res.worst_rel_l2))
      res.worst_rel_l2 = r.m.rel_l2, res.worst_tap = r.tap;
  }
  if (!res.golden_only.empty() || res.rows.empty()) res.pass = false;
  return res;
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
