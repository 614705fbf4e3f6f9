// nvcc launchers of the GEMM facade (bodies: gemm_launch.inl), and the cublas backend of every
// GEMM facade on the GPU (cublas_backend.hpp): cublasGemmEx on the stream, one handle per host
// thread. 16-bit inputs: CUDA_R_16BF / CUDA_R_16F, CUBLAS_COMPUTE_32F (fp32 accumulation, no
// down-conversion), C fp32 or of the input type; fp32: CUDA_R_32F with CUBLAS_COMPUTE_32F (the
// default math mode: no TF32); int8: CUDA_R_8I -> CUDA_R_32I, CUBLAS_COMPUTE_32I with int32
// alpha = 1, beta = 0. The gated form runs two GEMMs into fp32 scratch and gelu_gate_mul_kernel.
// Scratch comes from the stream-ordered allocator (cudaMallocAsync / cudaFreeAsync).
#include "optimized/cuda/launch/cuda_launch.cuh"
#include "optimized/cuda/gemm_launch.inl"

#include <type_traits>

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

template <class T>
constexpr cudaDataType_t data_type() {
  if constexpr (std::is_same_v<T, float>) return CUDA_R_32F;
  else if constexpr (std::is_same_v<T, __half>) return CUDA_R_16F;
  else if constexpr (std::is_same_v<T, std::int8_t>) return CUDA_R_8I;
  else if constexpr (std::is_same_v<T, std::int32_t>) return CUDA_R_32I;
  else return CUDA_R_16BF;
}

// One row-major TN GEMM through cublasGemmEx (see cublas_backend.hpp for the mapping).
template <class In, class OutT>
void gemm_ex(const In* A, const In* W, OutT* C, const GemmShape& s, Stream stream) {
  if (s.M == 0 || s.N == 0) return;
  constexpr bool s8 = std::is_same_v<In, std::int8_t>;
  const float alpha = 1.0f, beta = 0.0f;
  const std::int32_t alpha_i = 1, beta_i = 0;
  check_cublas(cublasGemmEx(handle(stream), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.N), static_cast<int>(s.M),
                            static_cast<int>(s.K), s8 ? static_cast<const void*>(&alpha_i) : &alpha, W,
                            data_type<In>(), static_cast<int>(s.ldw), A, data_type<In>(), static_cast<int>(s.lda),
                            s8 ? static_cast<const void*>(&beta_i) : &beta, C, data_type<OutT>(),
                            static_cast<int>(s.ldc), s8 ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT),
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
  if (s.ldc != s.N)
    throw_cuda_error("gemm_bf16_gelu_gated / gemm_f16_gelu_gated (cublas)", "ldc != N is not supported on the cuBLAS path");
  const Scratch<float> g(s.M * s.N, stream), u(s.M * s.N, stream);
  gemm_ex(A, Wg, g.get(), s, stream);
  gemm_ex(A, Wu, u.get(), s, stream);
  const long long n = s.M * s.N;
  G4_LAUNCH(gelu_gate_mul_kernel<OutT>, dim3(grid_for(n, 256)), dim3(256), 0, stream)(g.get(), u.get(), C, n);
}

void gemm_cublas_f32(const float* A, const float* W, float* C, const GemmShape& s, Stream stream) {
  gemm_ex(A, W, C, s, stream);
}

void gemm_cublas_s8(const std::int8_t* A, const std::int8_t* W, std::int32_t* acc, const GemmShape& s, Stream stream) {
  gemm_ex(A, W, acc, s, stream);
}

void* scratch_alloc(std::size_t bytes, Stream stream) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  if (const cudaError_t e = cudaMallocAsync(&p, bytes, static_cast<cudaStream_t>(stream)); e != cudaSuccess)
    throw_cuda_error("cudaMallocAsync (GEMM scratch)", cudaGetErrorString(e));
  return p;
}

// Errors are not reported here (a destructor, possibly while an exception unwinds): a free can
// only fail once the stream itself has failed, which the next launch or synchronisation reports.
void scratch_free(void* p, Stream stream) noexcept {
  if (p != nullptr) static_cast<void>(cudaFreeAsync(p, static_cast<cudaStream_t>(stream)));
}

template void gemm_cublas<__nv_bfloat16, float>(const __nv_bfloat16*, const __nv_bfloat16*, float*, const GemmShape&,
                                                Stream);
template void gemm_cublas<__nv_bfloat16, __nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*, __nv_bfloat16*,
                                                        const GemmShape&, Stream);

}  // namespace g4::cuda::detail
