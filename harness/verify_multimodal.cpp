#include "harness/verify_multimodal.hpp"

#include <set>

#include <fmt/format.h>

#include "golden/checkpoint_weights.hpp"
#include "harness/verify_audio.hpp"
#include "harness/verify_vision.hpp"
#include "reference/audio/model.hpp"
#include "reference/common/check.hpp"
#include "reference/multimodal/embedder.hpp"
#include "reference/ops/matmul.hpp"
#include "reference/vision/config.hpp"
#include "reference/vision/model.hpp"

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

// embed_vision / embed_audio (RMSNorm without scale, then the projection into the text width) on a
// tower's output; the projected soft tokens are handed to the sink as `tap`.
Mat embed_tower_output(TowerContext& ctx, const std::string& module, const mm::EmbedderConfig& e, const Mat& x,
                       const std::string& tap) {
  const index_t H = ctx.config.text.hidden_size;
  G4_CHECK(e.present, ConfigError, "{}: the prompt has {} but config.json has no matching tower", ctx.bundle.dir(),
           tap);
  G4_CHECK(cols(x) == e.input_dim, IoError, "{}: tower output for {} is {} wide, expected {}",
           ctx.bundle.h5_path(), tap, cols(x), e.input_dim);
  const Mat w = ctx.checkpoint.read_mat("model." + module + ".embedding_projection.weight", H, e.input_dim);
  Mat y = mm::embed_soft_tokens(ctx.ex, "model." + module, x, w, e.eps);
  ctx.sink(tap, y, {rows(y), H});
  return y;
}

// /inputs/<pixels> [n, Np, Pd] and /inputs/<positions> [n, Np, 2] (x, y; -1 = padding patch) as the
// vision tower's input.
vision::VisionInputs vision_inputs(const golden::GoldenBundle& b, const std::string& pixels,
                                   const std::string& positions, index_t patch_pixels) {
  const std::string pp = "/inputs/" + pixels, qp = "/inputs/" + positions;
  G4_CHECK(b.h5().is_dataset(pp), IoError, "{}: dataset '{}' is missing", b.h5_path(), pp);
  G4_CHECK(b.h5().is_dataset(qp), IoError, "{}: dataset '{}' is missing", b.h5_path(), qp);
  const auto ps = b.h5().shape(pp);
  G4_CHECK(ps.size() == 3 && ps[2] == patch_pixels, IoError, "{}: dataset '{}' has shape {}, expected [n, Np, {}]",
           b.h5_path(), pp, golden::shape_str(ps), patch_pixels);
  const std::vector<std::int64_t> want = {ps[0], ps[1], 2};
  G4_CHECK(b.h5().shape(qp) == want, IoError, "{}: dataset '{}' has shape {}, expected {}", b.h5_path(), qp,
           golden::shape_str(b.h5().shape(qp)), golden::shape_str(want));
  vision::VisionInputs in;
  in.B = ps[0], in.Np = ps[1];
  const std::vector<double> pix = b.h5().read_f64(pp);
  in.pixel_values = Mat::from_shape({static_cast<size_t>(in.B * in.Np), static_cast<size_t>(patch_pixels)});
  std::copy(pix.begin(), pix.end(), in.pixel_values.begin());
  const std::vector<std::int64_t> pos = b.h5().read_i64(qp);
  for (index_t r = 0; r < in.B * in.Np; ++r) in.pos_x.push_back(pos[2 * r]), in.pos_y.push_back(pos[2 * r + 1]);
  return in;
}

// /inputs/input_features [n, T, M] and /inputs/input_features_mask [n, T] (1 = valid frame): the
// feature extractor's output, as the audio tower's input.
audio::AudioFeatures audio_inputs(const golden::GoldenBundle& b) {
  const std::string fp = "/inputs/input_features", mp = "/inputs/input_features_mask";
  G4_CHECK(b.h5().is_dataset(mp), IoError, "{}: dataset '{}' is missing", b.h5_path(), mp);
  const auto fs = b.h5().shape(fp);
  G4_CHECK(fs.size() == 3, IoError, "{}: dataset '{}' has shape {}, expected [n, T, M]", b.h5_path(), fp,
           golden::shape_str(fs));
  const std::vector<std::int64_t> want = {fs[0], fs[1]};
  G4_CHECK(b.h5().shape(mp) == want, IoError, "{}: dataset '{}' has shape {}, expected {}", b.h5_path(), mp,
           golden::shape_str(b.h5().shape(mp)), golden::shape_str(want));
  audio::AudioFeatures f;
  f.B = fs[0], f.T = fs[1], f.M = fs[2];
  const std::vector<double> v = b.h5().read_f64(fp);
  f.features = Mat::from_shape({static_cast<size_t>(f.B * f.T), static_cast<size_t>(f.M)});
  std::copy(v.begin(), v.end(), f.features.begin());
  for (const std::int64_t m : b.h5().read_i64(mp)) {
    G4_CHECK(m == 0 || m == 1, IoError, "{}: dataset '{}' holds {}, expected 0 or 1", b.h5_path(), mp, m);
    f.mask.push_back(static_cast<std::uint8_t>(m));
  }
  return f;
}

}  // namespace

mm::SoftTokens soft_tokens_from_golden_towers(TowerContext& ctx) {
  const golden::GoldenBundle& b = ctx.bundle;
  const mm::MultimodalConfig& c = ctx.config;
  mm::SoftTokens soft;
  auto read = [&](const std::string& name) {
    ctx.golden_inputs.push_back(name);
    return golden_matrix(b, name);
  };
  if (b.has_tap("model.vision_tower.last_hidden_state"))
    soft.image = embed_tower_output(ctx, "embed_vision", c.vision, read("model.vision_tower.last_hidden_state"),
                                    "model.image_features");
  if (b.has_tap("model.vision_tower.video_last_hidden_state"))
    soft.video = embed_tower_output(ctx, "embed_vision", c.vision,
                                    read("model.vision_tower.video_last_hidden_state"), "model.video_features");
  if (b.has_tap("model.audio_tower.last_hidden_state")) {
    const Mat x = read("model.audio_tower.last_hidden_state");              // [n_clips·T_a, Ha_out]
    ctx.golden_inputs.push_back("model.audio_tower.output_mask");
    const std::vector<double> mask = b.h5().read_f64("/taps/model.audio_tower.output_mask");
    soft.audio = embed_tower_output(ctx, "embed_audio", c.audio, select_rows(x, mask, "model.audio_tower.output_mask"),
                                    "model.audio_features");
  }
  // The towers do not run: their internal taps have nothing to be compared with.
  const std::set<std::string> read_as_input(ctx.golden_inputs.begin(), ctx.golden_inputs.end());
  for (const std::string& name : b.tap_names())
    if ((name.starts_with("model.vision_tower.") || name.starts_with("model.audio_tower.")) &&
        !read_as_input.count(name))
      ctx.not_run.push_back(name);
  return soft;
}

mm::SoftTokens soft_tokens_from_cpp_towers(TowerContext& ctx) {
  const golden::GoldenBundle& b = ctx.bundle;
  const mm::MultimodalConfig& c = ctx.config;
  const std::string config_path = b.dir() + "/config.json";
  const auto& h5 = b.h5();
  mm::SoftTokens soft;
  // Tower-internal taps (model.vision_tower.encoder.layers.0..., model.audio_tower.layers.0...) go to
  // the sink when the golden records them; the tower outputs always do, under the golden's names.
  const text::TapSink if_recorded = [&](const std::string& name, const Mat& v, const std::vector<index_t>& shape) {
    if (b.has_tap(name)) ctx.sink(name, v, shape);
  };

  const bool images = h5.is_dataset("/inputs/pixel_values"), videos = h5.is_dataset("/inputs/pixel_values_videos");
  if (images || videos) {
    G4_CHECK(c.vision.present, ConfigError, "{}: /inputs has pixel values but config.json has no vision_config",
             b.dir());
    const vision::VisionConfig vc = vision::load_vision_config(config_path);
    CheckpointVisionWeights weights(vc, b.weights_path());
    vision::VisionForwardOptions fo;
    fo.project = false;  // embed_vision runs below, as for every tower
    if (images) {
      vision::VisionModel tower(vc, weights, ctx.ex, if_recorded, fo);
      const vision::VisionOutput out =
          tower.forward(vision_inputs(b, "pixel_values", "image_position_ids", vc.patch_pixels()));
      ctx.sink("model.vision_tower.last_hidden_state", out.soft_tokens, {rows(out.soft_tokens), vc.hidden_size});
      soft.image = embed_tower_output(ctx, "embed_vision", c.vision, out.soft_tokens, "model.image_features");
    }
    if (videos) {
      // The frames go through the same tower (transformers' get_video_features); its internal taps
      // would repeat the image call's names, so only the output is compared.
      vision::VisionModel tower(vc, weights, ctx.ex, text::TapSink(), fo);
      const vision::VisionOutput out =
          tower.forward(vision_inputs(b, "pixel_values_videos", "video_position_ids", vc.patch_pixels()));
      ctx.sink("model.vision_tower.video_last_hidden_state", out.soft_tokens,
               {rows(out.soft_tokens), vc.hidden_size});
      soft.video = embed_tower_output(ctx, "embed_vision", c.vision, out.soft_tokens, "model.video_features");
    }
  }

  if (h5.is_dataset("/inputs/input_features")) {
    G4_CHECK(c.audio.present, ConfigError, "{}: /inputs has input_features but config.json has no audio_config",
             b.dir());
    const audio::AudioConfig ac = audio::load_audio_config(config_path);
    const CheckpointTensorReader reader(ctx.checkpoint);
    audio::NamedAudioWeights weights(ac, reader);
    audio::AudioForwardOptions ao;
    ao.embed = false;  // embed_audio runs below on the valid frames
    audio::AudioModel tower(ac, weights, if_recorded, ao);
    const audio::AudioOutput out = tower.forward(audio_inputs(b));
    const index_t O = cols(out.hidden);
    ctx.sink("model.audio_tower.last_hidden_state", out.hidden, {out.B, out.T, O});
    Mat m = Mat::from_shape({static_cast<size_t>(out.B), static_cast<size_t>(out.T)});
    std::vector<double> mask(out.mask.begin(), out.mask.end());
    std::copy(mask.begin(), mask.end(), m.begin());
    ctx.sink("model.audio_tower.output_mask", m, {out.B, out.T});
    soft.audio = embed_tower_output(ctx, "embed_audio", c.audio, select_rows(out.hidden, mask, "the audio tower's mask"),
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

  const auto& in = bundle.inputs();
  TapComparer taps(opt, bundle_tap_source(bundle));
  const text::TapSink sink = taps.sink();

  // ---- the towers' hook: the only place the soft tokens come from ----
  std::vector<std::string> golden_inputs, not_run;
  TowerContext ctx{bundle, cfg, weights.checkpoint(), ex, sink, golden_inputs, not_run};
  const mm::SoftTokens soft = towers(ctx);

  mm::MultimodalInputs mi{in.input_ids, in.attention_mask, in.mm_token_type_ids};
  mm::MultimodalModel model(cfg, weights, ex, sink, "model.", weights.prefix());
  model.forward(mi, soft);

  std::set<std::string> not_compared(golden_inputs.begin(), golden_inputs.end());
  not_compared.insert(not_run.begin(), not_run.end());
  return taps.finish(golden_inputs, not_compared);
}

}  // namespace g4::harness
