#define BOOST_TEST_MODULE test_moe
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "reference/ops/moe.hpp"

using namespace g4;

// Top-k with distinct values: indices sorted by probability, weights renormalised then scaled.
BOOST_AUTO_TEST_CASE(topk_renormalise_and_scale) {
  Mat logits = {{0.0, 2.0, 1.0, -1.0}};
  Vec pes = {1.0, 2.0, 3.0, 4.0};
  const auto r = ops::route(logits, pes, 2);
  BOOST_TEST(r.index(0, 0) == 1);
  BOOST_TEST(r.index(0, 1) == 2);
  const double e2 = std::exp(2.0), e1 = std::exp(1.0);
  BOOST_TEST(std::abs(r.weights(0, 0) - e2 / (e2 + e1) * 2.0) <= 1e-15);
  BOOST_TEST(std::abs(r.weights(0, 1) - e1 / (e2 + e1) * 3.0) <= 1e-15);
  double sum = 0;
  for (int e = 0; e < 4; ++e) sum += r.probs(0, e);
  BOOST_TEST(std::abs(sum - 1.0) <= 1e-15);
}

// An expert whose down projection is the identity on a 1-wide hidden: out = w·gelu(g)·u.
BOOST_AUTO_TEST_CASE(experts_accumulate_weighted_outputs) {
  const index_t E = 2, Fe = 1, D = 2;
  Mat xe = {{1.0, 0.0}, {0.0, 1.0}};
  // gate_up [E, 2Fe, D]: expert e: gate row, up row.
  std::vector<double> gate_up = {1.0, 0.0, 1.0, 1.0, /* e1 */ 0.0, 2.0, 1.0, 1.0};
  std::vector<double> down = {1.0, 1.0, /* e1 */ 2.0, 0.0};  // [E, D, Fe]
  ops::RouterOutput r;
  r.weights = {{0.25, 0.75}, {1.0, 0.0}};
  r.index = {{0, 1}, {1, 0}};
  r.probs = xt::zeros<double>({2, 2});
  const Mat out = ops::experts(xe, r, gate_up, down, E, Fe);
  // token 0: e0: g = 1, u = 1 -> h = gelu(1); y = [h, h]; e1: g = 0 -> 0. out = 0.25·[h, h]
  const double h = ops::gelu_tanh(1.0);
  BOOST_TEST(std::abs(out(0, 0) - 0.25 * h) <= 1e-15);
  BOOST_TEST(std::abs(out(0, 1) - 0.25 * h) <= 1e-15);
  // token 1: e1: g = 2, u = 1 -> gelu(2); y = [2·gelu(2), 0]; weight 1. e0 weight 0.
  BOOST_TEST(std::abs(out(1, 0) - 2.0 * ops::gelu_tanh(2.0)) <= 1e-15);
  BOOST_TEST(out(1, 1) == 0.0);
}
