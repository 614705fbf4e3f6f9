#pragma once
// A golden bundle (golden/README.md): a directory with config.json, model.safetensors (or shards
// with model.safetensors.index.json, as transformers writes them) and golden.h5 (inputs, taps, provenance), written by golden/exporter/export_text.py.
#include <memory>
#include <string>
#include <vector>

#include "golden/h5.hpp"
#include "reference/text/config.hpp"
#include "reference/text/model.hpp"

namespace g4::golden {

struct GoldenTap {
  std::vector<double> data;          // row-major, in the stored shape
  std::vector<std::int64_t> shape;
  std::string layout;                // "BS", "T" or "BNS": which leading axes index tokens
};

// A bundle's kind: golden.h5's root attribute `kind` ("text", "vision", "audio", "multimodal",
// "assistant"); "text" when absent (the text bundles predate it) or when golden.h5 is missing
// (the bundle's own loader then says what is missing).
std::string bundle_kind(const std::string& dir);

class GoldenBundle {
 public:
  // Opens and checks `dir` (IoError/ConfigError naming the file and what is wrong).
  explicit GoldenBundle(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const text::TextConfig& config() const { return config_; }
  const text::TextInputs& inputs() const { return inputs_; }
  const std::string& weights_path() const { return weights_path_; }  // single file or shard index
  std::string h5_path() const { return dir_ + "/golden.h5"; }

  std::vector<std::string> tap_names() const;   // every dataset under /taps
  bool has_tap(const std::string& name) const;
  GoldenTap tap(const std::string& name) const; // DataError on NaN/Inf
  std::string attr(const std::string& name) const;  // root attribute, "" if absent
  const H5Reader& h5() const { return h5_; }

 private:
  std::string dir_;
  std::string weights_path_;
  text::TextConfig config_;
  text::TextInputs inputs_;
  H5Reader h5_;
};

}  // namespace g4::golden
