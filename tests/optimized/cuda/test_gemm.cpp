// CUDA GEMM facade in the SIMT simulator (optimized/cuda/ops.hpp gemm_bf16 /
// gemm_bf16_gelu_gated, gemm_f16 / gemm_f16_gelu_gated): the tensor-core kernel (mma.sync +
// ldmatrix + cp.async, kernels/gemm.cuh) and the cuBLAS-rules CPU backend, against the float64
// reference (reference/ops/matmul.hpp, activations.hpp) with the CPU executor's gate
// (ratio_rule.hpp): the baseline is the cuBLAS-rules GEMM (same 16-bit input quantisation, exact
// accumulation rounded once, same output rounding) — the harness's "same-precision twin".
// Policies: bf16 and fp16 weights and activations (inputs and 16-bit outputs of one type).
// fp16 overflow: an output beyond the fp16 range is ±inf in both backends (IEEE RN, the CPU's
// formats::float_to_fp16), 65504 just below the 65520 tie.
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
#include <type_traits>
#include <vector>

#include "optimized/cuda/ops.hpp"
#include "optimized/formats/fp16.hpp"
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

template <class T>
T store(float v) {
  if constexpr (std::is_same_v<T, __half>) return __float2half_rn(v);
  else return __float2bfloat16_rn(v);
}
float load(float v) { return v; }
float load(__nv_bfloat16 v) { return __bfloat162float(v); }
float load(__half v) { return __half2float(v); }

// 16-byte aligned 16-bit buffer (cp.async needs it; std::vector's allocator gives 16 on x86-64
// glibc, asserted by the facade's check).
template <class In>
std::vector<In> quantise(const std::vector<double>& v) {
  std::vector<In> b(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) b[i] = store<In>(float(v[i]));
  return b;
}

template <class In, class OutT>
void gemm(cuda::GemmBackend b, const In* A, const In* W, OutT* C, const cuda::GemmShape& s) {
  if constexpr (std::is_same_v<In, __half>) cuda::gemm_f16<OutT>(b, A, W, C, s);
  else cuda::gemm_bf16<OutT>(b, A, W, C, s);
}
template <class In, class OutT>
void gemm_gated(cuda::GemmBackend b, const In* A, const In* Wg, const In* Wu, OutT* C, const cuda::GemmShape& s) {
  if constexpr (std::is_same_v<In, __half>) cuda::gemm_f16_gelu_gated<OutT>(b, A, Wg, Wu, C, s);
  else cuda::gemm_bf16_gelu_gated<OutT>(b, A, Wg, Wu, C, s);
}

template <class In, class OutT>
void check(const Case& c) {
  constexpr bool f16 = std::is_same_v<In, __half>;
  const auto ad = gaussian(std::size_t(c.M) * c.K, 3 + c.K, 1.0);
  const auto wd = gaussian(std::size_t(c.N) * c.K, 7 + c.N, 1.0 / std::sqrt(double(c.K)));
  const auto ud = gaussian(std::size_t(c.N) * c.K, 9 + c.N, 1.0 / std::sqrt(double(c.K)));
  const auto A = quantise<In>(ad), W = quantise<In>(wd), U = quantise<In>(ud);

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
    if (c.gated) gemm_gated<In, OutT>(b, A.data(), W.data(), U.data(), out.data(), shape);
    else gemm<In, OutT>(b, A.data(), W.data(), out.data(), shape);
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
  const char* policy = f16 ? "fp16" : "bf16";
  const auto g = gate(rel_l2(tf, r), rel_l2(cf, r), policy);
  const char* out_name = sizeof(OutT) == 4 ? "fp32-out" : f16 ? "fp16-out" : "bf16-out";
  BOOST_TEST_MESSAGE(policy << " gemm " << c.name << " " << out_name << ": tensor-core " << g.str());
  BOOST_TEST(g.pass, c.name << " " << out_name << ": " << g.str());

  // The tensor-core kernel differs from the exact-accumulation baseline only by fp32 rounding of
  // K/16 partial sums (+ the epilogue's roundings): far below the 16-bit quantisation error. A
  // 16-bit output can flip by one ulp where the two fp32 values straddle a rounding boundary: the
  // bound is the output format's unit roundoff (bf16 2^-8, fp16 2^-11; all elements flipping
  // would give up to twice that).
  std::vector<double> cd(cf.begin(), cf.end());
  const double diff = rel_l2(tf, cd);
  const double bound = sizeof(OutT) == 4 ? (std::sqrt(c.K / 16.0) + (c.gated ? 12.0 : 1.0)) * 4 * cuda::test::kU32
                       : f16             ? 1.0 / 2048
                                         : 1.0 / 256;
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
  for (const auto& c : kCases) check<__nv_bfloat16, float>(c);
}
BOOST_AUTO_TEST_CASE(gemm_bf16_out) {
  for (const auto& c : kCases) check<__nv_bfloat16, __nv_bfloat16>(c);
}
BOOST_AUTO_TEST_CASE(gemm_f16_fp32_out) {
  for (const auto& c : kCases) check<__half, float>(c);
}
BOOST_AUTO_TEST_CASE(gemm_f16_fp16_out) {
  for (const auto& c : kCases) check<__half, __half>(c);
}

// fp16 outputs near the top of the range, M 6 x N 8 x K 16: row m of A is (65504, x_m, 0, ...),
// every row of W is (1, 1, 0, ...), so C[m, :] = 65504 + x_m, exact in fp32 in both backends; the
// fp16 output is that value rounded once by IEEE RN (formats::float_to_fp16, what the CPU executor
// stores): ±inf from the 65520 tie on, no saturation. The fp32 output keeps the exact value.
BOOST_AUTO_TEST_CASE(gemm_f16_overflow_matches_cpu_rounding) {
  const int M = 6, N = 8, K = 16;
  const float a0[M] = {65504.0f, 65504.0f, 65504.0f, -65504.0f, 65504.0f, 32768.0f};
  const float x[M] = {15.9921875f, -16.0f, 16.0f, -16.0f, 65504.0f, 0.0f};
  const std::uint16_t want[M] = {0x7BFF, 0x7BFE, 0x7C00, 0xFC00, 0x7C00, 0x7800};
  std::vector<__half> A(std::size_t(M) * K, __float2half_rn(0.0f)), W(std::size_t(N) * K, __float2half_rn(0.0f));
  for (int m = 0; m < M; ++m) {
    A[std::size_t(m) * K] = __float2half_rn(a0[m]);
    A[std::size_t(m) * K + 1] = __float2half_rn(x[m]);
  }
  for (int n = 0; n < N; ++n) W[std::size_t(n) * K] = W[std::size_t(n) * K + 1] = __float2half_rn(1.0f);
  const cuda::GemmShape shape{M, N, K, 0, 0, 0};
  for (auto b : {cuda::GemmBackend::tensor_core, cuda::GemmBackend::cublas}) {
    const char* bn = b == cuda::GemmBackend::tensor_core ? "tensor-core" : "cublas";
    std::vector<__half> C(std::size_t(M) * N, __float2half_rn(0.0f));
    std::vector<float> Cf(C.size(), 0.0f);
    cuda::gemm_f16<__half>(b, A.data(), W.data(), C.data(), shape);
    cuda::gemm_f16<float>(b, A.data(), W.data(), Cf.data(), shape);
    for (int m = 0; m < M; ++m) {
      const float exact = a0[m] + x[m];
      BOOST_TEST(formats::float_to_fp16(exact) == want[m], "row " << m << ": CPU rounding of " << exact);
      for (int n = 0; n < N; ++n) {
        const std::uint16_t got = __half_as_ushort(C[std::size_t(m) * N + n]);
        BOOST_TEST(got == want[m], bn << " fp16-out C[" << m << ", " << n << "] = " << std::hex << got);
        BOOST_TEST(Cf[std::size_t(m) * N + n] == exact, bn << " fp32-out C[" << m << ", " << n << "]");
      }
    }
  }
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
