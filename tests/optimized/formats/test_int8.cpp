#define BOOST_TEST_MODULE test_int8
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "optimized/formats/int8.hpp"
#include "tests/optimized/formats/format_test_support.hpp"

using namespace g4::formats;
using namespace g4::formats::test;

static_assert(round_half_even_clamped(2.5, -127, 127) == 2);
static_assert(round_half_even_clamped(3.5, -127, 127) == 4);
static_assert(round_half_even_clamped(-2.5, -127, 127) == -2);

namespace {

// [rows, cols]: row r has magnitude 10^(r - 3); row 1 is all zeros.
std::vector<double> test_matrix(size_t rows, size_t cols, uint64_t seed) {
  SplitMix64 rng{seed};
  std::vector<double> x(rows * cols);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols; ++j)
      x[r * cols + j] = r == 1 ? 0.0 : std::pow(10.0, static_cast<double>(r) - 3.0) * (2 * rng.uniform() - 1);
  return x;
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_half_even_rule) {
  const std::pair<double, int> cases[] = {
      {0.5, 0},   {1.5, 2},    {2.5, 2},     {-0.5, 0},   {-1.5, -2},  {-2.5, -2},  {126.5, 126},
      {0.49999999999999994, 0}, {0.5000000000000001, 1}, {-126.5, -126}, {127.4, 127}, {127.6, 127},
      {1e30, 127}, {-1e30, -127}, {-128.0, -127}, {0.0, 0}, {-0.0, 0}};
  for (auto [v, q] : cases) BOOST_TEST(round_half_even_clamped(v, -127, 127) == q, "v = " << v);
  BOOST_TEST(round_half_even_clamped(std::numeric_limits<double>::quiet_NaN(), -127, 127) == 0);
  BOOST_TEST(round_half_even_clamped(std::numeric_limits<double>::infinity(), -7, 7) == 7);
}

// Weights [N, K] per output channel, activations [T, K] per token: both are per-row scales.
BOOST_AUTO_TEST_CASE(round_trip_bounded_by_half_scale) {
  const size_t rows = 6, cols = 129;
  const std::vector<double> x = test_matrix(rows, cols, 1);
  std::vector<double> y(x.size());
  std::vector<float> scale(rows);
  round_trip_int8_rows(x.data(), y.data(), scale.data(), rows, cols);
  std::vector<int8_t> q(x.size());
  quantize_int8_rows(x.data(), scale.data(), q.data(), rows, cols);
  for (size_t r = 0; r < rows; ++r) {
    double amax = 0;
    for (size_t j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(x[r * cols + j]));
    BOOST_TEST(scale[r] == static_cast<float>(amax / 127.0));
    for (size_t j = 0; j < cols; ++j) {
      const size_t i = r * cols + j;
      // scale/2 from rounding to the integer grid; 2^-40 slack for x/scale evaluated in double
      BOOST_TEST(std::fabs(x[i] - y[i]) <= scale[r] / 2.0 * (1 + 0x1p-40), "row " << r << " col " << j);
      BOOST_TEST(q[i] >= -127);
      BOOST_TEST(y[i] == q[i] * static_cast<double>(scale[r]));
      if (std::fabs(x[i]) == amax && amax > 0) BOOST_TEST(std::abs(q[i]) == 127);
    }
  }
}

BOOST_AUTO_TEST_CASE(zeros_are_exact_and_zero_rows_have_zero_scale) {
  std::vector<double> x = {0.0, 1.0, -0.0, -3.0, 0.0, 0.0, 0.0, 0.0};  // rows: [0, 1, -0, -3], [0, 0, 0, 0]
  std::vector<double> y(8);
  std::vector<float> s(2);
  round_trip_int8_rows(x.data(), y.data(), s.data(), 2, 4);
  BOOST_TEST(y[0] == 0.0);
  BOOST_TEST(y[2] == 0.0);
  BOOST_TEST(y[3] == -127.0 * static_cast<double>(s[0]));  // the amax lands on -127
  BOOST_TEST(s[1] == 0.0f);
  for (int j = 4; j < 8; ++j) BOOST_TEST(y[j] == 0.0);
  std::vector<int8_t> q(8, 99);
  quantize_int8_rows(x.data(), s.data(), q.data(), 2, 4);
  for (int j = 4; j < 8; ++j) BOOST_TEST(q[j] == 0);
  std::vector<float> yf(8);
  dequantize_int8_rows(q.data(), s.data(), yf.data(), 2, 4);
  for (int j = 4; j < 8; ++j) BOOST_TEST(yf[j] == 0.0f);
}

BOOST_AUTO_TEST_CASE(saturation_never_uses_minus_128) {
  const std::vector<float> x = {1000.0f, -1000.0f, 1.0f, -1.0f};
  const float scale = 1.0f;  // caller scale much smaller than amax / 127
  std::vector<int8_t> q(4);
  quantize_int8_rows(x.data(), &scale, q.data(), 1, 4);
  BOOST_TEST(q[0] == 127);
  BOOST_TEST(q[1] == -127);
  BOOST_TEST(q[2] == 1);
  BOOST_TEST(q[3] == -1);
  // Ties on the grid: scale 1 makes x/scale = x exactly.
  const std::vector<float> t = {0.5f, 1.5f, 2.5f, -2.5f, -3.5f, 126.5f};
  std::vector<int8_t> qt(t.size());
  quantize_int8_rows(t.data(), &scale, qt.data(), 1, t.size());
  const std::vector<int8_t> expect = {0, 2, 2, -2, -4, 126};
  BOOST_TEST(qt == expect);
}

BOOST_AUTO_TEST_CASE(float_and_double_paths_agree) {
  const size_t rows = 4, cols = 33;
  const std::vector<double> xd0 = test_matrix(rows, cols, 2);
  const std::vector<float> xf(xd0.begin(), xd0.end());
  const std::vector<double> xd(xf.begin(), xf.end());  // same values
  std::vector<float> sf(rows), sd(rows), yf(xf), ys(xf.size());
  std::vector<double> yd(xd.size());
  round_trip_int8_rows(yf.data(), yf.data(), sf.data(), rows, cols);  // in place
  round_trip_int8_rows(xd.data(), yd.data(), sd.data(), rows, cols);
  int8_row_scales(xf.data(), ys.data(), rows, cols);
  for (size_t r = 0; r < rows; ++r) {
    BOOST_TEST(sf[r] == sd[r]);
    BOOST_TEST(ys[r] == sd[r]);
  }
  for (size_t i = 0; i < xf.size(); ++i) BOOST_TEST((yf[i] == static_cast<float>(yd[i])));  // one float rounding
}

BOOST_AUTO_TEST_CASE(non_finite_rows_become_nan) {
  const std::vector<float> x = {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f, 1.0f, 2.0f, 4.0f};
  std::vector<float> y(6), s(2);
  round_trip_int8_rows(x.data(), y.data(), s.data(), 2, 3);
  BOOST_TEST(std::isnan(s[0]));
  for (int j = 0; j < 3; ++j) BOOST_TEST(std::isnan(y[j]));
  for (int j = 3; j < 6; ++j) BOOST_TEST(std::fabs(y[j] - x[j]) <= s[1] / 2);
}
