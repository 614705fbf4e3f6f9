#include "harness/audio_bundle.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "reference/common/check.hpp"

namespace g4::harness {
namespace fs = std::filesystem;

std::string bundle_weights_path(const std::string& dir) {
  for (const char* f : {"model.safetensors", "model.safetensors.index.json"})
    if (fs::exists(fs::path(dir) / f)) return (fs::path(dir) / f).string();
  throw IoError(fmt::format("{}: no model.safetensors or model.safetensors.index.json", dir));
}

namespace {
std::string checked_dir(const std::string& dir) {
  G4_CHECK(fs::is_directory(dir), IoError, "{}: not a golden bundle directory", dir);
  return dir;
}
}  // namespace

AudioBundle::AudioBundle(const std::string& d)
    : dir(checked_dir(d)),
      h5_path(dir + "/golden.h5"),
      h5(h5_path),
      config(audio::load_audio_config(dir + "/config.json")),
      feature_config(audio::load_feature_config(dir + "/preprocessor_config.json")),
      checkpoint(bundle_weights_path(dir)),
      reader(checkpoint),
      weights(config, reader) {
  // /inputs/waveform [B, N_max]: clip b is the first num_samples[b] values.
  const auto wshape = h5.shape("/inputs/waveform");
  G4_CHECK(wshape.size() == 2, IoError, "{}: dataset '/inputs/waveform' has shape {}, expected [B, N]", h5_path,
           golden::shape_str(wshape));
  const std::vector<double> wav = h5.read_f64("/inputs/waveform");
  const std::vector<std::int64_t> n = h5.read_i64("/inputs/num_samples");
  G4_CHECK(std::int64_t(n.size()) == wshape[0], IoError, "{}: '/inputs/num_samples' has {} entries, expected {}",
           h5_path, n.size(), wshape[0]);
  for (std::int64_t b = 0; b < wshape[0]; ++b) {
    G4_CHECK(n[b] >= 0 && n[b] <= wshape[1], IoError, "{}: num_samples[{}] = {} outside [0, {}]", h5_path, b, n[b],
             wshape[1]);
    clips.emplace_back(wav.begin() + b * wshape[1], wav.begin() + b * wshape[1] + n[b]);
  }
  features = audio::extract_features(feature_config, clips);
}

}  // namespace g4::harness
