#define BOOST_TEST_MODULE test_rms_norm
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "reference/ops/rms_norm.hpp"

using namespace g4;

// RMSNorm of a constant vector c: mean(x²) = c², so y = c / sqrt(c² + eps) · w.
BOOST_AUTO_TEST_CASE(constant_vector) {
  const double c = 3.0, eps = 1e-6;
  Mat x = xt::ones<double>({2, 8}) * c;
  Vec w = xt::arange<double>(8) * 0.5;  // raw weight, not 1 + w
  const Mat y = ops::rms_norm(x, &w, eps, 8);
  for (index_t t = 0; t < 2; ++t)
    for (index_t i = 0; i < 8; ++i) BOOST_TEST(std::abs(y(t, i) - c / std::sqrt(c * c + eps) * w(i)) <= 1e-15);
}

// Without a scale (v_norm), the output has mean square 1/(1 + eps/ms) per group, group by group.
BOOST_AUTO_TEST_CASE(per_head_groups_scale_free) {
  Mat x = {{1.0, -2.0, 3.0, -4.0, 10.0, 20.0, 30.0, 40.0}};
  const Mat y = ops::rms_norm(x, nullptr, 0.0, 4);
  for (int g = 0; g < 2; ++g) {
    double ms = 0;
    for (int i = 0; i < 4; ++i) ms += y(0, g * 4 + i) * y(0, g * 4 + i) / 4.0;
    BOOST_TEST(std::abs(ms - 1.0) <= 1e-15);
  }
  BOOST_TEST(std::abs(y(0, 0) * std::sqrt(7.5) - 1.0) <= 1e-15);  // mean(1,4,9,16) = 7.5
}

BOOST_AUTO_TEST_CASE(zero_vector_gives_zero_and_eps_matters) {
  Mat x = xt::zeros<double>({1, 4});
  const Mat y = ops::rms_norm(x, nullptr, 1e-6, 4);
  for (auto v : y) BOOST_TEST(v == 0.0);
  Mat small = {{1e-4, 1e-4}};  // ms = 1e-8 << eps: eps dominates
  const Mat z = ops::rms_norm(small, nullptr, 1e-6, 2);
  BOOST_TEST(std::abs(z(0, 0) - 1e-4 / std::sqrt(1e-8 + 1e-6)) <= 1e-16);
}

BOOST_AUTO_TEST_CASE(shape_errors) {
  Mat x = xt::ones<double>({1, 6});
  BOOST_CHECK_THROW(ops::rms_norm(x, nullptr, 1e-6, 4), g4::ShapeError);
  Vec w = xt::ones<double>({5});
  BOOST_CHECK_THROW(ops::rms_norm(x, &w, 1e-6, 6), g4::ShapeError);
}
