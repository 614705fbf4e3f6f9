#pragma once
// Seeded random weights at any dimensions (real-size benchmarks, tests).
//
// Each tensor is drawn from its own stream, seeded by (seed, layer, tensor name), so layer i can be
// made without making layers 0..i-1, and the numbers do not depend on the platform's <random>
// (splitmix64 + Marsaglia's polar method, both written out here; large tensors are drawn in
// independently seeded chunks, in parallel).
// Magnitudes: linear weights ~ N(0, 1/fan_in), so a unit-RMS input gives unit-RMS outputs (the
// regime of trained Gemma layers after their RMSNorms); norm weights 1 + 0.1·N(0,1), except q/k
// norms at Dh^(-1/4)·(1 + 0.1·N) (attention scaling is 1.0 in Gemma 4, so the 1/sqrt(Dh)
// temperature must come from these scales, or every softmax is nearly one-hot); layer_scalar
// uniform in [0.5, 1]; router scale 1 + 0.1·N, per_expert_scale uniform [0.5, 1.5]; embeddings
// N(0, 1) / sqrt(D) so that E[ids]·sqrt(D) has unit RMS.
#include <cstdint>

#include "reference/text/weights.hpp"

namespace g4::text {

class RandomWeights : public WeightSource {
 public:
  RandomWeights(const TextConfig& config, std::uint64_t seed) : c_(config), seed_(seed) {}
  LayerWeights layer(index_t i) override;
  Mat embed_rows(const std::vector<std::int64_t>& ids) override;
  Mat embed_block(index_t row0, index_t n) override;
  Vec final_norm() override;
  Mat ple_rows(const std::vector<std::int64_t>& ids) override;
  Mat ple_model_projection() override;
  Vec ple_projection_norm() override;

 private:
  const TextConfig c_;  // a copy: callers may pass a temporary
  std::uint64_t seed_;
};

// Deterministic normal stream (splitmix64 -> Marsaglia polar).
class NormalStream {
 public:
  NormalStream(std::uint64_t seed, index_t layer, const char* name);
  double next();          // N(0, 1)
  double uniform();       // U[0, 1)
 private:
  std::uint64_t state_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace g4::text
