// CPU RMSNorm / RoPE kernels (optimized/cpu/norm_rope.hpp) against the float64 reference
// (reference/ops/rms_norm.hpp, reference/ops/rope.hpp), on declarative case tables. Every kernel
// and its naive twin get the same float32 inputs as the reference (widened exactly).
//
// Tolerances (u = u32 = 2^-24; n = the group length dim or Dh), each relative L2 over the tensor:
//   rms_norm        (2·√n + 6)·u   Σx² of n positive terms in float32: relative error ≤ λ·√n·u with
//                                  λ = 4 (Higham & Mary 2019 probabilistic bound, failure probability
//                                  ≤ 2·exp(−λ²/2) ≈ 7e-4 per sum, far less in practice for
//                                  non-adversarial data), halved by the square root; then ÷n, +eps,
//                                  sqrt, 1/·, ·inv, ·w: 6 roundings (eps's own float rounding moves
//                                  the result by < u/2, counted in the 6).
//   add_rms_norm    (2·√n + 8)·u   + the rounding of x + r (u on each element, u on the mean square).
//                   sum output: u (one correctly rounded addition).
//   rope            3·√2·u         per element |err| ≤ 3u·(|a·cos| + |b·sin|): cos/sin rounded once
//                                  (u each), one product, one fused multiply-subtract; summed over the
//                                  tensor, Σ(|a c| + |b s|)² ≤ 2·‖x‖² and ‖y‖ = ‖x‖ (a rotation).
//   rms_norm_rope   (2·√n + 6 + 3·√2)·u   the norm's error is rotated (norm-preserving) and the
//                                  rotation adds its own.
// The same bounds hold for the naive twins (their sums are sequential, with the same λ·√n·u bound),
// which are checked too.
#define BOOST_TEST_MODULE test_cpu_norm_rope
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "optimized/cpu/norm_rope.hpp"
#include "reference/ops/rms_norm.hpp"
#include "reference/ops/rope.hpp"

using namespace g4;

namespace {

constexpr double kU32 = 1.0 / 16777216.0;  // 2^-24

struct Err {
  double rel_l2 = 0, max_abs = 0;
  size_t worst = 0;
  double expected = 0, actual = 0;
};
Err compare(const float* x, const double* r, size_t n) {
  Err e;
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(x[i]) - r[i];
    num += d * d;
    den += r[i] * r[i];
    if (!(std::abs(d) <= e.max_abs)) e.max_abs = std::abs(d), e.worst = i, e.expected = r[i], e.actual = x[i];
  }
  e.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return e;
}
std::string describe(const Err& e) {
  return fmt::format("rel_l2 {:.3e}, worst element {} expected {:.9g} actual {:.9g}", e.rel_l2, e.worst, e.expected,
                     e.actual);
}

std::vector<float> normal(size_t n, double mean, double sd, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = float(d(rng));
  return v;
}
Mat to_mat(const std::vector<float>& x, index_t r, index_t c) {
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  for (size_t i = 0; i < x.size(); ++i) m.data()[i] = x[i];
  return m;
}
Vec to_vec(const std::vector<float>& x) {
  Vec v = Vec::from_shape({x.size()});
  for (size_t i = 0; i < x.size(); ++i) v(i) = x[i];
  return v;
}

struct NormCase {
  const char* name;
  index_t T, dim, groups;
  bool weight;
  double x_sd;  // spread of x (the residual stream runs to ~1e2)
  std::uint64_t seed;
};
const std::vector<NormCase> kNormCases = {
    {"aligned", 4, 64, 1, true, 1.0, 1},
    {"odd_prime", 7, 37, 3, true, 1.0, 2},
    {"size_1", 1, 1, 1, true, 1.0, 3},
    {"e2b_residual_D1536", 64, 1536, 1, true, 30.0, 4},
    {"31b_residual_D5376", 16, 5376, 1, true, 100.0, 5},
    {"e2b_q_norm_8x256", 32, 256, 8, true, 1.0, 6},
    {"31b_v_norm_4x512_no_scale", 32, 512, 4, false, 1.0, 7},
    {"26b_router_norm_D2816_no_scale", 8, 2816, 1, false, 10.0, 8},
    {"eps_dominates", 3, 64, 2, true, 1e-4, 9},
};

double norm_tol(index_t n) { return (2.0 * std::sqrt(double(n)) + 6.0) * kU32; }

}  // namespace

BOOST_AUTO_TEST_CASE(rms_norm_against_reference) {
  const double eps = 1e-6;
  for (const NormCase& c : kNormCases) {
    const size_t n = size_t(c.T * c.groups * c.dim);
    const auto x = normal(n, 0.0, c.x_sd, c.seed);
    const auto w = normal(size_t(c.dim), 1.0, 0.5, c.seed + 100);
    const Vec wv = to_vec(w);
    const Mat ref = ops::rms_norm(to_mat(x, c.T, c.groups * c.dim), c.weight ? &wv : nullptr, eps, c.dim);
    const cpu::RmsNormProblem p{c.T, c.dim, c.groups, float(eps)};
    const double tol = norm_tol(c.dim);
    std::vector<float> yn(n);
    cpu::rms_norm_naive(x.data(), c.weight ? w.data() : nullptr, yn.data(), p);
    const Err en = compare(yn.data(), ref.data(), n);
    BOOST_TEST(en.rel_l2 <= tol, c.name << ": rms_norm_naive " << describe(en) << " > " << tol);
    for (bool simd : {true, false}) {
      std::vector<float> y(n), inplace = x;
      cpu::rms_norm(x.data(), c.weight ? w.data() : nullptr, y.data(), p, {simd});
      cpu::rms_norm(inplace.data(), c.weight ? w.data() : nullptr, inplace.data(), p, {simd});
      const Err e = compare(y.data(), ref.data(), n);
      BOOST_TEST(e.rel_l2 <= tol, c.name << (simd ? "" : " portable") << ": rms_norm " << describe(e) << " > " << tol
                                         << "; repro: rms_norm case " << c.name << " T=" << c.T << " dim=" << c.dim
                                         << " seed=" << c.seed);
      BOOST_TEST((std::memcmp(inplace.data(), y.data(), n * 4) == 0), c.name << ": in-place result differs");
      BOOST_TEST_MESSAGE(fmt::format("rms_norm {:<32} {:<8} rel_l2 {:.2e} (naive {:.2e}) tol {:.2e}", c.name,
                                     simd ? "simd" : "portable", e.rel_l2, en.rel_l2, tol));
    }
  }
}

BOOST_AUTO_TEST_CASE(add_rms_norm_against_reference) {
  const double eps = 1e-6;
  for (const NormCase& c : kNormCases) {
    const size_t n = size_t(c.T * c.groups * c.dim);
    const auto x = normal(n, 0.0, c.x_sd, c.seed), r = normal(n, 0.0, c.x_sd, c.seed + 7);
    const auto w = normal(size_t(c.dim), 1.0, 0.5, c.seed + 100);
    const Vec wv = to_vec(w);
    Mat xs = to_mat(x, c.T, c.groups * c.dim);
    for (size_t i = 0; i < n; ++i) xs.data()[i] += double(r[i]);  // exact in float64
    const Mat ref = ops::rms_norm(xs, c.weight ? &wv : nullptr, eps, c.dim);
    const cpu::RmsNormProblem p{c.T, c.dim, c.groups, float(eps)};
    for (int variant : {0, 1, 2}) {  // simd, portable, naive
      const char* name = variant == 0 ? "" : variant == 1 ? " portable" : " naive";
      std::vector<float> sum(n), y(n);
      const float* wp = c.weight ? w.data() : nullptr;
      if (variant < 2)
        cpu::add_rms_norm(x.data(), r.data(), wp, sum.data(), y.data(), p, {variant == 0});
      else
        cpu::add_rms_norm_naive(x.data(), r.data(), wp, sum.data(), y.data(), p);
      const Err es = compare(sum.data(), xs.data(), n), e = compare(y.data(), ref.data(), n);
      const double tol = (2.0 * std::sqrt(double(c.dim)) + 8.0) * kU32;
      BOOST_TEST(es.rel_l2 <= kU32, c.name << name << ": sum " << describe(es));
      BOOST_TEST(e.rel_l2 <= tol, c.name << name << ": add_rms_norm " << describe(e) << " > " << tol);
    }
  }
}

namespace {

struct RopeCase {
  const char* name;
  index_t T, heads, Dh;
  text::RopeType type;
  double theta, partial;
  index_t pos0, pos_step;  // positions pos0 + t·pos_step
  std::uint64_t seed;
};
const std::vector<RopeCase> kRopeCases = {
    {"aligned_default", 8, 4, 64, text::RopeType::kDefault, 10000.0, 1.0, 0, 1, 11},
    {"odd_prime_half19", 7, 3, 38, text::RopeType::kDefault, 10000.0, 1.0, 3, 5, 12},
    {"size_1", 1, 1, 2, text::RopeType::kDefault, 10000.0, 1.0, 7, 1, 13},
    {"e2b_sliding_q_8x256", 64, 8, 256, text::RopeType::kDefault, 10000.0, 1.0, 0, 1, 14},
    {"e2b_full_k_1x512_prop", 64, 1, 512, text::RopeType::kProportional, 1e6, 0.25, 4000, 1, 15},
    {"31b_full_q_32x512_prop", 8, 32, 512, text::RopeType::kProportional, 1e6, 0.25, 4090, 1, 16},
    {"long_positions", 6, 2, 64, text::RopeType::kDefault, 10000.0, 1.0, 30000, 517, 17},
};

struct RopeSetup {
  std::vector<index_t> positions;
  std::vector<std::int64_t> pos64;
  Vec inv;
  std::vector<float> cos, sin;
  cpu::RopeProblem p;
};
RopeSetup setup(const RopeCase& c) {
  RopeSetup s;
  for (index_t t = 0; t < c.T; ++t) s.positions.push_back(c.pos0 + t * c.pos_step);
  s.pos64.assign(s.positions.begin(), s.positions.end());
  text::RopeParams rp;
  rp.type = c.type, rp.theta = c.theta, rp.partial_rotary_factor = c.partial;
  s.inv = ops::rope_inv_freq(rp, c.Dh);
  const index_t half = c.Dh / 2, n_pos = s.positions.back() + 1;
  s.cos.resize(size_t(n_pos * half));
  s.sin.resize(s.cos.size());
  cpu::rope_table(s.inv.data(), half, n_pos, s.cos.data(), s.sin.data());
  s.p = {c.T, c.heads, c.Dh, s.pos64.data(), s.cos.data(), s.sin.data(), n_pos};
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(rope_against_reference) {
  const double tol = 3.0 * std::sqrt(2.0) * kU32;
  for (const RopeCase& c : kRopeCases) {
    const RopeSetup s = setup(c);
    const size_t n = size_t(c.T * c.heads * c.Dh);
    const auto x = normal(n, 0.0, 1.0, c.seed);
    const Mat ref = ops::rope(to_mat(x, c.T, c.heads * c.Dh), s.positions, s.inv, c.Dh);
    std::vector<float> yn(n);
    cpu::rope_naive(x.data(), yn.data(), s.p);
    const Err en = compare(yn.data(), ref.data(), n);
    BOOST_TEST(en.rel_l2 <= tol, c.name << ": rope_naive " << describe(en) << " > " << tol);
    std::vector<float> y(n);
    Err e;
    for (bool simd : {false, true}) {  // the simd result stays in y for the checks below
      std::vector<float> inplace = x;
      cpu::rope(x.data(), y.data(), s.p, {simd});
      cpu::rope(inplace.data(), inplace.data(), s.p, {simd});
      e = compare(y.data(), ref.data(), n);
      BOOST_TEST(e.rel_l2 <= tol, c.name << (simd ? "" : " portable") << ": rope " << describe(e) << " > " << tol
                                         << "; repro: rope case " << c.name << " seed=" << c.seed);
      BOOST_TEST((std::memcmp(inplace.data(), y.data(), n * 4) == 0), c.name << ": in-place result differs");
    }
    // Proportional RoPE: the unrotated dims (inv_freq = 0) pass through bit for bit.
    const index_t half = c.Dh / 2;
    for (index_t t = 0; t < c.T; ++t)
      for (index_t h = 0; h < c.heads; ++h)
        for (index_t k = 0; k < half; ++k) {
          if (s.inv(size_t(k)) != 0.0) continue;
          const size_t o = size_t((t * c.heads + h) * c.Dh);
          BOOST_TEST(y[o + size_t(k)] == x[o + size_t(k)]);
          BOOST_TEST(y[o + size_t(k + half)] == x[o + size_t(k + half)]);
          BOOST_TEST(yn[o + size_t(k)] == x[o + size_t(k)]);
        }
    BOOST_TEST_MESSAGE(fmt::format("rope {:<28} rel_l2 {:.2e} (naive {:.2e}) tol {:.2e}", c.name, e.rel_l2, en.rel_l2,
                                   tol));
  }
}

BOOST_AUTO_TEST_CASE(rms_norm_rope_against_reference) {
  const double eps = 1e-6;
  for (const RopeCase& c : kRopeCases) {
    const RopeSetup s = setup(c);
    const size_t n = size_t(c.T * c.heads * c.Dh);
    const auto x = normal(n, 0.0, 2.0, c.seed);
    const auto w = normal(size_t(c.Dh), 1.0, 0.5, c.seed + 100);
    const Vec wv = to_vec(w);
    for (bool weight : {true, false}) {
      const Mat ref = ops::rope(ops::rms_norm(to_mat(x, c.T, c.heads * c.Dh), weight ? &wv : nullptr, eps, c.Dh),
                                s.positions, s.inv, c.Dh);
      std::vector<float> yn(n);
      const float* wp = weight ? w.data() : nullptr;
      cpu::rms_norm_rope_naive(x.data(), wp, float(eps), yn.data(), s.p);
      const Err en = compare(yn.data(), ref.data(), n);
      const double tol = (2.0 * std::sqrt(double(c.Dh)) + 6.0 + 3.0 * std::sqrt(2.0)) * kU32;
      BOOST_TEST(en.rel_l2 <= tol, c.name << (weight ? "" : " (no w)") << ": naive " << describe(en) << " > " << tol);
      for (bool simd : {true, false}) {
        std::vector<float> y(n), inplace = x;
        cpu::rms_norm_rope(x.data(), wp, float(eps), y.data(), s.p, {simd});
        cpu::rms_norm_rope(inplace.data(), wp, float(eps), inplace.data(), s.p, {simd});
        const Err e = compare(y.data(), ref.data(), n);
        BOOST_TEST(e.rel_l2 <= tol, c.name << (weight ? "" : " (no w)") << (simd ? "" : " portable")
                                           << ": rms_norm_rope " << describe(e) << " > " << tol);
        BOOST_TEST((std::memcmp(inplace.data(), y.data(), n * 4) == 0), c.name << ": in-place result differs");
        if (weight)
          BOOST_TEST_MESSAGE(fmt::format("rms_norm_rope {:<28} {:<8} rel_l2 {:.2e} (naive {:.2e}) tol {:.2e}", c.name,
                                         simd ? "simd" : "portable", e.rel_l2, en.rel_l2, tol));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(shape_errors) {
  std::vector<float> x(8);
  BOOST_CHECK_THROW(cpu::rms_norm(x.data(), nullptr, x.data(), {1, 0, 1, 1e-6f}), g4::ShapeError);
  std::vector<std::int64_t> pos{5};
  std::vector<float> tab(4);
  cpu::RopeProblem p{1, 1, 4, pos.data(), tab.data(), tab.data(), 2};  // position 5 outside a 2-row table
  BOOST_CHECK_THROW(cpu::rope(x.data(), x.data(), p), g4::ShapeError);
  p.positions = nullptr;
  BOOST_CHECK_THROW(cpu::rope(x.data(), x.data(), p), g4::ShapeError);
  p.positions = pos.data(), p.head_dim = 3;  // odd head dim
  BOOST_CHECK_THROW(cpu::rms_norm_rope(x.data(), nullptr, 1e-6f, x.data(), p), g4::ShapeError);
}
