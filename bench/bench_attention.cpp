// The CPU attention kernels (optimized/cpu/attention.hpp) on real Gemma 4 shapes, beside their
// baselines: the plain two-pass float32 version (attention_naive, one thread) and the float64
// reference (reference/ops/attention.hpp: per-head dgemm through ops::linear, OpenBLAS threads).
//
// Cases (B = 1):
//   e2b_sliding_prefill   Sq = Skv = 512, Nq 8, Nkv 1, Dh 256, sliding W 512 (E2B layer 0)
//   31b_full_prefill      Sq = Skv = 512, Nq 32, Nkv 4, Dh 512, causal (31B full layer)
//   e2b_sliding_decode    Sq 1, Skv 4097 (context 4096 + the new token), W 512
//   e2b_full_decode       Sq 1, Skv 4097, Nq 8, Nkv 1, Dh 512, causal
//   31b_full_decode       Sq 1, Skv 4097, Nq 32, Nkv 4, Dh 512, causal
// Implementations: flash (float32 K/V, all threads), flash_1thread, flash_bf16kv (K/V stored bf16),
// naive_f32, reference_f64 (ops::attention with Skv = past + Sq for the decode steps).
//
// Every case is validated once before anything is timed: the ratio rule of the tests
// (rel_l2(flash) ≤ 2·rel_l2(naive) + 2^-24·√Dh, against float64 on the same inputs; the bf16
// flavour against float64 on the bf16-rounded K/V); a failing case is skipped with the error.
//
// Counters: GFLOPs = attention_flops (4·Dh·Nq per allowed (query, key) pair: QKᵀ and P·V, the
// same count for every implementation, masked pairs excluded) / median wall time;
// GFLOPs_per_core = the same FLOPs / CPU seconds of this process (all threads), the per-core rate,
// robust to other processes; KV_GBs (decode) = float32 K and V bytes the allowed keys need (half
// for bf16) / time: decode is bound by it; rel_l2 = the implementation's error against float64;
// other_cpu = share of the machine's CPU time used by OTHER processes while the case ran (on a
// shared 2-core machine, numbers taken with other_cpu ≫ 0 are not trustworthy).
// A summary table (median ms, speed-up of flash over naive and over the reference) is printed at
// the end.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "optimized/cpu/attention.hpp"
#include "optimized/formats/bf16.hpp"
#include "reference/ops/attention.hpp"
#include "reference/ops/mask.hpp"

namespace {

using namespace g4;
using text::LayerType;

constexpr double kU32 = 1.0 / 16777216.0;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// CPU seconds: the whole machine (busy, from /proc/stat) and this process (getrusage).
double machine_busy_s() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  double v[8] = {};
  f >> cpu;
  for (double& x : v) f >> x;
  return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / double(sysconf(_SC_CLK_TCK));
}
double process_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec) + double(ru.ru_stime.tv_sec) +
         1e-6 * double(ru.ru_stime.tv_usec);
}

std::uint16_t to_bf16(float f) { return formats::float_to_bf16(f); }  // round to nearest even
float from_bf16(std::uint16_t h) { return formats::bf16_to_float(h); }

struct CaseSpec {
  const char* name;
  index_t Sq, Skv, Nq, Nkv, Dh;
  LayerType type;
  index_t W;
};
const std::vector<CaseSpec> kCases = {
    {"e2b_sliding_prefill", 512, 512, 8, 1, 256, LayerType::kSliding, 512},
    {"31b_full_prefill", 512, 512, 32, 4, 512, LayerType::kFull, 0},
    {"e2b_sliding_decode", 1, 4097, 8, 1, 256, LayerType::kSliding, 512},
    {"e2b_full_decode", 1, 4097, 8, 1, 512, LayerType::kFull, 0},
    {"31b_full_decode", 1, 4097, 32, 4, 512, LayerType::kFull, 0},
};
const std::vector<std::string> kImpls = {"flash", "flash_1thread", "flash_bf16kv", "naive_f32", "reference_f64"};

// One case's data, built and validated once (lazily, before its first benchmark).
struct Data {
  CaseSpec c;
  cpu::AttentionProblem p;
  std::vector<std::uint8_t> allowed;            // [1, Sq, Skv]
  std::vector<float> q, k, v, kr, vr;           // kr/vr: K/V rounded to bf16, as float
  std::vector<std::uint16_t> kb, vb;
  Mat qm, km, vm;                               // float64 copies for ops::attention
  double flops = 0, kv_bytes_f32 = 0;
  std::map<std::string, double> err;            // rel_l2 per implementation
  std::string error;                            // validation failure, if any
};

Mat to_mat(const std::vector<float>& x, index_t r, index_t c) {
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  for (size_t i = 0; i < x.size(); ++i) m.data()[i] = x[i];
  return m;
}

std::vector<double> reference(const Data& d, bool bf16) {
  const auto& p = d.p;
  const ops::AttentionShape shape{1, p.Sq, p.Nq, p.Nkv, p.Dh, 1.0, p.Skv};
  const Mat o = bf16 ? ops::attention(d.qm, to_mat(d.kr, p.Skv, p.Nkv * p.Dh), to_mat(d.vr, p.Skv, p.Nkv * p.Dh),
                                      d.allowed, shape, nullptr)
                     : ops::attention(d.qm, d.km, d.vm, d.allowed, shape, nullptr);
  return {o.begin(), o.end()};
}

double rel_l2(const std::vector<float>& x, const std::vector<double>& r) {
  double num = 0, den = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const double e = double(x[i]) - r[i];
    num += e * e;
    den += r[i] * r[i];
  }
  return std::sqrt(num / den);
}

Data& data(size_t ci) {
  static std::map<size_t, std::unique_ptr<Data>> cache;
  auto& slot = cache[ci];
  if (slot) return *slot;
  slot = std::make_unique<Data>();
  Data& d = *slot;
  d.c = kCases[ci];
  const CaseSpec& c = d.c;
  IdMat am = xt::ones<std::int64_t>({size_t(1), size_t(c.Skv)});
  d.allowed = ops::build_mask({c.type, c.W, text::Bidirectional::kNone}, am, {}, c.Skv - c.Sq);  // past = Skv − Sq
  std::mt19937_64 rng(20250401 + ci);
  std::normal_distribution<double> n01(0.0, 1.0);
  const double qs = 3.0 / std::sqrt(double(c.Dh));  // logits ~ N(0, 3²)
  d.q.resize(size_t(c.Sq * c.Nq * c.Dh));
  d.k.resize(size_t(c.Skv * c.Nkv * c.Dh));
  d.v.resize(d.k.size());
  for (auto& x : d.q) x = float(qs * n01(rng));
  for (auto& x : d.k) x = float(n01(rng));
  for (auto& x : d.v) x = float(n01(rng));
  d.kb.resize(d.k.size());
  d.vb.resize(d.v.size());
  d.kr.resize(d.k.size());
  d.vr.resize(d.v.size());
  for (size_t i = 0; i < d.k.size(); ++i) {
    d.kr[i] = from_bf16(d.kb[i] = to_bf16(d.k[i]));
    d.vr[i] = from_bf16(d.vb[i] = to_bf16(d.v[i]));
  }
  d.p = {1, c.Sq, c.Skv, c.Nq, c.Nkv, c.Dh, 1.0f, d.allowed.data(), c.type == LayerType::kSliding ? c.W : 0};
  d.qm = to_mat(d.q, c.Sq, c.Nq * c.Dh);
  d.km = to_mat(d.k, c.Skv, c.Nkv * c.Dh);
  d.vm = to_mat(d.v, c.Skv, c.Nkv * c.Dh);
  d.flops = cpu::attention_flops(d.p);
  // K/V bytes (float32) the allowed keys need: each allowed key once per kv head (decode: Sq = 1).
  index_t keys = 0;
  for (index_t j = 0; j < c.Skv; ++j) {
    bool any = false;
    for (index_t i = 0; i < c.Sq; ++i) any = any || d.allowed[size_t(i * c.Skv + j)];
    keys += any;
  }
  d.kv_bytes_f32 = 2.0 * double(keys) * double(c.Nkv * c.Dh) * 4.0;

  // Validation (the tests' ratio rule), f32 and bf16 K/V.
  const double floor = kU32 * std::sqrt(double(c.Dh));
  for (bool bf16 : {false, true}) {
    const std::vector<double> ref = reference(d, bf16);
    std::vector<float> naive(d.q.size()), flash(d.q.size());
    if (bf16) {
      cpu::attention_naive(d.q.data(), d.kb.data(), d.vb.data(), naive.data(), d.p);
      cpu::attention(d.q.data(), d.kb.data(), d.vb.data(), flash.data(), d.p);
    } else {
      cpu::attention_naive(d.q.data(), d.k.data(), d.v.data(), naive.data(), d.p);
      cpu::attention(d.q.data(), d.k.data(), d.v.data(), flash.data(), d.p);
    }
    const double en = rel_l2(naive, ref), ef = rel_l2(flash, ref);
    d.err[bf16 ? "flash_bf16kv" : "flash"] = ef;
    if (!bf16) d.err["naive_f32"] = en;
    if (!(ef <= 2.0 * en + floor))
      d.error += fmt::format("{}: flash rel_l2 {:.3e} > 2·naive {:.3e} + {:.3e}; ", bf16 ? "bf16 K/V" : "f32 K/V", ef,
                             en, floor);
  }
  d.err["reference_f64"] = 0.0;
  return d;
}

struct Summary {
  std::map<std::string, std::map<std::string, double>> ms;  // case -> impl -> median ms
};
Summary g_summary;

void BM_attention(benchmark::State& state, size_t ci, std::string impl) {
  Data& d = data(ci);
  if (!d.error.empty()) {
    state.SkipWithError(("validation failed: " + d.error).c_str());
    return;
  }
  std::vector<float> out(d.q.size());
  std::vector<double> times;
  cpu::AttentionTuning one_thread;
  one_thread.threads = 1;
  const double busy0 = machine_busy_s(), proc0 = process_cpu_s(), wall0 = now_s();
  for (auto _ : state) {
    const double t0 = now_s();
    if (impl == "flash") {
      cpu::attention(d.q.data(), d.k.data(), d.v.data(), out.data(), d.p);
    } else if (impl == "flash_1thread") {
      cpu::attention(d.q.data(), d.k.data(), d.v.data(), out.data(), d.p, one_thread);
    } else if (impl == "flash_bf16kv") {
      cpu::attention(d.q.data(), d.kb.data(), d.vb.data(), out.data(), d.p);
    } else if (impl == "naive_f32") {
      cpu::attention_naive(d.q.data(), d.k.data(), d.v.data(), out.data(), d.p);
    } else {
      const std::vector<double> r = reference(d, false);
      benchmark::DoNotOptimize(r.data());
    }
    benchmark::DoNotOptimize(out.data());
    times.push_back(now_s() - t0);
  }
  const double wall = now_s() - wall0, proc = process_cpu_s() - proc0;
  const double other = std::max(0.0, (machine_busy_s() - busy0) - proc);
  const double t = median(times);
  state.counters["GFLOPs"] = d.flops / t * 1e-9;
  // FLOPs per CPU-second of this process (all its threads): the per-core rate, much less
  // sensitive than wall time to other processes taking the cores.
  state.counters["GFLOPs_per_core"] = d.flops * double(times.size()) / std::max(proc, 1e-9) * 1e-9;
  if (d.c.Sq < d.c.Skv) state.counters["KV_GBs"] = d.kv_bytes_f32 * (impl == "flash_bf16kv" ? 0.5 : 1.0) / t * 1e-9;
  state.counters["rel_l2"] = d.err.count(impl) ? d.err[impl] : d.err["flash"];
  state.counters["other_cpu"] = other / (wall * double(sysconf(_SC_NPROCESSORS_ONLN)));
  if (impl == "reference_f64")
    state.SetLabel("ops::attention (OpenBLAS dgemm)");
  else if (impl == "naive_f32")
    state.SetLabel("two-pass float32, 1 thread");
  else
    state.SetLabel(cpu::attention_impl() + (impl == "flash_1thread" ? ", 1 thread" : ", all threads"));
  auto& slot = g_summary.ms[d.c.name][impl];
  slot = slot > 0 ? std::min(slot, t * 1e3) : t * 1e3;  // best median over repetitions
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("attention_tile_kernels", cpu::attention_impl());
  for (size_t ci = 0; ci < kCases.size(); ++ci) {
    const bool prefill = kCases[ci].Sq == kCases[ci].Skv;
    for (const std::string& impl : kImpls) {
      const bool slow = impl == "naive_f32" || impl == "reference_f64";
      const std::string name = fmt::format("BM_attention/{}/{}", kCases[ci].name, impl);
      auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_attention, ci, impl)
                    ->Unit(benchmark::kMillisecond)
                    ->UseRealTime()
                    ->Repetitions(3)
                    ->ReportAggregatesOnly(true);
      if (slow && prefill) b->Iterations(1);
      else b->MinTime(0.3);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  std::printf("\nSummary (best of the repetition medians, wall ms; speed-up of flash):\n");
  std::printf("%-22s %10s %10s %12s %10s %12s %10s %10s\n", "case", "flash", "flash_1t", "flash_bf16", "naive_f32",
              "reference", "x naive", "x ref");
  for (const auto& c : kCases) {
    auto it = g_summary.ms.find(c.name);
    if (it == g_summary.ms.end()) continue;
    auto get = [&](const char* k) { return it->second.count(k) ? it->second.at(k) : 0.0; };
    const double f = get("flash");
    std::printf("%-22s %10.3f %10.3f %12.3f %10.2f %12.2f %10.1f %10.1f\n", c.name, f, get("flash_1thread"),
                get("flash_bf16kv"), get("naive_f32"), get("reference_f64"), f > 0 ? get("naive_f32") / f : 0.0,
                f > 0 ? get("reference_f64") / f : 0.0);
  }
  return 0;
}
