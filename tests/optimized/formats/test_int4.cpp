#define BOOST_TEST_MODULE test_int4
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "optimized/formats/int4.hpp"
#include "reference/common/check.hpp"
#include "tests/optimized/formats/format_test_support.hpp"

using namespace g4::formats;
using namespace g4::formats::test;

namespace {

constexpr Int4Mode kModes[] = {Int4Mode::symmetric, Int4Mode::asymmetric};
const char* name(Int4Mode m) { return m == Int4Mode::symmetric ? "symmetric" : "asymmetric"; }

// [n, k] weights; each row gets its own magnitude and, for odd rows, an offset so the asymmetric
// mode sees one-sided groups.
std::vector<double> test_weights(size_t n, size_t k, uint64_t seed) {
  SplitMix64 rng{seed};
  std::vector<double> w(n * k);
  for (size_t r = 0; r < n; ++r)
    for (size_t j = 0; j < k; ++j)
      w[r * k + j] = std::pow(4.0, static_cast<double>(r) - 2.0) * ((2 * rng.uniform() - 1) + (r % 2 ? 1.5 : 0.0));
  return w;
}

struct Quantised {
  std::vector<uint8_t> packed;
  std::vector<float> scales;
  std::vector<uint8_t> zeros;
};

template <class T>
Quantised quantise(const std::vector<T>& w, size_t n, size_t k, size_t group, Int4Mode mode) {
  Quantised q;
  q.packed.assign(n * int4_row_bytes(k), 0xAA);  // garbage: quantize_int4 must write every byte
  q.scales.assign(n * int4_groups(k, group), -1.0f);
  q.zeros.assign(n * int4_groups(k, group), 0xAA);
  quantize_int4(w.data(), q.packed.data(), q.scales.data(), q.zeros.data(), n, k, group, mode);
  return q;
}

}  // namespace

BOOST_AUTO_TEST_CASE(layout_sizes) {
  BOOST_TEST(int4_groups(4096, 128) == 32u);
  BOOST_TEST(int4_groups(45, 32) == 2u);
  BOOST_TEST(int4_groups(300, 128) == 3u);
  BOOST_TEST(int4_row_bytes(45) == 23u);
  BOOST_TEST(int4_row_bytes(44) == 22u);
}

// Element 2j in the low nibble, 2j+1 in the high nibble; symmetric codes are two's complement;
// the padding nibble of an odd row is 0.
BOOST_AUTO_TEST_CASE(nibble_order_and_sign) {
  const std::vector<float> w = {1, -1, 7, -7, 0};  // amax 7 -> scale exactly 1
  const Quantised q = quantise(w, 1, 5, 32, Int4Mode::symmetric);
  BOOST_TEST(q.scales[0] == 1.0f);
  const std::vector<uint8_t> expect = {0xF1, 0x97, 0x00};
  BOOST_TEST(q.packed == expect, std::hex);
  BOOST_TEST(int4_signed(q.packed.data(), 1) == -1);
  BOOST_TEST(int4_signed(q.packed.data(), 3) == -7);
  BOOST_TEST(int4_nibble(q.packed.data(), 2) == 7u);
  const std::vector<float> wa = {0, 15, 3};  // lo 0, hi 15: scale 1, zero point 0
  const Quantised qa = quantise(wa, 1, 3, 32, Int4Mode::asymmetric);
  BOOST_TEST(qa.scales[0] == 1.0f);
  BOOST_TEST(qa.zeros[0] == 0);
  const std::vector<uint8_t> expect_a = {0xF0, 0x03};
  BOOST_TEST(qa.packed == expect_a, std::hex);
  // Rows start on a byte: two rows of K = 3 take 2 bytes each.
  const std::vector<float> w2 = {7, 0, -7, -7, 7, 1};
  const Quantised q2 = quantise(w2, 2, 3, 32, Int4Mode::symmetric);
  const std::vector<uint8_t> expect2 = {0x07, 0x09, 0x79, 0x01};
  BOOST_TEST(q2.packed == expect2, std::hex);
}

// K not a multiple of the group: the last group is shorter and its scale comes from its own
// elements only; every element is within scale/2 of its stored value.
BOOST_AUTO_TEST_CASE(groups_and_error_bound) {
  struct Case {
    size_t n, k, group;
  };
  for (Case c : {Case{3, 45, 32}, Case{4, 300, 128}, Case{2, 256, 32}, Case{5, 129, 128}, Case{2, 7, 32}})
    for (Int4Mode mode : kModes) {
      const std::vector<double> w = test_weights(c.n, c.k, c.k + c.group);
      const Quantised q = quantise(w, c.n, c.k, c.group, mode);
      std::vector<double> y(w.size()), rt(w.size());
      dequantize_int4(q.packed.data(), q.scales.data(), q.zeros.data(), y.data(), c.n, c.k, c.group, mode);
      round_trip_int4(w.data(), rt.data(), c.n, c.k, c.group, mode);
      const size_t groups = int4_groups(c.k, c.group);
      for (size_t r = 0; r < c.n; ++r)
        for (size_t g = 0; g < groups; ++g) {
          const size_t j0 = g * c.group, j1 = std::min(c.k, j0 + c.group);
          double amax = 0, lo = 0, hi = 0;
          for (size_t j = j0; j < j1; ++j) {
            const double v = w[r * c.k + j];
            amax = std::max(amax, std::fabs(v));
            lo = std::min(lo, v);
            hi = std::max(hi, v);
          }
          const float s = q.scales[r * groups + g];
          const int z = q.zeros[r * groups + g];
          if (mode == Int4Mode::symmetric) {
            BOOST_TEST(s == static_cast<float>(amax / 7.0));
          } else {
            BOOST_TEST(s == static_cast<float>((hi - lo) / 15.0));
            BOOST_TEST(z == round_half_even_clamped(-lo / static_cast<double>(s), 0, 15));
          }
          for (size_t j = j0; j < j1; ++j) {
            const size_t i = r * c.k + j;
            // scale/2 from the grid; 2^-40 slack for w/scale evaluated in double
            BOOST_TEST(std::fabs(w[i] - y[i]) <= s / 2.0 * (1 + 0x1p-40),
                       name(mode) << " n=" << c.n << " k=" << c.k << " g=" << c.group << " row " << r << " col " << j);
            BOOST_TEST(y[i] == rt[i]);
            const uint8_t* row = q.packed.data() + r * int4_row_bytes(c.k);
            if (mode == Int4Mode::symmetric) {
              BOOST_TEST(int4_nibble(row, j) != 8u);  // -8 is never written
              BOOST_TEST(std::abs(int4_signed(row, j)) <= 7);
            }
          }
        }
    }
}

BOOST_AUTO_TEST_CASE(asymmetric_zero_point) {
  // Mixed signs: lo = -1, hi = 2 -> scale 0.2, z = rne(5) = 5; zero is exact.
  const std::vector<double> w = {-1.0, 0.0, 2.0, 0.5};
  std::vector<double> y(4);
  const Quantised q = quantise(w, 1, 4, 32, Int4Mode::asymmetric);
  BOOST_TEST(q.scales[0] == 0.2f);
  BOOST_TEST(q.zeros[0] == 5);
  round_trip_int4(w.data(), y.data(), 1, 4, 32, Int4Mode::asymmetric);
  BOOST_TEST(y[1] == 0.0);
  BOOST_TEST(int4_nibble(q.packed.data(), 1) == 5u);  // code of 0.0 is the zero point
  // All positive: range widened to [0, max], z = 0. All negative: z = 15.
  const std::vector<double> pos = {1.0, 2.0, 3.0}, neg = {-1.0, -2.0, -3.0};
  BOOST_TEST(quantise(pos, 1, 3, 32, Int4Mode::asymmetric).zeros[0] == 0);
  BOOST_TEST(quantise(neg, 1, 3, 32, Int4Mode::asymmetric).zeros[0] == 15);
  std::vector<double> yp(3), yn(3);
  round_trip_int4(pos.data(), yp.data(), 1, 3, 32, Int4Mode::asymmetric);
  round_trip_int4(neg.data(), yn.data(), 1, 3, 32, Int4Mode::asymmetric);
  for (int j = 0; j < 3; ++j) {
    BOOST_TEST(std::fabs(yp[j] - pos[j]) <= 0.1 * (1 + 1e-6));
    BOOST_TEST(std::fabs(yn[j] - neg[j]) <= 0.1 * (1 + 1e-6));
  }
  BOOST_TEST(yp[2] == 15 * static_cast<double>(0.2f));
}

BOOST_AUTO_TEST_CASE(zero_groups_exact_zeros_and_non_finite) {
  for (Int4Mode mode : kModes) {
    // Row: group 0 all zeros, group 1 with zeros between values, group 2 with a NaN.
    std::vector<float> w(12, 0.0f);
    w[5] = 3.0f;
    w[7] = -1.5f;
    w[10] = std::numeric_limits<float>::quiet_NaN();
    const Quantised q = quantise(w, 1, 12, 4, mode);
    BOOST_TEST(q.scales[0] == 0.0f);
    BOOST_TEST(std::isnan(q.scales[2]));
    std::vector<float> y(12);
    dequantize_int4(q.packed.data(), q.scales.data(), q.zeros.data(), y.data(), 1, 12, 4, mode);
    for (int j = 0; j < 4; ++j) BOOST_TEST(y[j] == 0.0f, name(mode));
    BOOST_TEST(y[4] == 0.0f);
    BOOST_TEST(y[6] == 0.0f);
    for (int j = 8; j < 12; ++j) BOOST_TEST(std::isnan(y[j]), name(mode));
    std::vector<float> rt(w);
    round_trip_int4(rt.data(), rt.data(), 1, 12, 4, mode);  // in place
    for (int j = 0; j < 8; ++j) BOOST_TEST((rt[j] == y[j]));
  }
}

BOOST_AUTO_TEST_CASE(float_and_double_paths_agree) {
  const size_t n = 3, k = 77, group = 32;
  const std::vector<double> w0 = test_weights(n, k, 9);
  const std::vector<float> wf(w0.begin(), w0.end());
  const std::vector<double> wd(wf.begin(), wf.end());
  for (Int4Mode mode : kModes) {
    const Quantised qf = quantise(wf, n, k, group, mode), qd = quantise(wd, n, k, group, mode);
    BOOST_TEST(qf.packed == qd.packed);
    BOOST_TEST(qf.scales == qd.scales);
    if (mode == Int4Mode::asymmetric) BOOST_TEST(qf.zeros == qd.zeros);
    std::vector<float> yf(wf.size());
    std::vector<double> yd(wd.size());
    round_trip_int4(wf.data(), yf.data(), n, k, group, mode);
    round_trip_int4(wd.data(), yd.data(), n, k, group, mode);
    for (size_t i = 0; i < wf.size(); ++i) BOOST_TEST((yf[i] == static_cast<float>(yd[i])));
  }
}

BOOST_AUTO_TEST_CASE(argument_errors) {
  const std::vector<float> w(8, 1.0f);
  std::vector<uint8_t> p(4), z(1);
  std::vector<float> s(1), y(8);
  BOOST_CHECK_THROW(quantize_int4(w.data(), p.data(), s.data(), z.data(), 1, 8, 0, Int4Mode::symmetric), g4::ShapeError);
  BOOST_CHECK_THROW(quantize_int4(w.data(), p.data(), s.data(), nullptr, 1, 8, 8, Int4Mode::asymmetric), g4::ShapeError);
  BOOST_CHECK_THROW(round_trip_int4(w.data(), y.data(), 1, 8, 0, Int4Mode::asymmetric), g4::ShapeError);
  BOOST_CHECK_NO_THROW(quantize_int4(w.data(), p.data(), s.data(), nullptr, 1, 8, 8, Int4Mode::symmetric));
}
