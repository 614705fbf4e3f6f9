#include "harness/verify.hpp"

#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "golden/bundle.hpp"
#include "golden/checkpoint_weights.hpp"
#include "harness/verify_assistant.hpp"
#include "harness/verify_audio.hpp"
#include "harness/verify_multimodal.hpp"
#include "harness/verify_vision.hpp"
#include "reference/common/check.hpp"
#include "reference/ops/matmul.hpp"
#include "reference/text/executor.hpp"
#include "reference/text/model.hpp"

namespace g4::harness {


VerifyResult verify(const VerifyOptions& opt) {
  const std::string kind = golden::bundle_kind(opt.bundle);
  if (kind == "multimodal") return verify_multimodal(opt, soft_tokens_from_cpp_towers);  // towers run in C++
  if (kind == "assistant") return verify_assistant(opt);
  if (kind == "vision") return verify_vision(opt);
  if (kind == "audio") return verify_audio(opt);
  G4_CHECK(kind == "text", IoError, "{}/golden.h5: root attribute kind = '{}' is not a bundle kind this build knows",
           opt.bundle, kind);
  golden::GoldenBundle bundle(opt.bundle);
  const text::TextConfig& cfg = bundle.config();
  golden::CheckpointWeights weights(cfg, bundle.weights_path());
  text::ReferenceExecutor ex;
  ops::set_matmul_body(opt.naive_matmul ? ops::MatmulBody::kNaive : ops::MatmulBody::kBlas);

  TapComparer taps(opt, bundle_tap_source(bundle));
  text::ForwardOptions fo;
  fo.prefix = weights.prefix();
  text::TextModel model(cfg, weights, ex, taps.sink(), fo);
  model.forward(bundle.inputs());
  return taps.finish();
}

bool row_fails(const VerifyRow& row, double tolerance) {
  return !row.problem.empty() || !(row.m.rel_l2 <= tolerance);
}

void check_tap_shape(const std::string& h5_path, const std::string& name, const std::vector<std::int64_t>& got,
                     const std::vector<std::int64_t>& expected) {
  G4_CHECK(got == expected, IoError, "{}: dataset '/taps/{}' has shape [{}], expected [{}] for this config", h5_path,
           name, fmt::join(got, ","), fmt::join(expected, ","));
}

GoldenTapSource bundle_tap_source(const golden::GoldenBundle& bundle) {
  const auto& in = bundle.inputs();
  const std::int64_t B = in.input_ids.shape(0), S = in.input_ids.shape(1);
  std::vector<std::int64_t> attn(in.attention_mask.begin(), in.attention_mask.end());
  auto read = [&bundle, attn = std::move(attn), B, S](const std::string& name, const std::vector<std::int64_t>& expected) {
    const golden::H5Reader& h5 = bundle.h5();
    const std::string path = "/taps/" + name;
    if (h5.has_attr(path, "layout") && h5.attr_string(path, "layout") == "rows") {  // no token axis
      std::vector<std::int64_t> shape = h5.shape(path);
      check_tap_shape(bundle.h5_path(), name, shape, expected);
      std::vector<double> data = h5.read_f64(path);
      std::vector<std::uint8_t> all(data.size(), 1);
      return GoldenTapValues{std::move(shape), std::move(data), std::move(all)};
    }
    golden::GoldenTap g = bundle.tap(name);  // checks the layout attribute and that the values are finite
    check_tap_shape(bundle.h5_path(), name, g.shape, expected);
    auto valid = token_validity(g.shape, g.layout, attn, B, S);
    return GoldenTapValues{std::move(g.shape), std::move(g.data), std::move(valid)};
  };
  return {bundle.h5_path(), bundle.tap_names(), [&bundle](const std::string& name) { return bundle.has_tap(name); },
          std::move(read)};
}

GoldenTapSource h5_tap_source(const golden::H5Reader& h5, const std::string& h5_path) {
  return {h5_path, h5.list("/taps"), [&h5](const std::string& name) { return h5.is_dataset("/taps/" + name); },
          [&h5, h5_path](const std::string& name, const std::vector<std::int64_t>& expected) {
            const std::string ds = "/taps/" + name;
            std::vector<std::int64_t> shape = h5.shape(ds);
            check_tap_shape(h5_path, name, shape, expected);  // before reading: a wrong shape is the first thing to say
            return GoldenTapValues{std::move(shape), h5.read_f64(ds), {}};
          }};
}

TapComparer::TapComparer(const VerifyOptions& opt, GoldenTapSource golden, Repeats repeats)
    : tolerance_(opt.tolerance), golden_(std::move(golden)), repeats_(repeats) {
  try {
    pattern_ = std::regex(opt.taps_pattern.empty() ? ".*" : opt.taps_pattern);
  } catch (const std::regex_error& e) {
    throw ConfigError(fmt::format("--taps '{}': not a valid regular expression ({})", opt.taps_pattern, e.what()));
  }
}

bool TapComparer::selected(const std::string& name) const { return std::regex_search(name, pattern_); }

void TapComparer::compare(const std::string& name, const Mat& value, const std::vector<index_t>& shape) {
  if (!produced_.insert(name).second && repeats_ == Repeats::kFirst) return;
  if (!selected(name)) return;
  VerifyRow row{name, std::vector<std::int64_t>(shape.begin(), shape.end()), {}, {}};
  // A golden that lacks a tap of this config, or holds it in another shape, is bad input.
  G4_CHECK(golden_.has(name), IoError, "{}: dataset '/taps/{}' is missing (the reference produces it for this config)",
           golden_.h5_path, name);
  const GoldenTapValues g = golden_.read(name, row.shape);
  check_tap_shape(golden_.h5_path, name, g.shape, row.shape);
  row.m = g4::harness::compare(g.data.data(), value.data(), g.data.size(), g.valid.empty() ? nullptr : g.valid.data());
  if (row.m.compared == 0) row.problem = g.valid.empty() ? "no element to compare" : "no valid element to compare";
  rows_.push_back(std::move(row));
}

VerifyResult TapComparer::finish(const std::vector<std::string>& golden_inputs,
                                 const std::set<std::string>& not_compared) {
  VerifyResult res;
  res.rows = std::move(rows_);
  res.golden_inputs = golden_inputs;
  for (const std::string& name : golden_.names)
    if (!produced_.count(name) && !not_compared.count(name) && selected(name)) res.golden_only.push_back(name);
  for (const VerifyRow& r : res.rows) {
    if (row_fails(r, tolerance_)) res.pass = false;
    if (r.problem.empty() && (res.worst_tap.empty() || r.m.rel_l2 > res.worst_rel_l2))
      res.worst_rel_l2 = r.m.rel_l2, res.worst_tap = r.tap;
  }
  if (!res.golden_only.empty() || res.rows.empty()) res.pass = false;
  return res;
}

void print_verify(const VerifyResult& r, const VerifyOptions& opt, bool all_rows) {
  fmt::print("{:<58} {:>16} {:>10} {:>10}  {}\n", "tap", "shape", "rel_l2", "max_abs", "at");
  for (const VerifyRow& row : r.rows) {
    const bool bad = row_fails(row, opt.tolerance);
    if (!all_rows && !bad) continue;
    if (!row.problem.empty()) {
      fmt::print("{:<58} {:>16} FAIL: {}\n", row.tap, fmt::format("[{}]", fmt::join(row.shape, ",")), row.problem);
      continue;
    }
    fmt::print("{:<58} {:>16} {:>10.2e} {:>10.2e}  {}{}\n", row.tap, fmt::format("[{}]", fmt::join(row.shape, ",")),
               row.m.rel_l2, row.m.max_abs, coord(row.m.max_abs_index, row.shape), bad ? "  FAIL" : "");
  }
  for (const std::string& t : r.golden_only) fmt::print("{:<58} FAIL: in the golden, not produced by the reference\n", t);
  for (const std::string& t : r.golden_inputs) fmt::print("{:<58} read from the golden as an input\n", t);
  fmt::print("\n{} taps compared; worst relative L2 {:.3e} at {}; tolerance {:.0e}: {}\n", r.rows.size(),
             r.worst_rel_l2, r.worst_tap.empty() ? "-" : r.worst_tap, opt.tolerance, r.pass ? "PASS" : "FAIL");
}

}  // namespace g4::harness
