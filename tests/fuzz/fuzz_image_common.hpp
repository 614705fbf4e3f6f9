#pragma once
// Shared body of the png and jpeg fuzz targets: what `gemma4-harness vision-preprocess IMAGE
// --budget N` does (harness/verify_vision.cpp): read_image (decode by signature, the
// decompression-bomb cap), then the processor geometry for every budget transformers accepts and
// the full preprocessing (bicubic resize, rescale, patchify) at the smallest budget, 70 (the larger
// budgets only resize to a bigger target: same code, slower inputs).
#include <cstddef>
#include <cstdint>
#include <string>

#include "reference/vision/config.hpp"
#include "reference/vision/geometry.hpp"
#include "reference/vision/image_io.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace g4::fuzz {

inline void fuzz_image(const std::uint8_t* data, std::size_t size, const char* name) {
  static const vision::VisionConfig cfg = vision::released_vision_config("on-device");
  const std::string path = (scratch() / name).string();
  write_file(path, data, size);
  G4_FUZZ_BODY({
    const vision::RgbImage img = vision::read_image(path);
    if (img.height <= 0 || img.width <= 0 || img.rgb.size() != std::size_t(img.height * img.width * 3)) std::abort();
    for (const index_t b : vision::supported_budgets()) {
      G4_FUZZ_BODY((void)vision::image_geometry(img.height, img.width, b, cfg.patch_size, cfg.pooling_kernel_size));
    }
    const vision::PreprocessedImage pre = vision::preprocess_image(img, 70, cfg);
    if (pre.patches.pos_x.size() != std::size_t(pre.geometry.max_patches)) std::abort();
  });
}

}  // namespace g4::fuzz
