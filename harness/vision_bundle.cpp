#include "harness/vision_bundle.hpp"

#include <filesystem>

#include "reference/common/check.hpp"

namespace g4::harness {
namespace {

std::string checked_dir(const std::string& dir) {
  G4_CHECK(std::filesystem::is_directory(dir), IoError, "{}: not a golden bundle directory", dir);
  return dir;
}

}  // namespace

VisionBundle::VisionBundle(const std::string& d)
    : dir(checked_dir(d)),
      h5_path(dir + "/golden.h5"),
      config(vision::load_vision_config(dir + "/config.json")),
      h5(h5_path),
      weights(config, dir + "/model.safetensors") {
  // pixel_values [B, Np, Pd], pixel_position_ids [B, Np, 2] (x, y; −1 = padding).
  const auto pshape = h5.shape("/inputs/pixel_values");
  G4_CHECK(pshape.size() == 3 && pshape[2] == config.patch_pixels(), IoError,
           "{}: '/inputs/pixel_values' has shape {}, expected [B, Np, {}]", h5_path, golden::shape_str(pshape),
           config.patch_pixels());
  inputs.B = pshape[0], inputs.Np = pshape[1];
  const std::vector<double> pix = h5.read_f64("/inputs/pixel_values");
  inputs.pixel_values =
      Mat::from_shape({static_cast<size_t>(inputs.B * inputs.Np), static_cast<size_t>(config.patch_pixels())});
  std::copy(pix.begin(), pix.end(), inputs.pixel_values.begin());
  G4_CHECK(h5.shape("/inputs/pixel_position_ids") == (std::vector<std::int64_t>{inputs.B, inputs.Np, 2}), IoError,
           "{}: '/inputs/pixel_position_ids' has shape {}, expected [{}, {}, 2]", h5_path,
           golden::shape_str(h5.shape("/inputs/pixel_position_ids")), inputs.B, inputs.Np);
  const std::vector<std::int64_t> pos = h5.read_i64("/inputs/pixel_position_ids");
  for (index_t r = 0; r < inputs.B * inputs.Np; ++r)
    inputs.pos_x.push_back(pos[2 * r]), inputs.pos_y.push_back(pos[2 * r + 1]);
  options.tower_prefix =
      h5.has_attr("/", "tower_prefix") ? h5.attr_string("/", "tower_prefix") : "model.vision_tower.";
  options.embedder_prefix =
      h5.has_attr("/", "embedder_prefix") ? h5.attr_string("/", "embedder_prefix") : "model.embed_vision.";
  options.project = weights.has_projection();
}

}  // namespace g4::harness
