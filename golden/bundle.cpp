#include "golden/bundle.hpp"

#include <filesystem>

#include "reference/common/check.hpp"

namespace g4::golden {
namespace {

namespace fs = std::filesystem;

// fs::exists that turns a failing stat (a symbolic-link loop, a parent without search permission)
// into one IoError line naming the path, instead of a std::filesystem_error.
bool exists_checked(const fs::path& p) {
  std::error_code ec;
  const fs::file_status st = fs::status(p, ec);
  G4_CHECK(!ec || st.type() == fs::file_type::not_found, IoError, "{}: cannot read it ({})", p.string(),
           ec.message());
  return fs::exists(st);
}

IdMat read_ids(const H5Reader& h5, const std::string& path, const std::string& file) {
  G4_CHECK(h5.is_dataset(path), IoError, "{}: dataset '{}' is missing", file, path);
  const auto shape = h5.shape(path);
  G4_CHECK(shape.size() == 2 && shape[0] > 0 && shape[1] > 0, IoError,
           "{}: dataset '{}' must be 2-D [B, S] with B, S > 0", file, path);
  const std::vector<std::int64_t> v = h5.read_i64(path);
  IdMat m = IdMat::from_shape({static_cast<size_t>(shape[0]), static_cast<size_t>(shape[1])});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

}  // namespace

GoldenBundle::GoldenBundle(const std::string& dir) : dir_(dir) {
  G4_CHECK(exists_checked(dir) && fs::is_directory(dir), IoError, "{}: not a golden bundle directory (expected config.json, "
           "model.safetensors and golden.h5 inside)", dir);
  for (const char* f : {"config.json", "golden.h5"})
    G4_CHECK(exists_checked(fs::path(dir) / f), IoError, "{}/{}: missing (a golden bundle needs config.json, "
             "model.safetensors or a sharded model.safetensors.index.json, and golden.h5)", dir, f);
  const bool single = exists_checked(fs::path(dir) / "model.safetensors");
  G4_CHECK(single || exists_checked(fs::path(dir) / "model.safetensors.index.json"), IoError,
           "{}/model.safetensors: missing (nor is there a sharded model.safetensors.index.json)", dir);
  weights_path_ = dir + (single ? "/model.safetensors" : "/model.safetensors.index.json");
  config_ = text::load_text_config(dir + "/config.json");
  h5_.open(h5_path());
  const std::string file = h5_path();
  inputs_.input_ids = read_ids(h5_, "/inputs/input_ids", file);
  inputs_.attention_mask = read_ids(h5_, "/inputs/attention_mask", file);
  G4_CHECK(inputs_.attention_mask.shape() == inputs_.input_ids.shape(), IoError,
           "{}: '/inputs/attention_mask' shape differs from '/inputs/input_ids'", file);
  for (auto id : inputs_.input_ids)
    G4_CHECK(id >= 0 && id < config_.vocab_size, IoError,
             "{}: dataset '/inputs/input_ids' holds token id {}, outside the vocabulary [0, {}) of config.json", file,
             id, config_.vocab_size);
  for (auto v : inputs_.attention_mask)
    G4_CHECK(v == 0 || v == 1, IoError, "{}: '/inputs/attention_mask' holds {} (expected 0 or 1)", file, v);
  if (h5_.has("/inputs/mm_token_type_ids")) {
    inputs_.mm_token_type_ids = read_ids(h5_, "/inputs/mm_token_type_ids", file);
    G4_CHECK(inputs_.mm_token_type_ids.shape() == inputs_.input_ids.shape(), IoError,
             "{}: '/inputs/mm_token_type_ids' shape differs from '/inputs/input_ids'", file);
  }
  G4_CHECK(h5_.is_group("/taps"), IoError, "{}: group '/taps' is missing", file);
}

std::vector<std::string> GoldenBundle::tap_names() const { return h5_.list("/taps"); }

bool GoldenBundle::has_tap(const std::string& name) const { return h5_.is_dataset("/taps/" + name); }

GoldenTap GoldenBundle::tap(const std::string& name) const {
  const std::string path = "/taps/" + name;
  G4_CHECK(h5_.is_dataset(path), IoError, "{}: dataset '{}' is missing", h5_path(), path);
  GoldenTap t;
  t.shape = h5_.shape(path);
  t.layout = h5_.has_attr(path, "layout") ? h5_.attr_string(path, "layout") : "";
  G4_CHECK(t.layout == "BS" || t.layout == "T" || t.layout == "BNS", IoError,
           "{}: dataset '{}' has layout '{}' (expected attribute 'layout' = BS, T or BNS)", h5_path(), path, t.layout);
  if (name.size() > 8 && name.compare(name.size() - 8, 8, ".indices") == 0) {
    const auto ints = h5_.read_i64(path);
    t.data.assign(ints.begin(), ints.end());
  } else {
    t.data = h5_.read_f64(path);
  }
  return t;
}

std::string GoldenBundle::attr(const std::string& name) const {
  return h5_.has_attr("/", name) ? h5_.attr_string("/", name) : "";
}

std::string bundle_kind(const std::string& dir) {
  const std::string path = dir + "/golden.h5";
  if (!exists_checked(path)) return "text";  // a symlink loop etc.: one IoError line, not a filesystem_error
  const H5Reader h5(path);
  return h5.has_attr("/", "kind") ? h5.attr_string("/", "kind") : "text";
}

}  // namespace g4::golden
