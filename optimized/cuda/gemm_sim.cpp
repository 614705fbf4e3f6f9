// Simulator launchers of the GEMM facade (bodies: gemm_launch.inl), and its cublas backend in
// simulation: a CPU GEMM with cuBLAS's precision rules (CUBLAS_COMPUTE_32F, bf16 or fp16 inputs):
// inputs widened exactly, products exact (a bf16 x bf16 product has 16 significant bits, an
// fp16 x fp16 one 22: both exact in double), the K-term sum formed in double (exact while the
// products' magnitudes span less than 2^(53 − 22 − log2 K); otherwise its error, at most
// K·2^-53·Σ|products|, is far below the one fp32 rounding that follows) and rounded to fp32 once
// (the "perfect tensor core" accumulation), alpha = 1, beta = 0, then the fp32 epilogue and one RN
// rounding to the output type (fp16: overflow -> ±inf, gemm_tile.cuh store_out). Also the ratio
// rule's same-precision baseline.
#include "optimized/cuda/launch/sim_launch.hpp"
#include "optimized/cuda/gemm_launch.inl"

#include <vector>

namespace g4::cuda::inline G4_CUDA_BACKEND::detail {

namespace {
double widen(__nv_bfloat16 v) { return static_cast<double>(__bfloat162float(v)); }
double widen(__half v) { return static_cast<double>(__half2float(v)); }

template <class In>
float dot_rounded(const In* a, const In* w, std::int64_t K) {
  double acc = 0.0;
  for (std::int64_t k = 0; k < K; ++k) acc += widen(a[k]) * widen(w[k]);
  return static_cast<float>(acc);
}
}  // namespace

template <class In, class OutT>
void gemm_cublas(const In* A, const In* W, OutT* C, const GemmShape& s, Stream) {
  for (std::int64_t m = 0; m < s.M; ++m)
    for (std::int64_t n = 0; n < s.N; ++n) store_out(C + m * s.ldc + n, dot_rounded(A + m * s.lda, W + n * s.ldw, s.K));
}

template <class In, class OutT>
void gemm_cublas_gated(const In* A, const In* Wg, const In* Wu, OutT* C, const GemmShape& s, Stream) {
  for (std::int64_t m = 0; m < s.M; ++m)
    for (std::int64_t n = 0; n < s.N; ++n) {
      const float g = dot_rounded(A + m * s.lda, Wg + n * s.ldw, s.K);
      const float u = dot_rounded(A + m * s.lda, Wu + n * s.ldw, s.K);
      store_out(C + m * s.ldc + n, gelu_tanh_f32(g) * u);
    }
}

}  // namespace g4::cuda::detail
