#pragma once
// The cublas backend of every GEMM facade in ops.hpp (GemmBackend::cublas), in one place per build:
//   GPU (gemm_cuda.cu): cublasGemmEx on the stream, one handle per host thread;
//   simulator (gemm_sim.cpp): CPU computations with cuBLAS's precision rules, the rule for each
//       call below: inputs widened exactly, products exact, the K-term sum formed in double and
//       rounded once ("perfect" fp32 accumulation; int8: the exact integer sum), alpha = 1,
//       beta = 0, then one RN rounding to the output type. Also the ratio rule's baseline.
// Every call is row-major "TN" like the facades: C[m, n] = Σ_k A[m, k]·W[n, k], with s's leading
// dimensions (elements); on the GPU that is the column-major product Cᵀ[N,M] =
// op_T(W_cm[K,N]) · A_cm[K,M]: transa = T, transb = N, m = N, n = M, k = K, lda = ldw,
// ldb = lda, ldc = ldc.
#include <cstddef>
#include <cstdint>

#include "optimized/cuda/ops.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND::detail {

// 16-bit inputs (In = bf16 or fp16), CUBLAS_COMPUTE_32F, C float or In.
template <class In, class OutT>
void gemm_cublas(const In* A, const In* W, OutT* C, const GemmShape& s, Stream stream);
// C = gelu_tanh(A·Wgᵀ) ⊙ (A·Wuᵀ): two GEMMs into fp32 scratch, then the fp32 epilogue; ldc = N.
template <class In, class OutT>
void gemm_cublas_gated(const In* A, const In* Wg, const In* Wu, OutT* C, const GemmShape& s, Stream stream);
// fp32 inputs, CUBLAS_COMPUTE_32F with the default math mode (no TF32): an SGEMM.
void gemm_cublas_f32(const float* A, const float* W, float* C, const GemmShape& s, Stream stream);
// int8 inputs, CUBLAS_COMPUTE_32I: the exact int32 sums (|acc| < 2^31 for K < 2^31 / 128²).
// cuBLAS wants 4-byte aligned A and W and lda / ldw multiples of 4 (the facade's checks cover it).
void gemm_cublas_s8(const std::int8_t* A, const std::int8_t* W, std::int32_t* acc, const GemmShape& s, Stream stream);

// Device scratch ordered on the stream (GPU: cudaMallocAsync / cudaFreeAsync; simulator: host
// memory filled with 0xFF bytes, NaN in every float format, so a kernel reading what nobody
// wrote gives NaN). bytes == 0: nullptr.
void* scratch_alloc(std::size_t bytes, Stream stream);
void scratch_free(void* p, Stream stream) noexcept;

template <class T>
class Scratch {
 public:
  Scratch(std::int64_t n, Stream stream)
      : p_(static_cast<T*>(scratch_alloc(static_cast<std::size_t>(n) * sizeof(T), stream))), stream_(stream) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { scratch_free(p_, stream_); }
  T* get() const { return p_; }

 private:
  T* p_;
  Stream stream_;
};

}  // namespace g4::cuda::detail
