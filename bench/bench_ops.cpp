// The CPU executor's memory-bound ops at real Gemma 4 shapes (optimized/cpu/norm_rope.hpp,
// elementwise.hpp), each against the float64 reference op, the same-precision naive loop, and a
// copy of the same bytes measured in the same run (the bandwidth these ops can reach: no FLOP
// ceiling applies; OpenBLAS has no such ops). Also the fused kernels against their unfused pairs:
// what a fusion group in the graph would save (the measurement behind DESIGN.md's "fusion where
// it pays").
//
//   rms_norm         [512, 5376]  (31B residual norm)         reference ops::rms_norm
//   qk_norm          [512, 32·256] per head (31B q_norm)      reference ops::rms_norm(dim 256)
//   rope             [512, 32·256] Dh 256, positions 0..511   reference ops::rope
//   qk_norm+rope     fused rms_norm_rope vs qk_norm then rope
//   gelu             [512, 21504] (31B MLP)                   reference ops::gelu_tanh
//   gelu·up          fused gelu_gate_mul vs gelu then mul
//   softcap          [8, 262144] (final logits, cap 30)       reference ops::softcap
//   route            [512, 128] top-8 (26B-A4B router)        reference ops::route
//
// Counters: GB_s (bytes each op must move: inputs read once, outputs written once, float32);
// of_copy (GB_s / the copy baseline's GB_s, median of the same run); x_ref (reference time /
// this time). Times are medians of the iterations (manual timing, both threads for the
// optimized kernels as the executor runs them).
//
//   cmake --build build --target bench_ops && build/bench/bench_ops
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "optimized/cpu/elementwise.hpp"
#include "optimized/cpu/norm_rope.hpp"
#include "reference/ops/activations.hpp"
#include "reference/ops/moe.hpp"
#include "reference/ops/rms_norm.hpp"
#include "reference/ops/rope.hpp"

namespace {

using namespace g4;
using i64 = std::int64_t;

constexpr i64 kT = 512, kD = 5376, kNq = 32, kDh = 256, kF = 21504, kVocabRows = 8, kVocab = 262144, kE = 128,
              kK = 8;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

std::vector<float> randn(i64 n, std::uint64_t seed, float sigma = 1.0f) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

Mat to_mat(const std::vector<float>& v, i64 r, i64 c) {
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

// Inputs shared by every case (made once).
struct Data {
  std::vector<float> x, w_d, w_dh, q, gate, up, logits, router, pes, y, y2, probs, weights;
  std::vector<std::int32_t> index;
  std::vector<std::int64_t> pos;
  std::vector<float> cos_t, sin_t;
  Mat xm, qm, gm, um, lm, rm;
  Vec wd, wdh, pesv, inv_freq;
  std::vector<index_t> positions;
  Data() {
    x = randn(kT * kD, 1);
    w_d = randn(kD, 2, 0.1f), w_dh = randn(kDh, 3, 0.1f);
    for (auto& v : w_d) v += 1.0f;
    for (auto& v : w_dh) v += 1.0f;
    q = randn(kT * kNq * kDh, 4);
    gate = randn(kT * kF, 5), up = randn(kT * kF, 6);
    logits = randn(kVocabRows * kVocab, 7, 10.0f);
    router = randn(kT * kE, 8);
    pes = randn(kE, 9, 0.1f);
    for (auto& v : pes) v += 1.0f;
    y.resize(std::max(gate.size(), logits.size()));
    y2.resize(y.size());
    probs.resize(kT * kE), weights.resize(kT * kK), index.resize(kT * kK);
    pos.resize(kT);
    positions.resize(kT);
    for (i64 t = 0; t < kT; ++t) pos[t] = t, positions[t] = t;
    inv_freq = Vec::from_shape({size_t(kDh / 2)});
    for (i64 i = 0; i < kDh / 2; ++i) inv_freq(i) = std::pow(10000.0, -2.0 * double(i) / double(kDh));
    std::vector<double> f(inv_freq.begin(), inv_freq.end());
    cos_t.resize(kT * kDh / 2), sin_t.resize(kT * kDh / 2);
    cpu::rope_table(f.data(), kDh / 2, kT, cos_t.data(), sin_t.data());
    xm = to_mat(x, kT, kD), qm = to_mat(q, kT, kNq * kDh), gm = to_mat(gate, kT, kF), um = to_mat(up, kT, kF);
    lm = to_mat(logits, kVocabRows, kVocab), rm = to_mat(router, kT, kE);
    wd = Vec::from_shape({size_t(kD)}), wdh = Vec::from_shape({size_t(kDh)}), pesv = Vec::from_shape({size_t(kE)});
    std::copy(w_d.begin(), w_d.end(), wd.begin());
    std::copy(w_dh.begin(), w_dh.end(), wdh.begin());
    std::copy(pes.begin(), pes.end(), pesv.begin());
  }
};

Data& data() {
  static Data d;
  return d;
}

std::map<std::string, double> g_ms;  // median ms per benchmark name (the summary)
double g_copy_gbs = 0;               // the copy baseline (median GB/s)

void run_timed(benchmark::State& st, const std::string& name, double bytes, const std::function<void()>& f) {
  std::vector<double> t;
  for (auto _ : st) {
    const double t0 = now_s();
    f();
    t.push_back(now_s() - t0);
  }
  const double m = median(t);
  g_ms[name] = m * 1e3;
  st.counters["GB_s"] = bytes / m * 1e-9;
  if (g_copy_gbs > 0) st.counters["of_copy"] = bytes / m * 1e-9 / g_copy_gbs;
}

struct Case {
  std::string name;
  double bytes;  // float32 bytes the op moves
  std::function<void()> optimized, naive, reference;
};

std::vector<Case> cases() {
  Data& d = data();
  const float eps = 1e-6f;
  const cpu::RopeProblem rp{kT, kNq, kDh, d.pos.data(), d.cos_t.data(), d.sin_t.data(), kT};
  const cpu::RmsNormProblem norm_d{kT, kD, 1, eps}, norm_h{kT, kDh, kNq, eps};
  const cpu::GatedProblem gp{kT, kF, kF, kF, kF};
  const cpu::RouterProblem rtp{kT, kE, kK};
  const double TD = double(kT * kD) * 4, TQ = double(kT * kNq * kDh) * 4, TF = double(kT * kF) * 4,
               LV = double(kVocabRows * kVocab) * 4;
  return {
      {"rms_norm", 2 * TD, [&d, norm_d] { cpu::rms_norm(d.x.data(), d.w_d.data(), d.y.data(), norm_d); },
       [&d, norm_d] { cpu::rms_norm_naive(d.x.data(), d.w_d.data(), d.y.data(), norm_d); },
       [&d] { benchmark::DoNotOptimize(ops::rms_norm(d.xm, &d.wd, 1e-6, kD)); }},
      {"qk_norm", 2 * TQ, [&d, norm_h] { cpu::rms_norm(d.q.data(), d.w_dh.data(), d.y.data(), norm_h); },
       [&d, norm_h] { cpu::rms_norm_naive(d.q.data(), d.w_dh.data(), d.y.data(), norm_h); },
       [&d] { benchmark::DoNotOptimize(ops::rms_norm(d.qm, &d.wdh, 1e-6, kDh)); }},
      {"rope", 2 * TQ, [&d, rp] { cpu::rope(d.q.data(), d.y.data(), rp); },
       [&d, rp] { cpu::rope_naive(d.q.data(), d.y.data(), rp); },
       [&d] { benchmark::DoNotOptimize(ops::rope(d.qm, d.positions, d.inv_freq, kDh)); }},
      // Fused: one pass. Unfused (the "naive" slot here): the two optimized kernels in turn, an
      // intermediate written and read back — what the graph runs today.
      {"qk_norm+rope", 2 * TQ, [&d, rp] { cpu::rms_norm_rope(d.q.data(), d.w_dh.data(), 1e-6f, d.y.data(), rp); },
       [&d, rp, norm_h] {
         cpu::rms_norm(d.q.data(), d.w_dh.data(), d.y2.data(), norm_h);
         cpu::rope(d.y2.data(), d.y.data(), rp);
       },
       [&d] { benchmark::DoNotOptimize(ops::rope(ops::rms_norm(d.qm, &d.wdh, 1e-6, kDh), d.positions, d.inv_freq, kDh)); }},
      {"gelu", 2 * TF, [&d] { cpu::gelu_tanh(d.gate.data(), d.y.data(), kT * kF); },
       [&d] { cpu::gelu_tanh_naive(d.gate.data(), d.y.data(), kT * kF); },
       [&d] { benchmark::DoNotOptimize(ops::gelu_tanh(d.gm)); }},
      {"gelu*up", 3 * TF, [&d, gp] { cpu::gelu_gate_mul(d.gate.data(), d.up.data(), d.y.data(), gp); },
       [&d] {
         cpu::gelu_tanh(d.gate.data(), d.y2.data(), kT * kF);
         cpu::mul(d.y2.data(), d.up.data(), d.y.data(), kT * kF);
       },
       [&d] {
         Mat g = ops::gelu_tanh(d.gm);
         g *= d.um;
         benchmark::DoNotOptimize(g);
       }},
      {"softcap", 2 * LV, [&d] { cpu::softcap(d.logits.data(), d.y.data(), kVocabRows * kVocab, 30.0f); },
       [&d] { cpu::softcap_naive(d.logits.data(), d.y.data(), kVocabRows * kVocab, 30.0f); },
       [&d] { benchmark::DoNotOptimize(ops::softcap(d.lm, 30.0)); }},
      {"route", double(kT * kE) * 8 + double(kT * kK) * 8,
       [&d, rtp] { cpu::route(d.router.data(), d.pes.data(), d.probs.data(), d.weights.data(), d.index.data(), rtp); },
       nullptr, [&d] { benchmark::DoNotOptimize(ops::route(d.rm, d.pesv, kK)); }},
  };
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  data();
  // The copy baseline: 2 · 176 MB (the gelu·up case's size) through memcpy, one thread.
  benchmark::RegisterBenchmark("baseline/copy", [](benchmark::State& st) {
    Data& d = data();
    const size_t n = size_t(kT * kF);
    std::vector<double> t;
    for (auto _ : st) {
      const double t0 = now_s();
      std::memcpy(d.y.data(), d.gate.data(), n * 4);
      benchmark::ClobberMemory();
      t.push_back(now_s() - t0);
    }
    g_copy_gbs = 2.0 * double(n) * 4 / median(t) * 1e-9;
    st.counters["GB_s"] = g_copy_gbs;
  })->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
  static const std::vector<Case> all = cases();
  for (const Case& c : all)
    for (const char* impl : {"optimized", "naive", "reference"}) {
      const std::function<void()>& f = std::string(impl) == "optimized" ? c.optimized
                                       : std::string(impl) == "naive"   ? c.naive
                                                                        : c.reference;
      if (!f) continue;
      const std::string name = "BM_op/" + c.name + "/" + impl;
      auto* b = benchmark::RegisterBenchmark(name.c_str(), [&c, &f, name](benchmark::State& st) {
                  run_timed(st, name, c.bytes, f);
                })->Unit(benchmark::kMillisecond)->UseRealTime();
      if (std::string(impl) == "reference") b->Iterations(3);
      else b->MinTime(0.3);
    }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  std::printf("\nSummary (median ms; copy baseline %.1f GB/s, memcpy on one thread; for the fused cases \"naive\" is the two\n"
              "optimized kernels run one after the other, as the graph runs them):\n",
              g_copy_gbs);
  std::printf("%-14s %10s %10s %10s %9s %9s %8s\n", "op", "optimized", "naive", "reference", "GB/s", "of copy",
              "x ref");
  for (const Case& c : all) {
    auto get = [&](const char* impl) {
      auto it = g_ms.find("BM_op/" + c.name + "/" + impl);
      return it == g_ms.end() ? 0.0 : it->second;
    };
    const double o = get("optimized");
    if (o <= 0) continue;
    const double gbs = c.bytes / (o * 1e-3) * 1e-9;
    std::printf("%-14s %10.3f %10.3f %10.2f %9.1f %8.0f%% %8.1f\n", c.name.c_str(), o, get("naive"), get("reference"),
                gbs, g_copy_gbs > 0 ? 100 * gbs / g_copy_gbs : 0.0, get("reference") / o);
  }
  return 0;
}
