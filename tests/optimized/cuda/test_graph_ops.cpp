// The CUDA executor's remaining kernels in the SIMT simulator (optimized/cuda/kernels/graph_ops.cuh):
//   gemm_f32          ratio rule (k = 2) against a sequential float32 dot product (the naive
//                     twin), fp32 ceiling, vs float64 sums of the same float inputs; K 264 and
//                     300 (not a multiple of the 16-wide K tile), M and N not multiples of 16;
//   gelu_tanh         ratio rule (k = 3, tanh) vs the CPU executor's gelu_tanh_naive, fp32; bf16
//                     and fp16: bit for bit the kernel's float32 value on the same 16-bit inputs
//                     rounded once (the same rounding); fp16 also by the ratio rule against the
//                     naive twin on the fp16 inputs rounded once to fp16 (fp16 ceiling);
//   add, mul, scale   fp32: exactly the float32 operation; bf16 / fp16: exactly its RN to bf16 /
//                     fp16;
//   fp16 overflow     add / mul / scale results near ±65504 (just below the 65520 tie, on it,
//                     beyond it): the stored bits are formats::float_to_fp16 of the float32 value,
//                     the CPU executor's storage rounding (IEEE: ±inf, no saturation), and the
//                     documented values (65504, ±inf) by name;
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
#include "optimized/formats/fp16.hpp"
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
std::vector<__half> to_fp16(const std::vector<float>& x) {
  std::vector<__half> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = __float2half_rn(x[i]);
  return y;
}
std::vector<float> widen(const std::vector<__half>& x) {
  std::vector<float> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = __half2float(x[i]);
  return y;
}

}  // namespace

// Both backends: our SIMT kernel, and the cublas backend (in simulation the exact sum rounded once:
// equal to the double-accumulated reference rounded to float, element for element).
BOOST_AUTO_TEST_CASE(gemm_f32_ratio_rule) {
  for (const auto [M, N, K] : {std::tuple{37, 101, 264}, std::tuple{1, 48, 300}, std::tuple{16, 16, 16}}) {
    const auto A = gaussian_f(std::size_t(M) * K, 1, 1.0), W = gaussian_f(std::size_t(N) * K, 2, 0.1);
    std::vector<double> ref(std::size_t(M) * N);
    std::vector<float> naive(ref.size());
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
    for (const auto backend : {cuda::GemmBackend::tensor_core, cuda::GemmBackend::cublas}) {
      const bool cublas = backend == cuda::GemmBackend::cublas;
      std::vector<float> C(ref.size());
      const std::string s = check_schedules([&] {
        std::fill(C.begin(), C.end(), kNaN);
        cuda::gemm_f32(backend, A.data(), W.data(), C.data(), cuda::GemmShape{M, N, K});
        return bytes_of(C);
      });
      BOOST_TEST(s.empty(), s);
      const auto g = gate(rel_l2(C, ref), rel_l2(naive, ref), "fp32");
      BOOST_TEST(g.pass, M << "x" << N << "x" << K << (cublas ? " cublas: " : ": ") << g.str());
      if (cublas) {
        std::size_t off = 0;
        for (std::size_t i = 0; i < C.size(); ++i) off += C[i] != static_cast<float>(ref[i]);
        BOOST_TEST(off == 0u, M << "x" << N << "x" << K << ": " << off << " cublas outputs not the rounded exact sum");
      }
    }
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

  // fp16: schedules, the ratio rule against the naive twin on the fp16 inputs (output rounded
  // once to fp16), and bit for bit the kernel's float32 value rounded once.
  const auto xh = to_fp16(x);
  const auto xhf = widen(xh);
  std::vector<__half> yh(x.size());
  const std::string sh = check_schedules([&] {
    std::fill(yh.begin(), yh.end(), __float2half_rn(kNaN));
    cuda::gelu_tanh<__half>(xh.data(), yh.data(), std::int64_t(x.size()));
    return bytes_of(widen(yh));
  });
  BOOST_TEST(sh.empty(), sh);
  std::vector<float> naive_h(x.size());
  cpu::gelu_tanh_naive(xhf.data(), naive_h.data(), std::int64_t(x.size()));
  for (auto& v : naive_h) v = __half2float(__float2half_rn(v));
  const auto gh = gate(rel_l2(widen(yh), ref), rel_l2(naive_h, ref), "fp16", true);
  BOOST_TEST_MESSAGE("fp16 gelu_tanh: " << gh.str());
  BOOST_TEST(gh.pass, gh.str());
  cuda::gelu_tanh<float>(xhf.data(), yf.data(), std::int64_t(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i)
    BOOST_TEST_REQUIRE(__half_as_ushort(yh[i]) == __half_as_ushort(__float2half_rn(yf[i])), "fp16 element " << i);
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
    // fp16, under every schedule.
    const auto ah = to_fp16(a), bh = to_fp16(b);
    std::vector<__half> yh(a.size());
    const std::string sh = check_schedules([&] {
      std::fill(yh.begin(), yh.end(), __float2half_rn(kNaN));
      if (op == 0) cuda::add<__half>(ah.data(), bh.data(), yh.data(), n);
      else if (op == 1) cuda::mul<__half>(ah.data(), bh.data(), yh.data(), n);
      else cuda::scale<__half>(ah.data(), yh.data(), n, 0.125f + 1e-3f);
      return bytes_of(widen(yh));
    });
    BOOST_TEST(sh.empty(), "fp16 op " << op << ": " << sh);
    for (std::size_t i = 0; i < a.size(); ++i) {
      const float fa = __half2float(ah[i]), fb = __half2float(bh[i]);
      const float wh = op == 0 ? fa + fb : op == 1 ? fa * fb : (0.125f + 1e-3f) * fa;
      BOOST_TEST_REQUIRE(__half_as_ushort(yh[i]) == __half_as_ushort(__float2half_rn(wh)),
                         "fp16 op " << op << " element " << i);
    }
  }
}

// fp16 storage near the top of its range: the kernels round the float32 result once, IEEE RN with
// overflow to ±inf (|v| >= 65520 = 65504 + half an ulp, a tie whose even neighbour is 2^16), which
// is what the CPU executor stores (formats::float_to_fp16 / round_trip_fp16). No saturation: a
// saturating conversion would store 65504 for the last three cases of each op.
BOOST_AUTO_TEST_CASE(fp16_overflow_matches_cpu_rounding) {
  constexpr std::uint16_t kMax = 0x7BFF, kInf = 0x7C00, kNegInf = 0xFC00;
  struct Case {
    int op;  // 0 add, 1 mul, 2 scale (by s)
    float a, b, s;
    std::uint16_t want;
  };
  const Case cases[] = {
      {0, 65504.0f, 15.9921875f, 0, kMax},   // 65519.99: below the tie -> 65504
      {0, 65504.0f, -16.0f, 0, 0x7BFE},      // 65488: a tie between 65472 and 65504 -> even 65472
      {0, 65504.0f, 16.0f, 0, kInf},         // 65520: the tie -> +inf
      {0, -65504.0f, -16.0f, 0, kNegInf},    // -65520 -> -inf
      {0, 65504.0f, 65504.0f, 0, kInf},      // 131008 -> +inf
      {1, 256.0f, 255.875f, 0, kMax},        // 65504 exactly
      {1, 1008.0f, 65.0f, 0, kInf},          // 65520 exactly: the tie -> +inf
      {1, -256.0f, 256.0f, 0, kNegInf},      // -65536 -> -inf
      {1, 300.0f, 300.0f, 0, kInf},          // 90000 -> +inf
      {2, 65504.0f, 0, 1.0002f, kMax},       // 65517.1 -> 65504
      {2, 65504.0f, 0, 1.0003f, kInf},       // 65523.7 -> +inf
      {2, -65504.0f, 0, 2.0f, kNegInf},      // -131008 -> -inf
      {2, 32768.0f, 0, 2.0f, kInf},          // 65536 -> +inf
  };
  for (const Case& c : cases) {
    const std::vector<__half> a(300, __float2half_rn(c.a)), b(300, __float2half_rn(c.b));
    BOOST_TEST_REQUIRE(__half2float(a[0]) == c.a);  // the inputs are fp16 values
    BOOST_TEST_REQUIRE(__half2float(b[0]) == c.b);
    std::vector<__half> y(a.size(), __float2half_rn(kNaN));
    const auto n = std::int64_t(a.size());
    if (c.op == 0) cuda::add<__half>(a.data(), b.data(), y.data(), n);
    else if (c.op == 1) cuda::mul<__half>(a.data(), b.data(), y.data(), n);
    else cuda::scale<__half>(a.data(), y.data(), n, c.s);
    const float v = c.op == 0 ? c.a + c.b : c.op == 1 ? c.a * c.b : c.s * c.a;  // float32, as the kernel
    const std::uint16_t cpu = formats::float_to_fp16(v);
    BOOST_TEST(cpu == c.want, "op " << c.op << " " << v << ": CPU rounding " << std::hex << cpu);
    for (std::size_t i = 0; i < y.size(); ++i)
      BOOST_TEST_REQUIRE(__half_as_ushort(y[i]) == cpu,
                         "op " << c.op << " " << v << " element " << i << ": " << std::hex << __half_as_ushort(y[i]));
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
