// The two bodies of the matmul primitive agree: naive loop (definition) vs OpenBLAS dgemm.
#define BOOST_TEST_MODULE test_matmul
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "reference/common/check.hpp"
#include "reference/ops/matmul.hpp"
#include "reference/text/random_weights.hpp"

using namespace g4;

namespace {
Mat random_mat(index_t r, index_t c, const char* name) {
  text::NormalStream g(42, r * 1000 + c, name);
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  for (auto& x : m) x = g.next();
  return m;
}
}  // namespace

// Shapes: aligned, odd prime, size 1, and a real Gemma 4 projection width (E2B q_proj 1536 -> 2048).
BOOST_AUTO_TEST_CASE(naive_and_dgemm_agree) {
  const index_t shapes[][3] = {{64, 128, 96}, {7, 13, 11}, {1, 1, 1}, {1, 37, 1}, {5, 1536, 256}};
  for (const auto& s : shapes) {
    const index_t T = s[0], K = s[1], N = s[2];
    const Mat x = random_mat(T, K, "x"), w = random_mat(N, K, "w");
    Mat a = Mat::from_shape({size_t(T), size_t(N)}), b = a;
    ops::matmul_naive(x.data(), w.data(), a.data(), T, K, N);
    ops::matmul_blas(x.data(), w.data(), b.data(), T, K, N);
    double dd = 0, rr = 0;
    for (size_t i = 0; i < a.size(); ++i) dd += (a.data()[i] - b.data()[i]) * (a.data()[i] - b.data()[i]), rr += a.data()[i] * a.data()[i];
    const double rel = std::sqrt(dd / rr);
    // Both sum the same K products in different orders: |diff| <= K·u·Σ|x||w| (Higham 3.5);
    // for N(0,1) data the relative L2 is ~sqrt(K)·u ≈ 1e-15 at K = 1536; 1e-13 is the bound.
    BOOST_TEST_MESSAGE("T=" << T << " K=" << K << " N=" << N << " rel_l2=" << rel);
    BOOST_TEST(rel <= 1e-13);
  }
}

BOOST_AUTO_TEST_CASE(linear_uses_selected_body_and_checks_shapes) {
  const Mat x = random_mat(3, 5, "x"), w = random_mat(4, 5, "w");
  ops::set_matmul_body(ops::MatmulBody::kNaive);
  const Mat a = ops::linear(x, w);
  ops::set_matmul_body(ops::MatmulBody::kBlas);
  const Mat b = ops::linear(x, w);
  BOOST_TEST(a.shape(0) == 3u);
  BOOST_TEST(a.shape(1) == 4u);
  for (size_t i = 0; i < a.size(); ++i) BOOST_TEST(std::abs(a.data()[i] - b.data()[i]) <= 1e-14);
  // Exact on small integers: 1·1 + 2·0 + ... known value.
  Mat xi = {{1.0, 2.0, 3.0}};
  Mat wi = {{1.0, 0.0, -1.0}, {2.0, 2.0, 2.0}};
  const Mat y = ops::linear(xi, wi);
  BOOST_TEST(y(0, 0) == -2.0);
  BOOST_TEST(y(0, 1) == 12.0);
  BOOST_CHECK_THROW(ops::linear(x, random_mat(4, 6, "bad")), g4::ShapeError);
}
