// Vision preprocessing geometry; see geometry.hpp.
#include "reference/vision/geometry.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "reference/common/check.hpp"

namespace g4::vision {

const std::vector<index_t>& supported_budgets() {
  static const std::vector<index_t> b = {70, 140, 280, 560, 1120};  // _SUPPORTED_SOFT_TOKENS
  return b;
}

void check_budget(index_t budget) {
  const auto& b = supported_budgets();
  G4_CHECK(std::find(b.begin(), b.end(), budget) != b.end(), ConfigError,
           "soft-token budget {} is not supported (expected one of 70, 140, 280, 560, 1120)", budget);
}

ImageGeometry image_geometry(index_t height, index_t width, index_t budget, index_t p, index_t k) {
  check_budget(budget);
  G4_CHECK(height > 0 && width > 0, ConfigError, "image of {}x{} pixels is empty (expected height and width >= 1)",
           height, width);
  ImageGeometry g;
  g.height = height, g.width = width, g.budget = budget;
  g.max_patches = budget * k * k;
  // Same arithmetic as transformers (Python floats are IEEE doubles; int products are exact).
  const double total_px = static_cast<double>(height * width);
  const double target_px = static_cast<double>(g.max_patches * p * p);
  const double factor = std::sqrt(target_px / total_px);
  const double ideal_h = factor * static_cast<double>(height), ideal_w = factor * static_cast<double>(width);
  const index_t m = k * p;
  index_t th = static_cast<index_t>(std::floor(ideal_h / static_cast<double>(m))) * m;
  index_t tw = static_cast<index_t>(std::floor(ideal_w / static_cast<double>(m))) * m;
  G4_CHECK(!(th == 0 && tw == 0), ConfigError,
           "image of {}x{} pixels would resize to 0x0 under budget {} (sides must be multiples of {})", height, width,
           budget, m);
  const index_t max_side = (g.max_patches / (k * k)) * m;
  if (th == 0) {  // a thin, wide image: one row of pooling cells
    th = m;
    tw = std::min(static_cast<index_t>(std::floor(static_cast<double>(width) / static_cast<double>(height))) * m,
                  max_side);
  } else if (tw == 0) {  // a thin, tall image
    tw = m;
    th = std::min(static_cast<index_t>(std::floor(static_cast<double>(height) / static_cast<double>(width))) * m,
                  max_side);
  }
  G4_CHECK(th * tw <= g.max_patches * p * p, ConfigError,
           "image of {}x{} pixels would resize to {}x{}, more than {} patches of {} pixels", height, width, th, tw,
           g.max_patches, p);
  g.target_height = th, g.target_width = tw;
  g.patches_y = th / p, g.patches_x = tw / p;
  g.soft_tokens = g.num_patches() / (k * k);
  return g;
}

Patches patchify(const Mat& image, index_t th, index_t tw, index_t p, index_t max_patches, index_t k) {
  G4_CHECK(rows(image) == 3 && cols(image) == th * tw, ShapeError, "patchify: image is [{}, {}], expected [3, {}]",
           rows(image), cols(image), th * tw);
  G4_CHECK(th % p == 0 && tw % p == 0, ShapeError, "patchify: {}x{} is not a multiple of the patch size {}", th, tw, p);
  const index_t gy = th / p, gx = tw / p, n = gy * gx;
  G4_CHECK(n <= max_patches, ShapeError, "patchify: {} patches exceed max_patches {}", n, max_patches);
  Patches out;
  out.pixel_values = xt::zeros<double>({static_cast<size_t>(max_patches), static_cast<size_t>(3 * p * p)});
  out.pos_x.assign(max_patches, -1);
  out.pos_y.assign(max_patches, -1);
  out.num_patches = n;
  out.soft_tokens = n / (k * k);
  for (index_t py = 0; py < gy; ++py)
    for (index_t px = 0; px < gx; ++px) {
      const index_t r = py * gx + px;  // row-major over the grid
      out.pos_x[r] = px, out.pos_y[r] = py;
      for (index_t i = 0; i < p; ++i)      // row in patch
        for (index_t j = 0; j < p; ++j)    // column in patch
          for (index_t c = 0; c < 3; ++c)  // channel fastest
            out.pixel_values(r, (i * p + j) * 3 + c) = image(c, (py * p + i) * tw + px * p + j);
    }
  return out;
}

Mat unpatchify(const Patches& pt, index_t th, index_t tw, index_t p) {
  const index_t gx = tw / p;
  Mat image = xt::zeros<double>({size_t{3}, static_cast<size_t>(th * tw)});
  for (index_t r = 0; r < pt.num_patches; ++r) {
    const index_t px = pt.pos_x[r], py = pt.pos_y[r];
    G4_CHECK(px >= 0 && py >= 0 && py * gx + px == r, ShapeError, "unpatchify: patch {} has position ({}, {})", r, px,
             py);
    for (index_t i = 0; i < p; ++i)
      for (index_t j = 0; j < p; ++j)
        for (index_t c = 0; c < 3; ++c) image(c, (py * p + i) * tw + px * p + j) = pt.pixel_values(r, (i * p + j) * 3 + c);
  }
  return image;
}

std::string image_prompt(index_t n, const MultimodalTokens& t) {
  std::string s = t.boi;
  for (index_t i = 0; i < n; ++i) s += t.image;
  return s + t.eoi;
}

std::vector<index_t> image_prompt_ids(index_t n, const MultimodalTokens& t) {
  std::vector<index_t> ids{t.boi_id};
  ids.insert(ids.end(), static_cast<size_t>(n), t.image_id);
  ids.push_back(t.eoi_id);
  return ids;
}

std::string video_timestamp(double seconds) {
  // Python: f"{int(seconds // 60):02d}:{int(seconds % 60):02d}" (floor division and modulo).
  const double minutes = std::floor(seconds / 60.0);
  const double rest = seconds - 60.0 * minutes;
  return fmt::format("{:02d}:{:02d}", static_cast<long long>(minutes), static_cast<long long>(rest));
}

std::string video_prompt(const std::vector<double>& frame_seconds, index_t n, const MultimodalTokens& t) {
  std::string s;
  for (size_t f = 0; f < frame_seconds.size(); ++f) {
    if (f) s += ' ';
    s += video_timestamp(frame_seconds[f]) + ' ' + t.boi;
    for (index_t i = 0; i < n; ++i) s += t.video;
    s += t.eoi;
  }
  return s;
}

std::vector<std::vector<index_t>> video_frame_ids(index_t frames, index_t n, const MultimodalTokens& t) {
  std::vector<index_t> one{t.boi_id};
  one.insert(one.end(), static_cast<size_t>(n), t.video_id);
  one.push_back(t.eoi_id);
  return std::vector<std::vector<index_t>>(static_cast<size_t>(frames), one);
}

}  // namespace g4::vision
