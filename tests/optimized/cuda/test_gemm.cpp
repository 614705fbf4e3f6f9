// CUDA GEMM facade in the SIMT simulator (optimized/cuda/ops.hpp gemm_bf16 /
// gemm_bf16_gelu_gated): the tensor-core kernel (mma.sync + ldmatrix + cp.async, kernels/gemm.cuh)
// and the cuBLAS-rules CPU backend, against the float64 reference (reference/ops/matmul.hpp,
// activations.hpp) with the CPU executor's gate (ratio_rule.hpp): the baseline is the
// cuBLAS-rules GEMM (same bf16 input quantisation, exact accumulation rounded once, same output
// rounding) — the harness's "same-precision twin". Policy: bf16 weights and activations.
// Each tensor-core case also runs under the four schedules of sim_check.hpp (bitwise-identical,
// NaN-poisoned outputs fully written).
// Sizes (a 64x64 output tile is 128 simulated threads; ~9 k-steps of 32 per 264):
//   37 x 101 x 264   M, N not multiples of the 64x64 tile, K not a multiple of 32 (k tail)
//   1 x 64 x 512     decode GEMV
//   70 x 72 x 128    gated GeGLU (gelu_tanh(A·Wgᵀ) ⊙ A·Wuᵀ), two row tiles
#define BOOST_TEST_MODULE test_cuda_gemm
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "optimized/cuda/ops.hpp"
#include "reference/ops/activations.hpp"
#include "reference/ops/matmul.hpp"
#include "tests/optimized/cuda/ratio_rule.hpp"
#include "tests/optimized/cuda/sim_check.hpp"

using namespace g4;
using g4::cuda::test::gate;
using g4::cuda::test::rel_l2;

namespace {

struct Case {
  const char* name;
  int M, N, K;
  bool gated;
};

std::vector<double> gaussian(std::size_t n, unsigned seed, double scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// 16-byte aligned bf16 buffer (cp.async needs it; std::vector's allocator gives 16 on x86-64
// glibc, asserted by the facade's check).
std::vector<__nv_bfloat16> to_bf16(const std::vector<double>& v) {
  std::vector<__nv_bfloat16> b(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) b[i] = __float2bfloat16_rn(float(v[i]));
  return b;
}

float load(float v) { return v; }
float load(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class OutT>
void check(const Case& c) {
  const auto ad = gaussian(std::size_t(c.M) * c.K, 3 + c.K, 1.0);
  const auto wd = gaussian(std::size_t(c.N) * c.K, 7 + c.N, 1.0 / std::sqrt(double(c.K)));
  const auto ud = gaussian(std::size_t(c.N) * c.K, 9 + c.N, 1.0 / std::sqrt(double(c.K)));
  const auto A = to_bf16(ad), W = to_bf16(wd), U = to_bf16(ud);

  // float64 reference on the unquantised inputs.
  Mat am = Mat::from_shape({std::size_t(c.M), std::size_t(c.K)});
  Mat wm = Mat::from_shape({std::size_t(c.N), std::size_t(c.K)});
  Mat um = Mat::from_shape({std::size_t(c.N), std::size_t(c.K)});
  std::copy(ad.begin(), ad.end(), am.data());
  std::copy(wd.begin(), wd.end(), wm.data());
  std::copy(ud.begin(), ud.end(), um.data());
  Mat ref = ops::linear(am, wm);
  if (c.gated) {
    const Mat up = ops::linear(am, um);
    for (std::size_t i = 0; i < ref.size(); ++i) ref.data()[i] = ops::gelu_tanh(ref.data()[i]) * up.data()[i];
  }
  const std::vector<double> r(ref.data(), ref.data() + ref.size());

  const std::size_t n = std::size_t(c.M) * c.N;
  const cuda::GemmShape shape{c.M, c.N, c.K, 0, 0, 0};
  auto run = [&](cuda::GemmBackend b, std::vector<OutT>& out) {
    out.assign(n, OutT(std::numeric_limits<float>::quiet_NaN()));
    if (c.gated) cuda::gemm_bf16_gelu_gated<OutT>(b, A.data(), W.data(), U.data(), out.data(), shape);
    else cuda::gemm_bf16<OutT>(b, A.data(), W.data(), out.data(), shape);
  };
  std::vector<OutT> tc, cb;
  const std::string sched = g4sim::test::check_schedules([&] {
    run(cuda::GemmBackend::tensor_core, tc);
    std::vector<float> f;
    for (auto v : tc) f.push_back(load(v));
    return g4sim::test::bytes_of(f);
  });
  BOOST_TEST(sched.empty(), c.name << ": " << sched);
  run(cuda::GemmBackend::cublas, cb);

  std::vector<float> tf(n), cf(n);
  for (std::size_t i = 0; i < n; ++i) tf[i] = load(tc[i]), cf[i] = load(cb[i]);
  const auto g = gate(rel_l2(tf, r), rel_l2(cf, r), "bf16");
  const char* out_name = sizeof(OutT) == 4 ? "fp32-out" : "bf16-out";
  BOOST_TEST_MESSAGE("gemm " << c.name << " " << out_name << ": tensor-core " << g.str());
  BOOST_TEST(g.pass, c.name << " " << out_name << ": " << g.str());

  // The tensor-core kernel differs from the exact-accumulation baseline only by fp32 rounding of
  // K/16 partial sums (+ the epilogue's roundings): far below the bf16 quantisation error.
  std::vector<double> cd(cf.begin(), cf.end());
  const double diff = rel_l2(tf, cd);
  const double bound = sizeof(OutT) == 4 ? (std::sqrt(c.K / 16.0) + (c.gated ? 12.0 : 1.0)) * 4 * cuda::test::kU32
                                         : 1.0 / 256;  // bf16 output: at most one bf16 ulp flip per element
  BOOST_TEST(diff <= bound, c.name << " " << out_name << ": tensor-core vs cuBLAS rules " << diff << " > " << bound);
}

const Case kCases[] = {
    {"37x101x264", 37, 101, 264, false},
    {"decode_1x64x512", 1, 64, 512, false},
    {"gated_70x72x128", 70, 72, 128, true},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_sim_gemm)

BOOST_AUTO_TEST_CASE(gemm_fp32_out) {
  for (const auto& c : kCases) check<float>(c);
}
BOOST_AUTO_TEST_CASE(gemm_bf16_out) {
  for (const auto& c : kCases) check<__nv_bfloat16>(c);
}

BOOST_AUTO_TEST_CASE(gemm_argument_checks) {
  std::vector<__nv_bfloat16> a(64), w(64);
  std::vector<float> c(64);
  BOOST_CHECK_THROW(cuda::gemm_bf16<float>(cuda::GemmBackend::tensor_core, a.data(), w.data(), c.data(),
                                           cuda::GemmShape{2, 2, 12, 0, 0, 0}),
                    g4::ShapeError);  // K % 8 != 0
  BOOST_CHECK_THROW(cuda::gemm_bf16<float>(cuda::GemmBackend::tensor_core, a.data() + 1, w.data(), c.data(),
                                           cuda::GemmShape{2, 2, 8, 0, 0, 0}),
                    g4::ShapeError);  // misaligned A
}

BOOST_AUTO_TEST_SUITE_END()
