#pragma once
// Seeded random audio-tower weights at any size (real-size benchmark, tests), one layer at a time.
// Streams as in reference/text/random_weights.hpp (splitmix64 + polar method, seeded by (seed, layer,
// tensor name)). Magnitudes: linear and conv weights ~ N(0, 1/fan_in) (unit-RMS in, unit-RMS out);
// norm weights 1 + 0.1·N(0,1); per_dim_scale 0.1·N(0,1); output bias 0.1·N(0,1); clip bounds ±inf
// (what transformers initialises; the clamps then pass everything).
#include <cstdint>

#include "reference/audio/weights.hpp"

namespace g4::audio {

class RandomAudioWeights : public AudioWeightSource {
 public:
  RandomAudioWeights(const AudioConfig& config, std::uint64_t seed) : c_(config), seed_(seed) {}
  SubsampleWeights subsample() override;
  AudioLayerWeights layer(index_t i) override;
  OutputWeights output() override;
  bool has_embedder() const override { return c_.text_hidden_size.has_value(); }
  Mat embedder() override;

 private:
  const AudioConfig c_;
  std::uint64_t seed_;
};

}  // namespace g4::audio
