#pragma once
// The per-op gate of the CPU executor (harness/tolerances.json, harness/runner.cpp gate()),
// applied to one simulated CUDA kernel:
//   rel_l2(kernel) <= k · rel_l2(naive same-precision twin) + floor   and   rel_l2(kernel) <= ceiling
// k = 2 (3 with a tanh softcap in the path), floor = 8 · 2^-24, ceiling per policy (fp32 1e-6,
// bf16 0.0625, fp16 0.0078, fp8-e4m3 0.5, int8 0.139, int4 0.5), every value finite.
// rel_l2 = ||got − ref||₂ / ||ref||₂ against the float64 reference op.
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace g4::cuda::test {

constexpr double kU32 = 1.0 / 16777216.0;
constexpr double kFloor = 8.0 * kU32;

inline double ceiling(const std::string& policy) {
  if (policy == "fp32") return 1e-6;
  if (policy == "bf16") return 0.0625;
  if (policy == "fp16") return 0.0078;
  if (policy == "fp8-e4m3") return 0.5;
  if (policy == "int8") return 0.139;
  return 0.5;  // int4-g32 / int4-g128
}

template <class A, class B>
double rel_l2(const A& got, const B& ref) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double g = static_cast<double>(got[i]);
    if (!std::isfinite(g)) return INFINITY;
    num += (g - ref[i]) * (g - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

struct Gate {
  double kernel = 0, naive = 0, bound = 0, ceil = 0;
  bool pass = false;
  std::string str() const {
    return fmt::format("rel_l2 {:.3e} vs naive {:.3e}: bound {:.3e}, ceiling {:.3e} -> {}", kernel, naive, bound, ceil,
                       pass ? "pass" : "FAIL");
  }
};

inline Gate gate(double kernel, double naive, const std::string& policy, bool tanh_path = false) {
  Gate g;
  g.kernel = kernel;
  g.naive = naive;
  g.bound = (tanh_path ? 3.0 : 2.0) * naive + kFloor;
  g.ceil = ceiling(policy);
  g.pass = std::isfinite(kernel) && kernel <= g.bound && kernel <= g.ceil;
  return g;
}

}  // namespace g4::cuda::test
