#define BOOST_TEST_MODULE test_rope
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "reference/ops/rope.hpp"
#include "reference/text/random_weights.hpp"

using namespace g4;

namespace {
Mat random_rows(index_t r, index_t c) {
  text::NormalStream g(7, r, "rope");
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  for (auto& x : m) x = g.next();
  return m;
}
double norm_of(const Mat& m, index_t t, index_t h, index_t dh) {
  double s = 0;
  for (index_t d = 0; d < dh; ++d) s += m(t, h * dh + d) * m(t, h * dh + d);
  return std::sqrt(s);
}
}  // namespace

BOOST_AUTO_TEST_CASE(position_zero_is_identity) {
  const text::RopeParams p{text::RopeType::kDefault, 10000.0, 1.0, 1.0};
  const Mat x = random_rows(1, 2 * 16);
  const Mat y = ops::rope(x, {0}, ops::rope_inv_freq(p, 16), 16);
  for (size_t i = 0; i < x.size(); ++i) BOOST_TEST(y.data()[i] == x.data()[i]);
}

BOOST_AUTO_TEST_CASE(rotation_preserves_each_head_norm) {
  const text::RopeParams p{text::RopeType::kDefault, 10000.0, 1.0, 1.0};
  const index_t Dh = 256;
  const Mat x = random_rows(4, 2 * Dh);
  const Mat y = ops::rope(x, {1, 17, 511, 4096}, ops::rope_inv_freq(p, Dh), Dh);
  for (index_t t = 0; t < 4; ++t)
    for (index_t h = 0; h < 2; ++h)
      BOOST_TEST(std::abs(norm_of(y, t, h, Dh) - norm_of(x, t, h, Dh)) <= 1e-13 * norm_of(x, t, h, Dh));
}

// Default inv_freq[k] = theta^(-2k/Dh); pairs (k, k + Dh/2) rotate by pos·inv_freq[k].
BOOST_AUTO_TEST_CASE(default_frequencies_and_pairing) {
  const text::RopeParams p{text::RopeType::kDefault, 10000.0, 1.0, 1.0};
  const Vec inv = ops::rope_inv_freq(p, 8);
  BOOST_TEST(inv(0) == 1.0);
  BOOST_TEST(std::abs(inv(1) - std::pow(10000.0, -0.25)) <= 1e-16);
  Mat x = xt::zeros<double>({1, 8});
  x(0, 1) = 1.0;  // unit vector on dim 1: rotates into dim 1 + 4
  const Mat y = ops::rope(x, {3}, inv, 8);
  BOOST_TEST(std::abs(y(0, 1) - std::cos(3 * inv(1))) <= 1e-15);
  BOOST_TEST(std::abs(y(0, 5) - std::sin(3 * inv(1))) <= 1e-15);
  for (int d : {0, 2, 3, 4, 6, 7}) BOOST_TEST(y(0, d) == 0.0);
}

// Proportional RoPE (full layers): n_rot = floor(p·Dh/2) pairs rotate with exponent over the FULL
// head dim; the other pairs pass through untouched.
BOOST_AUTO_TEST_CASE(proportional_pass_through_dims) {
  const text::RopeParams p{text::RopeType::kProportional, 1e6, 0.25, 1.0};
  const index_t Dh = 512;
  const Vec inv = ops::rope_inv_freq(p, Dh);
  BOOST_TEST(inv.size() == 256u);
  for (index_t k = 0; k < 64; ++k)
    BOOST_TEST(std::abs(inv(k) - std::pow(1e6, -2.0 * k / 512.0)) <= 1e-15 * inv(k));
  for (index_t k = 64; k < 256; ++k) BOOST_TEST(inv(k) == 0.0);
  const Mat x = random_rows(1, Dh);
  const Mat y = ops::rope(x, {1234}, inv, Dh);
  for (index_t k = 64; k < 256; ++k) {
    BOOST_TEST(y(0, k) == x(0, k));
    BOOST_TEST(y(0, k + 256) == x(0, k + 256));
  }
  BOOST_TEST(y(0, 0) != x(0, 0));
  BOOST_TEST(y(0, 256) != x(0, 256));
  // Tiny head (the golden configs): Dh = 16, p = 0.25 -> floor(2) = 2 rotated pairs.
  const Vec small = ops::rope_inv_freq(p, 16);
  BOOST_TEST(small(1) > 0.0);
  BOOST_TEST(small(2) == 0.0);
}
