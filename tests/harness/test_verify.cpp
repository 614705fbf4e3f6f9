// The tap comparison every verify path shares (harness/verify.hpp TapComparer), on an in-memory
// golden: the --taps filter, missing / misshapen golden taps, masks, repeated names, the worst
// tap, pass / fail and the golden taps the reference did not produce.
#define BOOST_TEST_MODULE test_verify
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "harness/verify.hpp"
#include "reference/common/check.hpp"

using namespace g4;
using namespace g4::harness;

namespace {

// A golden holding `taps` (name -> values of shape [n]); `masks` marks compared elements.
struct FakeGolden {
  std::map<std::string, std::vector<double>> taps;
  std::map<std::string, std::vector<std::uint8_t>> masks;
  int reads = 0;

  GoldenTapSource source() {
    std::vector<std::string> names;
    for (const auto& [n, v] : taps) names.push_back(n);
    return {"g.h5", names, [this](const std::string& n) { return taps.count(n) > 0; },
            [this](const std::string& n, const std::vector<std::int64_t>& expected) {
              ++reads;
              const std::vector<double>& v = taps.at(n);
              const std::vector<std::int64_t> shape = {static_cast<std::int64_t>(v.size())};
              check_tap_shape("g.h5", n, shape, expected);
              return GoldenTapValues{shape, v, masks.count(n) ? masks.at(n) : std::vector<std::uint8_t>{}};
            }};
  }
};

Mat row(const std::vector<double>& v) {
  Mat m = Mat::from_shape({1, v.size()});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

VerifyOptions options(const std::string& taps = "", double tolerance = 1e-10) {
  VerifyOptions o;
  o.bundle = "unused";
  o.taps_pattern = taps;
  o.tolerance = tolerance;
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  BOOST_FAIL("no error thrown");
  return {};
}

}  // namespace

BOOST_AUTO_TEST_CASE(worst_tap_pass_and_golden_only) {
  FakeGolden g;
  g.taps = {{"a", {1, 2, 3, 4}}, {"b", {3, 4}}, {"c", {1, 1}}};
  TapComparer t(options(), g.source());
  t.compare("a", row({1, 2, 3, 4}), {4});
  t.compare("b", row({3, 4 + 5e-12}), {2});  // rel_l2 = 5e-12 / 5 = 1e-12
  const VerifyResult r = t.finish();
  BOOST_TEST(r.rows.size() == 2u);
  BOOST_TEST(r.rows[0].tap == "a");
  BOOST_TEST(r.rows[0].m.rel_l2 == 0.0);
  BOOST_TEST(r.worst_tap == "b");
  BOOST_TEST(r.worst_rel_l2 == 1e-12, boost::test_tools::tolerance(1e-3));  // 4 + 5e-12 rounds at 1e-16
  BOOST_TEST((r.golden_only == std::vector<std::string>{"c"}));  // in the golden, not produced
  BOOST_TEST(!r.pass);

  // With "c" declared not expected (read as an input), the same comparison passes.
  TapComparer t2(options(), g.source());
  t2.compare("a", row({1, 2, 3, 4}), {4});
  t2.compare("b", row({3, 4 + 5e-12}), {2});
  const VerifyResult r2 = t2.finish({"c"}, {"c"});
  BOOST_TEST(r2.golden_only.empty());
  BOOST_TEST((r2.golden_inputs == std::vector<std::string>{"c"}));
  BOOST_TEST(r2.pass);
}

BOOST_AUTO_TEST_CASE(tolerance_and_nan_fail) {
  FakeGolden g;
  g.taps = {{"a", {1, 0}}, {"n", {1, 2}}};
  TapComparer t(options("", 1e-3), g.source());
  t.compare("a", row({1, 0.1}), {2});  // rel_l2 0.1 > 1e-3
  t.compare("n", row({1, std::numeric_limits<double>::quiet_NaN()}), {2});
  const VerifyResult r = t.finish();
  BOOST_TEST(row_fails(r.rows[0], 1e-3));
  BOOST_TEST(row_fails(r.rows[1], 1e-3));  // a non-finite value never passes
  BOOST_TEST(!row_fails(r.rows[0], 1.0));
  BOOST_TEST(!r.pass);
}

BOOST_AUTO_TEST_CASE(filter_selects_taps_and_golden_only) {
  FakeGolden g;
  g.taps = {{"layers.0.x", {1}}, {"layers.1.x", {1}}, {"layers.1.y", {1}}};
  TapComparer t(options("layers\\.1\\."), g.source());
  t.compare("layers.0.x", row({5}), {1});  // not selected: not compared, not even read
  t.compare("layers.1.x", row({1}), {1});
  BOOST_TEST(g.reads == 1);
  const VerifyResult r = t.finish();
  BOOST_TEST(r.rows.size() == 1u);
  BOOST_TEST((r.golden_only == std::vector<std::string>{"layers.1.y"}));  // unselected golden taps are not listed

  BOOST_TEST(error_of([&] { TapComparer bad(options("["), g.source()); }).find(
                 "--taps '[': not a valid regular expression") == 0u);
}

BOOST_AUTO_TEST_CASE(missing_and_misshapen_golden_taps_are_bad_input) {
  FakeGolden g;
  g.taps = {{"a", {1, 2, 3}}};
  TapComparer t(options(), g.source());
  BOOST_TEST(error_of([&] { t.compare("zz", row({1}), {1}); }) ==
             "g.h5: dataset '/taps/zz' is missing (the reference produces it for this config)");
  BOOST_TEST(error_of([&] { t.compare("a", row({1, 2}), {2}); }) ==
             "g.h5: dataset '/taps/a' has shape [3], expected [2] for this config");
}

BOOST_AUTO_TEST_CASE(masks_and_nothing_to_compare) {
  FakeGolden g;
  g.taps = {{"m", {1, 2}}, {"none", {1, 2}}, {"empty", {}}};
  g.masks = {{"m", {1, 0}}, {"none", {0, 0}}};
  TapComparer t(options(), g.source());
  t.compare("m", row({1, 99}), {2});  // the masked element does not count
  t.compare("none", row({1, 2}), {2});
  t.compare("empty", Mat::from_shape({1, 0}), {0});
  const VerifyResult r = t.finish();
  BOOST_TEST(r.rows[0].m.compared == 1u);
  BOOST_TEST(r.rows[0].m.rel_l2 == 0.0);
  BOOST_TEST(r.rows[1].problem == "no valid element to compare");
  BOOST_TEST(r.rows[2].problem == "no element to compare");
  BOOST_TEST(r.worst_tap == "m");  // rows with a problem are never the worst tap
  BOOST_TEST(!r.pass);
}

BOOST_AUTO_TEST_CASE(repeated_names) {
  FakeGolden g;
  g.taps = {{"x", {1, 2}}};
  TapComparer each(options(), g.source());
  each.compare("x", row({1, 2}), {2});
  each.compare("x", row({1, 3}), {2});
  BOOST_TEST(each.finish().rows.size() == 2u);

  TapComparer first(options(), g.source(), TapComparer::Repeats::kFirst);
  first.compare("x", row({1, 2}), {2});
  first.compare("x", row({1, 3}), {2});
  const VerifyResult r = first.finish();
  BOOST_TEST(r.rows.size() == 1u);
  BOOST_TEST(r.pass);
}

BOOST_AUTO_TEST_CASE(sink_and_extra_problem_rows) {
  FakeGolden g;
  g.taps = {{"x", {1, 2}}};
  TapComparer t(options(), g.source());
  const text::TapSink sink = t.sink();
  sink("x", row({1, 2}), {2});
  t.add_problem(VerifyRow{"soft_token_count[0]", {1}, {}, "3 valid frames, processor count 4"});
  const VerifyResult r = t.finish();
  BOOST_TEST(r.rows.size() == 2u);
  BOOST_TEST(r.worst_tap == "x");
  BOOST_TEST(!r.pass);  // the problem row fails the verification

  TapComparer none(options(), g.source());
  const VerifyResult empty = none.finish({}, {"x"});
  BOOST_TEST(!empty.pass);  // nothing compared is never a pass
}
