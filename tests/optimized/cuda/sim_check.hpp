#pragma once
// Test support for simulated CUDA kernels: run one launch under several schedules and demand
// bitwise-identical, fully written (finite) outputs.
//
// `run()` must (1) fill its output buffers with NaN sentinels, (2) launch, (3) return the output
// bytes. The schedules: threads forward / reverse / two seeded shuffles, blocks forward / reverse
// / shuffled, dynamic and G4_SHARED shared memory poisoned with 0xFF (NaN) in every run. A kernel
// that reads shared memory before it is written (missing __syncthreads), leaves outputs unwritten
// or lets blocks overwrite each other's results gives a NaN or a schedule-dependent result.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "optimized/cuda/sim/runtime.hpp"

namespace g4sim::test {

struct Schedule {
  const char* name;
  Order threads, blocks;
  std::uint64_t seed;
};

inline const std::vector<Schedule>& schedules() {
  static const std::vector<Schedule> s = {
      {"forward", Order::forward, Order::forward, 1},
      {"reverse", Order::reverse, Order::reverse, 1},
      {"shuffle-1", Order::shuffle, Order::shuffle, 1},
      {"shuffle-2", Order::shuffle, Order::shuffle, 2},
  };
  return s;
}

// Scoped Options override.
struct ScopedOptions {
  Options saved;
  explicit ScopedOptions(const Options& o) : saved(options()) { options() = o; }
  ~ScopedOptions() { options() = saved; }
};

// Returns "" when every schedule gives the forward schedule's bytes and every float is finite
// (`as_float`: the output is float32 data), else a description of the first problem.
inline std::string check_schedules(const std::function<std::vector<std::uint8_t>()>& run, bool as_float = true) {
  std::vector<std::uint8_t> first;
  for (const Schedule& s : schedules()) {
    Options o;
    o.thread_order = s.threads;
    o.block_order = s.blocks;
    o.seed = s.seed;
    ScopedOptions scoped(o);
    std::vector<std::uint8_t> out = run();
    if (as_float) {
      for (std::size_t i = 0; i + 4 <= out.size(); i += 4) {
        float f;
        std::memcpy(&f, &out[i], 4);
        if (!std::isfinite(f)) return fmt::format("schedule {}: output float {} is {} (unwritten or read poison)", s.name, i / 4, f);
      }
    }
    if (first.empty()) {
      first = std::move(out);
    } else if (out != first) {
      std::size_t i = 0;
      while (i < out.size() && out[i] == first[i]) ++i;
      return fmt::format("schedule {}: output differs from schedule forward at byte {}", s.name, i);
    }
  }
  return "";
}

template <class T>
std::vector<std::uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<std::uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

}  // namespace g4sim::test
