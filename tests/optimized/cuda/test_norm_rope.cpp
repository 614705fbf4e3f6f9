// CUDA add_rms_norm and rope kernels in the SIMT simulator, against the float64 reference ops
// (reference/ops/rms_norm.hpp, rope.hpp) with the CPU executor's per-op gate (ratio_rule.hpp):
// the baseline is the CPU executor's naive float32 twin (optimized/cpu norm_rope) fed the same
// storage-rounded inputs, with the same storage rounding of its outputs. Policies: fp32, bf16 and
// fp16 storage (the same cases for each). Every case also reruns under the four schedules of sim_check.hpp (bitwise
// identical output required, outputs NaN-poisoned before each launch).
// Sizes (simulation is ~1e7 threads/s; a 256-thread barrier ~16 us):
//   add_rms_norm: [2 x 1536] with residual and weight (hidden size of the small Gemma 4),
//                 [3 x 4·256] per-head (q_norm), [2 x 2·300] with no residual and no weight
//                 (v_norm; 300 is not a multiple of the block);
//   rope:         default θ = 1e4, [5 x 3·256]; proportional θ = 1e6, p = 0.25, [4 x 2·512];
//   fp16 residual overflow: [2 x 256] sums near ±65504 (see add_rms_norm_fp16_overflow).
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
#include "optimized/formats/fp16.hpp"
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
template <>
__half store<__half>(float v) { return __float2half_rn(v); }
float load(float v) { return v; }
float load(__nv_bfloat16 v) { return __bfloat162float(v); }
float load(__half v) { return __half2float(v); }

template <class T>
const char* policy_name() {
  return std::is_same_v<T, float> ? "fp32" : std::is_same_v<T, __half> ? "fp16" : "bf16";
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
BOOST_AUTO_TEST_CASE(add_rms_norm_fp16) {
  for (const auto& c : kNormCases) check_norm<__half>(c);
}

// fp16 residual stream at the top of the range. x = ±65504 everywhere, r cycles through values
// that put x + r just below the 65520 tie (-> 65504), on a tie between two fp16 values (-> the even
// one), on the overflow tie (-> ±inf) and beyond. The stored sum must be the CPU executor's add
// node (formats::float_to_fp16 of the float32 sum, IEEE: ±inf, no saturation); y is the norm of
// the stored sum, as the CPU's unfused add -> rms_norm: row 0 holds no inf (y within one fp16 ulp
// of rms_norm_naive on the same sums), row 1 holds ±inf, so Σ sum² = inf, 1/√ = 0 and y is NaN at
// the infs and ±0 elsewhere, exactly as rms_norm_naive gives.
BOOST_AUTO_TEST_CASE(add_rms_norm_fp16_overflow) {
  const int rows = 2, dim = 256;
  const float r_cycle[] = {15.9921875f, -16.0f, 0.0f, -8.0f, -2048.0f, 7.5f};  // row 0: no overflow
  std::vector<__half> x(std::size_t(rows) * dim), r(x.size()), sum(x.size()), y(x.size());
  std::vector<float> w(dim);
  for (int i = 0; i < dim; ++i) w[i] = 0.5f + float((i * 37) % 64) / 64.0f;
  for (int row = 0; row < rows; ++row)
    for (int i = 0; i < dim; ++i) {
      const std::size_t o = std::size_t(row) * dim + i;
      const float sign = i % 4 == 3 ? -1.0f : 1.0f;
      x[o] = __float2half_rn(sign * 65504.0f);
      r[o] = __float2half_rn(sign * r_cycle[i % 6]);
    }
  r[std::size_t(dim) + 5] = __float2half_rn(16.0f);      // 65504 + 16 = 65520: the tie -> +inf
  r[std::size_t(dim) + 7] = __float2half_rn(-32.0f);     // -65504 - 32 -> -inf
  r[std::size_t(dim) + 12] = __float2half_rn(65504.0f);  // 131008 -> +inf
  std::fill(sum.begin(), sum.end(), __float2half_rn(12345.0f));  // a sentinel no output can equal
  std::fill(y.begin(), y.end(), __float2half_rn(12345.0f));
  const cuda::RmsNormShape shape{rows, 1, dim, 1e-6f};
  cuda::add_rms_norm<__half>(x.data(), r.data(), w.data(), sum.data(), y.data(), shape);

  std::vector<float> sf(x.size()), yc(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::uint16_t cpu = formats::float_to_fp16(__half2float(x[i]) + __half2float(r[i]));
    BOOST_TEST_REQUIRE(__half_as_ushort(sum[i]) == cpu, "sum " << i << ": " << std::hex << __half_as_ushort(sum[i])
                                                                << " vs the CPU's " << cpu);
    sf[i] = formats::fp16_to_float(cpu);
  }
  BOOST_TEST(__half_as_ushort(sum[0]) == 0x7BFF);         // 65519.99 -> 65504
  BOOST_TEST(__half_as_ushort(sum[1]) == 0x7BFE);         // 65488: tie -> even 65472
  BOOST_TEST(__half_as_ushort(sum[dim + 5]) == 0x7C00);   // +inf
  BOOST_TEST(__half_as_ushort(sum[dim + 7]) == 0xFC00);   // -inf
  BOOST_TEST(__half_as_ushort(sum[dim + 12]) == 0x7C00);  // +inf
  cpu::rms_norm_naive(sf.data(), w.data(), yc.data(), cpu::RmsNormProblem{rows, dim, 1, 1e-6f});
  for (int i = 0; i < dim; ++i) {  // row 0: finite, one fp16 ulp (2^-10 relative) at most
    BOOST_TEST_REQUIRE(std::isfinite(sf[i]));
    const float got = __half2float(y[i]), want = __half2float(__float2half_rn(yc[i]));
    BOOST_TEST_REQUIRE(std::abs(got - want) <= std::ldexp(std::abs(want), -10),
                       "row 0 y " << i << ": " << got << " vs " << want);
  }
  for (int i = dim; i < 2 * dim; ++i) {  // row 1: NaN at the infs, ±0 elsewhere, as the CPU
    const float got = __half2float(y[i]);
    BOOST_TEST_REQUIRE(std::isnan(yc[i]) == std::isinf(sf[i]));
    if (std::isnan(yc[i])) BOOST_TEST_REQUIRE(std::isnan(got), "row 1 y " << i - dim);
    else BOOST_TEST_REQUIRE((got == 0.0f && std::signbit(got) == std::signbit(yc[i])),
                            "row 1 y " << i - dim << ": " << got);
  }
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
    check_rope<__half>(c);
  }
}

BOOST_AUTO_TEST_SUITE_END()
