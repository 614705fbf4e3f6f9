// CUDA add_rms_norm and rope kernels in the SIMT simulator, against the float64 reference ops
// (reference/ops/rms_norm.hpp, rope.hpp) with the CPU executor's per-op gate (ratio_rule.hpp):
// the baseline is the CPU executor's naive float32 twin (optimized/cpu norm_rope) fed the same
// storage-rounded inputs, with the same storage rounding of its outputs. Policies: fp32 storage
// and bf16 storage. Every case also reruns under the four schedules of sim_check.hpp (bitwise
// identical output required, outputs NaN-poisoned before each launch).
// Sizes (simulation is ~1e7 threads/s; a 256-thread barrier ~16 us):
//   add_rms_norm: [2 x 1536] with residual and weight (hidden size of the small Gemma 4),
//                 [3 x 4·256] per-head (q_norm), [2 x 2·300] with no residual and no weight
//                 (v_norm; 300 is not a multiple of the block);
//   rope:         default θ = 1e4, [5 x 3·256]; proportional θ = 1e6, p = 0.25, [4 x 2·512].
#define BOOST_TEST_MODULE test_cuda_norm_rope
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "optimized/cpu/norm_rope.hpp"
#include "optimized/cuda/ops.hpp"
#include "reference/ops/rms_norm.hpp"
#include "reference/ops/rope.hpp"
#include "tests/optimized/cuda/ratio_rule.hpp"
#include "tests/optimized/cuda/sim_check.hpp"

using namespace g4;
using g4::cuda::test::gate;
using g4::cuda::test::rel_l2;

namespace {

template <class T>
T store(float v);
template <>
float store<float>(float v) { return v; }
template <>
__nv_bfloat16 store<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
float load(float v) { return v; }
float load(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
const char* policy_name() {
  return std::is_same_v<T, float> ? "fp32" : "bf16";
}

std::vector<double> gaussian(std::size_t n, unsigned seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct NormCase {
  const char* name;
  int rows, groups, dim;
  bool residual, weight;
};

template <class T>
void check_norm(const NormCase& c) {
  const std::size_t n = std::size_t(c.rows) * c.groups * c.dim;
  const auto xd = gaussian(n, 11 + c.dim, 2.0), rd = gaussian(n, 23 + c.dim, 1.0);
  std::vector<float> w(c.dim);
  for (int i = 0; i < c.dim; ++i) w[i] = 0.5f + float((i * 37) % 64) / 64.0f;

  // Storage-rounded inputs (what the kernel and its naive twin get).
  std::vector<T> x(n), r(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = store<T>(float(xd[i])), r[i] = store<T>(float(rd[i]));

  // float64 reference on the unrounded inputs.
  Mat s_ref = Mat::from_shape({std::size_t(c.rows), std::size_t(c.groups) * c.dim});
  for (std::size_t i = 0; i < n; ++i) s_ref.data()[i] = xd[i] + (c.residual ? rd[i] : 0.0);
  Vec wv = xt::zeros<double>({std::size_t(c.dim)});
  for (int i = 0; i < c.dim; ++i) wv(i) = w[i];
  const Mat y_ref = ops::rms_norm(s_ref, c.weight ? &wv : nullptr, 1e-6, c.dim);
  std::vector<double> yr(y_ref.data(), y_ref.data() + n), sr(s_ref.data(), s_ref.data() + n);

  // Naive twin: float32 sum rounded to storage, sequential float32 norm, output rounded.
  std::vector<float> sn(n), yn(n);
  for (std::size_t i = 0; i < n; ++i) sn[i] = load(store<T>(load(x[i]) + (c.residual ? load(r[i]) : 0.0f)));
  const cpu::RmsNormProblem p{c.rows, c.dim, c.groups, 1e-6f};
  cpu::rms_norm_naive(sn.data(), c.weight ? w.data() : nullptr, yn.data(), p);
  for (auto& v : yn) v = load(store<T>(v));

  // Kernel, under every schedule.
  std::vector<T> sum(n), y(n);
  const T nan = store<T>(std::numeric_limits<float>::quiet_NaN());
  const cuda::RmsNormShape shape{c.rows, c.groups, c.dim, 1e-6f};
  const std::string sched = g4sim::test::check_schedules(
      [&] {
        std::fill(y.begin(), y.end(), nan);
        std::fill(sum.begin(), sum.end(), nan);
        cuda::add_rms_norm<T>(x.data(), c.residual ? r.data() : nullptr, c.weight ? w.data() : nullptr, sum.data(),
                              y.data(), shape);
        std::vector<float> out;
        for (std::size_t i = 0; i < n; ++i) out.push_back(load(y[i]));
        if (c.residual)
          for (std::size_t i = 0; i < n; ++i) out.push_back(load(sum[i]));
        return g4sim::test::bytes_of(out);
      });
  BOOST_TEST(sched.empty(), c.name << ": " << sched);

  std::vector<float> yk(n), sk(n);
  for (std::size_t i = 0; i < n; ++i) yk[i] = load(y[i]), sk[i] = load(sum[i]);
  const auto gy = gate(rel_l2(yk, yr), rel_l2(yn, yr), policy_name<T>());
  BOOST_TEST_MESSAGE(policy_name<T>() << " add_rms_norm " << c.name << " y: " << gy.str());
  BOOST_TEST(gy.pass, c.name << " y: " << gy.str());
  if (c.residual) {
    const auto gs = gate(rel_l2(sk, sr), rel_l2(sn, sr), policy_name<T>());
    BOOST_TEST_MESSAGE(policy_name<T>() << " add_rms_norm " << c.name << " sum: " << gs.str());
    BOOST_TEST(gs.pass, c.name << " sum: " << gs.str());
  }
}

struct RopeCase {
  const char* name;
  text::RopeParams params;
  int rows, heads, head_dim, max_pos;
};

template <class T>
void check_rope(const RopeCase& c) {
  const std::size_t n = std::size_t(c.rows) * c.heads * c.head_dim;
  const int half = c.head_dim / 2;
  const auto xd = gaussian(n, 5 + c.head_dim, 1.0);
  std::vector<index_t> pos_ref(c.rows);
  std::vector<long long> pos(c.rows);
  for (int t = 0; t < c.rows; ++t) pos[t] = pos_ref[t] = (t * 977 + 13) % c.max_pos;
  const Vec inv = ops::rope_inv_freq(c.params, c.head_dim);
  std::vector<float> cos_t(std::size_t(c.max_pos) * half), sin_t(cos_t.size());
  cpu::rope_table(inv.data(), half, c.max_pos, cos_t.data(), sin_t.data());

  std::vector<T> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = store<T>(float(xd[i]));
  Mat xm = Mat::from_shape({std::size_t(c.rows), std::size_t(c.heads) * c.head_dim});
  std::copy(xd.begin(), xd.end(), xm.data());
  const Mat ym = ops::rope(xm, pos_ref, inv, c.head_dim);
  std::vector<double> yr(ym.data(), ym.data() + n);

  std::vector<float> xf(n), yn(n);
  for (std::size_t i = 0; i < n; ++i) xf[i] = load(x[i]);
  std::vector<std::int64_t> pos64(pos.begin(), pos.end());
  const cpu::RopeProblem p{c.rows, c.heads, c.head_dim, pos64.data(), cos_t.data(), sin_t.data(), c.max_pos};
  cpu::rope_naive(xf.data(), yn.data(), p);
  for (auto& v : yn) v = load(store<T>(v));

  std::vector<T> y(n);
  const cuda::RopeShape shape{c.rows, c.heads, c.head_dim, c.max_pos};
  const std::string sched = g4sim::test::check_schedules([&] {
    std::fill(y.begin(), y.end(), store<T>(std::numeric_limits<float>::quiet_NaN()));
    cuda::rope<T>(x.data(), y.data(), pos.data(), cos_t.data(), sin_t.data(), shape);
    std::vector<float> out;
    for (auto v : y) out.push_back(load(v));
    return g4sim::test::bytes_of(out);
  });
  BOOST_TEST(sched.empty(), c.name << ": " << sched);
  std::vector<float> yk(n);
  for (std::size_t i = 0; i < n; ++i) yk[i] = load(y[i]);
  const auto g = gate(rel_l2(yk, yr), rel_l2(yn, yr), policy_name<T>());
  BOOST_TEST_MESSAGE(policy_name<T>() << " rope " << c.name << ": " << g.str());
  BOOST_TEST(g.pass, c.name << ": " << g.str());

  // Proportional RoPE: the unrotated dims pass through bit-unchanged.
  if (c.params.type == text::RopeType::kProportional) {
    const int n_rot = int(std::floor(c.params.partial_rotary_factor * c.head_dim / 2.0));
    bool same = true;
    for (int t = 0; t < c.rows; ++t)
      for (int h = 0; h < c.heads; ++h)
        for (int k = n_rot; k < half; ++k) {
          const std::size_t o = (std::size_t(t) * c.heads + h) * c.head_dim;
          same &= std::memcmp(&y[o + k], &x[o + k], sizeof(T)) == 0 &&
                  std::memcmp(&y[o + k + half], &x[o + k + half], sizeof(T)) == 0;
        }
    BOOST_TEST(same, c.name << ": unrotated dims changed");
  }
}

const NormCase kNormCases[] = {
    {"hidden_1536_residual", 2, 1, 1536, true, true},
    {"per_head_4x256", 3, 4, 256, true, true},
    {"v_norm_2x300_no_weight", 2, 2, 300, false, false},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_sim_norm_rope)

BOOST_AUTO_TEST_CASE(add_rms_norm_fp32) {
  for (const auto& c : kNormCases) check_norm<float>(c);
}
BOOST_AUTO_TEST_CASE(add_rms_norm_bf16) {
  for (const auto& c : kNormCases) check_norm<__nv_bfloat16>(c);
}

BOOST_AUTO_TEST_CASE(rope_default_and_proportional) {
  text::RopeParams def;
  def.theta = 10000.0;
  text::RopeParams prop;
  prop.type = text::RopeType::kProportional;
  prop.theta = 1e6;
  prop.partial_rotary_factor = 0.25;
  const RopeCase cases[] = {{"default_3x256", def, 5, 3, 256, 4096}, {"proportional_2x512", prop, 4, 2, 512, 4096}};
  for (const auto& c : cases) {
    check_rope<float>(c);
    check_rope<__nv_bfloat16>(c);
  }
}

BOOST_AUTO_TEST_SUITE_END()
