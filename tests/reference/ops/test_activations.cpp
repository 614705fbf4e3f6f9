#define BOOST_TEST_MODULE test_activations
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "reference/ops/activations.hpp"

using namespace g4;

BOOST_AUTO_TEST_CASE(gelu_tanh_values) {
  BOOST_TEST(ops::gelu_tanh(0.0) == 0.0);
  // Large |x|: tanh saturates, gelu(x) -> x for x >> 0 and -> 0 for x << 0.
  BOOST_TEST(std::abs(ops::gelu_tanh(10.0) - 10.0) <= 1e-12);
  BOOST_TEST(std::abs(ops::gelu_tanh(-10.0)) <= 1e-12);
  // gelu(1) with the tanh formula, evaluated by hand: 0.5·(1 + tanh(0.7978845608·1.044715)).
  BOOST_TEST(std::abs(ops::gelu_tanh(1.0) - 0.8411919906082768) <= 1e-15);
}

BOOST_AUTO_TEST_CASE(softcap_limits) {
  const double c = 30.0;
  BOOST_TEST(ops::softcap(0.0, c) == 0.0);
  BOOST_TEST(ops::softcap(1e6, c) == c);        // saturates at +c
  BOOST_TEST(ops::softcap(-1e6, c) == -c);
  BOOST_TEST(std::abs(ops::softcap(1e-3, c) - 1e-3) <= 1e-12);  // identity near 0 (slope 1)
  BOOST_TEST(std::abs(ops::softcap(30.0, c) - 30.0 * std::tanh(1.0)) <= 1e-14);
  BOOST_TEST(ops::softcap(45.0, c) < 30.0);
}
