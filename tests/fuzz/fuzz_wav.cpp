// Fuzz target: an audio file read as `gemma4-harness audio-features WAV` does
// (harness/verify_audio.cpp): load_clip (libsndfile through reference/audio/wav.cpp: the RIFF
// truncation check, the header's frame count capped at max_length before allocating, mono, 16 kHz,
// finite samples), then the log-mel feature extraction of that clip.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "reference/audio/config.hpp"
#include "reference/audio/features.hpp"
#include "reference/audio/wav.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const g4::audio::FeatureConfig fc{};  // the CLI's default (no --preprocessor)
  const std::string path = (g4::fuzz::scratch() / "clip.wav").string();
  g4::fuzz::write_file(path, data, size);
  G4_FUZZ_BODY({
    const std::vector<double> clip = g4::audio::load_clip(path, fc);
    if (clip.empty() || g4::index_t(clip.size()) > fc.max_length) std::abort();
    const g4::audio::AudioFeatures f = g4::audio::extract_features(fc, {clip});
    if (f.B != 1 || f.mask.size() != std::size_t(f.T)) std::abort();
  });
  return 0;
}
