// The committed audio bundle verifies through `verify` (dispatch on golden.h5's kind = "audio"):
// every tap, the mel features included, within relative L2 1e-10 of transformers.
#define BOOST_TEST_MODULE test_audio_verify
#include <boost/test/unit_test.hpp>

#include "golden/h5.hpp"
#include "harness/verify.hpp"

namespace {
const std::string kBundle = std::string(GEMMA4_SOURCE_DIR) + "/golden/data/audio_tiny";

g4::harness::VerifyResult run(bool naive, double tol = 1e-10) {
  g4::harness::VerifyOptions o;
  o.bundle = kBundle;
  o.naive_matmul = naive;
  o.tolerance = tol;
  return g4::harness::verify(o);
}
}  // namespace

BOOST_AUTO_TEST_CASE(committed_audio_bundle_verifies) {
  const g4::golden::H5Reader h5(kBundle + "/golden.h5");
  BOOST_TEST(h5.attr_string("/", "kind") == "audio");
  const size_t n_golden = h5.list("/taps").size();
  for (bool naive : {false, true}) {
    const auto r = run(naive);
    BOOST_TEST_MESSAGE((naive ? "naive" : "blas") << " matmul: " << r.rows.size() << " taps, worst relative L2 "
                                                  << r.worst_rel_l2 << " at " << r.worst_tap);
    BOOST_TEST(r.pass);
    BOOST_TEST(r.golden_only.empty());
    BOOST_TEST(r.rows.size() == n_golden);  // every golden tap was produced and compared
    BOOST_TEST(r.worst_rel_l2 <= 1e-10);
    for (const auto& row : r.rows) BOOST_TEST(row.problem.empty(), row.tap << ": " << row.problem);
  }
}

// The comparison is live: float64 rounding differences are there, so a tolerance below them fails.
BOOST_AUTO_TEST_CASE(a_tolerance_below_rounding_fails) {
  const auto r = run(false, 1e-300);
  BOOST_TEST(!r.pass);
  BOOST_TEST(r.worst_rel_l2 > 0.0);
}
