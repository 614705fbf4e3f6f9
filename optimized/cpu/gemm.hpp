#pragma once
// GEMM / GEMV kernels of the CPU executor, one interface for every weight format.
//
//   C[M, N] = A[M, K] · W[N, K]ᵀ         A row-major float32, W packed once per layer, C float32
//
// The kernel converts A to the weight's input format itself (bf16 / fp16 rounding, or dynamic
// per-token int8 / fp8 quantisation), multiplies with float32 accumulation (int32 for int8 × int8,
// then scaled), and writes float32. M == 1 (a decode step) takes the GEMV path, which streams
// the packed weights once. Kernels take raw pointers and extents only (no xtensor, no HDF5).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "optimized/cpu/policy.hpp"

namespace g4::cpu {

// A weight matrix W[N, K] in one of the policy formats, quantised and laid out for the kernels.
struct PackedWeight {
  Fmt fmt = Fmt::kF32;
  Fmt input = Fmt::kF32;         // what A is converted to: F32, BF16, F16, Int8, FP8E4M3
  std::int64_t N = 0, K = 0;
  int group = 0;                 // int4 group size
  bool asym = false;
  std::vector<std::uint8_t> data;   // the stored weights (layout private to gemm.cpp)
  std::vector<float> scales;        // per row (int8, fp8) or per row-group (int4)
  std::vector<float> zeros;         // int4 asymmetric zero points
  std::shared_ptr<void> backend;    // kernel-library state (e.g. a oneDNN primitive)
  std::size_t bytes() const { return data.size() + 4 * (scales.size() + zeros.size()); }
};

// Quantises/packs W (row-major [N, K], float64 from the loader) for a policy.
PackedWeight pack_weight(const double* w, std::int64_t N, std::int64_t K, const Policy& policy);

// C = A · Wᵀ with the optimized kernel (threads: both cores).
void gemm(const float* a, std::int64_t M, const PackedWeight& w, float* c);

// The same computation written plainly: identical input/weight quantisation, float32 (int32)
// accumulation in increasing k, one thread. The "naive same-precision computation" of the
// ratio rule (DESIGN.md section 5), and the kernels' test oracle.
void gemm_naive(const float* a, std::int64_t M, const PackedWeight& w, float* c);

// The same quantised inputs with exact (float64) accumulation and one final rounding to float32:
// the fast same-precision baseline of the ratio rule at real sizes (gemm.cpp says why).
void gemm_exact(const float* a, std::int64_t M, const PackedWeight& w, float* c);

// Which implementation gemm() uses for this weight on this CPU (e.g. "onednn-avx512_core_bf16",
// "openblas-sgemm", "avx512-gemv-int4"): printed in reports.
std::string gemm_impl(const PackedWeight& w, std::int64_t M);

}  // namespace g4::cpu
