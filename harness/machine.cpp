#include "harness/machine.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <numeric>
#include <thread>
#include <vector>

#include <cblas.h>
#include <fmt/format.h>

#include "optimized/cpu/gemm.hpp"

extern "C" char* openblas_get_config(void);
extern "C" int openblas_get_num_threads(void);

#ifndef GEMMA4_GIT_COMMIT
#define GEMMA4_GIT_COMMIT "unknown"
#endif

namespace g4::harness {
namespace {

template <class F>
double median_seconds(int repeats, F&& f) {
  f();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Read bandwidth: sum a buffer far larger than the caches, split across the hardware threads.
double stream_read_gbs() {
  const std::size_t n = std::size_t(1) << 27;  // 1 GiB of doubles
  std::vector<double> buf(n, 1.0);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<double> partial(threads);
  const double s = median_seconds(5, [&] {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const std::size_t b = n * t / threads, e = n * (t + 1) / threads;
        double acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
        for (std::size_t i = b; i + 3 < e; i += 4) acc0 += buf[i], acc1 += buf[i + 1], acc2 += buf[i + 2], acc3 += buf[i + 3];
        partial[t] = acc0 + acc1 + acc2 + acc3;
      });
    for (auto& th : pool) th.join();
  });
  return double(n * sizeof(double)) / s / 1e9;
}

}  // namespace

MachineCeilings measure_ceilings() {
  MachineCeilings c;
  const int M = 512, N = 2048, K = 2048;
  std::vector<double> ad(std::size_t(M) * K, 0.5), bd(std::size_t(N) * K, 0.25), cd(std::size_t(M) * N);
  const double flops = 2.0 * M * N * K;
  c.dgemm_gflops = flops / median_seconds(3, [&] {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0, ad.data(), K, bd.data(), K, 0.0, cd.data(), N);
  }) / 1e9;
  std::vector<float> af(ad.begin(), ad.end()), bf(bd.begin(), bd.end()), cf(cd.size());
  c.sgemm_gflops = flops / median_seconds(3, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, af.data(), K, bf.data(), K, 0.f, cf.data(), N);
  }) / 1e9;
  for (const char* name : {"bf16", "int8"}) {
    const cpu::Policy p = cpu::policy_by_name(name);
    const cpu::PackedWeight w = cpu::pack_weight(bd.data(), N, K, p);
    const double g = flops / median_seconds(3, [&] { cpu::gemm(af.data(), M, w, cf.data()); }) / 1e9;
    (std::string(name) == "bf16" ? c.bf16_gflops : c.int8_gops) = g;
  }
  c.stream_read_gbs = stream_read_gbs();
  return c;
}

Provenance collect_provenance(int argc, char** argv, std::uint64_t seed, const std::string& tolerance_file) {
  Provenance p;
  p.commit = GEMMA4_GIT_COMMIT;
  const std::time_t now = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  p.time_utc = buf;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  p.hostname = host;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    auto value = [&] { return line.substr(line.find(':') + 2); };
    if (p.cpu_model.empty() && line.rfind("model name", 0) == 0) p.cpu_model = value();
    if (p.cpu_flags.empty() && line.rfind("flags", 0) == 0) {
      // Keep the flags that decide which kernels run.
      for (const char* f : {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16",
                            "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8"})
        if ((" " + value() + " ").find(std::string(" ") + f + " ") != std::string::npos) p.cpu_flags += std::string(f) + " ";
    }
  }
  p.compiler = fmt::format("{} {}", "g++", __VERSION__);
  p.library_versions = fmt::format("openblas: {} (threads {})", openblas_get_config(), openblas_get_num_threads());
  for (int i = 0; i < argc; ++i) p.command_line += (i ? " " : "") + std::string(argv[i]);
  p.seed = seed;
  p.tolerance_file = tolerance_file;
  p.threads = openblas_get_num_threads();
  return p;
}

}  // namespace g4::harness
