#include "harness/verify_audio.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "golden/h5.hpp"
#include "harness/audio_bundle.hpp"
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

Mat as_mat(const std::vector<double>& v, index_t r, index_t c) {
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

}  // namespace

VerifyResult verify_audio(const VerifyOptions& opt) {
  ops::set_matmul_body(opt.naive_matmul ? ops::MatmulBody::kNaive : ops::MatmulBody::kBlas);
  AudioBundle bundle(opt.bundle);  // configs, weights, the clips and their float64 features
  const audio::FeatureConfig& fc = bundle.feature_config;

  // Every element is compared: the padding frames are deterministic too.
  TapComparer taps(opt, h5_tap_source(bundle.h5, bundle.h5_path));
  const text::TapSink sink = taps.sink();

  // Feature extractor constants, then the features of the batch.
  const std::vector<double> win = audio::ops::periodic_hann(fc.frame_length);
  sink("feature_extractor.window", as_mat(win, 1, index_t(win.size())), {fc.frame_length});
  const index_t bins = fc.fft_length / 2 + 1;
  sink("feature_extractor.mel_filters",
       audio::ops::mel_filter_bank(bins, fc.feature_size, fc.min_frequency, fc.max_frequency, fc.sampling_rate),
       {bins, fc.feature_size});
  const audio::AudioFeatures& feats = bundle.features;
  sink("input_features", feats.features, {feats.B, feats.T, feats.M});
  Mat fmask = Mat::from_shape({size_t(feats.B), size_t(feats.T)});
  for (size_t i = 0; i < feats.mask.size(); ++i) fmask.data()[i] = feats.mask[i];
  sink("input_features_mask", fmask, {feats.B, feats.T});

  audio::AudioModel model(bundle.config, bundle.weights, sink);
  const audio::AudioOutput out = model.forward(feats);
  // The placeholder count of the processor must equal the valid frames of the tower's mask.
  for (index_t b = 0; b < out.B; ++b) {
    index_t valid = 0;
    for (index_t t = 0; t < out.T; ++t) valid += out.mask[b * out.T + t];
    const index_t expect = audio::num_soft_tokens(fc, index_t(bundle.clips[b].size()));
    if (valid != expect) {
      VerifyRow row{fmt::format("soft_token_count[{}]", b), {1}, {}, {}};
      row.problem = fmt::format("{} valid frames, processor count {}", valid, expect);
      taps.add_problem(std::move(row));
    }
  }

  return taps.finish();
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
