#pragma once
// Image files for the vision tower: PNG (libpng) and JPEG (libjpeg) decoded to 8-bit RGB, a
// bicubic resize to the target size, and the processor's steps up to pixel_values.
//
// transformers' processor (Gemma4ImageProcessorPil) converts to RGB (alpha composited on white),
// resizes with PIL's antialiased bicubic only when the size changes, rescales by 1/255 and
// patchifies. The resize here follows PIL's separable filter (a = −0.5 cubic kernel, support
// widened by the downscale factor, horizontal pass then vertical, each rounded to 8 bits) but
// not its fixed-point arithmetic, so it is not bit for bit: goldens start from pixel_values and
// the drift against transformers' processor is reported (tests/reference/vision), not gated.
#include <cstdint>
#include <string>
#include <vector>

#include "reference/common/tensor.hpp"
#include "reference/vision/geometry.hpp"

namespace g4::vision {

struct RgbImage {
  index_t height = 0, width = 0;
  std::vector<std::uint8_t> rgb;  // row-major [height, width, 3]
};

// Decodes a PNG or JPEG file (chosen by its signature bytes). Missing, empty (0 bytes or 0×0),
// corrupt, truncated or unsupported files -> IoError "PATH: <problem>". A header declaring more
// than kMaxImagePixels pixels is refused (IoError naming the file and the declared size) before
// any pixel buffer is allocated: a few-KB file can declare a 65500 × 65500 image (a decompression
// bomb: 12.8 GB as RGB).
//
// kMaxImagePixels = PIL's decompression-bomb error threshold (2 · Image.MAX_IMAGE_PIXELS =
// 2 · 89 478 485): transformers' PIL processor refuses such an image as well, so nothing it
// accepts is refused here. At the cap the decode holds ~1.25 GB (RGBA 4 B + RGB 3 B per pixel).
inline constexpr std::uint64_t kMaxImagePixels = 178956970;
RgbImage read_image(const std::string& path);
RgbImage decode_png(const std::vector<std::uint8_t>& bytes, const std::string& source);
RgbImage decode_jpeg(const std::vector<std::uint8_t>& bytes, const std::string& source);

// Antialiased bicubic resize (PIL's filter, see above) to height × width.
RgbImage resize_bicubic(const RgbImage& img, index_t height, index_t width);

// [3, H·W] channel planes rescaled to [0, 1] (value / 255).
Mat to_unit_chw(const RgbImage& img);

// The processor for one image: geometry under `budget`, resize if the size changes, rescale,
// patchify, pad to max_patches.
struct PreprocessedImage {
  ImageGeometry geometry;
  Patches patches;
};
PreprocessedImage preprocess_image(const RgbImage& img, index_t budget, const VisionConfig& c);

}  // namespace g4::vision
