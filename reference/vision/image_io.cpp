// PNG / JPEG decoding, the bicubic resize, and the image processor's steps. See image_io.hpp.
#include "reference/vision/image_io.hpp"

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <jpeglib.h>
#include <png.h>

#include "reference/common/check.hpp"

namespace g4::vision {
namespace {

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  // A directory opens as a stream and reads as 0 bytes: say what it is instead of "empty".
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  G4_CHECK(std::filesystem::exists(st), IoError, "{}: no such image file{}", path,
           ec && ec != std::errc::no_such_file_or_directory ? " (" + ec.message() + ")" : "");
  G4_CHECK(std::filesystem::is_regular_file(st), IoError, "{}: not a regular file (expected a PNG or JPEG file)", path);
  std::ifstream f(path, std::ios::binary);
  G4_CHECK(f.good(), IoError, "{}: cannot open the image file", path);
  std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  G4_CHECK(!f.bad(), IoError, "{}: error reading the image file", path);
  return bytes;
}

std::uint8_t round_u8(double v) { return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// The decompression-bomb guard (image_io.hpp): called with the header's size, before allocating.
void check_pixels(const std::string& source, const char* format, std::uint64_t height, std::uint64_t width) {
  G4_CHECK(height * width <= kMaxImagePixels, IoError,  // both < 2^32: the product fits 64 bits
           "{}: {} header declares {} x {} = {} pixels, over the limit of {} pixels (a decompression bomb?); "
           "refused before decoding",
           source, format, height, width, height * width, kMaxImagePixels);
}

}  // namespace

RgbImage read_image(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_bytes(path);
  G4_CHECK(!bytes.empty(), IoError, "{}: the image file is empty (0 bytes)", path);
  static const std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), png_sig, 8) == 0) return decode_png(bytes, path);
  if (bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff) return decode_jpeg(bytes, path);
  throw IoError(fmt::format("{}: not a PNG or JPEG file (unknown signature)", path));
}

// libpng's simplified API; RGBA out, alpha composited on white like transformers' convert_to_rgb.
RgbImage decode_png(const std::vector<std::uint8_t>& bytes, const std::string& source) {
  png_image im;
  std::memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&im, bytes.data(), bytes.size())) {
    const std::string why = im.message;
    png_image_free(&im);
    throw IoError(fmt::format("{}: corrupt PNG ({})", source, why));
  }
  im.format = PNG_FORMAT_RGBA;
  if (im.width == 0 || im.height == 0) {
    png_image_free(&im);
    throw IoError(fmt::format("{}: empty image (0x0 pixels)", source));
  }
  try {
    check_pixels(source, "PNG", im.height, im.width);
  } catch (...) {
    png_image_free(&im);
    throw;
  }
  std::vector<std::uint8_t> rgba(PNG_IMAGE_SIZE(im));
  if (!png_image_finish_read(&im, nullptr, rgba.data(), 0, nullptr)) {
    const std::string why = im.message;
    png_image_free(&im);
    throw IoError(fmt::format("{}: corrupt or truncated PNG ({})", source, why));
  }
  RgbImage out{static_cast<index_t>(im.height), static_cast<index_t>(im.width), {}};
  out.rgb.resize(static_cast<size_t>(out.height * out.width * 3));
  for (index_t i = 0; i < out.height * out.width; ++i) {
    const double a = rgba[4 * i + 3] / 255.0;
    for (int c = 0; c < 3; ++c) out.rgb[3 * i + c] = round_u8(rgba[4 * i + c] * a + 255.0 * (1.0 - a));
  }
  return out;
}

namespace {

// libjpeg reports errors through a callback that must not return: jump back and throw. Warnings
// (a truncated file is only a warning: "Premature end of JPEG file") are errors here too.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

void jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_fail(cinfo);  // a warning (corrupt data, premature end of file)
}

}  // namespace

RgbImage decode_jpeg(const std::vector<std::uint8_t>& bytes, const std::string& source) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_message;
  err.message[0] = 0;
  RgbImage out;
  std::vector<JSAMPLE> row;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw IoError(fmt::format("{}: corrupt or truncated JPEG ({})", source, err.message));
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  // Before jpeg_start_decompress: a progressive JPEG allocates whole-image coefficient buffers there.
  if (std::uint64_t(cinfo.image_height) * cinfo.image_width > kMaxImagePixels) {
    const std::uint64_t h = cinfo.image_height, w = cinfo.image_width;
    jpeg_destroy_decompress(&cinfo);
    check_pixels(source, "JPEG", h, w);
  }
  cinfo.out_color_space = JCS_RGB;  // grayscale and YCbCr convert; CMYK is an error (libjpeg's message)
  jpeg_start_decompress(&cinfo);
  out.height = cinfo.output_height, out.width = cinfo.output_width;
  if (out.height == 0 || out.width == 0 || cinfo.output_components != 3) {
    jpeg_destroy_decompress(&cinfo);
    throw IoError(fmt::format("{}: JPEG of {}x{} pixels with {} components (expected a non-empty RGB image)", source,
                              out.height, out.width, cinfo.output_components));
  }
  out.rgb.resize(static_cast<size_t>(out.height * out.width * 3));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW r = &out.rgb[static_cast<size_t>(cinfo.output_scanline) * out.width * 3];
    jpeg_read_scanlines(&cinfo, &r, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return out;
}

namespace {

// Keys' cubic convolution kernel with a = −0.5 (PIL's bicubic filter), support 2.
double cubic(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// For each output index: first input index and normalised weights (PIL's precompute_coeffs).
struct Taps1d {
  std::vector<index_t> first;
  std::vector<std::vector<double>> w;
};

Taps1d taps_1d(index_t in, index_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0);   // antialias: widen the kernel when shrinking
  const double support = 2.0 * filterscale;
  Taps1d t;
  for (index_t o = 0; o < out; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    const index_t lo = std::max<index_t>(static_cast<index_t>(center - support + 0.5), 0);
    const index_t hi = std::min<index_t>(static_cast<index_t>(center + support + 0.5), in);
    std::vector<double> w;
    double sum = 0.0;
    for (index_t x = lo; x < hi; ++x) {
      const double v = cubic((static_cast<double>(x) - center + 0.5) / filterscale);
      w.push_back(v);
      sum += v;
    }
    if (sum != 0.0)
      for (double& v : w) v /= sum;
    t.first.push_back(lo);
    t.w.push_back(std::move(w));
  }
  return t;
}

}  // namespace

RgbImage resize_bicubic(const RgbImage& img, index_t height, index_t width) {
  G4_CHECK(img.height > 0 && img.width > 0 && height > 0 && width > 0, ShapeError,
           "resize: {}x{} -> {}x{} (sizes must be positive)", img.height, img.width, height, width);
  // Horizontal pass (rounded to 8 bits, as PIL stores the intermediate image), then vertical.
  const Taps1d th = taps_1d(img.width, width), tv = taps_1d(img.height, height);
  std::vector<std::uint8_t> mid(static_cast<size_t>(img.height * width * 3));
  for (index_t y = 0; y < img.height; ++y)
    for (index_t x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        double s = 0.0;
        for (size_t i = 0; i < th.w[x].size(); ++i) s += th.w[x][i] * img.rgb[((y * img.width) + th.first[x] + i) * 3 + c];
        mid[(y * width + x) * 3 + c] = round_u8(s);
      }
  RgbImage out{height, width, std::vector<std::uint8_t>(static_cast<size_t>(height * width * 3))};
  for (index_t y = 0; y < height; ++y)
    for (index_t x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        double s = 0.0;
        for (size_t i = 0; i < tv.w[y].size(); ++i) s += tv.w[y][i] * mid[(((tv.first[y] + i) * width) + x) * 3 + c];
        out.rgb[(y * width + x) * 3 + c] = round_u8(s);
      }
  return out;
}

Mat to_unit_chw(const RgbImage& img) {
  const index_t n = img.height * img.width;
  Mat m = Mat::from_shape({size_t{3}, static_cast<size_t>(n)});
  for (index_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) m(c, i) = img.rgb[3 * i + c] / 255.0;
  return m;
}

PreprocessedImage preprocess_image(const RgbImage& img, index_t budget, const VisionConfig& c) {
  PreprocessedImage out;
  out.geometry = image_geometry(img.height, img.width, budget, c.patch_size, c.pooling_kernel_size);
  const ImageGeometry& g = out.geometry;
  const bool same = g.target_height == img.height && g.target_width == img.width;
  const Mat chw = to_unit_chw(same ? img : resize_bicubic(img, g.target_height, g.target_width));
  out.patches = patchify(chw, g.target_height, g.target_width, c.patch_size, g.max_patches, c.pooling_kernel_size);
  return out;
}

}  // namespace g4::vision
