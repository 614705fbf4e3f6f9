// Quantised CUDA GEMMs in the SIMT simulator (optimized/cuda/ops.hpp gemm_w8a8 / gemm_dequant,
// kernels/gemm_quant.cuh) for the policies int8 (W8A8), int8-w8a16, int4-g32, int4-g128 and
// fp8-e4m3, with the CPU executor's semantics and gate:
//   * inputs: weights quantised on the host as the CPU's pack_weight does (quant_weight.hpp);
//     activations quantised on the "device" by the quantize_rows / to_16bit kernels (bit-exact
//     vs optimized/formats, test_cuda_elementwise);
//   * gate (ratio_rule.hpp): rel_l2 vs the float64 reference (ops::linear on the unquantised
//     inputs) <= 2 · rel_l2(naive same-precision twin) + 8·2^-24 and <= the policy's ceiling; the
//     twin is the CPU executor's cpu::gemm_naive on the same policy (its definition);
//   * against cpu::gemm_exact (the same quantised inputs, exact accumulation, one rounding):
//     W8A8 must match cpu::gemm_naive bit for bit (int32 accumulation is exact, the epilogue is the
//     same float(acc)·sa·sw; gemm_exact instead scales in float64 before one rounding); the
//     bf16-mma kernels differ from gemm_exact only by the fp32 rounding of the K/16 mma
//     partial sums, the scale products and (int4) the G group additions: bound
//     (√(K/16) + 2·√G + 2)·4·2^-24 in rel_l2 (random-walk growth of per-step relative errors
//     ≤ 2^-24, factor 4 for the sum-of-|terms| to |sum| ratio of Gaussian data), far below the
//     quantisation error it sits beside;
//   * the bf16-output instantiation equals the fp32 output rounded once to bf16, bit for bit;
//   * every launch under the four schedules of sim_check.hpp (NaN-poisoned shared memory and
//     outputs, bitwise-identical results);
//   * a W8A8 kernel with a wrong s8 A fragment (a[1] <-> a[2]) fails the gate.
// Both backends (GemmBackend::tensor_core, GemmBackend::cublas: the decode / epilogue kernels
// around a CPU GEMM with cuBLAS's precision rules) go through the same gates, with one
// difference: the cublas int4 path folds the group scales into its bf16 weights, bf16(s·q), a
// rounding the policy does not have, so its distance to gemm_exact is bounded by that rounding
// instead: per weight |δ| ≤ 2^-8 (bf16 unit roundoff) + 2^-24 (the fp32 product s·q), then the
// same factor 4 and the fp32 rounding of the sum: 4·(2^-8 + 2·2^-24) (random-walk estimate
// 2^-8/√3 ≈ 2.3e-3 for Gaussian data; 32 times the tensor-core bound, still 25 times below
// int4-g32's own quantisation error). W8A8: the two backends are equal bit for bit (both are
// exact int32 sums with the same epilogue), and equal to gemm_naive.
// Sizes: 37 x 101 x 264 (272 for W8A8: K % 16) — M, N off the 64 x 64 tile, a k tail, int4-g128's
// last group short; 1 x 64 x 512 decode; 70 x 72 x 384 two row tiles, three whole g128 groups.
#define BOOST_TEST_MODULE test_cuda_gemm_quant
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "optimized/cpu/gemm.hpp"
#include "optimized/cpu/policy.hpp"
#include "optimized/cuda/ops.hpp"
#include "optimized/cuda/quant_weight.hpp"
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
};
const Case kCases[] = {{"37x101xK", 37, 101, 264}, {"decode_1x64x512", 1, 64, 512}, {"70x72x384", 70, 72, 384}};

std::vector<double> gaussian(std::size_t n, unsigned seed, double scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct Inputs {
  int M, N, K;
  std::vector<double> a64, w64;
  std::vector<float> a;  // the activations as the executor holds them (float32 of the stored values)
  std::vector<double> ref;
};

Inputs make_inputs(const Case& c, int K) {
  Inputs in{c.M, c.N, K, gaussian(std::size_t(c.M) * K, 11 + K, 1.0),
            gaussian(std::size_t(c.N) * K, 13 + c.N, 1.0 / std::sqrt(double(K))), {}, {}};
  in.a.assign(in.a64.begin(), in.a64.end());
  Mat am = Mat::from_shape({std::size_t(c.M), std::size_t(K)}), wm = Mat::from_shape({std::size_t(c.N), std::size_t(K)});
  std::copy(in.a64.begin(), in.a64.end(), am.data());
  std::copy(in.w64.begin(), in.w64.end(), wm.data());
  const Mat r = ops::linear(am, wm);
  in.ref.assign(r.data(), r.data() + r.size());
  return in;
}

cuda::QuantFmt fmt_of(const cpu::Policy& p) {
  if (p.weights == cpu::Fmt::kInt4) return cuda::QuantFmt::int4;
  if (p.weights == cpu::Fmt::kFP8E4M3) return cuda::QuantFmt::fp8_e4m3;
  return cuda::QuantFmt::int8;
}

// The CUDA path of one policy: activation quantisation kernel + GEMM kernel. OutT float or bf16.
template <class OutT>
std::vector<OutT> run_cuda(cuda::GemmBackend backend, const cpu::Policy& p, const Inputs& in,
                           const cuda::HostQuantWeight& w, bool swapped_fragments = false) {
  const std::int64_t M = in.M, K = in.K;
  const cuda::GemmShape shape{M, in.N, K, 0, 0, 0};
  std::vector<OutT> c(std::size_t(M) * in.N, OutT(std::numeric_limits<float>::quiet_NaN()));
  std::vector<float> sa(std::size_t(M), std::numeric_limits<float>::quiet_NaN());
  if (p.gemm_in == cpu::Fmt::kInt8) {
    std::vector<std::uint8_t> qa(std::size_t(M * K));
    cuda::quantize_rows(cuda::RowFmt::int8, in.a.data(), qa.data(), sa.data(), M, K);
    const auto* a8 = reinterpret_cast<const std::int8_t*>(qa.data());
    if constexpr (std::is_same_v<OutT, float>)
      if (swapped_fragments) {
        cuda::testing::gemm_w8a8_swapped_fragments(a8, sa.data(), w.s8(), w.scales.data(), c.data(), shape);
        return c;
      }
    cuda::gemm_w8a8<OutT>(backend, a8, sa.data(), w.s8(), w.scales.data(), c.data(), shape);
  } else if (p.gemm_in == cpu::Fmt::kFP8E4M3) {
    std::vector<std::uint8_t> qa(std::size_t(M * K));
    cuda::quantize_rows(cuda::RowFmt::fp8_e4m3, in.a.data(), qa.data(), sa.data(), M, K);
    cuda::gemm_dequant<OutT>(backend, qa.data(), sa.data(), w.view(), c.data(), shape);
  } else {
    std::vector<__nv_bfloat16> ab(std::size_t(M * K));
    cuda::to_16bit(cuda::Fmt16::bf16, in.a.data(), reinterpret_cast<std::uint16_t*>(ab.data()), M * K);
    cuda::gemm_dequant<OutT>(backend, ab.data(), nullptr, w.view(), c.data(), shape);
  }
  return c;
}

const char* const kPolicies[] = {"int8", "int8-w8a16", "int4-g32", "int4-g128", "fp8-e4m3"};

const char* backend_name(cuda::GemmBackend b) { return b == cuda::GemmBackend::tensor_core ? "tensor_core" : "cublas"; }

void check_policy(const std::string& name, cuda::GemmBackend backend) {
  const cpu::Policy p = cpu::policy_by_name(name);
  const bool s8 = p.gemm_in == cpu::Fmt::kInt8;
  const bool folded = backend == cuda::GemmBackend::cublas && p.weights == cpu::Fmt::kInt4;
  const std::string tag = name + " " + backend_name(backend);
  for (const Case& c : kCases) {
    const int K = (s8 && c.K % 16) ? c.K + 8 : c.K;  // 264 -> 272 for W8A8
    const Inputs in = make_inputs(c, K);
    const cuda::HostQuantWeight w = cuda::quantize_weight(in.w64.data(), c.N, K, K, fmt_of(p), p.weight_group);
    const cpu::PackedWeight pw = cpu::pack_weight(in.w64.data(), c.N, K, p);
    const std::size_t n = std::size_t(c.M) * c.N;
    std::vector<float> naive(n), exact(n);
    cpu::gemm_naive(in.a.data(), c.M, pw, naive.data());
    cpu::gemm_exact(in.a.data(), c.M, pw, exact.data());

    std::vector<float> got;
    const std::string sched = g4sim::test::check_schedules([&] {
      got = run_cuda<float>(backend, p, in, w);
      return g4sim::test::bytes_of(got);
    });
    BOOST_TEST(sched.empty(), tag << " " << c.name << ": " << sched);

    const auto g = gate(rel_l2(got, in.ref), rel_l2(naive, in.ref), name);
    BOOST_TEST_MESSAGE(tag << " " << c.name << " (K " << K << "): " << g.str());
    BOOST_TEST(g.pass, tag << " " << c.name << ": " << g.str());

    const std::vector<double> ex(exact.begin(), exact.end());
    const double diff = rel_l2(got, ex);
    if (s8) {
      BOOST_TEST(std::memcmp(got.data(), naive.data(), n * 4) == 0, tag << " " << c.name << ": W8A8 != gemm_naive bitwise");
      if (backend == cuda::GemmBackend::cublas) {
        const std::vector<float> tc = run_cuda<float>(cuda::GemmBackend::tensor_core, p, in, w);
        BOOST_TEST(std::memcmp(got.data(), tc.data(), n * 4) == 0, tag << " " << c.name << ": W8A8 cublas != tensor_core bitwise");
      }
    }
    const double G = p.weights == cpu::Fmt::kInt4 ? std::ceil(double(K) / p.weight_group) : 1.0;
    const double bound = folded ? 4 * (1.0 / 256 + 2 * cuda::test::kU32)
                                : (std::sqrt(K / 16.0) + 2 * std::sqrt(G) + 2) * 4 * cuda::test::kU32;
    BOOST_TEST_MESSAGE("  vs gemm_exact rel_l2 " << diff << " (bound " << bound << ")");
    BOOST_TEST(diff <= bound, tag << " " << c.name << ": vs gemm_exact " << diff << " > " << bound);

    const std::vector<__nv_bfloat16> gb = run_cuda<__nv_bfloat16>(backend, p, in, w);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i)
      bad += __bfloat16_as_ushort(gb[i]) != __bfloat16_as_ushort(__float2bfloat16_rn(got[i]));
    BOOST_TEST(bad == 0u, tag << " " << c.name << ": " << bad << " bf16 outputs != RN(fp32 output)");
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_sim_gemm_quant)

BOOST_AUTO_TEST_CASE(int8_w8a8) { check_policy("int8", cuda::GemmBackend::tensor_core); }
BOOST_AUTO_TEST_CASE(int8_w8a16) { check_policy("int8-w8a16", cuda::GemmBackend::tensor_core); }
BOOST_AUTO_TEST_CASE(int4_g32) { check_policy("int4-g32", cuda::GemmBackend::tensor_core); }
BOOST_AUTO_TEST_CASE(int4_g128) { check_policy("int4-g128", cuda::GemmBackend::tensor_core); }
BOOST_AUTO_TEST_CASE(fp8_e4m3) { check_policy("fp8-e4m3", cuda::GemmBackend::tensor_core); }

BOOST_AUTO_TEST_CASE(cublas_int8_w8a8) { check_policy("int8", cuda::GemmBackend::cublas); }
BOOST_AUTO_TEST_CASE(cublas_int8_w8a16) { check_policy("int8-w8a16", cuda::GemmBackend::cublas); }
BOOST_AUTO_TEST_CASE(cublas_int4_g32) { check_policy("int4-g32", cuda::GemmBackend::cublas); }
BOOST_AUTO_TEST_CASE(cublas_int4_g128) { check_policy("int4-g128", cuda::GemmBackend::cublas); }
BOOST_AUTO_TEST_CASE(cublas_fp8_e4m3) { check_policy("fp8-e4m3", cuda::GemmBackend::cublas); }

// The wrong s8 fragment layout computes A rows g+8 against k 16..31 (and vice versa): a wrong
// product the gate must reject, and far from the exact W8A8 result.
BOOST_AUTO_TEST_CASE(wrong_s8_fragment_layout_is_caught) {
  const cpu::Policy p = cpu::policy_by_name("int8");
  const Inputs in = make_inputs(kCases[0], 272);
  const cuda::HostQuantWeight w = cuda::quantize_weight(in.w64.data(), in.N, in.K, in.K, cuda::QuantFmt::int8);
  const cpu::PackedWeight pw = cpu::pack_weight(in.w64.data(), in.N, in.K, p);
  std::vector<float> naive(std::size_t(in.M) * in.N);
  cpu::gemm_naive(in.a.data(), in.M, pw, naive.data());
  const std::vector<float> bad = run_cuda<float>(cuda::GemmBackend::tensor_core, p, in, w, /*swapped_fragments=*/true);
  const auto g = gate(rel_l2(bad, in.ref), rel_l2(naive, in.ref), "int8");
  BOOST_TEST_MESSAGE("swapped s8 fragments: " << g.str());
  BOOST_TEST(!g.pass, "a wrong s8 fragment layout passed the gate: " << g.str());
}

BOOST_AUTO_TEST_CASE(argument_checks) {
  alignas(16) static std::int8_t a[4096], wq[4096];
  alignas(16) static float sa[64], sw[64], c[4096];
  const cuda::GemmShape s8_bad_k{2, 2, 24, 0, 0, 0};
  cuda::QuantWeight q4{cuda::QuantFmt::int4, reinterpret_cast<const std::uint8_t*>(wq), sw, 48};
  cuda::QuantWeight q8{cuda::QuantFmt::fp8_e4m3, reinterpret_cast<const std::uint8_t*>(wq), sw, 0};
  // Both backends check the same requirements (they also cover cuBLAS's int8 alignment ones).
  for (const auto b : {cuda::GemmBackend::tensor_core, cuda::GemmBackend::cublas}) {
    BOOST_CHECK_THROW(cuda::gemm_w8a8<float>(b, a, sa, wq, sw, c, s8_bad_k), g4::ShapeError);  // K % 16 != 0
    BOOST_CHECK_THROW(cuda::gemm_w8a8<float>(b, a + 8, sa, wq, sw, c, cuda::GemmShape{2, 2, 32, 0, 0, 0}),
                      g4::ShapeError);  // misaligned A
    BOOST_CHECK_THROW(cuda::gemm_dequant<float>(b, a, nullptr, q4, c, cuda::GemmShape{2, 2, 96, 0, 0, 0}),
                      g4::ShapeError);  // group 48 straddles k tiles
    BOOST_CHECK_THROW(cuda::gemm_dequant<float>(b, a, nullptr, q8, c, cuda::GemmShape{2, 2, 32, 0, 0, 0}),
                      g4::ShapeError);  // fp8 without activation scales
  }
}

BOOST_AUTO_TEST_SUITE_END()
