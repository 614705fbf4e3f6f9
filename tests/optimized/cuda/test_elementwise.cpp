// Small CUDA kernels in the SIMT simulator (optimized/cuda/kernels/elementwise.cuh):
//   quantise / dequantise  bf16, fp16 (float <-> 16-bit) and the per-row scaled int8, fp8 e4m3,
//                          fp8 e5m2: BIT-EXACT against optimized/formats (codes, scales, values),
//                          including a zero row, a row with a NaN, saturating values and ties,
//                          and the int4 group quantiser (symmetric / asymmetric, odd groups, odd K);
//   softcap                ratio rule (k = 3: tanh in the path) vs the CPU naive twin, fp32
//                          ceiling, against reference/ops/activations.hpp; bf16 and fp16 storage:
//                          the naive twin on the same 16-bit inputs, its output rounded once to
//                          the storage type, the policy's ceiling;
//   MoE router             expert ids identical to reference/ops/moe.hpp route; weights and probs
//                          by the ratio rule against the CPU executor's route (fp32);
//   per-layer inputs       ratio rule against a sequential float32 twin, fp32, bf16 and fp16
//                          tables.
// Every kernel also runs under the four schedules of sim_check.hpp.
// Sizes: rows of 300 and 1000 values (not multiples of the 256-thread block); router T 9,
// E 128, K 8 (26B-A4B's routing); PLE T 3, L 4, P 256, D 1536.
#define BOOST_TEST_MODULE test_cuda_elementwise
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "optimized/cpu/elementwise.hpp"
#include "optimized/cuda/ops.hpp"
#include "optimized/formats/bf16.hpp"
#include "optimized/formats/fp16.hpp"
#include "optimized/formats/fp8.hpp"
#include "optimized/formats/int4.hpp"
#include "optimized/formats/int8.hpp"
#include "reference/ops/activations.hpp"
#include "reference/ops/moe.hpp"
#include "reference/ops/rms_norm.hpp"
#include "tests/optimized/cuda/ratio_rule.hpp"
#include "tests/optimized/cuda/sim_check.hpp"

using namespace g4;
using g4::cuda::test::gate;
using g4::cuda::test::rel_l2;
using g4sim::test::bytes_of;
using g4sim::test::check_schedules;

namespace {

std::vector<float> gaussian_f(std::size_t n, unsigned seed, double scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = float(d(rng));
  return v;
}

// Rows: 0 random, 1 all zero, 2 with a NaN, 3 wide dynamic range (saturation, subnormal codes),
// 4 exact multiples of scale/2 (ties).
std::vector<float> quant_rows(int cols) {
  std::vector<float> x = gaussian_f(std::size_t(5) * cols, 77, 3.0);
  for (int j = 0; j < cols; ++j) {
    x[std::size_t(cols) + j] = 0.0f;
    x[std::size_t(3) * cols + j] = std::ldexp(x[std::size_t(3) * cols + j], (j % 40) - 20);
    x[std::size_t(4) * cols + j] = 0.5f * float((j % 255) - 127);  // amax 63.5: x/scale = j-ish halves
  }
  x[std::size_t(2) * cols + 7] = std::numeric_limits<float>::quiet_NaN();
  return x;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_sim_elementwise)

BOOST_AUTO_TEST_CASE(bf16_fp16_conversions_bit_exact) {
  std::vector<float> x = gaussian_f(1000, 5, 1e3);
  x[0] = std::numeric_limits<float>::infinity();
  x[1] = 1e-40f;                        // subnormal
  x[2] = 65520.0f;                      // fp16 overflow to inf
  x[3] = 1.0f + 0x1p-8f;                // bf16 tie -> even
  for (auto f : {cuda::Fmt16::bf16, cuda::Fmt16::fp16}) {
    std::vector<std::uint16_t> got(x.size()), want(x.size());
    const std::string s = check_schedules(
        [&] {
          std::fill(got.begin(), got.end(), 0xFFFF);
          cuda::to_16bit(f, x.data(), got.data(), std::int64_t(x.size()));
          return bytes_of(got);
        },
        false);
    BOOST_TEST(s.empty(), s);
    if (f == cuda::Fmt16::bf16) formats::quantize_bf16(x.data(), want.data(), x.size());
    else formats::quantize_fp16(x.data(), want.data(), x.size());
    BOOST_TEST(got == want, boost::test_tools::per_element());
    std::vector<float> back(x.size()), wback(x.size());
    cuda::from_16bit(f, got.data(), back.data(), std::int64_t(x.size()));
    if (f == cuda::Fmt16::bf16) formats::dequantize_bf16(want.data(), wback.data(), x.size());
    else formats::dequantize_fp16(want.data(), wback.data(), x.size());
    BOOST_TEST(std::memcmp(back.data(), wback.data(), back.size() * 4) == 0);
  }
}

BOOST_AUTO_TEST_CASE(row_quantisers_bit_exact) {
  for (int cols : {300, 1000}) {
    const auto x = quant_rows(cols);
    const std::int64_t rows = 5;
    for (auto f : {cuda::RowFmt::int8, cuda::RowFmt::fp8_e4m3, cuda::RowFmt::fp8_e5m2}) {
      std::vector<std::uint8_t> q(x.size()), qw(x.size());
      std::vector<float> sc(rows), scw(rows), y(x.size()), yw(x.size());
      const std::string s = check_schedules(
          [&] {
            std::fill(q.begin(), q.end(), 0xAB);
            cuda::quantize_rows(f, x.data(), q.data(), sc.data(), rows, cols);
            auto b = bytes_of(q);
            const auto bs = bytes_of(sc);
            b.insert(b.end(), bs.begin(), bs.end());
            return b;
          },
          false);
      BOOST_TEST(s.empty(), s);
      if (f == cuda::RowFmt::int8) {
        formats::int8_row_scales(x.data(), scw.data(), rows, cols);
        formats::quantize_int8_rows(x.data(), scw.data(), reinterpret_cast<int8_t*>(qw.data()), rows, cols);
      } else {
        const auto ff = f == cuda::RowFmt::fp8_e4m3 ? formats::Fp8Format::e4m3 : formats::Fp8Format::e5m2;
        formats::fp8_row_scales(x.data(), scw.data(), rows, cols, ff);
        formats::quantize_fp8_rows(x.data(), scw.data(), qw.data(), rows, cols, ff, formats::Saturation::finite);
      }
      BOOST_TEST(std::memcmp(sc.data(), scw.data(), rows * 4) == 0, "scales differ, cols " << cols);
      BOOST_TEST(q == qw, boost::test_tools::per_element());
      cuda::dequantize_rows(f, q.data(), sc.data(), y.data(), rows, cols);
      if (f == cuda::RowFmt::int8) {
        formats::dequantize_int8_rows(reinterpret_cast<const int8_t*>(qw.data()), scw.data(), yw.data(), rows, cols);
      } else {
        const auto ff = f == cuda::RowFmt::fp8_e4m3 ? formats::Fp8Format::e4m3 : formats::Fp8Format::e5m2;
        formats::dequantize_fp8_rows(qw.data(), scw.data(), yw.data(), rows, cols, ff);
      }
      // Bitwise for numbers; a NaN only has to be a NaN (the payload of NaN · scale is not specified).
      for (std::size_t i = 0; i < y.size(); ++i) {
        const bool same = std::isnan(yw[i]) ? std::isnan(y[i]) : std::memcmp(&y[i], &yw[i], 4) == 0;
        if (!same) BOOST_ERROR("dequantised value " << i << " (cols " << cols << "): " << y[i] << " vs " << yw[i]);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(int4_groups_bit_exact) {
  // Groups 32 / 128 (the presets) and 5 (odd: a byte spans two groups); K 300 (short last group)
  // and 301 (odd: a padding nibble). Row 1 is all zero, row 2 holds an inf, row 3 is all positive
  // (asymmetric lo = 0).
  for (int group : {32, 128, 5})
    for (int k : {300, 301})
      for (bool asym : {false, true}) {
        const int n = 4, groups = (k + group - 1) / group, bytes = (k + 1) / 2;
        std::vector<float> w = gaussian_f(std::size_t(n) * k, 31 + k + group, 0.1);
        for (int j = 0; j < k; ++j) w[std::size_t(k) + j] = 0.0f, w[std::size_t(3) * k + j] = std::abs(w[std::size_t(3) * k + j]);
        w[std::size_t(2) * k + 3] = std::numeric_limits<float>::infinity();
        std::vector<std::uint8_t> p(std::size_t(n) * bytes), pw(p.size()), z(std::size_t(n) * groups), zw(z.size());
        std::vector<float> sc(std::size_t(n) * groups), scw(sc.size()), y(w.size()), yw(w.size());
        const std::string s = check_schedules(
            [&] {
              std::fill(p.begin(), p.end(), 0xAB);
              cuda::quantize_int4(w.data(), p.data(), sc.data(), asym ? z.data() : nullptr, n, k, group, asym);
              auto b = bytes_of(p);
              const auto bs = bytes_of(sc), bz = bytes_of(z);
              b.insert(b.end(), bs.begin(), bs.end());
              b.insert(b.end(), bz.begin(), bz.end());
              return b;
            },
            false);
        BOOST_TEST(s.empty(), s);
        const auto mode = asym ? formats::Int4Mode::asymmetric : formats::Int4Mode::symmetric;
        formats::quantize_int4(w.data(), pw.data(), scw.data(), asym ? zw.data() : nullptr, n, k, group, mode);
        const std::string what = "group " + std::to_string(group) + " k " + std::to_string(k) + (asym ? " asym" : " sym");
        BOOST_TEST(p == pw, what << ": packed codes differ");
        BOOST_TEST(std::memcmp(sc.data(), scw.data(), sc.size() * 4) == 0, what << ": scales differ");
        if (asym) BOOST_TEST(z == zw, what << ": zero points differ");
        cuda::dequantize_int4(p.data(), sc.data(), asym ? z.data() : nullptr, y.data(), n, k, group, asym);
        formats::dequantize_int4(pw.data(), scw.data(), asym ? zw.data() : nullptr, yw.data(), n, k, group, mode);
        for (std::size_t i = 0; i < y.size(); ++i) {
          const bool same = std::isnan(yw[i]) ? std::isnan(y[i]) : std::memcmp(&y[i], &yw[i], 4) == 0;
          if (!same) BOOST_ERROR(what << ": dequantised value " << i << ": " << y[i] << " vs " << yw[i]);
        }
      }
}

BOOST_AUTO_TEST_CASE(softcap_ratio_rule) {
  const float cap = 30.0f;
  const auto x = gaussian_f(1000, 9, 40.0);
  std::vector<float> y(x.size()), naive(x.size());
  const std::string s = check_schedules([&] {
    std::fill(y.begin(), y.end(), std::numeric_limits<float>::quiet_NaN());
    cuda::softcap<float>(x.data(), y.data(), std::int64_t(x.size()), cap);
    return bytes_of(y);
  });
  BOOST_TEST(s.empty(), s);
  cpu::softcap_naive(x.data(), naive.data(), std::int64_t(x.size()), cap);
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = ops::softcap(double(x[i]), 30.0);
  const auto g = gate(rel_l2(y, ref), rel_l2(naive, ref), "fp32", true);
  BOOST_TEST_MESSAGE("softcap fp32: " << g.str());
  BOOST_TEST(g.pass, g.str());
}

template <class T>
void check_softcap_16bit(const char* policy) {
  const float cap = 30.0f;
  const auto x = gaussian_f(1000, 9, 40.0);
  std::vector<T> xs(x.size()), y(x.size());
  std::vector<float> xf(x.size()), yf(x.size()), naive(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xs[i] = T(x[i]), xf[i] = float(xs[i]);
  const std::string s = check_schedules([&] {
    std::fill(y.begin(), y.end(), T(std::numeric_limits<float>::quiet_NaN()));
    cuda::softcap<T>(xs.data(), y.data(), std::int64_t(x.size()), cap);
    for (std::size_t i = 0; i < y.size(); ++i) yf[i] = float(y[i]);
    return bytes_of(yf);
  });
  BOOST_TEST(s.empty(), s);
  cpu::softcap_naive(xf.data(), naive.data(), std::int64_t(x.size()), cap);
  for (auto& v : naive) v = float(T(v));
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = ops::softcap(double(x[i]), 30.0);
  const auto g = gate(rel_l2(yf, ref), rel_l2(naive, ref), policy, true);
  BOOST_TEST_MESSAGE("softcap " << policy << ": " << g.str());
  BOOST_TEST(g.pass, policy << ": " << g.str());
}

BOOST_AUTO_TEST_CASE(softcap_16bit_storage) {
  check_softcap_16bit<__nv_bfloat16>("bf16");
  check_softcap_16bit<__half>("fp16");
}

BOOST_AUTO_TEST_CASE(router_matches_reference) {
  const int T = 9, E = 128, K = 8;
  const auto logits = gaussian_f(std::size_t(T) * E, 13, 2.0);
  std::vector<float> scale(E);
  for (int e = 0; e < E; ++e) scale[e] = 0.5f + float(e % 7) / 8.0f;
  std::vector<float> probs(T * E), w(T * K);
  std::vector<int> idx(T * K);
  const std::string s = check_schedules([&] {
    std::fill(probs.begin(), probs.end(), std::numeric_limits<float>::quiet_NaN());
    std::fill(w.begin(), w.end(), std::numeric_limits<float>::quiet_NaN());
    cuda::route(logits.data(), scale.data(), probs.data(), w.data(), idx.data(), T, E, K);
    auto b = bytes_of(probs);
    const auto bw = bytes_of(w), bi = bytes_of(idx);
    b.insert(b.end(), bw.begin(), bw.end());
    b.insert(b.end(), bi.begin(), bi.end());
    return b;
  });
  BOOST_TEST(s.empty(), s);

  Mat lm = Mat::from_shape({std::size_t(T), std::size_t(E)});
  for (std::size_t i = 0; i < logits.size(); ++i) lm.data()[i] = logits[i];
  Vec sv = xt::zeros<double>({std::size_t(E)});
  for (int e = 0; e < E; ++e) sv(e) = scale[e];
  const ops::RouterOutput ref = ops::route(lm, sv, K);
  std::vector<float> cp(T * E), cw(T * K);
  std::vector<std::int32_t> ci(T * K);
  cpu::route(logits.data(), scale.data(), cp.data(), cw.data(), ci.data(), cpu::RouterProblem{T, E, K});
  for (int i = 0; i < T * K; ++i) BOOST_TEST(idx[i] == ref.index.data()[i]);
  const std::vector<double> rw(ref.weights.data(), ref.weights.data() + T * K),
      rp(ref.probs.data(), ref.probs.data() + T * E);
  const auto gw = gate(rel_l2(w, rw), rel_l2(cw, rw), "fp32");
  const auto gp = gate(rel_l2(probs, rp), rel_l2(cp, rp), "fp32");
  BOOST_TEST_MESSAGE("router weights: " << gw.str() << "; probs: " << gp.str());
  BOOST_TEST(gw.pass, gw.str());
  BOOST_TEST(gp.pass, gp.str());
}

template <class T>
void check_ple() {
  const int Tn = 3, L = 4, P = 256, D = 1536, V = 11;
  const auto ctx = gaussian_f(std::size_t(Tn) * L * P, 21, 20.0);
  const auto tab_f = gaussian_f(std::size_t(V) * L * P, 22, 0.05);
  std::vector<T> table(tab_f.size());
  for (std::size_t i = 0; i < table.size(); ++i) table[i] = T(tab_f[i]);
  std::vector<float> w(P);
  for (int p = 0; p < P; ++p) w[p] = 0.25f + float(p % 13) / 16.0f;
  const std::vector<long long> ids = {7, 0, 10};
  std::vector<float> out(ctx.size());
  const std::string s = check_schedules([&] {
    std::fill(out.begin(), out.end(), std::numeric_limits<float>::quiet_NaN());
    cuda::ple_combine<T>(ctx.data(), table.data(), ids.data(), w.data(), out.data(), Tn, L, P, D, 1e-6f);
    return bytes_of(out);
  });
  BOOST_TEST(s.empty(), s);
  // float64 reference (the reference model's op sequence) and a sequential float32 twin.
  std::vector<double> ref(out.size());
  std::vector<float> naive(out.size());
  Vec wv = xt::zeros<double>({std::size_t(P)});
  for (int p = 0; p < P; ++p) wv(p) = w[p];
  for (int t = 0; t < Tn; ++t)
    for (int l = 0; l < L; ++l) {
      const std::size_t o = (std::size_t(t) * L + l) * P;
      Mat c = Mat::from_shape({1, std::size_t(P)});
      for (int p = 0; p < P; ++p) c(0, p) = ctx[o + p] * std::pow(double(D), -0.5);
      const Mat n = ops::rms_norm(c, &wv, 1e-6, P);
      float ss = 0.0f;
      const float cs = float(1.0 / std::sqrt(double(D)));
      for (int p = 0; p < P; ++p) ss += (ctx[o + p] * cs) * (ctx[o + p] * cs);
      const float inv = 1.0f / std::sqrt(ss / float(P) + 1e-6f);
      for (int p = 0; p < P; ++p) {
        const double e = double(float(table[std::size_t(ids[t]) * L * P + std::size_t(l) * P + p]));
        ref[o + p] = (n(0, p) + e * std::sqrt(double(P))) * std::pow(2.0, -0.5);
        naive[o + p] = ((ctx[o + p] * cs) * inv * w[p] + float(e) * float(std::sqrt(double(P)))) * 0.70710678f;
      }
    }
  const auto g = gate(rel_l2(out, ref), rel_l2(naive, ref), "fp32");
  BOOST_TEST_MESSAGE("ple_combine " << (sizeof(T) == 4 ? "fp32" : std::is_same_v<T, __half> ? "fp16" : "bf16")
                                    << " table: " << g.str());
  BOOST_TEST(g.pass, g.str());
}

BOOST_AUTO_TEST_CASE(per_layer_inputs) {
  check_ple<float>();
  check_ple<__nv_bfloat16>();
  check_ple<__half>();
}

BOOST_AUTO_TEST_SUITE_END()
