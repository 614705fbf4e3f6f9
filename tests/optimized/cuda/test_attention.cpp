// CUDA flash attention in the SIMT simulator (optimized/cuda/ops.hpp attention), against the
// float64 reference (reference/ops/attention.hpp with masks from ops::build_mask) with the CPU
// executor's gate (ratio_rule.hpp); baseline: the CPU executor's naive two-pass float32 twin
// (optimized/cpu attention_naive) on the same storage-rounded inputs. Policies: fp32, bf16 and
// fp16 storage of q, k, v and the output (fp16 K/V reach the naive twin widened to float32, exact,
// as the CPU executor passes them). Every case also runs under the four schedules of
// sim_check.hpp (bitwise-identical, NaN-poisoned outputs fully written).
// Cases (sizes kept small: one warp per (query, head), 128-thread blocks):
//   prefill_causal_gqa   B 1, S 20, Nq 4, Nkv 2, Dh 256, full (causal) layer
//   sliding_padded       B 2, S 24, Nq 2, Nkv 1, Dh 128, sliding window 8, batch 1 left-padded by
//                        3 keys (its first three query rows see no key: zero output)
//   decode_k_eq_v        B 1, Sq 1, Skv 33 (32 cached), Nq 8, Nkv 1, Dh 512, v = k (k_eq_v
//                        layers; a shared K/V source is the same call with another layer's buffers)
#define BOOST_TEST_MODULE test_cuda_attention
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "optimized/cpu/attention.hpp"
#include "optimized/cuda/ops.hpp"
#include "reference/ops/attention.hpp"
#include "reference/ops/mask.hpp"
#include "tests/optimized/cuda/ratio_rule.hpp"
#include "tests/optimized/cuda/sim_check.hpp"

using namespace g4;
using g4::cuda::test::gate;
using g4::cuda::test::rel_l2;

namespace {

struct Case {
  const char* name;
  int B, Sq, past, Nq, Nkv, Dh;
  text::LayerType type;
  int window, left_pad;
  bool k_eq_v;
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
  if constexpr (std::is_same_v<T, float>) return v;
  else if constexpr (std::is_same_v<T, __half>) return __float2half_rn(v);
  else return __float2bfloat16_rn(v);
}
float load(float v) { return v; }
float load(__nv_bfloat16 v) { return __bfloat162float(v); }
float load(__half v) { return __half2float(v); }

template <class T>
void check(const Case& c) {
  const int Skv = c.past + c.Sq;
  const std::size_t nq = std::size_t(c.B) * c.Sq * c.Nq * c.Dh, nk = std::size_t(c.B) * Skv * c.Nkv * c.Dh;
  const auto qd = gaussian(nq, 1 + c.Dh, 1.0);
  const auto kd = gaussian(nk, 2 + c.Dh, 1.0 / std::sqrt(double(c.Dh)) * 3.0);
  const auto vd = c.k_eq_v ? kd : gaussian(nk, 3 + c.Dh, 1.0);

  // Mask: the reference's own builder.
  IdMat am = IdMat::from_shape({std::size_t(c.B), std::size_t(Skv)});
  for (int b = 0; b < c.B; ++b)
    for (int j = 0; j < Skv; ++j) am(b, j) = (b == c.B - 1 && j < c.left_pad) ? 0 : 1;
  ops::MaskSpec ms;
  ms.type = c.type;
  ms.window = c.window;
  const std::vector<std::uint8_t> allowed = ops::build_mask(ms, am, IdMat{}, c.past);

  // Storage-rounded inputs; the float64 reference gets the unrounded ones.
  std::vector<T> q(nq), k(nk), v(nk);
  for (std::size_t i = 0; i < nq; ++i) q[i] = store<T>(float(qd[i]));
  for (std::size_t i = 0; i < nk; ++i) k[i] = store<T>(float(kd[i])), v[i] = store<T>(float(vd[i]));
  auto to_mat = [](const std::vector<double>& x, std::size_t r, std::size_t cc) {
    Mat m = Mat::from_shape({r, cc});
    std::copy(x.begin(), x.end(), m.data());
    return m;
  };
  ops::AttentionShape as;
  as.B = c.B;
  as.S = c.Sq;
  as.Nq = c.Nq;
  as.Nkv = c.Nkv;
  as.Dh = c.Dh;
  as.Skv = Skv;
  const Mat ref = ops::attention(to_mat(qd, std::size_t(c.B) * c.Sq, std::size_t(c.Nq) * c.Dh),
                                 to_mat(kd, std::size_t(c.B) * Skv, std::size_t(c.Nkv) * c.Dh),
                                 to_mat(vd, std::size_t(c.B) * Skv, std::size_t(c.Nkv) * c.Dh), allowed, as, nullptr);
  const std::vector<double> r(ref.data(), ref.data() + nq);

  // Naive twin on the same rounded inputs.
  cpu::AttentionProblem p;
  p.B = c.B;
  p.Sq = c.Sq;
  p.Skv = Skv;
  p.Nq = c.Nq;
  p.Nkv = c.Nkv;
  p.Dh = c.Dh;
  p.allowed = allowed.data();
  std::vector<float> qf(nq), naive(nq);
  for (std::size_t i = 0; i < nq; ++i) qf[i] = load(q[i]);
  if constexpr (std::is_same_v<T, float>) {
    cpu::attention_naive(qf.data(), k.data(), v.data(), naive.data(), p);
  } else if constexpr (std::is_same_v<T, __half>) {
    std::vector<float> kf(nk), vf(nk);
    for (std::size_t i = 0; i < nk; ++i) kf[i] = load(k[i]), vf[i] = load(v[i]);
    cpu::attention_naive(qf.data(), kf.data(), vf.data(), naive.data(), p);
  } else {
    std::vector<std::uint16_t> kb(nk), vb(nk);
    std::memcpy(kb.data(), k.data(), nk * 2);
    std::memcpy(vb.data(), v.data(), nk * 2);
    cpu::attention_naive(qf.data(), kb.data(), vb.data(), naive.data(), p);
  }
  for (auto& x : naive) x = load(store<T>(x));

  std::vector<T> out(nq);
  const cuda::AttentionShape s{c.B, c.Sq, Skv, c.Nq, c.Nkv, c.Dh, 1.0f};
  const std::string sched = g4sim::test::check_schedules([&] {
    std::fill(out.begin(), out.end(), store<T>(std::numeric_limits<float>::quiet_NaN()));
    cuda::attention<T>(q.data(), k.data(), c.k_eq_v ? k.data() : v.data(), out.data(), allowed.data(), s);
    std::vector<float> f;
    for (auto x : out) f.push_back(load(x));
    return g4sim::test::bytes_of(f);
  });
  BOOST_TEST(sched.empty(), c.name << ": " << sched);
  std::vector<float> o(nq);
  for (std::size_t i = 0; i < nq; ++i) o[i] = load(out[i]);
  const char* pol = std::is_same_v<T, float> ? "fp32" : std::is_same_v<T, __half> ? "fp16" : "bf16";
  const auto g = gate(rel_l2(o, r), rel_l2(naive, r), pol);
  BOOST_TEST_MESSAGE(pol << " attention " << c.name << ": " << g.str());
  BOOST_TEST(g.pass, c.name << ": " << g.str());
  if (c.left_pad > 0) {  // rows with no allowed key are exactly zero
    const int b = c.B - 1;
    for (int i = 0; i < c.left_pad; ++i)
      for (int e = 0; e < c.Nq * c.Dh; ++e) BOOST_TEST(o[(std::size_t(b) * c.Sq + i) * c.Nq * c.Dh + e] == 0.0f);
  }
}

const Case kCases[] = {
    {"prefill_causal_gqa", 1, 20, 0, 4, 2, 256, text::LayerType::kFull, 0, 0, false},
    {"sliding_padded", 2, 24, 0, 2, 1, 128, text::LayerType::kSliding, 8, 3, false},
    {"decode_k_eq_v", 1, 1, 32, 8, 1, 512, text::LayerType::kFull, 0, 0, true},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_sim_attention)

BOOST_AUTO_TEST_CASE(attention_fp32) {
  for (const auto& c : kCases) check<float>(c);
}
BOOST_AUTO_TEST_CASE(attention_bf16) {
  for (const auto& c : kCases) check<__nv_bfloat16>(c);
}
BOOST_AUTO_TEST_CASE(attention_fp16) {
  for (const auto& c : kCases) check<__half>(c);
}

BOOST_AUTO_TEST_SUITE_END()
