#pragma once
// Vision bundles (golden.h5 root attribute kind = "vision", written by
// golden/exporter/export_vision.py): run the float64 vision tower + embed_vision on the bundle's
// pixel_values and positions with its weights, and compare every tap with the transformers
// golden. Also the checkpoint-backed vision weight source (standalone vision checkpoints and the
// model.vision_tower. / model.embed_vision. tensors of a Gemma4ForConditionalGeneration
// checkpoint).
#include <memory>
#include <string>

#include "golden/safetensors.hpp"
#include "harness/verify.hpp"
#include "reference/vision/model.hpp"

namespace g4::harness {

// Reads vision weights by name through a prefix found in the checkpoint: the tower under
// "model.vision_tower.", "vision_tower." or "" (a standalone Gemma4VisionModel), the embedder under
// "model.embed_vision." or "embed_vision.".
class CheckpointVisionWeights : public vision::VisionWeightSource {
 public:
  CheckpointVisionWeights(const vision::VisionConfig& config, const std::string& path);
  const std::string& tower_prefix() const { return tower_; }
  const std::string& embedder_prefix() const { return embed_; }  // "" if the checkpoint has no embedder
  bool has_projection() const { return !embed_.empty(); }

  Mat input_proj() override;
  Mat position_rows(index_t axis, const std::vector<std::int64_t>& ids) override;
  vision::VisionLayerWeights layer(index_t i) override;
  Vec std_bias() override;
  Vec std_scale() override;
  Mat embedding_projection() override;

 private:
  vision::ClippedLinear clipped(const std::string& name, index_t out, index_t in);
  const vision::VisionConfig c_;
  golden::Checkpoint ckpt_;
  std::string tower_, embed_;
};

// Verifies the vision bundle at opt.bundle (same options and result as verify()).
VerifyResult verify_vision(const VerifyOptions& opt);

// `gemma4-harness vision-preprocess IMAGE --budget N`: decodes a PNG/JPEG, applies the image
// processor's geometry, resize, rescale and patchify, and prints the sizes, the patch grid and the
// soft-token count. Bad input throws (IoError / ConfigError: one line naming the file or budget).
int vision_preprocess_command(const std::string& image, long long budget);

}  // namespace g4::harness
