#pragma once
// Audio bundles (golden.h5 root attribute kind = "audio", written by golden/exporter/export_audio.py):
// the waveforms go through the float64 feature extractor, the audio tower and the audio embedder, and
// every tap (mel filters, window, features, frame mask, every module output) is compared with the
// transformers golden, every element (padding frames are deterministic too).
//
// Also the `gemma4-harness audio-features` command: log-mel features of WAV files.
#include <string>
#include <vector>

#include "harness/verify.hpp"
#include "reference/audio/weights.hpp"

namespace g4::golden {
class Checkpoint;
}

namespace g4::harness {

VerifyResult verify_audio(const VerifyOptions& opt);

// TensorReader over a safetensors checkpoint (scalars may be ±inf: clip bounds).
class CheckpointTensorReader : public audio::TensorReader {
 public:
  explicit CheckpointTensorReader(const golden::Checkpoint& c) : c_(c) {}
  bool has(const std::string& name) const override;
  std::vector<double> read(const std::string& name, const std::vector<std::int64_t>& shape) const override;

 private:
  const golden::Checkpoint& c_;
};

struct AudioFeaturesOptions {
  std::vector<std::string> wavs;   // one clip each, batched like the feature extractor batches them
  std::string preprocessor;        // preprocessor_config.json; empty: Gemma4AudioFeatureExtractor defaults
  std::string out;                 // .h5 to write (atomically); empty: print only
};
// Prints one line per clip; returns the exit code (0). Bad input throws (the CLI prints it, exit 2).
int audio_features_command(const AudioFeaturesOptions& o);

}  // namespace g4::harness
