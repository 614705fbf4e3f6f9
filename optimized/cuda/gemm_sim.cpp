// Simulator launchers of the GEMM facade (bodies: gemm_launch.inl), and the cublas backend of
// every GEMM facade in simulation (cublas_backend.hpp): CPU computations with cuBLAS's precision
// rules. Inputs are widened exactly and products are exact in double (bf16 x bf16: 16
// significant bits, fp16 x fp16: 22, fp32 x fp32: 48); the K-term sum is formed in double (exact
// while the products' magnitudes span less than 2^(53 − bits − log2 K); otherwise its error, at
// most K·2^-53·Σ|products|, is far below the one fp32 rounding that follows) and rounded to fp32
// once (the "perfect" accumulation), alpha = 1, beta = 0, then the fp32 epilogue and one RN
// rounding to the output type (fp16: overflow -> ±inf, gemm_tile.cuh store_out). int8: the exact
// integer sum. Device scratch is host memory (pointers are host memory in the simulator),
// poisoned with 0xFF.
#include "optimized/cuda/launch/sim_launch.hpp"
#include "optimized/cuda/gemm_launch.inl"

#include <cstdlib>
#include <cstring>
#include <new>

namespace g4::cuda::inline G4_CUDA_BACKEND::detail {

namespace {
double widen(__nv_bfloat16 v) { return static_cast<double>(__bfloat162float(v)); }
double widen(__half v) { return static_cast<double>(__half2float(v)); }
double widen(float v) { return static_cast<double>(v); }

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

void gemm_cublas_f32(const float* A, const float* W, float* C, const GemmShape& s, Stream) {
  for (std::int64_t m = 0; m < s.M; ++m)
    for (std::int64_t n = 0; n < s.N; ++n) C[m * s.ldc + n] = dot_rounded(A + m * s.lda, W + n * s.ldw, s.K);
}

void gemm_cublas_s8(const std::int8_t* A, const std::int8_t* W, std::int32_t* acc, const GemmShape& s, Stream) {
  for (std::int64_t m = 0; m < s.M; ++m)
    for (std::int64_t n = 0; n < s.N; ++n) {
      std::int64_t sum = 0;
      for (std::int64_t k = 0; k < s.K; ++k) sum += std::int64_t{A[m * s.lda + k]} * W[n * s.ldw + k];
      acc[m * s.ldc + n] = static_cast<std::int32_t>(sum);
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

template void gemm_cublas<__nv_bfloat16, float>(const __nv_bfloat16*, const __nv_bfloat16*, float*, const GemmShape&,
                                                Stream);
template void gemm_cublas<__nv_bfloat16, __nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*, __nv_bfloat16*,
                                                        const GemmShape&, Stream);

}  // namespace g4::cuda::detail
