// nvcc launchers of the GEMM facade (bodies: gemm_launch.inl), and its cublas backend on the GPU:
// cublasGemmEx, CUBLAS_COMPUTE_32F (fp32 accumulation, no down-conversion), bf16 or fp16 A/W
// (CUDA_R_16BF / CUDA_R_16F), C fp32 or of the input type. Row-major C[M,N] = A·Wᵀ is the
// column-major product Cᵀ[N,M] = op_T(W_cm[K,N]) · A_cm[K,M], so: transa = T, transb = N,
// m = N, n = M, k = K, lda = ldw, ldb = lda, ldc = ldc. The gated form runs two GEMMs into fp32
// scratch (cudaMallocAsync on the stream) and gelu_gate_mul_kernel.
#include "optimized/cuda/launch/cuda_launch.cuh"
#include "optimized/cuda/gemm_launch.inl"

#include <type_traits>

#include <cublas_v2.h>

namespace g4::cuda::inline G4_CUDA_BACKEND::detail {

namespace {

void check_cublas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) throw_cuda_error(what, cublasGetStatusString(st));
}
void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_cuda_error(what, cudaGetErrorString(e));
}

cublasHandle_t handle() {
  static thread_local cublasHandle_t h = [] {
    cublasHandle_t x = nullptr;
    check_cublas(cublasCreate(&x), "cublasCreate");
    return x;
  }();
  return h;
}

template <class T>
constexpr cudaDataType_t data_type() {
  if constexpr (std::is_same_v<T, float>) return CUDA_R_32F;
  else if constexpr (std::is_same_v<T, __half>) return CUDA_R_16F;
  else return CUDA_R_16BF;
}

template <class In, class OutT>
void gemm_ex(const In* A, const In* W, OutT* C, const GemmShape& s, Stream stream) {
  if (s.M == 0 || s.N == 0) return;
  check_cublas(cublasSetStream(handle(), static_cast<cudaStream_t>(stream)), "cublasSetStream");
  const float alpha = 1.0f, beta = 0.0f;
  check_cublas(cublasGemmEx(handle(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.N), static_cast<int>(s.M),
                            static_cast<int>(s.K), &alpha, W, data_type<In>(), static_cast<int>(s.ldw), A,
                            data_type<In>(), static_cast<int>(s.lda), &beta, C, data_type<OutT>(),
                            static_cast<int>(s.ldc),
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
}

}  // namespace

template <class In, class OutT>
void gemm_cublas(const In* A, const In* W, OutT* C, const GemmShape& s, Stream stream) {
  gemm_ex(A, W, C, s, stream);
}

template <class In, class OutT>
void gemm_cublas_gated(const In* A, const In* Wg, const In* Wu, OutT* C, const GemmShape& s, Stream stream) {
  if (s.M == 0 || s.N == 0) return;
  const auto st = static_cast<cudaStream_t>(stream);
  float *g = nullptr, *u = nullptr;
  const std::size_t bytes = static_cast<std::size_t>(s.M) * s.N * sizeof(float);
  check_cuda(cudaMallocAsync(reinterpret_cast<void**>(&g), bytes, st), "cudaMallocAsync");
  check_cuda(cudaMallocAsync(reinterpret_cast<void**>(&u), bytes, st), "cudaMallocAsync");
  GemmShape dense = s;
  dense.ldc = s.N;
  gemm_ex(A, Wg, g, dense, stream);
  gemm_ex(A, Wu, u, dense, stream);
  const long long n = s.M * s.N;
  if (s.ldc == s.N) {
    G4_LAUNCH(gelu_gate_mul_kernel<OutT>, dim3(grid_for(n, 256)), dim3(256), 0, stream)(g, u, C, n);
  } else {
    throw_cuda_error("gemm_bf16_gelu_gated / gemm_f16_gelu_gated (cublas)",
                     "ldc != N is not supported on the cuBLAS path");
  }
  check_cuda(cudaFreeAsync(g, st), "cudaFreeAsync");
  check_cuda(cudaFreeAsync(u, st), "cudaFreeAsync");
}

}  // namespace g4::cuda::detail
