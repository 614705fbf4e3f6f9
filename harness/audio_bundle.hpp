#pragma once
// An audio golden bundle opened for a forward (golden.h5 kind "audio", written by
// golden/exporter/export_audio.py): its tower config, feature-extractor config, weights, the
// waveform clips and their log-mel features (extracted in float64 as transformers does). Used by
// `run` (the tower through the precision policies) and `verify` (against the goldens).
#include <string>
#include <vector>

#include "golden/h5.hpp"
#include "golden/safetensors.hpp"
#include "harness/verify_audio.hpp"
#include "reference/audio/config.hpp"
#include "reference/audio/features.hpp"
#include "reference/audio/weights.hpp"

namespace g4::harness {

struct AudioBundle {
  // Opens and checks `dir` (IoError naming the file and dataset on anything unexpected).
  explicit AudioBundle(const std::string& dir);
  std::string dir, h5_path;
  golden::H5Reader h5;
  audio::AudioConfig config;
  audio::FeatureConfig feature_config;
  golden::Checkpoint checkpoint;       // model.safetensors or its shard index
  CheckpointTensorReader reader;       // over `checkpoint`
  audio::NamedAudioWeights weights;    // over `reader`
  std::vector<std::vector<double>> clips;  // /inputs/waveform rows cut to /inputs/num_samples
  audio::AudioFeatures features;       // of the clips
};

// The checkpoint of a bundle directory: model.safetensors, else model.safetensors.index.json.
std::string bundle_weights_path(const std::string& dir);

}  // namespace g4::harness
