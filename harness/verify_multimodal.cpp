#include "harness/verify_multimodal.hpp"

#include <regex>
#include <set>

#include <fmt/format.h>

#include "golden/checkpoint_weights.hpp"
#include "reference/common/check.hpp"
#include "reference/multimodal/embedder.hpp"
#include "reference/ops/matmul.hpp"

namespace g4::harness {
namespace {

// A golden tap as a matrix [rows, last dim] (any rank >= 2 is flattened over the leading axes).
Mat golden_matrix(const golden::GoldenBundle& b, const std::string& name) {
  const std::string path = "/taps/" + name;
  G4_CHECK(b.h5().is_dataset(path), IoError, "{}: dataset '{}' is missing", b.h5_path(), path);
  const auto shape = b.h5().shape(path);
  G4_CHECK(shape.size() >= 2, IoError, "{}: dataset '{}' must have at least 2 axes", b.h5_path(), path);
  const std::vector<double> v = b.h5().read_f64(path);
  const size_t c = static_cast<size_t>(shape.back());
  Mat m = Mat::from_shape({v.size() / c, c});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

IdMat golden_ids_2d(const golden::GoldenBundle& b, const std::string& path) {
  const auto shape = b.h5().shape(path);
  G4_CHECK(shape.size() == 2, IoError, "{}: dataset '{}' must be 2-D", b.h5_path(), path);
  const auto v = b.h5().read_i64(path);
  IdMat m = IdMat::from_shape({static_cast<size_t>(shape[0]), static_cast<size_t>(shape[1])});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

// Rows of x whose mask entry is non-zero (the audio tower's padding soft tokens are stripped).
Mat select_rows(const Mat& x, const std::vector<double>& mask, const std::string& what) {
  G4_CHECK(mask.size() == x.shape(0), IoError, "{}: mask has {} entries for {} rows", what, mask.size(), x.shape(0));
  std::vector<size_t> keep;
  for (size_t r = 0; r < mask.size(); ++r)
    if (mask[r] != 0.0) keep.push_back(r);
  Mat out = Mat::from_shape({keep.size(), x.shape(1)});
  for (size_t i = 0; i < keep.size(); ++i)
    for (size_t c = 0; c < x.shape(1); ++c) out(i, c) = x(keep[i], c);
  return out;
}

}  // namespace

mm::SoftTokens soft_tokens_from_golden_towers(TowerContext& ctx) {
  const golden::GoldenBundle& b = ctx.bundle;
  const mm::MultimodalConfig& c = ctx.config;
  const index_t H = c.text.hidden_size;
  mm::SoftTokens soft;
  auto embed = [&](const std::string& module, const mm::EmbedderConfig& e, const Mat& x, const std::string& tap) {
    G4_CHECK(e.present, ConfigError, "{}: the golden holds {} but config.json has no matching tower", b.dir(), tap);
    G4_CHECK(cols(x) == e.input_dim, IoError, "{}: tower output for {} is {} wide, expected {}", b.h5_path(), tap,
             cols(x), e.input_dim);
    const Mat w = ctx.checkpoint.read_mat("model." + module + ".embedding_projection.weight", H, e.input_dim);
    Mat y = mm::embed_soft_tokens(ctx.ex, "model." + module, x, w, e.eps);
    ctx.sink(tap, y, {rows(y), H});
    return y;
  };
  auto read = [&](const std::string& name) {
    ctx.golden_inputs.push_back(name);
    return golden_matrix(b, name);
  };
  if (b.has_tap("model.vision_tower.last_hidden_state"))
    soft.image = embed("embed_vision", c.vision, read("model.vision_tower.last_hidden_state"), "model.image_features");
  if (b.has_tap("model.vision_tower.video_last_hidden_state"))
    soft.video = embed("embed_vision", c.vision, read("model.vision_tower.video_last_hidden_state"),
                       "model.video_features");
  if (b.has_tap("model.audio_tower.last_hidden_state")) {
    const Mat x = read("model.audio_tower.last_hidden_state");              // [n_clips·T_a, Ha_out]
    ctx.golden_inputs.push_back("model.audio_tower.output_mask");
    const std::vector<double> mask = b.h5().read_f64("/taps/model.audio_tower.output_mask");
    soft.audio = embed("embed_audio", c.audio, select_rows(x, mask, "model.audio_tower.output_mask"),
                       "model.audio_features");
  }
  return soft;
}

VerifyResult verify_multimodal(const VerifyOptions& opt, const TowerHook& towers) {
  golden::GoldenBundle bundle(opt.bundle);
  const mm::MultimodalConfig cfg = mm::load_multimodal_config(bundle.dir() + "/config.json");
  golden::CheckpointWeights weights(cfg.text, bundle.weights_path());
  text::ReferenceExecutor ex;
  ops::set_matmul_body(opt.naive_matmul ? ops::MatmulBody::kNaive : ops::MatmulBody::kBlas);

  std::regex pattern;
  try {
    pattern = std::regex(opt.taps_pattern.empty() ? ".*" : opt.taps_pattern);
  } catch (const std::regex_error& e) {
    throw ConfigError(fmt::format("--taps '{}': not a valid regular expression ({})", opt.taps_pattern, e.what()));
  }
  const auto& in = bundle.inputs();
  const std::int64_t B = in.input_ids.shape(0), S = in.input_ids.shape(1);
  const std::vector<std::int64_t> attn(in.attention_mask.begin(), in.attention_mask.end());

  VerifyResult res;
  std::set<std::string> produced;
  text::TapSink sink = [&](const std::string& name, const Mat& value, const std::vector<index_t>& shape) {
    produced.insert(name);
    if (!std::regex_search(name, pattern)) return;
    VerifyRow row{name, std::vector<std::int64_t>(shape.begin(), shape.end()), {}, {}};
    const std::string path = "/taps/" + name;
    G4_CHECK(bundle.h5().is_dataset(path), IoError, "{}: dataset '{}' is missing (the reference produces it for "
             "this config)", bundle.h5_path(), path);
    const std::string layout =
        bundle.h5().has_attr(path, "layout") ? bundle.h5().attr_string(path, "layout") : std::string();
    if (layout == "rows") {  // no token axis: every element is compared
      const auto shape_g = bundle.h5().shape(path);
      G4_CHECK(shape_g == row.shape, IoError, "{}: dataset '{}' has shape [{}], expected [{}]", bundle.h5_path(),
               path, fmt::join(shape_g, ","), fmt::join(row.shape, ","));
      const std::vector<double> g = bundle.h5().read_f64(path);
      const std::vector<std::uint8_t> all(g.size(), 1);
      row.m = compare(g.data(), value.data(), g.size(), all.data());
    } else {
      const golden::GoldenTap g = bundle.tap(name);
      G4_CHECK(g.shape == row.shape, IoError, "{}: dataset '{}' has shape [{}], expected [{}] for this config",
               bundle.h5_path(), path, fmt::join(g.shape, ","), fmt::join(row.shape, ","));
      const auto valid = token_validity(g.shape, g.layout, attn, B, S);
      row.m = compare(g.data.data(), value.data(), g.data.size(), valid.data());
    }
    if (row.m.compared == 0) row.problem = "no valid element to compare";
    res.rows.push_back(std::move(row));
  };

  // ---- the towers' hook: the only place the soft tokens come from ----
  std::vector<std::string> golden_inputs;
  TowerContext ctx{bundle, cfg, weights.checkpoint(), ex, sink, golden_inputs};
  const mm::SoftTokens soft = towers(ctx);

  mm::MultimodalInputs mi{in.input_ids, in.attention_mask, in.mm_token_type_ids};
  mm::MultimodalModel model(cfg, weights, ex, sink, "model.", weights.prefix());
  model.forward(mi, soft);

  const std::set<std::string> read_as_input(golden_inputs.begin(), golden_inputs.end());
  for (const std::string& name : bundle.tap_names())
    if (!produced.count(name) && !read_as_input.count(name) && std::regex_search(name, pattern))
      res.golden_only.push_back(name);
  res.golden_inputs = golden_inputs;
  for (const VerifyRow& r : res.rows) {
    const bool bad = !r.problem.empty() || !(r.m.rel_l2 <= opt.tolerance);
    if (bad) res.pass = false;
    if (r.problem.empty() && (res.worst_tap.empty() || r.m.rel_l2 > res.worst_rel_l2))
      res.worst_rel_l2 = r.m.rel_l2, res.worst_tap = r.tap;
  }
  if (!res.golden_only.empty() || res.rows.empty()) res.pass = false;
  return res;
}

}  // namespace g4::harness
