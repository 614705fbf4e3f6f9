// The CUDA executor's remaining kernels in the SIMT simulator (optimized/cuda/kernels/graph_ops.cuh):
//   gemm_f32          ratio rule (k = 2) against a sequential float32 dot product (the naive
//                     twin), fp32 ceiling, vs float64 sums of the same float inputs; K 264 and
//                     300 (not a multiple of the 16-wide K tile), M and N not multiples of 16;
//   gelu_tanh         ratio rule (k = 3, tanh) vs the CPU executor's gelu_tanh_naive, fp32; bf16:
//                     vs the naive float32 value rounded once to bf16 (the same rounding);
//   add, mul, scale   fp32: exactly the float32 operation; bf16: exactly its RN to bf16;
//   axpy_rows         exactly out + fma(w, y) on the listed rows, other rows untouched.
// Every kernel also runs under the four schedules of sim_check.hpp (bitwise-identical, NaN-poisoned
// outputs fully written). Sizes: 1000 values (not a multiple of the 256-thread block).
#define BOOST_TEST_MODULE test_cuda_graph_ops
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "optimized/cpu/elementwise.hpp"
#include "optimized/cuda/ops.hpp"
#include "reference/ops/activations.hpp"
#include "tests/optimized/cuda/ratio_rule.hpp"
#include "tests/optimized/cuda/sim_check.hpp"

using namespace g4;
using g4::cuda::test::gate;
using g4::cuda::test::rel_l2;
using g4sim::test::bytes_of;
using g4sim::test::check_schedules;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> gaussian_f(std::size_t n, unsigned seed, double scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = float(d(rng));
  return v;
}

std::vector<__nv_bfloat16> to_bf16(const std::vector<float>& x) {
  std::vector<__nv_bfloat16> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = __float2bfloat16_rn(x[i]);
  return y;
}

}  // namespace

BOOST_AUTO_TEST_CASE(gemm_f32_ratio_rule) {
  for (const auto [M, N, K] : {std::tuple{37, 101, 264}, std::tuple{1, 48, 300}, std::tuple{16, 16, 16}}) {
    const auto A = gaussian_f(std::size_t(M) * K, 1, 1.0), W = gaussian_f(std::size_t(N) * K, 2, 0.1);
    std::vector<float> C(std::size_t(M) * N);
    const std::string s = check_schedules([&] {
      std::fill(C.begin(), C.end(), kNaN);
      cuda::gemm_f32(A.data(), W.data(), C.data(), cuda::GemmShape{M, N, K});
      return bytes_of(C);
    });
    BOOST_TEST(s.empty(), s);
    std::vector<double> ref(C.size());
    std::vector<float> naive(C.size());
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double r = 0;
        float f = 0;
        for (int k = 0; k < K; ++k) {
          r += double(A[std::size_t(m) * K + k]) * double(W[std::size_t(n) * K + k]);
          f += A[std::size_t(m) * K + k] * W[std::size_t(n) * K + k];
        }
        ref[std::size_t(m) * N + n] = r, naive[std::size_t(m) * N + n] = f;
      }
    const auto g = gate(rel_l2(C, ref), rel_l2(naive, ref), "fp32");
    BOOST_TEST(g.pass, M << "x" << N << "x" << K << ": " << g.str());
  }
}

BOOST_AUTO_TEST_CASE(gelu_ratio_rule_fp32_and_bf16_rounding) {
  const auto x = gaussian_f(1000, 3, 3.0);
  std::vector<float> y(x.size()), naive(x.size());
  const std::string s = check_schedules([&] {
    std::fill(y.begin(), y.end(), kNaN);
    cuda::gelu_tanh<float>(x.data(), y.data(), std::int64_t(x.size()));
    return bytes_of(y);
  });
  BOOST_TEST(s.empty(), s);
  cpu::gelu_tanh_naive(x.data(), naive.data(), std::int64_t(x.size()));
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = ops::gelu_tanh(double(x[i]));
  const auto g = gate(rel_l2(y, ref), rel_l2(naive, ref), "fp32", true);
  BOOST_TEST(g.pass, g.str());
  // bf16: the kernel's float32 value rounded once; within half a bf16 ulp of the float32 result.
  const auto xb = to_bf16(x);
  std::vector<__nv_bfloat16> yb(x.size());
  cuda::gelu_tanh<__nv_bfloat16>(xb.data(), yb.data(), std::int64_t(x.size()));
  std::vector<float> yf(x.size()), xf(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xf[i] = __bfloat162float(xb[i]);
  cuda::gelu_tanh<float>(xf.data(), yf.data(), std::int64_t(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i)
    BOOST_TEST_REQUIRE(__bfloat16_as_ushort(yb[i]) == __bfloat16_as_ushort(__float2bfloat16_rn(yf[i])), "element " << i);
}

BOOST_AUTO_TEST_CASE(add_mul_scale_exact) {
  const auto a = gaussian_f(1000, 4, 2.0), b = gaussian_f(1000, 5, 2.0);
  const auto n = std::int64_t(a.size());
  std::vector<float> y(a.size());
  for (int op = 0; op < 3; ++op) {
    const std::string s = check_schedules([&] {
      std::fill(y.begin(), y.end(), kNaN);
      if (op == 0) cuda::add<float>(a.data(), b.data(), y.data(), n);
      else if (op == 1) cuda::mul<float>(a.data(), b.data(), y.data(), n);
      else cuda::scale<float>(a.data(), y.data(), n, 0.125f + 1e-3f);
      return bytes_of(y);
    });
    BOOST_TEST(s.empty(), s);
    const auto ab = to_bf16(a), bb = to_bf16(b);
    std::vector<__nv_bfloat16> yb(a.size());
    if (op == 0) cuda::add<__nv_bfloat16>(ab.data(), bb.data(), yb.data(), n);
    else if (op == 1) cuda::mul<__nv_bfloat16>(ab.data(), bb.data(), yb.data(), n);
    else cuda::scale<__nv_bfloat16>(ab.data(), yb.data(), n, 0.125f + 1e-3f);
    for (std::size_t i = 0; i < a.size(); ++i) {
      const float want = op == 0 ? a[i] + b[i] : op == 1 ? a[i] * b[i] : (0.125f + 1e-3f) * a[i];
      BOOST_TEST_REQUIRE(y[i] == want, "op " << op << " element " << i);
      const float fa = __bfloat162float(ab[i]), fb = __bfloat162float(bb[i]);
      const float wb = op == 0 ? fa + fb : op == 1 ? fa * fb : (0.125f + 1e-3f) * fa;
      BOOST_TEST_REQUIRE(__bfloat16_as_ushort(yb[i]) == __bfloat16_as_ushort(__float2bfloat16_rn(wb)),
                         "bf16 op " << op << " element " << i);
    }
  }
}

BOOST_AUTO_TEST_CASE(axpy_rows_exact) {
  const int T = 9, D = 300;
  const std::vector<int> rows{7, 0, 4};
  const std::vector<float> w{0.25f, -1.5f, 3.0f};
  const auto y = gaussian_f(rows.size() * D, 6, 1.0), out0 = gaussian_f(std::size_t(T) * D, 7, 1.0);
  std::vector<float> out;
  const std::string s = check_schedules([&] {
    out = out0;
    cuda::axpy_rows(y.data(), rows.data(), w.data(), out.data(), std::int64_t(rows.size()), D);
    return bytes_of(out);
  });
  BOOST_TEST(s.empty(), s);
  std::vector<float> want = out0;
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (int d = 0; d < D; ++d) {
      float& o = want[std::size_t(rows[i]) * D + d];
      o = std::fma(w[i], y[i * D + d], o);
    }
  BOOST_TEST(out == want);
}
