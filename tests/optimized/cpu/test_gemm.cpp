// CPU GEMM / GEMV kernels (optimized/cpu/gemm.hpp) on a declarative case table: every preset
// policy × {aligned, odd prime, size 1, decode GEMV at a real shape, prefill at a real shape}.
//
// Three computations per case, from the same float64 inputs A [M, K] ~ N(0, 1) and
// W [N, K] ~ N(0, 1/K):
//   exact  Σ_k A·W in float64 (dgemm) on the ORIGINAL double inputs
//   naive  cpu::gemm_naive: the policy's quantisation of A and W, float32 accumulation in
//          increasing k (int32 for int8 × int8), one thread
//   opt    cpu::gemm, on the AVX-512 kernels when the CPU has them, and on the portable path
// Tolerance, the ratio rule (DESIGN.md section 5; FlashAttention's test rule):
//   rel_l2(opt, exact) ≤ 2 · rel_l2(naive, exact) + 4 · u32 · sqrt(K),     u32 = 2^-24.
// Where from: opt and naive quantise A and W identically (checked bit for bit below), so they
// differ only in the order of the float32 sums (vector lanes, k-pairs, K blocks, FMA) and, for
// fp8 / int8-w8a16 / int4 on the portable path, in where one float32 rounding of a scale product
// happens. The factor 2 is FlashAttention's; the floor is the float32 summation error of a K-term
// dot product under random-walk accumulation (≈ u·sqrt(K) relative, Higham & Mary 2019, λ = 1),
// ×4 for the different association, and it matters only where naive is itself nearly exact
// (F32, or K = 1).
// Besides: F32 is within 1e-6 of float64 (float32 input rounding 2^-24 plus fp32 accumulation;
// measured 4e-7, performance-anchors.md §5.1); int8 × int8 is bit-identical to naive (int32 sums
// are exact and the epilogue is the same expression); int8 / int4 / bf16 on small integers are
// exact; the activation quantisers of the kernels equal the optimized/formats definitions bit for
// bit; forcing the portable path (the CPU-feature fallback) passes the same checks.
#define BOOST_TEST_MODULE test_gemm
#include <boost/test/unit_test.hpp>

#include <cblas.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "optimized/cpu/gemm.hpp"
#include "optimized/cpu/gemm_isa.hpp"
#include "optimized/cpu/policy.hpp"
#include "reference/common/check.hpp"

using namespace g4;
using namespace g4::cpu;

namespace {

constexpr double kU32 = 1.0 / 16777216.0;  // 2^-24

struct Shape {
  std::int64_t M, N, K;
  const char* what;
};

// Shapes (M = tokens, N = out features, K = in features): aligned, odd prime, size 1, a decode
// GEMV and a prefill at Gemma 4 E2B's q_proj (1536 -> 2048).
const Shape kShapes[] = {
    {64, 96, 128, "aligned"},
    {7, 11, 13, "odd prime"},
    {1, 1, 1, "size 1"},
    {1, 2048, 1536, "decode E2B q_proj"},
    {64, 2048, 1536, "prefill E2B q_proj"},
};

std::vector<double> normal(std::size_t n, double sd, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> d(0.0, sd);
  std::vector<double> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// C = A · Wᵀ in float64.
std::vector<double> exact_product(const std::vector<double>& a, const std::vector<double>& w, std::int64_t M,
                                  std::int64_t N, std::int64_t K) {
  std::vector<double> c(static_cast<std::size_t>(M * N));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0, a.data(), K, w.data(), K, 0.0, c.data(), N);
  return c;
}

struct Err {
  double rel_l2 = 0;
  std::size_t worst = 0;
  double worst_abs = -1;
  bool finite = true;
};

Err compare(const std::vector<float>& x, const std::vector<double>& ref) {
  Err e;
  double dd = 0, rr = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) e.finite = false;
    const double d = x[i] - ref[i];
    dd += d * d;
    rr += ref[i] * ref[i];
    if (std::abs(d) > e.worst_abs) e.worst_abs = std::abs(d), e.worst = i;
  }
  e.rel_l2 = rr > 0 ? std::sqrt(dd / rr) : std::sqrt(dd);
  return e;
}

std::string repro(const Policy& p, const Shape& s, std::uint64_t seed, GemmIsa isa) {
  return "repro: gemm policy=" + p.name + " M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) +
         " K=" + std::to_string(s.K) + " seed=" + std::to_string(seed) + " isa=" + gemm_isa_name(isa);
}

// The ratio-rule check of one (policy, shape) on the ISA in use.
void check_case(const Policy& p, const Shape& s, std::uint64_t seed) {
  const GemmIsa isa = gemm_isa();
  const auto a = normal(static_cast<std::size_t>(s.M * s.K), 1.0, seed);
  const auto w = normal(static_cast<std::size_t>(s.N * s.K), 1.0 / std::sqrt(static_cast<double>(s.K)), seed + 1);
  const auto exact = exact_product(a, w, s.M, s.N, s.K);
  const auto af = to_float(a);
  const PackedWeight pw = pack_weight(w.data(), s.N, s.K, p);
  std::vector<float> c_opt(static_cast<std::size_t>(s.M * s.N), -1.0f), c_naive(c_opt.size(), -2.0f);
  gemm(af.data(), s.M, pw, c_opt.data());
  gemm_naive(af.data(), s.M, pw, c_naive.data());
  const Err eo = compare(c_opt, exact), en = compare(c_naive, exact);
  const double bound = 2.0 * en.rel_l2 + 4.0 * kU32 * std::sqrt(static_cast<double>(s.K));
  BOOST_TEST_MESSAGE(p.name << " " << s.what << " M=" << s.M << " N=" << s.N << " K=" << s.K << " ["
                            << gemm_impl(pw, s.M) << "] rel_l2 opt=" << eo.rel_l2 << " naive=" << en.rel_l2
                            << " bound=" << bound);
  const std::size_t i = eo.worst;
  BOOST_TEST(eo.finite, "non-finite output; " << repro(p, s, seed, isa));
  BOOST_TEST(eo.rel_l2 <= bound, "rel_l2 " << eo.rel_l2 << " > bound " << bound << " (naive " << en.rel_l2
                                          << "); worst [" << i / s.N << ", " << i % s.N << "] expected "
                                          << exact[i] << " got " << c_opt[i] << " naive " << c_naive[i] << "; "
                                          << repro(p, s, seed, isa));
  if (p.weights == Fmt::kF32) {
    // float32 rounding of A and W (2^-24 each) plus fp32 accumulation: ~4e-7 measured (§5.1).
    BOOST_TEST(eo.rel_l2 <= 1e-6, "F32 rel_l2 " << eo.rel_l2 << "; " << repro(p, s, seed, isa));
  }
  if (p.weights == Fmt::kInt8 && p.gemm_in == Fmt::kInt8) {
    // int32 accumulation is exact and the epilogue is the same float expression: bit-identical.
    std::size_t diff = 0;
    for (std::size_t k = 0; k < c_opt.size(); ++k) diff += std::memcmp(&c_opt[k], &c_naive[k], 4) != 0;
    BOOST_TEST(diff == 0u, diff << " outputs differ from naive; " << repro(p, s, seed, isa));
  }
}

struct IsaGuard {
  GemmIsa saved = gemm_isa();
  ~IsaGuard() { set_gemm_isa(saved); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(policy_presets_and_names) {
  const auto presets = policy_presets();
  BOOST_TEST(presets.size() == 8u);
  for (const Policy& p : presets) BOOST_TEST(policy_by_name(p.name).name == p.name);
  const Policy w8a8 = policy_by_name("int8"), w8a16 = policy_by_name("int8-w8a16"), g32 = policy_by_name("int4-g32");
  BOOST_TEST((w8a8.weights == Fmt::kInt8 && w8a8.gemm_in == Fmt::kInt8 && w8a8.storage == Fmt::kBF16));
  BOOST_TEST((w8a16.weights == Fmt::kInt8 && w8a16.gemm_in == Fmt::kBF16));
  BOOST_TEST((g32.weights == Fmt::kInt4 && g32.weight_group == 32 && !g32.weight_asym && g32.gemm_in == Fmt::kBF16));
  BOOST_TEST(policy_by_name("int4-g128").weight_group == 128);
  BOOST_TEST((policy_by_name("fp8-e4m3").gemm_in == Fmt::kFP8E4M3));
  BOOST_TEST(std::string(fmt_name(Fmt::kBF16)) == "bf16");
  try {
    policy_by_name("int3");
    BOOST_TEST(false, "no ConfigError");
  } catch (const ConfigError& e) {
    BOOST_TEST(std::string(e.what()).find("int4-g128") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(ratio_rule_every_policy_every_shape) {
  BOOST_TEST_MESSAGE("ISA in use: " << gemm_isa_name(gemm_isa()));
  std::uint64_t seed = 1000;
  for (const Policy& p : policy_presets())
    for (const Shape& s : kShapes) check_case(p, s, seed++);
}

// int4 with asymmetric groups (not a preset, but a policy field the kernels honour), an odd N
// just past a panel boundary, and K long enough to be blocked.
BOOST_AUTO_TEST_CASE(ratio_rule_int4_asymmetric_and_panel_edges) {
  Policy asym = policy_by_name("int4-g32");
  asym.name = "int4-g32-asym";
  asym.weight_asym = true;
  // K = 4100 > 2048: the GEMM splits K into blocks (C accumulated across blocks, int4 blocks of
  // whole groups).
  const Shape shapes[] = {{5, 33, 70, "panel edge"}, {1, 33, 70, "panel edge gemv"}, {13, 64, 256, "two blocks"},
                          {13, 40, 4100, "K blocks"}};
  std::uint64_t seed = 2000;
  for (const Shape& s : shapes) {
    check_case(asym, s, seed++);
    for (const Policy& p : policy_presets()) check_case(p, s, seed++);
  }
}

// The CPU-feature fallback: the portable path (what a CPU without AVX-512 runs) passes the same
// checks, and agrees with the AVX-512 path within the same rule.
BOOST_AUTO_TEST_CASE(portable_fallback) {
  IsaGuard guard;
  BOOST_TEST((set_gemm_isa(GemmIsa::kPortable) == GemmIsa::kPortable));
  BOOST_TEST((gemm_isa() == GemmIsa::kPortable));
  std::uint64_t seed = 3000;
  for (const Policy& p : policy_presets())
    for (const Shape& s : kShapes) check_case(p, s, seed++);
}

// Inputs that quantise exactly (integers with amax 127 per row, or 7 per int4 group, so every
// scale is 1): the int8, int4 and bf16 GEMMs are then exact, on both paths.
BOOST_AUTO_TEST_CASE(exact_on_small_integers) {
  IsaGuard guard;
  const Shape shapes[] = {{7, 11, 13, "odd"}, {1, 70, 96, "gemv"}, {20, 40, 64, "blocks"}};
  std::mt19937_64 g(7);
  for (GemmIsa isa : {GemmIsa::kAvx512, GemmIsa::kPortable}) {
    set_gemm_isa(isa);
    for (const char* name : {"int8", "int8-w8a16", "int4-g32", "bf16"}) {
      const Policy p = policy_by_name(name);
      const bool int4 = p.weights == Fmt::kInt4;
      for (const Shape& s : shapes) {
        std::vector<double> a(static_cast<std::size_t>(s.M * s.K)), w(static_cast<std::size_t>(s.N * s.K));
        std::uniform_int_distribution<int> da(-20, 20), dw(int4 ? -7 : -20, int4 ? 7 : 20);
        for (auto& x : a) x = da(g);
        for (auto& x : w) x = dw(g);
        for (std::int64_t m = 0; m < s.M; ++m) a[m * s.K] = 127;  // amax 127: scale exactly 1
        for (std::int64_t n = 0; n < s.N; ++n)
          for (std::int64_t k = 0; k < s.K; k += int4 ? 32 : s.K) w[n * s.K + k] = int4 ? 7 : 127;
        // |Σ| <= 127² + 20²·K < 2^24, so the fp32 sums of the bf16 paths are exact too.
        const auto exact = exact_product(a, w, s.M, s.N, s.K);
        const auto af = to_float(a);
        const PackedWeight pw = pack_weight(w.data(), s.N, s.K, p);
        std::vector<float> c(static_cast<std::size_t>(s.M * s.N));
        gemm(af.data(), s.M, pw, c.data());
        std::size_t bad = 0, first = 0;
        for (std::size_t i = 0; i < c.size(); ++i)
          if (c[i] != exact[i] && bad++ == 0) first = i;
        BOOST_TEST(bad == 0u, name << " " << s.what << " [" << gemm_impl(pw, s.M) << "]: " << bad
                                   << " inexact, first [" << first / s.N << ", " << first % s.N << "] expected "
                                   << exact[first] << " got " << c[first]);
      }
    }
  }
}

// The kernels' activation conversion equals the optimized/formats definition bit for bit,
// including RNE ties, subnormals, values near the e4m3 / int8 rounding boundaries, zero and
// non-finite rows.
BOOST_AUTO_TEST_CASE(activation_quantisers_match_formats) {
  IsaGuard guard;
  set_gemm_isa(GemmIsa::kAvx512);
  std::mt19937_64 g(11);
  std::vector<std::vector<float>> rows;
  for (int r = 0; r < 40; ++r) {  // mixed magnitudes, odd length
    std::vector<float> x(1001);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::uniform_int_distribution<int> e(-40, 20);
    for (auto& v : x) v = std::ldexp(d(g), r % 2 ? e(g) : 0);
    rows.push_back(x);
  }
  {  // exact ties for bf16 (1 + 2^-8 + k·2^-7) and for int8 / e4m3 after scaling
    std::vector<float> x;
    for (int k = 0; k < 64; ++k) x.push_back(1.0f + std::ldexp(1.0f, -8) + k * std::ldexp(1.0f, -7));
    for (int k = -127; k <= 127; ++k) x.push_back(k + 0.5f);
    x.push_back(127.0f);
    for (int k = 0; k < 64; ++k) x.push_back(std::ldexp(1.0f, -130 + k));  // subnormal floats and up
    rows.push_back(x);
  }
  rows.push_back(std::vector<float>(37, 0.0f));
  {
    std::vector<float> x(19, 1.5f);
    x[3] = std::numeric_limits<float>::quiet_NaN();
    rows.push_back(x);
    x[3] = std::numeric_limits<float>::infinity();
    rows.push_back(x);
  }
  for (Fmt f : {Fmt::kBF16, Fmt::kF16, Fmt::kFP8E4M3, Fmt::kInt8}) {
    std::size_t bad = 0;
    for (const auto& x : rows) {
      const auto K = static_cast<std::int64_t>(x.size());
      std::vector<float> v1(x.size()), v2(x.size());
      float s1 = 0, s2 = 0;
      convert_activation_row(x.data(), K, f, v1.data(), &s1);
      convert_activation_row_scalar(x.data(), K, f, v2.data(), &s2);
      const bool scale_ok = std::memcmp(&s1, &s2, 4) == 0 || (std::isnan(s1) && std::isnan(s2));
      BOOST_TEST(scale_ok, fmt_name(f) << " scale " << s1 << " vs " << s2);
      for (std::size_t k = 0; k < x.size(); ++k) {
        const bool same = std::memcmp(&v1[k], &v2[k], 4) == 0 || (std::isnan(v1[k]) && std::isnan(v2[k]));
        if (!same && bad++ < 5)
          BOOST_TEST_MESSAGE(fmt_name(f) << " x=" << x[k] << " kernel " << v1[k] << " formats " << v2[k]);
      }
    }
    BOOST_TEST(bad == 0u, fmt_name(f) << ": " << bad << " values differ from optimized/formats");
  }
}

BOOST_AUTO_TEST_CASE(shapes_and_bad_input) {
  const Policy p = policy_by_name("bf16");
  const std::vector<double> w(6, 0.5);
  // K = 0: the product is all zeros; M = 0 and N = 0 write nothing.
  const PackedWeight k0 = pack_weight(w.data(), 3, 0, p);
  std::vector<float> c(6, 7.0f);
  gemm(nullptr, 2, k0, c.data());
  for (float x : c) BOOST_TEST(x == 0.0f);
  const PackedWeight n0 = pack_weight(w.data(), 0, 2, p);
  gemm(nullptr, 2, n0, nullptr);
  gemm(nullptr, 0, pack_weight(w.data(), 3, 2, p), nullptr);
  BOOST_CHECK_THROW(pack_weight(w.data(), -1, 2, p), ShapeError);
  Policy bad = p;
  bad.gemm_in = Fmt::kInt8;  // bf16 weights with int8 activations: not a kernel
  BOOST_CHECK_THROW(pack_weight(w.data(), 3, 2, bad), ConfigError);
  Policy e5 = p;
  e5.weights = e5.gemm_in = Fmt::kFP8E5M2;
  BOOST_CHECK_THROW(pack_weight(w.data(), 3, 2, e5), ConfigError);
  Policy g = policy_by_name("int4-g32");
  g.weight_group = 6;  // the kernels need multiples of 4
  BOOST_CHECK_THROW(pack_weight(w.data(), 3, 2, g), ConfigError);
  PackedWeight broken = pack_weight(w.data(), 3, 2, p);
  broken.data.pop_back();
  BOOST_CHECK_THROW(gemm(nullptr, 1, broken, c.data()), ShapeError);
  // The impl string names the kernel.
  const PackedWeight pw = pack_weight(w.data(), 3, 2, policy_by_name("int8"));
  const std::string impl = gemm_impl(pw, 1);
  BOOST_TEST_MESSAGE("int8 M=1: " << impl << ", M=8: " << gemm_impl(pw, 8));
  BOOST_TEST(!impl.empty());
  if (gemm_isa() == GemmIsa::kAvx512) BOOST_TEST(impl.find("avx512") != std::string::npos);
}
