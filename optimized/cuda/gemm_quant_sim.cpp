// Simulator launchers of the quantised GEMMs (bodies: gemm_quant_launch.inl), and the cuBLAS
// GEMMs of their cublas backend in simulation: CPU computations with cuBLAS's precision rules.
//   int8 x int8 -> int32 (CUBLAS_COMPUTE_32I): the exact integer sum (|acc| < 2^31 for
//       K < 2^31 / 128², every Gemma 4 K), as the tensor cores form it.
//   bf16 x bf16 (CUBLAS_COMPUTE_32F): as gemm_sim.cpp's cublas path — inputs widened exactly,
//       products exact, the K-term sum formed exactly (double: a bf16 x bf16 product has 16
//       significant bits, so up to 2^37 terms sum without rounding) and rounded to fp32 once,
//       alpha = 1, beta = 0, one RN rounding to the output type.
// Device scratch is host memory (pointers are host memory in the simulator), poisoned with 0xFF.
#include "optimized/cuda/launch/sim_launch.hpp"
#include "optimized/cuda/gemm_quant_launch.inl"

#include <cstdlib>
#include <cstring>
#include <new>

namespace g4::cuda::inline G4_CUDA_BACKEND::detail {

void cublas_gemm_s8(const std::int8_t* A, const std::int8_t* W, std::int32_t* acc, const GemmShape& s, Stream) {
  for (std::int64_t m = 0; m < s.M; ++m)
    for (std::int64_t n = 0; n < s.N; ++n) {
      std::int64_t sum = 0;
      for (std::int64_t k = 0; k < s.K; ++k) sum += std::int64_t{A[m * s.lda + k]} * W[n * s.ldw + k];
      acc[m * s.ldc + n] = static_cast<std::int32_t>(sum);
    }
}

template <class OutT>
void cublas_gemm_bf16(const __nv_bfloat16* A, const __nv_bfloat16* W, OutT* C, const GemmShape& s, Stream) {
  for (std::int64_t m = 0; m < s.M; ++m)
    for (std::int64_t n = 0; n < s.N; ++n) {
      double sum = 0.0;
      for (std::int64_t k = 0; k < s.K; ++k)
        sum += static_cast<double>(__bfloat162float(A[m * s.lda + k])) *
               static_cast<double>(__bfloat162float(W[n * s.ldw + k]));
      store_out(C + m * s.ldc + n, static_cast<float>(sum));
    }
}

void* scratch_alloc(std::size_t bytes, Stream) {
  if (bytes == 0) return nullptr;
  void* p = std::malloc(bytes);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0xFF, bytes);
  return p;
}

void scratch_free(void* p, Stream) noexcept { std::free(p); }

}  // namespace g4::cuda::detail
