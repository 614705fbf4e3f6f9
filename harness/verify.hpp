#pragma once
// `gemma4-harness verify`: run the float64 reference on a golden bundle's inputs and weights,
// layer by layer, and compare every tap with the transformers golden.
#include <cstdint>
#include <functional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "golden/bundle.hpp"
#include "golden/h5.hpp"
#include "harness/metrics.hpp"
#include "reference/text/model.hpp"

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

// A row fails when it has a problem or its relative L2 is not within the tolerance (NaN fails).
bool row_fails(const VerifyRow& row, double tolerance);

// One golden tap as the comparison needs it.
struct GoldenTapValues {
  std::vector<std::int64_t> shape;
  std::vector<double> data;
  std::vector<std::uint8_t> valid;  // which elements are compared (padding tokens are not); empty = all
};

// Where a verify path reads its golden taps from. Each path keeps its own reader (text taps carry a
// token layout and are checked finite by GoldenBundle; tower taps are compared element for element).
struct GoldenTapSource {
  std::string h5_path;                                         // named in messages
  std::vector<std::string> names;                              // every tap the golden holds
  std::function<bool(const std::string&)> has;
  // Reads tap `name`; its shape must equal `expected` (check_tap_shape), checked before the values
  // are read where the reader can.
  std::function<GoldenTapValues(const std::string& name, const std::vector<std::int64_t>& expected)> read;
};

// IoError "<h5_path>: dataset '/taps/<name>' has shape [..], expected [..] for this config" unless equal.
void check_tap_shape(const std::string& h5_path, const std::string& name, const std::vector<std::int64_t>& got,
                     const std::vector<std::int64_t>& expected);

// The taps of a text or multimodal GoldenBundle: taps with a token layout (BS, T, BNS) are compared
// on the tokens the attention mask keeps, taps with layout "rows" (no token axis) element for element.
GoldenTapSource bundle_tap_source(const golden::GoldenBundle& bundle);

// The taps of /taps/<name> in an HDF5 golden, every element compared.
GoldenTapSource h5_tap_source(const golden::H5Reader& h5, const std::string& h5_path);

// The tap comparison shared by every verify path: --taps filter, the sink that compares each tap
// the reference produces with the golden's, and the result (worst tap, pass/fail, golden taps the
// reference did not produce).
class TapComparer {
 public:
  // Whether a tap the reference produces again under the same name is compared again (kEach) or
  // only its first value is (kFirst: a model that hands one tensor to the sink under one name twice).
  enum class Repeats { kEach, kFirst };

  // Throws ConfigError when opt.taps_pattern is not a valid regular expression.
  TapComparer(const VerifyOptions& opt, GoldenTapSource golden, Repeats repeats = Repeats::kEach);
  TapComparer(const TapComparer&) = delete;  // sink() refers to this object
  TapComparer& operator=(const TapComparer&) = delete;

  // The sink: compares `value` (shape `shape`) with the golden's tap `name` when the filter selects it.
  // A selected tap missing from the golden, or of another shape, is bad input (IoError).
  void compare(const std::string& name, const Mat& value, const std::vector<index_t>& shape);
  // compare() as a TapSink for the models; the comparer must outlive it.
  text::TapSink sink() {
    return [this](const std::string& n, const Mat& v, const std::vector<index_t>& s) { compare(n, v, s); };
  }

  bool selected(const std::string& name) const;          // the --taps filter
  void add_problem(VerifyRow row) { rows_.push_back(std::move(row)); }  // a check that is not a tap

  // The result: rows in the order compared; `golden_inputs` (golden taps read as inputs) is reported
  // as such; `not_compared` lists golden taps not expected from the reference (read as inputs, or
  // inside towers that did not run), which are therefore not "in the golden, not produced".
  VerifyResult finish(const std::vector<std::string>& golden_inputs = {},
                      const std::set<std::string>& not_compared = {});

 private:
  double tolerance_;
  std::regex pattern_;
  GoldenTapSource golden_;
  Repeats repeats_;
  std::set<std::string> produced_;
  std::vector<VerifyRow> rows_;
};

}  // namespace g4::harness
