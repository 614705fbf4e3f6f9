#pragma once
// Which instruction set the CPU GEMM kernels use, for tests and benchmarks (gemm.hpp is the
// contract; this is the switch beside it).
//
// kAvx512: AVX-512 F/BW/VL + BF16 + VNNI kernels (own GEMV and GEMM micro-kernels), chosen at
//          run time when the CPU has all five (checked with cpuid through __builtin_cpu_supports).
// kPortable: plain C++ compiled for the baseline ISA plus OpenBLAS: weights widened to float32
//          (float64 for int8 × int8, whose integer products and sums are then exact) in row chunks,
//          then sgemm / sgemv (dgemm / dgemv), with the same quantisation of A and W.
// Default: kAvx512 when available; the environment variable G4_GEMM_ISA=portable forces the
// portable path for the whole process (read once, at the first GEMM).
#include <cstdint>

#include "optimized/cpu/policy.hpp"

namespace g4::cpu {

enum class GemmIsa { kPortable, kAvx512 };

const char* gemm_isa_name(GemmIsa isa);
// The ISA in use.
GemmIsa gemm_isa();
// Requests an ISA; kAvx512 on a CPU without it stays kPortable. Returns the ISA now in use.
// Not thread-safe with concurrent GEMMs (a test / benchmark switch).
GemmIsa set_gemm_isa(GemmIsa isa);

// The activation conversion gemm() applies to one row of A (K values) for an input format
// (kF32, kBF16, kF16, kFP8E4M3, kInt8): values[k] = the converted value before scaling, *scale =
// the row scale (1 for the unscaled formats). Computed by the kernels of the ISA in use; the
// scalar definition (optimized/formats) is what gemm_naive uses, and the tests check both agree
// bit for bit.
void convert_activation_row(const float* a, std::int64_t K, Fmt input, float* values, float* scale);
void convert_activation_row_scalar(const float* a, std::int64_t K, Fmt input, float* values, float* scale);

}  // namespace g4::cpu
