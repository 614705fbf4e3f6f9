#pragma once
// Vision preprocessing geometry (transformers Gemma4ImageProcessor / Gemma4VideoProcessor /
// Gemma4Processor): soft-token budget -> aspect-preserving target size and patch grid, patchify
// with padding patches and positions, and the prompt layout of images and video frames.
// Spec: ../shared/spec/gemma4-architecture.md 5.1 and 5.6; upstream: image_processing_gemma4.py
// get_aspect_ratio_preserving_size, convert_image_to_patches, pad_along_first_dim;
// processing_gemma4.py replace_image_token / replace_video_token.
//
//   budget  max_soft_tokens ∈ {70, 140, 280, 560, 1120};  max_patches Np = budget · k²
//   f  = sqrt(Np·p² / (h·w)),  m = k·p
//   th = floor(f·h / m)·m,  tw = floor(f·w / m)·m                    (both 0 -> error)
//   thin: th == 0 -> th = m, tw = min(floor(w / h)·m, (Np / k²)·m);  symmetric when tw == 0
//   th·tw > Np·p² -> error
//   grid = (th / p) × (tw / p) patches;  soft tokens = grid / k²
#include <string>
#include <vector>

#include "reference/common/tensor.hpp"
#include "reference/vision/config.hpp"

namespace g4::vision {

// The budgets transformers accepts; anything else -> ConfigError naming the value.
const std::vector<index_t>& supported_budgets();
void check_budget(index_t budget);

struct ImageGeometry {
  index_t height = 0, width = 0;                // the input image
  index_t budget = 0;                           // max soft tokens
  index_t max_patches = 0;                      // Np = budget · k² (rows of pixel_values)
  index_t target_height = 0, target_width = 0;  // after the aspect-preserving resize
  index_t patches_y = 0, patches_x = 0;         // patch grid: rows (y), columns (x)
  index_t num_patches() const { return patches_y * patches_x; }
  index_t soft_tokens = 0;                      // num_patches / k²
};

// Target size and patch grid of an h × w image under `budget`, exactly as transformers.
// ConfigError for an unsupported budget, an empty image, or a size transformers rejects.
ImageGeometry image_geometry(index_t height, index_t width, index_t budget, index_t patch_size = 16,
                             index_t pooling_kernel_size = 3);

// What the processor hands the model for one image (one row of pixel_values):
struct Patches {
  Mat pixel_values;                 // row-major [Np, 3·p²]; rows ≥ num_patches are zero (padding)
  std::vector<index_t> pos_x, pos_y;  // [Np] each: (col, row) of the patch; (−1, −1) for padding
  index_t num_patches = 0;
  index_t soft_tokens = 0;
};

// image: channel-major [3, th·tw] values already rescaled to [0, 1] (row-major planes of th × tw).
// Patches in row-major order over the grid; each patch vector ordered (row-in-patch,
// col-in-patch, channel), channel fastest. Padded to max_patches.
Patches patchify(const Mat& image_chw, index_t th, index_t tw, index_t patch_size, index_t max_patches,
                 index_t pooling_kernel_size);
// The inverse on the real patches: [3, th·tw]. Used by the round-trip test.
Mat unpatchify(const Patches& p, index_t th, index_t tw, index_t patch_size);

// Prompt layout (processing_gemma4.py). Token strings as transformers writes them.
struct MultimodalTokens {
  std::string boi = "<|image>", eoi = "<image|>", image = "<|image|>", video = "<|video|>";
  index_t boi_id = 255999, eoi_id = 258882, image_id = 258880, video_id = 258884;  // Gemma4Config defaults
};

// One image: boi + n × image + eoi, as text and as ids.
std::string image_prompt(index_t soft_tokens, const MultimodalTokens& t = {});
std::vector<index_t> image_prompt_ids(index_t soft_tokens, const MultimodalTokens& t = {});

// One video: per frame "mm:ss " + boi + n × video + eoi, frames joined by a space; mm:ss from the
// frame's timestamp in seconds (int(s // 60), int(s % 60), two digits each). Frames are encoded
// as images with the per-frame budget (default 70: Gemma4VideoProcessor.max_soft_tokens).
inline constexpr index_t kVideoFrameBudget = 70;
std::string video_timestamp(double seconds);
std::string video_prompt(const std::vector<double>& frame_seconds, index_t soft_tokens_per_frame,
                         const MultimodalTokens& t = {});
// The special-token part of each frame (timestamp text is left to the tokenizer):
// per frame [boi, n × video, eoi].
std::vector<std::vector<index_t>> video_frame_ids(index_t frames, index_t soft_tokens_per_frame,
                                                  const MultimodalTokens& t = {});

}  // namespace g4::vision
