#define BOOST_TEST_MODULE test_metrics
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

#include "harness/metrics.hpp"
#include "reference/common/check.hpp"

using namespace g4::harness;

BOOST_AUTO_TEST_CASE(metrics_of_a_known_difference) {
  const double r[4] = {3.0, 0.0, 4.0, 0.0};
  const double x[4] = {3.0, 0.0, 4.0, 0.5};
  const TapMetrics m = compare(r, x, 4, nullptr);
  BOOST_TEST(m.rel_l2 == 0.1);          // ‖(0,0,0,.5)‖ / ‖(3,0,4,0)‖ = .5 / 5
  BOOST_TEST(m.max_abs == 0.5);
  BOOST_TEST(m.max_abs_index == 3);
  BOOST_TEST(std::abs(m.nmse - 0.01) <= 1e-17);
  BOOST_TEST(m.max_rel == 0.0);         // the only difference sits where r = 0
  BOOST_TEST(coord(3, {2, 2}) == "[1,1]");
}

BOOST_AUTO_TEST_CASE(validity_mask_and_nonfinite) {
  const double r[4] = {1.0, 1.0, 1.0, 1.0};
  const double x[4] = {1.0, 9.0, 1.0, std::numeric_limits<double>::quiet_NaN()};
  const std::uint8_t valid[4] = {1, 0, 1, 0};
  const TapMetrics m = compare(r, x, 4, valid);
  BOOST_TEST(m.rel_l2 == 0.0);
  BOOST_TEST(m.compared == 2);
  const TapMetrics all = compare(r, x, 4, nullptr);
  BOOST_TEST(all.nonfinite == 1);
  BOOST_TEST(std::isinf(all.rel_l2));
}

// Padding tokens are excluded per layout: [B, S, ...], [B·S, ...] and [B, N, S, ...].
BOOST_AUTO_TEST_CASE(token_validity_layouts) {
  const std::vector<std::int64_t> am = {1, 1, 0, 1};  // B = 2, S = 2; token (1, 0) is padding
  const auto bs = token_validity({2, 2, 3}, "BS", am, 2, 2);
  BOOST_TEST(bs[6] == 0);
  BOOST_TEST(bs[8] == 0);
  BOOST_TEST(bs[9] == 1);
  const auto t = token_validity({4, 2}, "T", am, 2, 2);
  BOOST_TEST(t[4] == 0);
  BOOST_TEST(t[6] == 1);
  const auto bns = token_validity({2, 3, 2, 2}, "BNS", am, 2, 2);  // [b=1, h, s=0, :] invalid
  for (int h = 0; h < 3; ++h) {
    BOOST_TEST(bns[((1 * 3 + h) * 2 + 0) * 2 + 1] == 0);
    BOOST_TEST(bns[((1 * 3 + h) * 2 + 1) * 2 + 0] == 1);
  }
  BOOST_CHECK_THROW(token_validity({3, 2}, "BS", am, 2, 2), g4::Error);
}
