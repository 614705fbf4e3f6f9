// CUDA MoE experts in the SIMT simulator (optimized/cuda/ops.hpp moe_experts: plan kernel, the
// grouped tensor-core GEMMs with tokens gathered per expert, combine in expert order), against
// the float64 reference (reference/ops/moe.hpp route + experts) with the CPU executor's gate
// (ratio_rule.hpp). Baseline: the same computation through the GEMM facade's cuBLAS-rules
// backend, expert by expert on the gathered rows (same bf16 quantisation of x, weights and the
// hidden activations; exact accumulation), combined in fp32 in expert order. Policy: bf16.
// Also runs under the four schedules of sim_check.hpp (bitwise-identical output).
// Sizes: T 10 tokens, D 128, Fe 48 (not a multiple of the 64-wide tile), E 16 experts, top-4.
#define BOOST_TEST_MODULE test_cuda_moe
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "optimized/cuda/ops.hpp"
#include "reference/ops/moe.hpp"
#include "tests/optimized/cuda/ratio_rule.hpp"
#include "tests/optimized/cuda/sim_check.hpp"

using namespace g4;
using g4::cuda::test::gate;
using g4::cuda::test::rel_l2;

namespace {

std::vector<double> gaussian(std::size_t n, unsigned seed, double scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
std::vector<__nv_bfloat16> to_bf16(const std::vector<double>& v) {
  std::vector<__nv_bfloat16> b(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) b[i] = __float2bfloat16_rn(float(v[i]));
  return b;
}

}  // namespace

BOOST_AUTO_TEST_CASE(moe_experts_ratio_rule) {
  const int T = 10, D = 128, Fe = 48, E = 16, K = 4;
  const auto xd = gaussian(std::size_t(T) * D, 1, 1.0);
  const auto gud = gaussian(std::size_t(E) * 2 * Fe * D, 2, 1.0 / std::sqrt(double(D)));
  const auto dnd = gaussian(std::size_t(E) * D * Fe, 3, 1.0 / std::sqrt(double(Fe)));
  const auto ld = gaussian(std::size_t(T) * E, 4, 1.5);
  const auto x = to_bf16(xd), gu = to_bf16(gud), dn = to_bf16(dnd);

  Mat logits = Mat::from_shape({std::size_t(T), std::size_t(E)});
  std::copy(ld.begin(), ld.end(), logits.data());
  Vec pes = xt::ones<double>({std::size_t(E)});
  const ops::RouterOutput r = ops::route(logits, pes, K);
  std::vector<int> index(T * K);
  std::vector<float> weights(T * K);
  for (int i = 0; i < T * K; ++i) index[i] = int(r.index.data()[i]), weights[i] = float(r.weights.data()[i]);

  Mat xm = Mat::from_shape({std::size_t(T), std::size_t(D)});
  std::copy(xd.begin(), xd.end(), xm.data());
  const Mat ref = ops::experts(xm, r, gud, dnd, E, Fe);
  const std::vector<double> rv(ref.data(), ref.data() + ref.size());

  // Kernel.
  std::vector<int> offsets(E + 1), rows(T * K), slot_row(T * K);
  std::vector<__nv_bfloat16> h(std::size_t(T) * K * Fe);
  std::vector<float> y(std::size_t(T) * K * D), out(std::size_t(T) * D);
  const cuda::MoeScratch scratch{offsets.data(), rows.data(), slot_row.data(), h.data(), y.data()};
  const cuda::MoeShape shape{T, D, Fe, E, K};
  const std::string sched = g4sim::test::check_schedules([&] {
    std::fill(out.begin(), out.end(), std::numeric_limits<float>::quiet_NaN());
    std::fill(y.begin(), y.end(), std::numeric_limits<float>::quiet_NaN());
    cuda::moe_experts(x.data(), index.data(), weights.data(), gu.data(), dn.data(), out.data(), shape, scratch);
    return g4sim::test::bytes_of(out);
  });
  BOOST_TEST(sched.empty(), sched);
  BOOST_TEST(offsets[E] == T * K);

  // Baseline: per expert, the cuBLAS-rules facade on the gathered rows.
  std::vector<float> base(std::size_t(T) * D, 0.0f);
  std::vector<std::vector<float>> ys(T * K);
  for (int e = 0; e < E; ++e) {
    std::vector<int> toks;
    std::vector<int> slots;
    for (int t = 0; t < T; ++t)
      for (int j = 0; j < K; ++j)
        if (index[t * K + j] == e) toks.push_back(t), slots.push_back(t * K + j);
    if (toks.empty()) continue;
    const int n = int(toks.size());
    std::vector<__nv_bfloat16> xs(std::size_t(n) * D), hs(std::size_t(n) * Fe);
    for (int i = 0; i < n; ++i)
      for (int d = 0; d < D; ++d) xs[std::size_t(i) * D + d] = x[std::size_t(toks[i]) * D + d];
    const __nv_bfloat16* g = gu.data() + std::size_t(e) * 2 * Fe * D;
    cuda::gemm_bf16_gelu_gated<__nv_bfloat16>(cuda::GemmBackend::cublas, xs.data(), g, g + std::size_t(Fe) * D,
                                              hs.data(), cuda::GemmShape{n, Fe, D, 0, 0, 0});
    std::vector<float> yv(std::size_t(n) * D);
    cuda::gemm_bf16<float>(cuda::GemmBackend::cublas, hs.data(), dn.data() + std::size_t(e) * D * Fe, yv.data(),
                           cuda::GemmShape{n, D, Fe, 0, 0, 0});
    for (int i = 0; i < n; ++i) ys[slots[i]].assign(yv.begin() + std::size_t(i) * D, yv.begin() + std::size_t(i + 1) * D);
  }
  for (int t = 0; t < T; ++t) {
    std::vector<int> order(K);
    for (int j = 0; j < K; ++j) order[j] = j;
    std::sort(order.begin(), order.end(), [&](int a, int b) { return index[t * K + a] < index[t * K + b]; });
    for (int d = 0; d < D; ++d) {
      float acc = 0.0f;
      for (int j : order) acc += weights[t * K + j] * ys[t * K + j][d];
      base[std::size_t(t) * D + d] = acc;
    }
  }
  const auto g = gate(rel_l2(out, rv), rel_l2(base, rv), "bf16");
  BOOST_TEST_MESSAGE("moe_experts bf16: " << g.str());
  BOOST_TEST(g.pass, g.str());
}
