#include "harness/verify_audio.hpp"

#include <filesystem>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "golden/h5.hpp"
#include "golden/safetensors.hpp"
#include "reference/audio/config.hpp"
#include "reference/audio/features.hpp"
#include "reference/audio/model.hpp"
#include "reference/audio/ops/hann_window.hpp"
#include "reference/audio/ops/mel_filter_bank.hpp"
#include "reference/audio/wav.hpp"
#include "reference/common/check.hpp"
#include "reference/ops/matmul.hpp"

namespace g4::harness {
namespace fs = std::filesystem;

bool CheckpointTensorReader::has(const std::string& name) const { return c_.has(name); }

std::vector<double> CheckpointTensorReader::read(const std::string& name, const std::vector<std::int64_t>& shape) const {
  if (!shape.empty()) return c_.read_shaped(name, shape);
  const golden::TensorInfo& t = c_.info(name);
  G4_CHECK(t.numel() == 1, IoError, "{}: tensor '{}' has shape {}, expected a scalar", c_.path(), name,
           golden::shape_str(t.shape));
  G4_CHECK(golden::dtype_is_float(t.dtype), IoError, "{}: tensor '{}' is {}, expected a float scalar", c_.path(), name,
           golden::dtype_name(t.dtype));
  std::vector<double> v(1);
  golden::convert_to_f64(t.dtype, c_.raw(name).data(), 1, v.data(), name);
  G4_CHECK(!std::isnan(v[0]), DataError, "{}: tensor '{}' is NaN", c_.path(), name);
  return v;
}

namespace {

std::string weights_path(const std::string& dir) {
  for (const char* f : {"model.safetensors", "model.safetensors.index.json"})
    if (fs::exists(fs::path(dir) / f)) return (fs::path(dir) / f).string();
  throw IoError(fmt::format("{}: no model.safetensors or model.safetensors.index.json", dir));
}

Mat as_mat(const std::vector<double>& v, index_t r, index_t c) {
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

}  // namespace

VerifyResult verify_audio(const VerifyOptions& opt) {
  const std::string dir = opt.bundle;
  const std::string h5path = dir + "/golden.h5";
  const golden::H5Reader h5(h5path);
  const audio::AudioConfig cfg = audio::load_audio_config(dir + "/config.json");
  const audio::FeatureConfig fc = audio::load_feature_config(dir + "/preprocessor_config.json");
  const golden::Checkpoint ckpt(weights_path(dir));
  const CheckpointTensorReader reader(ckpt);
  audio::NamedAudioWeights weights(cfg, reader);
  ops::set_matmul_body(opt.naive_matmul ? ops::MatmulBody::kNaive : ops::MatmulBody::kBlas);

  std::regex pattern;
  try {
    pattern = std::regex(opt.taps_pattern.empty() ? ".*" : opt.taps_pattern);
  } catch (const std::regex_error& e) {
    throw ConfigError(fmt::format("--taps '{}': not a valid regular expression ({})", opt.taps_pattern, e.what()));
  }

  // Inputs: /inputs/waveform [B, N_max] (clip b is the first num_samples[b] values).
  const auto wshape = h5.shape("/inputs/waveform");
  G4_CHECK(wshape.size() == 2, IoError, "{}: dataset '/inputs/waveform' must be [B, N]", h5path);
  const std::vector<double> wav = h5.read_f64("/inputs/waveform");
  const std::vector<std::int64_t> n = h5.read_i64("/inputs/num_samples");
  G4_CHECK(std::int64_t(n.size()) == wshape[0], IoError, "{}: '/inputs/num_samples' has {} entries, expected {}",
           h5path, n.size(), wshape[0]);
  std::vector<std::vector<double>> clips;
  for (std::int64_t b = 0; b < wshape[0]; ++b) {
    G4_CHECK(n[b] >= 0 && n[b] <= wshape[1], IoError, "{}: num_samples[{}] = {} outside [0, {}]", h5path, b, n[b],
             wshape[1]);
    clips.emplace_back(wav.begin() + b * wshape[1], wav.begin() + b * wshape[1] + n[b]);
  }

  const std::vector<std::string> golden_taps = h5.list("/taps");
  const std::set<std::string> in_golden(golden_taps.begin(), golden_taps.end());
  VerifyResult res;
  std::set<std::string> produced;
  auto sink = [&](const std::string& name, const Mat& value, const std::vector<index_t>& shape) {
    produced.insert(name);
    if (!std::regex_search(name, pattern)) return;
    VerifyRow row{name, std::vector<std::int64_t>(shape.begin(), shape.end()), {}, {}};
    G4_CHECK(in_golden.count(name), IoError,
             "{}: dataset '/taps/{}' is missing (the reference produces it for this config)", h5path, name);
    const auto gshape = h5.shape("/taps/" + name);
    G4_CHECK(gshape == row.shape, IoError, "{}: dataset '/taps/{}' has shape [{}], expected [{}] for this config",
             h5path, name, fmt::join(gshape, ","), fmt::join(row.shape, ","));
    const std::vector<double> g = h5.read_f64("/taps/" + name);
    row.m = compare(g.data(), value.data(), g.size(), nullptr);  // every element: padding is deterministic too
    if (row.m.compared == 0) row.problem = "no element to compare";
    res.rows.push_back(std::move(row));
  };

  // Feature extractor constants, then the features of the batch.
  const std::vector<double> win = audio::ops::periodic_hann(fc.frame_length);
  sink("feature_extractor.window", as_mat(win, 1, index_t(win.size())), {fc.frame_length});
  const index_t bins = fc.fft_length / 2 + 1;
  sink("feature_extractor.mel_filters",
       audio::ops::mel_filter_bank(bins, fc.feature_size, fc.min_frequency, fc.max_frequency, fc.sampling_rate),
       {bins, fc.feature_size});
  const audio::AudioFeatures feats = audio::extract_features(fc, clips);
  sink("input_features", feats.features, {feats.B, feats.T, feats.M});
  Mat fmask = Mat::from_shape({size_t(feats.B), size_t(feats.T)});
  for (size_t i = 0; i < feats.mask.size(); ++i) fmask.data()[i] = feats.mask[i];
  sink("input_features_mask", fmask, {feats.B, feats.T});

  audio::AudioModel model(cfg, weights, sink);
  const audio::AudioOutput out = model.forward(feats);
  // The placeholder count of the processor must equal the valid frames of the tower's mask.
  for (index_t b = 0; b < out.B; ++b) {
    index_t valid = 0;
    for (index_t t = 0; t < out.T; ++t) valid += out.mask[b * out.T + t];
    const index_t expect = audio::num_soft_tokens(fc, index_t(clips[b].size()));
    if (valid != expect) {
      VerifyRow row{fmt::format("soft_token_count[{}]", b), {1}, {}, {}};
      row.problem = fmt::format("{} valid frames, processor count {}", valid, expect);
      res.rows.push_back(std::move(row));
    }
  }

  for (const std::string& name : golden_taps)
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

int audio_features_command(const AudioFeaturesOptions& o) {
  const audio::FeatureConfig fc = o.preprocessor.empty() ? audio::FeatureConfig{} : audio::load_feature_config(o.preprocessor);
  std::vector<std::vector<double>> clips;
  for (const std::string& w : o.wavs) clips.push_back(audio::load_clip(w, fc));
  const audio::AudioFeatures f = audio::extract_features(fc, clips);
  fmt::print("{} clip(s) -> input_features [{}, {}, {}] (batch padded to {} frames)\n", f.B, f.B, f.T, f.M, f.T);
  for (index_t b = 0; b < f.B; ++b) {
    index_t valid = 0;
    double lo = 0, hi = 0;
    bool first = true;
    for (index_t t = 0; t < f.T; ++t) {
      if (!f.mask[b * f.T + t]) continue;
      ++valid;
      for (index_t m = 0; m < f.M; ++m) {
        const double v = f.features(b * f.T + t, m);
        lo = first ? v : std::min(lo, v);
        hi = first ? v : std::max(hi, v);
        first = false;
      }
    }
    fmt::print("  {}: {} samples ({:.3f} s), {} valid frames, log-mel in [{:.3f}, {:.3f}], {} audio soft tokens\n",
               o.wavs[b], clips[b].size(), double(clips[b].size()) / double(fc.sampling_rate), valid, lo, hi,
               audio::num_soft_tokens(fc, index_t(clips[b].size())));
  }
  if (!o.out.empty()) {
    golden::H5Writer w(o.out);
    w.write_f64("/input_features", std::span<const double>(f.features.data(), f.features.size()), {f.B, f.T, f.M});
    std::vector<std::int64_t> mask(f.mask.begin(), f.mask.end()), ns;
    w.write_i64("/input_features_mask", mask, {f.B, f.T});
    for (const auto& c : clips) ns.push_back(std::int64_t(c.size()));
    w.write_i64("/num_samples", ns, {f.B});
    w.write_strings("/files", o.wavs);
    w.set_attr_string("/", "kind", "audio_features");
    w.set_attr_i64("/", "sampling_rate", fc.sampling_rate);
    w.commit();
    fmt::print("{} written\n", o.out);
  }
  return 0;
}

}  // namespace g4::harness
