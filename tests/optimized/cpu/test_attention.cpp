// CPU attention kernels (optimized/cpu/attention.hpp) against the float64 reference
// (reference/ops/attention.hpp), on a declarative case table.
//
// Every case builds its mask with ops::build_mask (the array the reference uses; Sq < Skv: the
// last Sq positions, past = Skv − Sq) and feeds the same float32 values (K/V rounded to bf16
// first in the bf16 cases) to three computations:
//   ref    ops::attention in float64
//   naive  cpu::attention_naive, the plain two-pass float32 version
//   flash  cpu::attention under several tunings (tile sizes, key splits, threads, portable path)
// Tolerance: the ratio rule (DESIGN.md section 5, FlashAttention's rule):
//   rel_l2(flash) ≤ 2 · rel_l2(naive) + floor,   floor = u32 · sqrt(Dh),   u32 = 2^-24.
// Where from: both are float32 computations of the same formula; flash only reorders the sums
// (FMA chains over Dh, blocked sums over keys, the rescaling by exp(m_old − m_new)) and uses a
// ≤ 2-ulp exp, so its error is of the same order as naive's. The factor 2 is FlashAttention's;
// the floor covers cases where naive happens to be (nearly) exact, e.g. a single key, where the
// output is v itself: it is the size of one float32 dot product's rounding error over Dh terms
// under random-walk accumulation (Higham & Mary 2019, λ = 1), relative to its magnitude.
// Besides: fully masked query rows must be exact zeros, and the window hint / the thread count
// must not change a single bit (they only skip all-masked blocks / move tasks between threads).
#define BOOST_TEST_MODULE test_cpu_attention
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "optimized/cpu/attention.hpp"
#include "optimized/formats/bf16.hpp"
#include "reference/ops/attention.hpp"
#include "reference/ops/mask.hpp"

using namespace g4;
using text::Bidirectional;
using text::LayerType;

namespace {

constexpr double kU32 = 1.0 / 16777216.0;  // 2^-24, float32 unit roundoff

// bf16 storage of K/V: the project's conversions (round to nearest even; widening is exact).
std::uint16_t to_bf16(float f) { return formats::float_to_bf16(f); }
float from_bf16(std::uint16_t h) { return formats::bf16_to_float(h); }

struct Case {
  const char* name;
  index_t B, Sq, Skv, Nq, Nkv, Dh;
  LayerType type;
  index_t W;            // sliding window (sliding layers)
  index_t pad;          // left padding of the last batch row (keys 0..pad-1 are not tokens)
  index_t vis0, vis1;   // image tokens [vis0, vis1) in every row (vision-bidirectional), or 0, 0
  bool hint;            // pass W as the window hint
  bool bf16;            // K/V stored in bf16
  double score_std;     // std of the attention logits q·k (q ~ N(0, score_std²/Dh), k ~ N(0, 1))
  std::uint64_t seed;
};

// Aligned, odd prime, size 1, the mask edge cases, GQA groups, real Gemma 4 shapes.
const std::vector<Case> kCases = {
    // name                      B   Sq    Skv  Nq Nkv  Dh  type                 W  pad vis    hint  bf16  std  seed
    {"aligned_full",             1,  64,   64,  4, 2,   64, LayerType::kFull,     0,  0, 0, 0,  false, false, 3.0, 1},
    {"odd_prime_sliding",        2,  37,   37,  6, 3,   29, LayerType::kSliding, 11,  5, 0, 0,  true,  false, 3.0, 2},
    {"size_1",                   1,   1,    1,  1, 1,    1, LayerType::kFull,     0,  0, 0, 0,  false, false, 3.0, 3},
    {"window_W-1",               1,  70,   70,  2, 1,   32, LayerType::kSliding, 15,  0, 0, 0,  true,  false, 3.0, 4},
    {"window_W",                 1,  70,   70,  2, 1,   32, LayerType::kSliding, 16,  0, 0, 0,  true,  false, 3.0, 5},
    {"window_W+1",               1,  70,   70,  2, 1,   32, LayerType::kSliding, 17,  0, 0, 0,  true,  false, 3.0, 6},
    {"left_padding_full",        2,  24,   24,  4, 1,   16, LayerType::kFull,     0,  9, 0, 0,  false, false, 3.0, 7},
    {"left_padding_sliding",     2,  40,   40,  4, 2,   16, LayerType::kSliding,  6, 13, 0, 0,  true,  false, 3.0, 8},
    {"vision_block_gt_window",   2,  48,   48,  4, 2,   32, LayerType::kSliding,  8,  3, 10, 30, true, false, 3.0, 9},
    {"vision_full_layer",        1,  48,   48,  4, 2,   32, LayerType::kFull,     8,  0, 10, 30, false, false, 3.0, 10},
    {"gqa_group_6",              1,  33,   33,  6, 1,   24, LayerType::kFull,     0,  0, 0, 0,  false, false, 3.0, 11},
    {"gqa_group_1",              1,  33,   33,  4, 4,   24, LayerType::kFull,     0,  0, 0, 0,  false, false, 3.0, 12},
    {"dh_100_column_tails",      1,  45,   45,  4, 2,  100, LayerType::kFull,     0,  0, 0, 0,  false, false, 3.0, 24},
    {"large_logits",             1,  96,   96,  4, 1,   64, LayerType::kFull,     0,  0, 0, 0,  false, false, 16.0, 13},
    {"chunk_Sq3_Skv50",          2,   3,   50,  4, 2,   32, LayerType::kSliding, 20,  7, 0, 0,  true,  false, 3.0, 14},
    {"odd_prime_bf16",           2,  37,   37,  6, 3,   29, LayerType::kSliding, 11,  5, 0, 0,  true,  true,  3.0, 15},
    // Real Gemma 4 shapes.
    {"e2b_sliding_S512_W512",    1, 512,  512,  8, 1,  256, LayerType::kSliding, 512, 0, 0, 0,  true,  false, 3.0, 16},
    {"e2b_sliding_S512_bf16",    1, 512,  512,  8, 1,  256, LayerType::kSliding, 512, 0, 0, 0,  true,  true,  3.0, 17},
    {"31b_full_S128",            1, 128,  128, 32, 4,  512, LayerType::kFull,     0,  0, 0, 0,  false, false, 3.0, 18},
    {"e2b_decode_4097_W512",     1,   1, 4097,  8, 1,  256, LayerType::kSliding, 512, 0, 0, 0,  true,  false, 3.0, 19},
    {"e2b_decode_4097_W512_bf16",1,   1, 4097,  8, 1,  256, LayerType::kSliding, 512, 0, 0, 0,  true,  true,  3.0, 20},
    {"e2b_decode_4097_full",     1,   1, 4097,  8, 1,  512, LayerType::kFull,     0,  0, 0, 0,  false, false, 3.0, 21},
    {"31b_decode_4097_full",     1,   1, 4097, 32, 4,  512, LayerType::kFull,     0,  0, 0, 0,  false, false, 3.0, 22},
    {"31b_decode_4097_W1024",    1,   1, 4097, 32, 16, 256, LayerType::kSliding, 1024, 0, 0, 0, true, false, 3.0, 23},
};

struct Tuned {
  const char* name;
  cpu::AttentionTuning t;
};
// Default tiles; small tiles (many partial tiles, several query blocks); forced key splits with
// odd tiles; one thread; the portable (non-AVX-512) tile kernels.
const std::vector<Tuned> kTunings = {
    {"default", {}},
    {"rows8_kv8", {0, 8, 8, 0, true}},
    {"splits3_kv7", {2, 16, 7, 3, true}},
    {"threads1", {1, 64, 64, 1, true}},
    {"portable", {0, 64, 64, 0, false}},
};

struct Problem {
  Case c;
  cpu::AttentionProblem p;
  std::vector<std::uint8_t> allowed;          // [B, Sq, Skv]
  std::vector<float> q, k, v;                 // float32 (k, v already bf16-rounded if c.bf16)
  std::vector<std::uint16_t> kb, vb;          // bf16 bits (c.bf16)
};

Problem make(const Case& c) {
  Problem pr{c, {}, {}, {}, {}, {}, {}, {}};
  IdMat am = xt::ones<std::int64_t>({size_t(c.B), size_t(c.Skv)});
  for (index_t s = 0; s < c.pad; ++s) am(c.B - 1, s) = 0;
  IdMat block;
  if (c.vis1 > c.vis0) {
    IdMat types = xt::zeros<std::int64_t>({size_t(c.B), size_t(c.Skv)});
    for (index_t b = 0; b < c.B; ++b)
      for (index_t s = c.vis0; s < c.vis1; ++s) types(b, s) = 1;
    block = ops::vision_block_ids(types);
  }
  const Bidirectional bi = c.vis1 > c.vis0 ? Bidirectional::kVision : Bidirectional::kNone;
  pr.allowed = ops::build_mask({c.type, c.W, bi}, am, block, c.Skv - c.Sq);  // [B, Sq, Skv]
  std::mt19937_64 rng(c.seed);
  std::normal_distribution<double> n01(0.0, 1.0);
  const double qs = c.score_std / std::sqrt(double(c.Dh));
  pr.q.resize(size_t(c.B * c.Sq * c.Nq * c.Dh));
  pr.k.resize(size_t(c.B * c.Skv * c.Nkv * c.Dh));
  pr.v.resize(pr.k.size());
  for (auto& x : pr.q) x = float(qs * n01(rng));
  for (auto& x : pr.k) x = float(n01(rng));
  for (auto& x : pr.v) x = float(n01(rng));
  if (c.bf16) {
    pr.kb.resize(pr.k.size());
    pr.vb.resize(pr.v.size());
    for (size_t i = 0; i < pr.k.size(); ++i) pr.k[i] = from_bf16(pr.kb[i] = to_bf16(pr.k[i]));
    for (size_t i = 0; i < pr.v.size(); ++i) pr.v[i] = from_bf16(pr.vb[i] = to_bf16(pr.v[i]));
  }
  pr.p = {c.B, c.Sq, c.Skv, c.Nq, c.Nkv, c.Dh, 1.0f, pr.allowed.data(), c.hint ? c.W : 0};
  return pr;
}

Mat to_mat(const std::vector<float>& x, index_t r, index_t c) {
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  for (size_t i = 0; i < x.size(); ++i) m.data()[i] = x[i];
  return m;
}

std::vector<double> reference(const Problem& pr) {
  const auto& p = pr.p;
  const Mat o = ops::attention(to_mat(pr.q, p.B * p.Sq, p.Nq * p.Dh), to_mat(pr.k, p.B * p.Skv, p.Nkv * p.Dh),
                               to_mat(pr.v, p.B * p.Skv, p.Nkv * p.Dh), pr.allowed,
                               {p.B, p.Sq, p.Nq, p.Nkv, p.Dh, double(p.scaling), p.Skv}, nullptr);
  return {o.begin(), o.end()};
}

struct Err {
  double rel_l2 = 0, max_abs = 0;
  size_t worst = 0;
  double expected = 0, actual = 0;
};
Err compare(const std::vector<float>& x, const std::vector<double>& r) {
  Err e;
  double num = 0, den = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const double d = double(x[i]) - r[i];
    num += d * d;
    den += r[i] * r[i];
    if (!(std::abs(d) <= e.max_abs)) e.max_abs = std::abs(d), e.worst = i, e.expected = r[i], e.actual = x[i];
  }
  e.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return e;
}

std::vector<float> run_flash(const Problem& pr, const cpu::AttentionTuning& t, const cpu::AttentionProblem* p = nullptr) {
  const auto& pp = p ? *p : pr.p;
  std::vector<float> out(pr.q.size(), -777.0f);  // poison: every element must be written
  if (pr.c.bf16)
    cpu::attention(pr.q.data(), pr.kb.data(), pr.vb.data(), out.data(), pp, t);
  else
    cpu::attention(pr.q.data(), pr.k.data(), pr.v.data(), out.data(), pp, t);
  return out;
}

std::string repro(const Case& c) {
  return fmt::format("repro: attention case {} B={} Sq={} Skv={} Nq={} Nkv={} Dh={} W={} pad={} vision=[{},{}) hint={} "
                     "bf16={} seed={}",
                     c.name, c.B, c.Sq, c.Skv, c.Nq, c.Nkv, c.Dh, c.W, c.pad, c.vis0, c.vis1, c.hint, c.bf16, c.seed);
}

}  // namespace

BOOST_AUTO_TEST_CASE(flash_and_naive_against_reference) {
  BOOST_TEST_MESSAGE("attention tile kernels: " << cpu::attention_impl());
  for (const Case& c : kCases) {
    const Problem pr = make(c);
    const std::vector<double> ref = reference(pr);
    std::vector<float> naive(pr.q.size());
    if (c.bf16)
      cpu::attention_naive(pr.q.data(), pr.kb.data(), pr.vb.data(), naive.data(), pr.p);
    else
      cpu::attention_naive(pr.q.data(), pr.k.data(), pr.v.data(), naive.data(), pr.p);
    const Err en = compare(naive, ref);
    const double floor = kU32 * std::sqrt(double(c.Dh));
    const double bound = 2.0 * en.rel_l2 + floor;
    double worst_ratio = 0;
    for (const Tuned& tu : kTunings) {
      const std::vector<float> out = run_flash(pr, tu.t);
      const Err ef = compare(out, ref);
      worst_ratio = std::max(worst_ratio, ef.rel_l2 / std::max(en.rel_l2, 1e-300));
      BOOST_TEST(ef.rel_l2 <= bound, c.name << " [" << tu.name << "]: rel_l2 " << ef.rel_l2 << " > 2·naive "
                                            << en.rel_l2 << " + floor " << floor << "; worst element " << ef.worst
                                            << " expected " << ef.expected << " actual " << ef.actual << "; "
                                            << repro(c));
      // Fully masked query rows (left padding on full layers) are exact zeros.
      for (index_t r = 0; r < c.B * c.Sq; ++r) {
        bool any = false;
        for (index_t j = 0; j < c.Skv; ++j) any = any || pr.allowed[size_t(r * c.Skv + j)];
        if (any) continue;
        for (index_t x = 0; x < c.Nq * c.Dh; ++x)
          if (out[size_t(r * c.Nq * c.Dh + x)] != 0.0f) {
            BOOST_ERROR(c.name << " [" << tu.name << "]: fully masked row " << r << " has a nonzero; " << repro(c));
            break;
          }
      }
    }
    BOOST_TEST_MESSAGE(fmt::format("{:<27} naive rel_l2 {:.3e} (max abs {:.2e})  flash/naive worst {:.2f}  bound {:.3e}",
                                   c.name, en.rel_l2, en.max_abs, worst_ratio, bound));
  }
}

// Skipping all-masked key blocks (the window hint, the mask scan) and moving tasks between
// threads are exact no-ops: the result does not change by a single bit.
BOOST_AUTO_TEST_CASE(window_hint_and_threads_change_no_bit) {
  for (const char* name : {"odd_prime_sliding", "vision_block_gt_window", "e2b_decode_4097_W512", "chunk_Sq3_Skv50"}) {
    const Case& c = *std::find_if(kCases.begin(), kCases.end(), [&](const Case& x) { return std::string(x.name) == name; });
    const Problem pr = make(c);
    cpu::AttentionProblem no_hint = pr.p;
    no_hint.window = 0;
    for (int threads : {1, 2}) {
      const cpu::AttentionTuning t{threads, 16, 16, 1, true};
      const auto a = run_flash(pr, t), b = run_flash(pr, t, &no_hint);
      const auto one = run_flash(pr, {1, 16, 16, 1, true});
      BOOST_TEST((std::memcmp(a.data(), b.data(), a.size() * 4) == 0), name << ": hint changed bits, threads " << threads);
      BOOST_TEST((std::memcmp(a.data(), one.data(), a.size() * 4) == 0), name << ": thread count changed bits");
    }
  }
}

BOOST_AUTO_TEST_CASE(single_allowed_key_returns_its_value) {
  // Every row sees only key 0 (a mask of the caller's choosing): out = v[key 0] of its kv head.
  const index_t B = 1, S = 5, Nq = 4, Nkv = 2, Dh = 19;
  std::vector<std::uint8_t> allowed(size_t(B * S * S), 0);
  for (index_t i = 0; i < S; ++i) allowed[size_t(i * S)] = 1;
  std::vector<float> q(size_t(S * Nq * Dh)), k(size_t(S * Nkv * Dh)), v(k.size()), out(q.size());
  std::mt19937_64 rng(5);
  std::normal_distribution<float> n01;
  for (auto* x : {&q, &k, &v})
    for (auto& e : *x) e = n01(rng);
  const cpu::AttentionProblem p{B, S, S, Nq, Nkv, Dh, 1.0f, allowed.data(), 0};
  for (bool simd : {true, false}) {
    cpu::attention(q.data(), k.data(), v.data(), out.data(), p, {0, 64, 64, 0, simd});
    for (index_t i = 0; i < S; ++i)
      for (index_t h = 0; h < Nq; ++h)
        for (index_t d = 0; d < Dh; ++d) BOOST_TEST(out[size_t((i * Nq + h) * Dh + d)] == v[size_t((h / 2) * Dh + d)]);
  }
}

// allowed == nullptr means every key is allowed (bidirectional): the same bits as an all-ones
// mask. Skv = 0 (nothing to attend to) gives zeros, as a fully masked row does.
BOOST_AUTO_TEST_CASE(null_mask_and_no_keys) {
  const index_t B = 2, Sq = 9, Skv = 21, Nq = 4, Nkv = 2, Dh = 40;
  std::vector<float> q(size_t(B * Sq * Nq * Dh)), k(size_t(B * Skv * Nkv * Dh)), v(k.size());
  std::mt19937_64 rng(8);
  std::normal_distribution<float> n01;
  for (auto* x : {&q, &k, &v})
    for (auto& e : *x) e = n01(rng);
  std::vector<std::uint8_t> ones(size_t(B * Sq * Skv), 1);
  for (bool simd : {true, false}) {
    std::vector<float> a(q.size()), b(q.size());
    cpu::attention(q.data(), k.data(), v.data(), a.data(), {B, Sq, Skv, Nq, Nkv, Dh, 1.0f, nullptr, 0}, {0, 64, 8, 0, simd});
    cpu::attention(q.data(), k.data(), v.data(), b.data(), {B, Sq, Skv, Nq, Nkv, Dh, 1.0f, ones.data(), 0},
                   {0, 64, 8, 0, simd});
    BOOST_TEST((std::memcmp(a.data(), b.data(), a.size() * 4) == 0));
    std::vector<float> z(q.size(), 5.0f), zn(q.size(), 5.0f);
    cpu::attention(q.data(), k.data(), v.data(), z.data(), {B, Sq, 0, Nq, Nkv, Dh, 1.0f, nullptr, 0}, {0, 64, 8, 0, simd});
    cpu::attention_naive(q.data(), k.data(), v.data(), zn.data(), {B, Sq, 0, Nq, Nkv, Dh, 1.0f, nullptr, 0});
    for (size_t i = 0; i < z.size(); ++i) {
      BOOST_TEST(z[i] == 0.0f);
      BOOST_TEST(zn[i] == 0.0f);
    }
  }
}

// A decode step over a preallocated K/V buffer longer than the context (keys ≥ ctx are junk the
// mask disallows): with q_offset set, the window hint skips the right blocks, and the result is
// bit for bit the one on the buffer cut to the context.
BOOST_AUTO_TEST_CASE(q_offset_with_a_longer_kv_buffer) {
  const index_t cap = 100, ctx = 60, Nq = 4, Nkv = 2, Dh = 32, W = 20;
  std::vector<float> q(size_t(Nq * Dh)), k(size_t(cap * Nkv * Dh)), v(k.size());
  std::mt19937_64 rng(10);
  std::normal_distribution<float> n01;
  for (auto* x : {&q, &k, &v})
    for (auto& e : *x) e = n01(rng);
  std::vector<std::uint8_t> allowed(size_t(cap), 0);
  for (index_t j = ctx - W; j < ctx; ++j) allowed[size_t(j)] = 1;  // q at position ctx − 1 sees W keys
  const cpu::AttentionTuning t{0, 64, 8, 1, true};
  std::vector<float> a(q.size()), b(q.size()), c(q.size());
  cpu::AttentionProblem p{1, 1, cap, Nq, Nkv, Dh, 1.0f, allowed.data(), W, ctx - 1};
  cpu::attention(q.data(), k.data(), v.data(), a.data(), p, t);
  p.window = 0, p.q_offset = -1;
  cpu::attention(q.data(), k.data(), v.data(), b.data(), p, t);
  cpu::attention(q.data(), k.data(), v.data(), c.data(), {1, 1, ctx, Nq, Nkv, Dh, 1.0f, allowed.data(), W}, t);
  BOOST_TEST((std::memcmp(a.data(), b.data(), a.size() * 4) == 0));
  BOOST_TEST((std::memcmp(a.data(), c.data(), a.size() * 4) == 0));
}

BOOST_AUTO_TEST_CASE(shape_errors) {
  std::vector<float> x(64);
  const cpu::AttentionProblem p{1, 2, 2, 3, 2, 4, 1.0f, nullptr, 0};  // Nq % Nkv != 0
  BOOST_CHECK_THROW(cpu::attention(x.data(), x.data(), x.data(), x.data(), p), g4::ShapeError);
  BOOST_CHECK_THROW(cpu::attention_naive(x.data(), x.data(), x.data(), x.data(), p), g4::ShapeError);
}
