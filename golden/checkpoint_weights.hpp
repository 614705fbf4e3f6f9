#pragma once
// WeightSource over a transformers safetensors checkpoint (single file or sharded): maps
// transformers parameter names to reference weights, one layer at a time, widening
// F64/F32/BF16/F16 to float64 as it reads. Nothing is cached; the mmap stays.
#include <string>

#include "golden/safetensors.hpp"
#include "reference/text/weights.hpp"

namespace g4::golden {

class CheckpointWeights : public text::WeightSource {
 public:
  // `path`: a .safetensors file, a directory with model.safetensors, or a sharded index.
  // The text-model prefix ("model." or "model.language_model.") is found from the names.
  CheckpointWeights(const text::TextConfig& config, const std::string& path);

  text::LayerWeights layer(index_t i) override;
  Mat embed_rows(const std::vector<std::int64_t>& ids) override;
  Mat embed_block(index_t row0, index_t n) override;
  Vec final_norm() override;
  Mat ple_rows(const std::vector<std::int64_t>& ids) override;
  Mat ple_model_projection() override;
  Vec ple_projection_norm() override;

  const std::string& prefix() const { return prefix_; }
  const Checkpoint& checkpoint() const { return ckpt_; }

 private:
  const text::TextConfig c_;  // a copy: callers may pass a temporary
  Checkpoint ckpt_;
  std::string prefix_;
};

}  // namespace g4::golden
