#pragma once
// The Gemma 4 vision tower forward (Gemma4VisionModel) and its projection into the text model
// (Gemma4MultimodalEmbedder, `embed_vision`), written once against the text Executor interface.
// Reading order: forward() -> patch_embed() -> encoder_layer() -> attention() / mlp() -> pool()
// -> project(). Spec: ../shared/spec/gemma4-architecture.md section 5; upstream: transformers
// models/gemma4/modeling_gemma4.py Gemma4VisionPatchEmbedder, Gemma4VisionEncoderLayer,
// Gemma4VisionAttention, Gemma4VisionMLP, Gemma4ClippableLinear, Gemma4VisionPooler,
// Gemma4VisionModel, Gemma4MultimodalEmbedder.
//
// Taps carry transformers' module paths under ForwardOptions::tower_prefix
// ("model.vision_tower." in Gemma4ForConditionalGeneration) and embedder_prefix
// ("model.embed_vision."), with transformers' shapes: [B, Np, ·] inside the tower,
// [B, Nt, Hv] for the pooler, [N, Hv] for the tower output (valid soft tokens of all images, in
// order) and [N, H] for the projection.
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "reference/common/tensor.hpp"
#include "reference/text/executor.hpp"
#include "reference/text/model.hpp"
#include "reference/vision/config.hpp"

namespace g4::vision {

// Gemma4ClippableLinear: y = clamp(clamp(x, in_min, in_max) · Wᵀ, out_min, out_max). The bounds
// are ±inf (a no-op) unless use_clipped_linears and the checkpoint sets them.
struct ClippedLinear {
  Mat w;  // [out, in]
  double input_min = -std::numeric_limits<double>::infinity(), input_max = std::numeric_limits<double>::infinity();
  double output_min = -std::numeric_limits<double>::infinity(), output_max = std::numeric_limits<double>::infinity();
};

struct VisionLayerWeights {
  Vec input_layernorm, post_attention_layernorm;     // [Hv]
  Vec pre_feedforward_layernorm, post_feedforward_layernorm;  // [Hv]
  ClippedLinear q_proj, k_proj, v_proj;              // [Nh·Dh, Hv] (k, v: [Nkv·Dh, Hv])
  ClippedLinear o_proj;                              // [Hv, Nh·Dh]
  Vec q_norm, k_norm;                                // [Dh]
  ClippedLinear gate_proj, up_proj;                  // [Fv, Hv]
  ClippedLinear down_proj;                           // [Hv, Fv]
};

// Where vision weights come from (a golden bundle / checkpoint through a name prefix, or seeded
// random numbers at real size); one layer at a time, fresh copies.
class VisionWeightSource {
 public:
  virtual ~VisionWeightSource() = default;
  virtual Mat input_proj() = 0;                                   // patch_embedder.input_proj.weight [Hv, Pd]
  // Rows of patch_embedder.position_embedding_table[axis] ([2, 10240, Hv]): [ids, Hv].
  virtual Mat position_rows(index_t axis, const std::vector<std::int64_t>& ids) = 0;
  virtual VisionLayerWeights layer(index_t i) = 0;               // encoder.layers.i.*
  virtual Vec std_bias() = 0;                                    // [Hv] (standardize only)
  virtual Vec std_scale() = 0;                                   // [Hv]
  virtual Mat embedding_projection() = 0;                        // embed_vision.embedding_projection.weight [H, Hv]
};

// The model's input for B images at one budget (pixel_values as the processor makes them).
struct VisionInputs {
  index_t B = 0, Np = 0;                // images, patches per image (max_patches, incl. padding)
  Mat pixel_values;                     // row-major [B·Np, Pd], values in [0, 1]
  std::vector<index_t> pos_x, pos_y;    // [B·Np]; (−1, −1) marks a padding patch
};

struct VisionForwardOptions {
  std::string tower_prefix = "model.vision_tower.";
  std::string embedder_prefix = "model.embed_vision.";
  bool project = true;                  // run embed_vision (needs the text width)
};

struct VisionOutput {
  Mat soft_tokens;                      // [N, Hv]: the tower's output (valid slots of every image)
  Mat projected;                        // [N, H]: after embed_vision (empty if !project)
  std::vector<index_t> tokens_per_image;
};

using text::TapSink;

class VisionModel {
 public:
  VisionModel(const VisionConfig& config, VisionWeightSource& weights, text::Executor& ex, TapSink sink,
              VisionForwardOptions options = {});

  VisionOutput forward(const VisionInputs& in);

  // Pieces, public for the benchmark: forward = prepare, patch_embed, encoder_layer × L, head.
  void prepare(const VisionInputs& in);                                               // checks, attention mask
  Mat patch_embed(const VisionInputs& in);                                            // [B·Np, Hv]
  Mat encoder_layer(index_t i, const VisionLayerWeights& w, const Mat& h, const VisionInputs& in);
  VisionOutput head(const Mat& h, const VisionInputs& in);                            // pool, strip, standardize, project

 private:
  Mat clipped_linear(const std::string& name, const Mat& x, const ClippedLinear& l, std::vector<index_t> shape);
  Mat attention(const std::string& n, const VisionLayerWeights& w, const Mat& a, const VisionInputs& in);
  Mat mlp(const std::string& n, const VisionLayerWeights& w, const Mat& a, const VisionInputs& in);
  const Mat& tap(const std::string& name, const Mat& m, std::vector<index_t> shape);

  const VisionConfig& c_;
  VisionWeightSource& w_;
  text::Executor& ex_;
  TapSink sink_;
  VisionForwardOptions opt_;
  std::vector<std::uint8_t> allowed_;  // [B, Np, Np] keys a query may attend to (valid patches)
  Vec inv_freq_;                       // 2-D RoPE frequencies [Dh/4]
};

// Seeded random weights at any size (the benchmark). Magnitudes follow text::RandomWeights:
// linears N(0, 1/fan_in), norms 1 + 0.1·N, q/k norms Dh^(−1/4)·(1 + 0.1·N), position table
// N(0, 1)/sqrt(2), std_bias 0.1·N, std_scale 1 + 0.1·N; clip bounds ±inf.
class RandomVisionWeights : public VisionWeightSource {
 public:
  RandomVisionWeights(const VisionConfig& config, index_t text_hidden, std::uint64_t seed)
      : c_(config), text_hidden_(text_hidden), seed_(seed) {}
  Mat input_proj() override;
  Mat position_rows(index_t axis, const std::vector<std::int64_t>& ids) override;
  VisionLayerWeights layer(index_t i) override;
  Vec std_bias() override;
  Vec std_scale() override;
  Mat embedding_projection() override;

 private:
  const VisionConfig c_;
  index_t text_hidden_;
  std::uint64_t seed_;
};

}  // namespace g4::vision
