// Simulator launchers of the GEMM facade (bodies: gemm_launch.inl), and its cublas backend in
// simulation: a CPU GEMM with cuBLAS's precision rules (CUBLAS_COMPUTE_32F, bf16 inputs):
// inputs widened exactly, products exact, the K-term sum formed exactly (double: a bf16 x bf16
// product has 16 significant bits, so up to 2^37 terms sum without rounding) and rounded to fp32
// once (the "perfect tensor core" accumulation), alpha = 1, beta = 0, then the fp32 epilogue and
// one RN rounding to the output type. Also the ratio rule's same-precision baseline.
#include "optimized/cuda/launch/sim_launch.hpp"
#include "optimized/cuda/gemm_launch.inl"

#include <vector>

namespace g4::cuda::inline G4_CUDA_BACKEND::detail {

namespace {
float dot_rounded(const __nv_bfloat16* a, const __nv_bfloat16* w, std::int64_t K) {
  double acc = 0.0;
  for (std::int64_t k = 0; k < K; ++k)
    acc += static_cast<double>(__bfloat162float(a[k])) * static_cast<double>(__bfloat162float(w[k]));
  return static_cast<float>(acc);
}
}  // namespace

template <class OutT>
void gemm_cublas(const __nv_bfloat16* A, const __nv_bfloat16* W, OutT* C, const GemmShape& s, Stream) {
  for (std::int64_t m = 0; m < s.M; ++m)
    for (std::int64_t n = 0; n < s.N; ++n) store_out(C + m * s.ldc + n, dot_rounded(A + m * s.lda, W + n * s.ldw, s.K));
}

template <class OutT>
void gemm_cublas_gated(const __nv_bfloat16* A, const __nv_bfloat16* Wg, const __nv_bfloat16* Wu, OutT* C,
                       const GemmShape& s, Stream) {
  for (std::int64_t m = 0; m < s.M; ++m)
    for (std::int64_t n = 0; n < s.N; ++n) {
      const float g = dot_rounded(A + m * s.lda, Wg + n * s.ldw, s.K);
      const float u = dot_rounded(A + m * s.lda, Wu + n * s.ldw, s.K);
      store_out(C + m * s.ldc + n, gelu_tanh_f32(g) * u);
    }
}

}  // namespace g4::cuda::detail
