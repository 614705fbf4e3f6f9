// nvcc launchers of the quantised GEMMs (bodies: gemm_quant_launch.inl), and the cuBLAS GEMMs of
// their cublas backend on the GPU: cublasGemmEx. Row-major C[M,N] = A·Wᵀ is the column-major
// product Cᵀ[N,M] = op_T(W_cm[K,N]) · A_cm[K,M] (as gemm_cuda.cu): transa = T, transb = N,
// m = N, n = M, k = K, lda = ldw, ldb = lda, ldc = ldc.
//   int8: CUDA_R_8I inputs, CUDA_R_32I output, CUBLAS_COMPUTE_32I with int32 alpha = 1, beta = 0.
//       cuBLAS's int8 path wants A and B 4-byte aligned, lda / ldb multiples of 4, TN; the facade
//       already requires 16-byte alignment and multiples of 16 (check_gemm_quant), so nothing is
//       padded or refused here.
//   bf16: CUDA_R_16BF inputs, CUBLAS_COMPUTE_32F, fp32 or bf16 output.
// The handle is this TU's own (one per host thread, like gemm_cuda.cu's); scratch comes from the
// stream-ordered allocator (cudaMallocAsync / cudaFreeAsync on the stream).
#include "optimized/cuda/launch/cuda_launch.cuh"
#include "optimized/cuda/gemm_quant_launch.inl"

#include <cublas_v2.h>

namespace g4::cuda::inline G4_CUDA_BACKEND::detail {

namespace {

void check_cublas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) throw_cuda_error(what, cublasGetStatusString(st));
}

cublasHandle_t handle(Stream stream) {
  static thread_local cublasHandle_t h = [] {
    cublasHandle_t x = nullptr;
    check_cublas(cublasCreate(&x), "cublasCreate");
    return x;
  }();
  check_cublas(cublasSetStream(h, static_cast<cudaStream_t>(stream)), "cublasSetStream");
  return h;
}

}  // namespace

void cublas_gemm_s8(const std::int8_t* A, const std::int8_t* W, std::int32_t* acc, const GemmShape& s, Stream stream) {
  const std::int32_t alpha = 1, beta = 0;
  check_cublas(cublasGemmEx(handle(stream), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.N), static_cast<int>(s.M),
                            static_cast<int>(s.K), &alpha, W, CUDA_R_8I, static_cast<int>(s.ldw), A, CUDA_R_8I,
                            static_cast<int>(s.lda), &beta, acc, CUDA_R_32I, static_cast<int>(s.ldc),
                            CUBLAS_COMPUTE_32I, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx (int8)");
}

template <class OutT>
void cublas_gemm_bf16(const __nv_bfloat16* A, const __nv_bfloat16* W, OutT* C, const GemmShape& s, Stream stream) {
  const float alpha = 1.0f, beta = 0.0f;
  check_cublas(cublasGemmEx(handle(stream), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.N), static_cast<int>(s.M),
                            static_cast<int>(s.K), &alpha, W, CUDA_R_16BF, static_cast<int>(s.ldw), A, CUDA_R_16BF,
                            static_cast<int>(s.lda), &beta, C, sizeof(OutT) == 4 ? CUDA_R_32F : CUDA_R_16BF,
                            static_cast<int>(s.ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx (bf16)");
}

void* scratch_alloc(std::size_t bytes, Stream stream) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  if (const cudaError_t e = cudaMallocAsync(&p, bytes, static_cast<cudaStream_t>(stream)); e != cudaSuccess)
    throw_cuda_error("cudaMallocAsync (quantised GEMM scratch)", cudaGetErrorString(e));
  return p;
}

// Errors are not reported here (a destructor, possibly while an exception unwinds): a free can
// only fail once the stream itself has failed, which the next launch or synchronisation reports.
void scratch_free(void* p, Stream stream) noexcept {
  if (p != nullptr) static_cast<void>(cudaFreeAsync(p, static_cast<cudaStream_t>(stream)));
}

}  // namespace g4::cuda::detail
