#include "harness/verify.hpp"

#include <filesystem>
#include <regex>
#include <set>

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

  std::regex pattern;
  try {
    pattern = std::regex(opt.taps_pattern.empty() ? ".*" : opt.taps_pattern);
  } catch (const std::regex_error& e) {
    throw ConfigError(fmt::format("--taps '{}': not a valid regular expression ({})", opt.taps_pattern, e.what()));
  }
  const auto& in = bundle.inputs();
  const std::int64_t B = in.input_ids.shape(0), S = in.input_ids.shape(1);
  const std::vector<std::int64_t> attn(in.attention_mask.begin(), in.attention_mask.end());

  VerifyResult res;
  std::set<std::string> produced;
  auto sink = [&](const std::string& name, const Mat& value, const std::vector<index_t>& shape) {
    produced.insert(name);
    if (!std::regex_search(name, pattern)) return;
    VerifyRow row{name, std::vector<std::int64_t>(shape.begin(), shape.end()), {}, {}};
    // A golden that lacks a tap of this config, or holds it in another shape, is bad input.
    G4_CHECK(bundle.has_tap(name), IoError, "{}: dataset '/taps/{}' is missing (the reference produces it for "
             "this config)", bundle.h5_path(), name);
    const golden::GoldenTap g = bundle.tap(name);
    G4_CHECK(g.shape == row.shape, IoError, "{}: dataset '/taps/{}' has shape [{}], expected [{}] for this config",
             bundle.h5_path(), name, fmt::join(g.shape, ","), fmt::join(row.shape, ","));
    const auto valid = token_validity(g.shape, g.layout, attn, B, S);
    row.m = compare(g.data.data(), value.data(), g.data.size(), valid.data());
    if (row.m.compared == 0) row.problem = "no valid element to compare";
    res.rows.push_back(std::move(row));
  };
  text::ForwardOptions fo;
  fo.prefix = weights.prefix();
  text::TextModel model(cfg, weights, ex, sink, fo);
  model.forward(in);

  for (const std::string& name : bundle.tap_names())
    if (!produced.count(name) && std::regex_search(name, pattern)) res.golden_only.push_back(name);
  for (const VerifyRow& r : res.rows) {
    const bool bad = !r.problem.empty() || !(r.m.rel_l2 <= opt.tolerance);
    if (bad) res.pass = false;
    if (r.problem.empty() && (res.worst_tap.empty() || r.m.rel_l2 > res.worst_rel_l2))
      res.worst_rel_l2 = r.m.rel_l2, res.worst_tap = r.tap;
  }
  if (!res.golden_only.empty()) res.pass = false;
  if (res.rows.empty()) res.pass = false;
  return res;
}

void print_verify(const VerifyResult& r, const VerifyOptions& opt, bool all_rows) {
  fmt::print("{:<58} {:>16} {:>10} {:>10}  {}\n", "tap", "shape", "rel_l2", "max_abs", "at");
  for (const VerifyRow& row : r.rows) {
    const bool bad = !row.problem.empty() || !(row.m.rel_l2 <= opt.tolerance);
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
