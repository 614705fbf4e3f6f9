// CPU element-wise kernels and the MoE router (optimized/cpu/elementwise.hpp) against the float64
// reference (reference/ops/activations.hpp, reference/ops/moe.hpp route), on declarative case
// tables. Inputs are float32 values, widened exactly for the reference.
//
// Bounds are per element, |computed − reference| ≤ κ·u·|scale| with u = 2^-24 (derivations in
// elementwise.hpp and below), plus 1e-37 absolute where the reference result is below FLT_MIN:
//   gelu_tanh        κ = 12·|z| + 6, scale |y|      z = √(2/π)(x + 0.044715x³) carries ≤ 6 roundings
//                                                   (no cancellation: x and x³ share a sign), the
//                                                   exp amplifies them by |2z| and adds its own
//                                                   ≤ 2u (measured max 1.99u over [−87, 88]); then
//                                                   1 + e and the division.
//                    + 2^-52·|x| absolute: the REFERENCE's own error. It computes the literal
//                                                   0.5·x·(1 + tanh z) in float64, where 1 + tanh z
//                                                   is only accurate to ~2·u64 absolute; for x ≲ −4
//                                                   that is a large relative error, and for x ≲ −5.8
//                                                   tanh z rounds to −1 and the reference returns 0
//                                                   (the true value is ~1e-15; the float32 kernel
//                                                   gets it right).
//   gelu (naive)     |err| ≤ ((3|z| + 2)·|x| + 2|y|)·u   the literal 0.5x(1 + tanh z): 1 + tanh z is
//                                                   only accurate to u absolute (cancellation for
//                                                   x < 0), times 0.5|x|.
//   gelu_gate_mul    the gelu bound + 1 (the product), scale |out|.
//   softcap          κ = 2|t| + 7 (t = x/c), scale |y|   exp with |2t| amplification + 2u, 2/(e+1),
//                                                   1 − q (q ≤ 0.445: ×0.8), the rounding of x/c
//                                                   (≤ u: t·sech²t / tanh t ≤ 1), ×c. Naive
//                                                   (std::tanh, ≤ 2 ulp): κ = 6.
//   add, mul, mul_rows: κ = 1 (one correct rounding); scale: κ = 2 (the factor itself is rounded).
//   route probs      κ = |z − max| + E + 3, scale p   z − max (u relative, amplified by |z − max|
//                                                   in the exp), exp (≤ 2u), a sequential float sum
//                                                   of E positive terms (≤ (E − 1)u), the division.
//   route weights    κ = κ_p(j) + max_top κ_p + K + 2   the renormalising sum of K and two roundings.
//   route indices    equal, on logits whose gaps (≥ 0.05) are far larger than the errors above;
//                    exact ties go to the lower expert index.
#define BOOST_TEST_MODULE test_cpu_elementwise
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "optimized/cpu/elementwise.hpp"
#include "reference/ops/activations.hpp"
#include "reference/ops/moe.hpp"

using namespace g4;

namespace {

constexpr double kU32 = 1.0 / 16777216.0;  // 2^-24
constexpr double kTiny = 1e-37;            // below FLT_MIN: float32 flushes/underflows there
constexpr double kRefGelu = 1.0 / 4503599627370496.0;  // 2^-52: the float64 reference gelu's own error / |x|

std::vector<float> normal(size_t n, double mean, double sd, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = float(d(rng));
  return v;
}

// Checks |got[i] − ref[i]| ≤ bound[i] for all i; reports the worst violation (by ratio) once.
void check_elements(const std::string& what, const std::vector<float>& got, const std::vector<double>& ref,
                    const std::vector<double>& bound, const std::vector<float>* input = nullptr) {
  double worst_ratio = 0;
  size_t worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double ratio = std::abs(double(got[i]) - ref[i]) / (bound[i] + kTiny);
    if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i;
  }
  BOOST_TEST(worst_ratio <= 1.0, what << ": element " << worst << (input ? fmt::format(" (x = {:.9g})", (*input)[worst]) : "")
                                      << " expected " << fmt::format("{:.9g}", ref[worst]) << " actual "
                                      << fmt::format("{:.9g}", got[worst]) << ", error " << std::abs(got[worst] - ref[worst])
                                      << " > bound " << bound[worst]);
  BOOST_TEST_MESSAGE(fmt::format("{:<44} worst error / bound = {:.3f}", what, worst_ratio));
}

double gelu_z(double x) { return std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x); }

struct Case {
  const char* name;
  index_t rows, cols;
  double sd;  // spread of the inputs
  std::uint64_t seed;
};
// Aligned, odd prime, size 1, real Gemma 4 widths (E2B MLP F = 6144 and its double-wide 12288,
// 26B-A4B expert Fe = 704, the 262144-wide logits row), and a wide input range.
const std::vector<Case> kCases = {
    {"aligned_4x64", 4, 64, 2.0, 1},
    {"odd_prime_7x97", 7, 97, 2.0, 2},
    {"size_1", 1, 1, 2.0, 3},
    {"e2b_mlp_8x6144", 8, 6144, 3.0, 4},
    {"e2b_kvshared_mlp_2x12288", 2, 12288, 3.0, 5},
    {"26b_expert_16x704", 16, 704, 3.0, 6},
    {"wide_range_3x1000", 3, 1000, 12.0, 7},
};

}  // namespace

BOOST_AUTO_TEST_CASE(gelu_tanh_against_reference) {
  for (const Case& c : kCases) {
    const size_t n = size_t(c.rows * c.cols);
    const auto x = normal(n, 0.0, c.sd, c.seed);
    std::vector<double> ref(n), bound(n), bound_naive(n);
    for (size_t i = 0; i < n; ++i) {
      ref[i] = ops::gelu_tanh(double(x[i]));
      const double z = std::abs(gelu_z(x[i]));
      bound[i] = (12.0 * z + 6.0) * kU32 * std::abs(ref[i]) + kRefGelu * std::abs(x[i]);
      bound_naive[i] = ((3.0 * z + 2.0) * std::abs(x[i]) + 2.0 * std::abs(ref[i])) * kU32;
    }
    std::vector<float> yn(n);
    cpu::gelu_tanh_naive(x.data(), yn.data(), index_t(n));
    check_elements(fmt::format("gelu_tanh_naive {}", c.name), yn, ref, bound_naive, &x);
    for (bool simd : {true, false}) {
      std::vector<float> y(n), inplace = x;
      cpu::gelu_tanh(x.data(), y.data(), index_t(n), {simd});
      cpu::gelu_tanh(inplace.data(), inplace.data(), index_t(n), {simd});
      check_elements(fmt::format("gelu_tanh{} {}", simd ? "" : " portable", c.name), y, ref, bound, &x);
      BOOST_TEST((inplace == y), c.name << ": in-place result differs");
    }
  }
}

BOOST_AUTO_TEST_CASE(gelu_gate_mul_against_reference) {
  for (const Case& c : kCases) {
    // gate and up as the two halves of one fused [rows, 2·cols] projection (the MoE layout), and
    // the output into a wider buffer: every leading dimension differs from cols.
    const index_t ld = 2 * c.cols, ld_out = c.cols + 3;
    const auto gu = normal(size_t(c.rows * ld), 0.0, c.sd, c.seed);
    std::vector<double> ref, bound, bound_naive;
    for (index_t t = 0; t < c.rows; ++t)
      for (index_t f = 0; f < c.cols; ++f) {
        const double g = gu[size_t(t * ld + f)], u = gu[size_t(t * ld + c.cols + f)];
        const double r = ops::gelu_tanh(g) * u, z = std::abs(gelu_z(g));
        ref.push_back(r);
        bound.push_back(((12.0 * z + 7.0) * kU32 * std::abs(ops::gelu_tanh(g)) + kRefGelu * std::abs(g)) * std::abs(u));
        bound_naive.push_back(((3.0 * z + 2.0) * std::abs(g) + 3.0 * std::abs(ops::gelu_tanh(g))) * kU32 * std::abs(u));
      }
    const cpu::GatedProblem p{c.rows, c.cols, ld, ld, ld_out};
    for (int variant : {0, 1, 2}) {  // simd, portable, naive
      const bool naive = variant == 2;
      std::vector<float> out(size_t(c.rows * ld_out), -7.0f), got;
      if (naive)
        cpu::gelu_gate_mul_naive(gu.data(), gu.data() + c.cols, out.data(), p);
      else
        cpu::gelu_gate_mul(gu.data(), gu.data() + c.cols, out.data(), p, {variant == 0});
      for (index_t t = 0; t < c.rows; ++t) {
        for (index_t f = 0; f < c.cols; ++f) got.push_back(out[size_t(t * ld_out + f)]);
        for (index_t f = c.cols; f < ld_out; ++f) BOOST_TEST(out[size_t(t * ld_out + f)] == -7.0f);  // untouched
      }
      check_elements(fmt::format("gelu_gate_mul{} {}", naive ? "_naive" : variant ? " portable" : "", c.name), got, ref,
                     naive ? bound_naive : bound);
    }
  }
}

BOOST_AUTO_TEST_CASE(softcap_against_reference) {
  // Final logits: cap 30 (Gemma 4), logits spread ~10, plus the whole vocabulary row.
  std::vector<Case> cases = kCases;
  cases.push_back({"logits_row_262144", 1, 262144, 10.0, 8});
  cases.push_back({"huge_logits", 2, 500, 300.0, 9});  // |t| up to ~40: saturation
  const float cap = 30.0f;
  for (const Case& c : cases) {
    const size_t n = size_t(c.rows * c.cols);
    const auto x = normal(n, 0.0, c.sd, c.seed);
    std::vector<double> ref(n), bound(n), bound_naive(n);
    for (size_t i = 0; i < n; ++i) {
      ref[i] = ops::softcap(double(x[i]), double(cap));
      const double t = std::abs(double(x[i]) / cap);
      bound[i] = (2.0 * t + 7.0) * kU32 * std::abs(ref[i]);
      bound_naive[i] = 6.0 * kU32 * std::abs(ref[i]);
    }
    std::vector<float> y(n), yp(n), yn(n);
    cpu::softcap(x.data(), y.data(), index_t(n), cap);
    cpu::softcap(x.data(), yp.data(), index_t(n), cap, {false});
    cpu::softcap_naive(x.data(), yn.data(), index_t(n), cap);
    check_elements(fmt::format("softcap {}", c.name), y, ref, bound, &x);
    check_elements(fmt::format("softcap portable {}", c.name), yp, ref, bound_naive, &x);  // std::tanh, as naive
    check_elements(fmt::format("softcap_naive {}", c.name), yn, ref, bound_naive, &x);
  }
}

BOOST_AUTO_TEST_CASE(add_mul_scale) {
  for (const Case& c : kCases) {
    const size_t n = size_t(c.rows * c.cols);
    const auto a = normal(n, 0.0, c.sd, c.seed), b = normal(n, 0.0, c.sd, c.seed + 1);
    const auto v = normal(size_t(c.cols), 1.0, 0.5, c.seed + 2);
    const double s = std::sqrt(1536.0);  // the E2B embedding scale, not a float
    std::vector<double> radd(n), rmul(n), rscale(n), rrows(n), badd(n), bmul(n), bscale(n), brows(n);
    for (size_t i = 0; i < n; ++i) {
      radd[i] = double(a[i]) + double(b[i]);
      rmul[i] = double(a[i]) * double(b[i]);
      rscale[i] = double(a[i]) * s;
      rrows[i] = double(a[i]) * double(v[i % size_t(c.cols)]);
      badd[i] = kU32 * std::abs(radd[i]);
      bmul[i] = kU32 * std::abs(rmul[i]);
      bscale[i] = 2.0 * kU32 * std::abs(rscale[i]);
      brows[i] = kU32 * std::abs(rrows[i]);
    }
    std::vector<float> y(n);
    cpu::add(a.data(), b.data(), y.data(), index_t(n));
    check_elements(fmt::format("add {}", c.name), y, radd, badd);
    cpu::mul(a.data(), b.data(), y.data(), index_t(n));
    check_elements(fmt::format("mul {}", c.name), y, rmul, bmul);
    cpu::scale(a.data(), float(s), y.data(), index_t(n));
    check_elements(fmt::format("scale {}", c.name), y, rscale, bscale);
    cpu::mul_rows(a.data(), v.data(), y.data(), c.rows, c.cols);
    check_elements(fmt::format("mul_rows {}", c.name), y, rrows, brows);
  }
}

namespace {

struct RouteCase {
  const char* name;
  index_t T, E, K;
  std::uint64_t seed;
};
// 26B-A4B: 128 experts, top 8.
const std::vector<RouteCase> kRouteCases = {
    {"aligned_4x16_k4", 4, 16, 4, 21},
    {"odd_prime_5x13_k3", 5, 13, 3, 22},
    {"size_1", 1, 1, 1, 23},
    {"k_equals_e", 3, 7, 7, 24},
    {"26b_a4b_32x128_k8", 32, 128, 8, 25},
};

// Logits with every gap ≥ 0.05 (a shuffled ladder plus jitter < 0.01), spread over ~6.
std::vector<float> ladder_logits(index_t T, index_t E, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> jitter(-0.01, 0.01);
  std::vector<float> z(size_t(T * E));
  std::vector<int> perm(static_cast<size_t>(E), 0);
  for (index_t t = 0; t < T; ++t) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (index_t e = 0; e < E; ++e)
      z[size_t(t * E + e)] = float(6.0 * perm[size_t(e)] / double(E) + 0.07 * perm[size_t(e)] + jitter(rng) - 3.0);
  }
  return z;
}

}  // namespace

BOOST_AUTO_TEST_CASE(route_against_reference) {
  for (const RouteCase& c : kRouteCases) {
    const auto z = ladder_logits(c.T, c.E, c.seed);
    const auto scale = normal(size_t(c.E), 1.0, 0.3, c.seed + 1);
    Mat logits = Mat::from_shape({size_t(c.T), size_t(c.E)});
    Vec sc = Vec::from_shape({size_t(c.E)});
    for (size_t i = 0; i < z.size(); ++i) logits.data()[i] = z[i];
    for (index_t e = 0; e < c.E; ++e) sc(size_t(e)) = scale[size_t(e)];
    const ops::RouterOutput r = ops::route(logits, sc, c.K);
    std::vector<float> probs(size_t(c.T * c.E)), weights(size_t(c.T * c.K));
    std::vector<std::int32_t> index(size_t(c.T * c.K));
    cpu::route(z.data(), scale.data(), probs.data(), weights.data(), index.data(), {c.T, c.E, c.K});
    std::vector<double> rp(probs.size()), bp(probs.size()), rw(weights.size()), bw(weights.size());
    for (index_t t = 0; t < c.T; ++t) {
      const double m = *std::max_element(&logits(t, 0), &logits(t, 0) + c.E);
      std::vector<double> kp(size_t(c.E));
      for (index_t e = 0; e < c.E; ++e) {
        kp[size_t(e)] = std::abs(double(z[size_t(t * c.E + e)]) - m) + double(c.E) + 3.0;
        rp[size_t(t * c.E + e)] = r.probs(t, e);
        bp[size_t(t * c.E + e)] = kp[size_t(e)] * kU32 * r.probs(t, e);
      }
      double kmax = 0;
      for (index_t j = 0; j < c.K; ++j) kmax = std::max(kmax, kp[size_t(r.index(t, j))]);
      for (index_t j = 0; j < c.K; ++j) {
        rw[size_t(t * c.K + j)] = r.weights(t, j);
        bw[size_t(t * c.K + j)] = (kp[size_t(r.index(t, j))] + kmax + double(c.K) + 2.0) * kU32 * std::abs(r.weights(t, j));
        BOOST_TEST(index[size_t(t * c.K + j)] == r.index(t, j), c.name << ": token " << t << " slot " << j);
      }
    }
    check_elements(fmt::format("route probs {}", c.name), probs, rp, bp);
    check_elements(fmt::format("route weights {}", c.name), weights, rw, bw);
  }
}

// Exact ties go to the lower expert index, as the reference's stable sort does.
BOOST_AUTO_TEST_CASE(route_ties_lower_index_first) {
  const std::vector<float> z = {1.0f, 3.0f, 3.0f, 2.0f, 3.0f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};  // 2 tokens × 5
  const std::vector<float> scale(5, 1.0f);
  std::vector<float> probs(10), w(6);
  std::vector<std::int32_t> idx(6);
  cpu::route(z.data(), scale.data(), probs.data(), w.data(), idx.data(), {2, 5, 3});
  BOOST_TEST(idx[0] == 1);
  BOOST_TEST(idx[1] == 2);
  BOOST_TEST(idx[2] == 4);
  BOOST_TEST(idx[3] == 0);  // all equal: 0, 1, 2
  BOOST_TEST(idx[4] == 1);
  BOOST_TEST(idx[5] == 2);
  for (int j = 3; j < 6; ++j) BOOST_TEST(std::abs(w[size_t(j)] - 1.0f / 3.0f) <= 2 * kU32);
  // The same through the reference.
  Mat logits = Mat::from_shape({2, 5});
  for (size_t i = 0; i < 10; ++i) logits.data()[i] = z[i];
  const ops::RouterOutput r = ops::route(logits, xt::ones<double>({5}), 3);
  for (int j = 0; j < 6; ++j) BOOST_TEST(idx[size_t(j)] == r.index(j / 3, j % 3));
}

BOOST_AUTO_TEST_CASE(shape_errors) {
  std::vector<float> x(8), w(8);
  std::vector<std::int32_t> i(8);
  BOOST_CHECK_THROW(cpu::route(x.data(), x.data(), nullptr, w.data(), i.data(), {1, 4, 5}), g4::ShapeError);
  BOOST_CHECK_THROW(cpu::gelu_gate_mul(x.data(), x.data(), x.data(), {1, 4, 2, 4, 4}), g4::ShapeError);
}
