// CPU GEMM / GEMV kernels (optimized/cpu/gemm.hpp) at Gemma 4 shapes, per precision policy,
// beside this machine's own ceilings measured in the same run (DESIGN.md section 6):
//   baseline/stream_read       multi-threaded sum over a 1 GiB buffer (GB/s)
//   baseline/{sgemm,dgemm}     OpenBLAS on the same prefill shape, float32 / float64 weights
//   baseline/sgemv             OpenBLAS on the same decode shape, float32 weights
//   gemm/<policy>/<shape>/<mode>           cpu::gemm (AVX-512 kernels where the CPU has them)
//   gemm_portable/<policy>/<shape>/<mode>  the portable path (weights widened to f32 + sgemm):
//                                          the "widen + sgemm" candidate, for comparison
// Modes: prefill512 (M = 512 tokens) and decode (M = 1). Shapes (N, K) = (out, in features):
//   e2b_q_proj (2048, 1536), e2b_gate (6144, 1536), 31b_q_proj (16384, 5376).
// Decode rotates over enough copies of the packed weight (>= 256 MiB, 8 × the L3) that every call
// streams its weights from DRAM, as a real decode step does (one pass over all layers).
// Counters: GFLOPs (2·M·N·K / time), GBps (packed weight bytes / time), x_sgemm (baseline time /
// time: sgemm for prefill, sgemv for decode, same shape), frac_stream (GBps / stream read
// bandwidth). Times are medians over the iterations (manual timing). The dev VM shares its two
// cores with other jobs, so the baseline is re-timed in every case, just before and just after
// the kernel's iterations (not call by call: OpenBLAS's threads spin after a call and would slow
// the next kernel call, and our pool's spinning worker the next OpenBLAS call), and so is the
// stream bandwidth for the decode cases: the ratios compare like with like, minutes apart at most.
// Validation before timing: rows 0..1 of the output against gemm_naive on the same rows and the
// float64 product, with the ratio rule of tests/optimized/cpu/test_gemm.cpp; a failing case is
// reported as an error, not timed.
#include <benchmark/benchmark.h>
#include <cblas.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "optimized/cpu/gemm.hpp"
#include "optimized/cpu/gemm_isa.hpp"
#include "optimized/cpu/policy.hpp"

using namespace g4::cpu;

namespace {

using Clock = std::chrono::steady_clock;

struct Shape {
  const char* name;
  std::int64_t N, K;
};
const Shape kShapes[] = {{"e2b_q_proj", 2048, 1536}, {"e2b_gate", 6144, 1536}, {"31b_q_proj", 16384, 5376}};
constexpr std::int64_t kPrefillM = 512;
constexpr std::size_t kRotateBytes = std::size_t(256) << 20;  // 8 × the 32 MiB L3 (and > a 96 MiB V-cache)

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

template <class F>
double median_time(F&& f, int reps) {
  std::vector<double> t;
  f();
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    t.push_back(seconds(t0, Clock::now()));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

// Read bandwidth: the threads sum a 1 GiB buffer, claiming 4 MiB chunks from a shared counter (as
// the GEMV kernels claim panels, so a thread delayed by another process does not stall the pass),
// 16-byte SSE2 loads into 4 independent accumulators so the loop is load-bound (a scalar 64-bit
// sum measured 17 GB/s on one core where SSE2 reads 22 GB/s); GB/s of the median pass.
double stream_read_gbps(int passes = 5) {
  const std::size_t n = (std::size_t(1) << 30) / 8, chunk = (std::size_t(4) << 20) / 8;
  static std::vector<std::uint64_t> buf(n, 1);
  const int nt = threads();
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(nt));
  auto pass = [&] {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> th;
    for (int t = 0; t < nt; ++t)
      th.emplace_back([&, t] {
#if defined(__SSE2__)
        __m128i s0 = _mm_setzero_si128(), s1 = s0, s2 = s0, s3 = s0;
        for (std::size_t b; (b = next.fetch_add(chunk)) < n;) {
          const auto* p = reinterpret_cast<const __m128i*>(buf.data() + b);
          for (std::size_t i = 0; i < chunk / 2; i += 4) {
            s0 = _mm_add_epi64(s0, _mm_load_si128(p + i));
            s1 = _mm_add_epi64(s1, _mm_load_si128(p + i + 1));
            s2 = _mm_add_epi64(s2, _mm_load_si128(p + i + 2));
            s3 = _mm_add_epi64(s3, _mm_load_si128(p + i + 3));
          }
        }
        const __m128i s = _mm_add_epi64(_mm_add_epi64(s0, s1), _mm_add_epi64(s2, s3));
        sums[t] = static_cast<std::uint64_t>(_mm_cvtsi128_si64(s)) +
                  static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s)));
#else
        std::uint64_t s[8] = {};
        for (std::size_t b; (b = next.fetch_add(chunk)) < n;)
          for (std::size_t i = b; i < b + chunk; i += 8)
            for (int u = 0; u < 8; ++u) s[u] += buf[i + u];
        sums[t] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
#endif
      });
    for (auto& x : th) x.join();
    benchmark::DoNotOptimize(sums.data());
  };
  return static_cast<double>(n * 8) / median_time(pass, passes) * 1e-9;
}

// Weights of a shape, generated once: W ~ N(0, 1/K) as float64 (the loader's type) and float32.
struct ShapeData {
  std::vector<double> w;
  std::vector<float> wf;
  std::vector<float> a;                      // [512, K] activations ~ N(0, 1)
  std::vector<std::vector<float>> wf_copies;  // decode baseline: rotated float32 copies
};
ShapeData& shape_data(const Shape& s) {
  static std::map<std::string, std::unique_ptr<ShapeData>> cache;
  auto& p = cache[s.name];
  if (!p) {
    p = std::make_unique<ShapeData>();
    std::mt19937_64 g(12345);
    std::normal_distribution<double> d(0.0, 1.0);
    p->w.resize(static_cast<std::size_t>(s.N * s.K));
    for (auto& x : p->w) x = d(g) / std::sqrt(static_cast<double>(s.K));
    p->wf.assign(p->w.begin(), p->w.end());
    p->a.resize(static_cast<std::size_t>(kPrefillM * s.K));
    for (auto& x : p->a) x = static_cast<float>(d(g));
  }
  return *p;
}

std::size_t copies_for(std::size_t bytes) {
  return std::clamp<std::size_t>((kRotateBytes + bytes - 1) / std::max<std::size_t>(bytes, 1), 1, 64);
}

// One call of the OpenBLAS baseline of a shape and mode (sgemm / dgemm for prefill, sgemv over
// rotating float32 copies for decode); returns its time in seconds.
double baseline_call(const Shape& s, bool decode, bool dgemm) {
  ShapeData& d = shape_data(s);
  const std::int64_t M = decode ? 1 : kPrefillM, N = s.N, K = s.K;
  static std::vector<float> c;
  static std::vector<double> ad, cd;
  static std::size_t rot = 0;
  c.resize(static_cast<std::size_t>(M * N));
  const auto t0 = Clock::now();
  if (dgemm) {
    ad.assign(d.a.begin(), d.a.begin() + M * K);
    cd.resize(static_cast<std::size_t>(M * N));
    const auto t1 = Clock::now();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0, ad.data(), K, d.w.data(), K, 0.0, cd.data(), N);
    return seconds(t1, Clock::now());
  }
  if (decode) {
    if (d.wf_copies.empty()) d.wf_copies.assign(copies_for(d.wf.size() * 4), d.wf);
    const auto& w = d.wf_copies[rot++ % d.wf_copies.size()];
    cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, w.data(), K, d.a.data(), 1, 0.0f, c.data(), 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, d.a.data(), K, d.wf.data(), K, 0.0f, c.data(), N);
  }
  return seconds(t0, Clock::now());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Ratio-rule validation of rows 0..min(M, 2)−1 of c against gemm_naive and float64.
bool validate(const Shape& s, std::int64_t M, const PackedWeight& pw, const std::vector<float>& c, std::string* why) {
  ShapeData& d = shape_data(s);
  const std::int64_t rows = std::min<std::int64_t>(M, 2), N = s.N, K = s.K;
  std::vector<float> cn(static_cast<std::size_t>(rows * N));
  gemm_naive(d.a.data(), rows, pw, cn.data());
  double eo = 0, en = 0, rr = 0;
  for (std::int64_t m = 0; m < rows; ++m)
    for (std::int64_t n = 0; n < N; ++n) {
      double ex = 0;
      for (std::int64_t k = 0; k < K; ++k) ex += static_cast<double>(d.a[m * K + k]) * d.w[n * K + k];
      const double o = c[m * N + n], nv = cn[m * N + n];
      if (!std::isfinite(o)) {
        *why = "non-finite output";
        return false;
      }
      eo += (o - ex) * (o - ex), en += (nv - ex) * (nv - ex), rr += ex * ex;
    }
  eo = std::sqrt(eo / rr), en = std::sqrt(en / rr);
  const double bound = 2 * en + 4.0 / 16777216.0 * std::sqrt(static_cast<double>(K));
  if (eo > bound) {
    *why = "validation failed: rel_l2 " + std::to_string(eo) + " > " + std::to_string(bound);
    return false;
  }
  return true;
}

void set_counters(benchmark::State& st, double t, double flops, double bytes, double base_t, double stream) {
  st.counters["GFLOPs"] = flops / t * 1e-9;
  st.counters["GBps"] = bytes / t * 1e-9;
  st.counters["x_sgemm"] = base_t / t;
  st.counters["frac_stream"] = bytes / t * 1e-9 / stream;
  st.counters["stream_GBps"] = stream;
  st.counters["ms"] = t * 1e3;
}

void bench_gemm(benchmark::State& st, const Policy& p, const Shape& s, bool decode, GemmIsa isa) {
  const GemmIsa used = set_gemm_isa(isa);
  if (used != isa) {
    st.SkipWithError("ISA not available on this CPU");
    return;
  }
  ShapeData& d = shape_data(s);
  const std::int64_t M = decode ? 1 : kPrefillM;
  std::vector<PackedWeight> ws;
  ws.push_back(pack_weight(d.w.data(), s.N, s.K, p));
  const std::size_t bytes = ws[0].bytes();
  if (decode)
    for (std::size_t i = 1; i < copies_for(bytes); ++i) ws.push_back(ws[0]);
  std::vector<float> c(static_cast<std::size_t>(M * s.N));
  gemm(d.a.data(), M, ws[0], c.data());
  std::string why;
  if (!validate(s, M, ws[0], c, &why)) {
    st.SkipWithError(why.c_str());
    return;
  }
  std::vector<double> stream, times, base;
  const int base_reps = decode ? 15 : s.K * s.N > 20'000'000 ? 1 : 3;
  auto time_baseline = [&] {
    baseline_call(s, decode, false);  // warm-up (and lets our pool's worker go to sleep)
    for (int r = 0; r < base_reps; ++r) base.push_back(baseline_call(s, decode, false));
    if (decode) stream.push_back(stream_read_gbps(3));
  };
  time_baseline();
  gemm(d.a.data(), M, ws[0], c.data());  // warm-up
  std::size_t i = 0;
  for (auto _ : st) {
    const auto t0 = Clock::now();
    gemm(d.a.data(), M, ws[i++ % ws.size()], c.data());
    const double t = seconds(t0, Clock::now());
    st.SetIterationTime(t);
    times.push_back(t);
  }
  time_baseline();
  const double sgbps = decode ? median(stream) : stream_read_gbps(1);
  set_counters(st, median(times), 2.0 * M * s.N * s.K, static_cast<double>(bytes), median(base), sgbps);
  st.SetLabel(gemm_impl(ws[0], M) + (decode ? " x" + std::to_string(ws.size()) + " copies" : ""));
  set_gemm_isa(GemmIsa::kAvx512);
}

void bench_baseline(benchmark::State& st, const Shape& s, bool decode, bool dgemm) {
  ShapeData& d = shape_data(s);
  const std::int64_t M = decode ? 1 : kPrefillM;
  baseline_call(s, decode, dgemm);  // warm-up
  std::vector<double> times;
  for (auto _ : st) {
    const double t = baseline_call(s, decode, dgemm);
    st.SetIterationTime(t);
    times.push_back(t);
  }
  const double bytes = static_cast<double>(d.w.size()) * (dgemm ? 8 : 4), t = median(times);
  set_counters(st, t, 2.0 * M * s.N * s.K, bytes, t, decode ? stream_read_gbps(3) : stream_read_gbps(1));
  if (dgemm) st.counters["x_sgemm"] = baseline_call(s, decode, false) / t;
  st.SetLabel(dgemm ? "openblas-dgemm" : decode ? "openblas-sgemv" : "openblas-sgemm");
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RegisterBenchmark("baseline/stream_read", [](benchmark::State& st) {
    double g = 0;
    for (auto _ : st) {
      g = stream_read_gbps();
      st.SetIterationTime(1.0 / g);
    }
    st.counters["GBps"] = g;
    st.SetLabel(std::to_string(threads()) + " threads, 1 GiB");
  })->UseManualTime()->Iterations(1);
  for (const Shape& s : kShapes) {
    for (bool decode : {false, true}) {
      const std::string tail = std::string("/") + s.name + (decode ? "/decode" : "/prefill512");
      if (decode) {
        benchmark::RegisterBenchmark(("baseline/sgemv" + tail).c_str(), bench_baseline, s, true, false)
            ->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.3);
      } else {
        benchmark::RegisterBenchmark(("baseline/sgemm" + tail).c_str(), bench_baseline, s, false, false)
            ->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.5);
        benchmark::RegisterBenchmark(("baseline/dgemm" + tail).c_str(), bench_baseline, s, false, true)
            ->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);
      }
      for (const Policy& p : policy_presets()) {
        for (GemmIsa isa : {GemmIsa::kAvx512, GemmIsa::kPortable}) {
          const std::string name = (isa == GemmIsa::kAvx512 ? "gemm/" : "gemm_portable/") + p.name + tail;
          auto* b = benchmark::RegisterBenchmark(name.c_str(), bench_gemm, p, s, decode, isa);
          b->UseManualTime()->Unit(decode ? benchmark::kMicrosecond : benchmark::kMillisecond);
          if (decode) b->MinTime(0.3);
          else b->MinTime(0.5);
        }
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
