#pragma once
// `gemma4-harness verify`: run the float64 reference on a golden bundle's inputs and weights,
// layer by layer, and compare every tap with the transformers golden.
#include <string>
#include <vector>

#include "harness/metrics.hpp"

namespace g4::harness {

struct VerifyOptions {
  std::string bundle;            // golden bundle directory
  std::string taps_pattern;      // ECMAScript regex; empty = every tap
  double tolerance = 1e-10;      // max relative L2 per tap (issue #2: the reference is exact to 1e-10)
  bool naive_matmul = false;     // use the matmul definition instead of dgemm
};

struct VerifyRow {
  std::string tap;
  std::vector<std::int64_t> shape;
  TapMetrics m;
  std::string problem;           // non-empty: shape mismatch etc. (counts as a failure)
};

struct VerifyResult {
  std::vector<VerifyRow> rows;               // in graph order
  std::vector<std::string> golden_only;      // golden taps the reference did not produce
  std::vector<std::string> golden_inputs;    // golden taps read as inputs (e.g. replayed tower outputs), not compared
  double worst_rel_l2 = 0;
  std::string worst_tap;
  bool pass = true;
};

VerifyResult verify(const VerifyOptions& opt);
void print_verify(const VerifyResult& r, const VerifyOptions& opt, bool all_rows);

}  // namespace g4::harness
