#pragma once
// A vision golden bundle opened for a forward (golden.h5 kind "vision", written by
// golden/exporter/export_vision.py): its config, weights, the processor's pixel_values and patch
// positions, and the tap prefixes the exporter recorded. Used by `verify` (against the goldens)
// and by `run` (the tower through the precision policies).
#include <string>

#include "golden/h5.hpp"
#include "harness/verify_vision.hpp"
#include "reference/vision/config.hpp"
#include "reference/vision/model.hpp"

namespace g4::harness {

struct VisionBundle {
  // Opens and checks `dir` (IoError naming the file and dataset on anything unexpected).
  explicit VisionBundle(const std::string& dir);
  std::string dir, h5_path;
  vision::VisionConfig config;
  golden::H5Reader h5;
  CheckpointVisionWeights weights;
  vision::VisionInputs inputs;          // pixel_values [B·Np, Pd], positions (−1, −1 = padding)
  vision::VisionForwardOptions options; // tap prefixes; project iff the checkpoint has embed_vision
};

}  // namespace g4::harness
