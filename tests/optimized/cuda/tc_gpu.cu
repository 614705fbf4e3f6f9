// GPU launchers of the tensor-core test kernels (tc_test_kernels.cuh), for test_gpu.cpp. Pointers
// are CUDA managed memory; each call synchronises.
#include <cuda_runtime.h>

#include "optimized/cuda/checks.hpp"
#include "tests/optimized/cuda/tc_gpu.hpp"
#include "tests/optimized/cuda/tc_test_kernels.cuh"

namespace g4::cuda::test::gpu {

namespace {
void sync(const char* what) {
  if (const cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess)
    ::g4::cuda::detail::throw_cuda_error(what, cudaGetErrorString(e));
}
}  // namespace

void mma16_bf16(const __nv_bfloat16* A, const __nv_bfloat16* B, const float* C, float* D, int layout) {
  mma16_tile<__nv_bfloat16, false><<<1, 32>>>(A, B, C, D, layout);
  sync("mma16_tile<bf16>");
}
void mma16_f16(const __half* A, const __half* B, const float* C, float* D, int layout) {
  mma16_tile<__half, true><<<1, 32>>>(A, B, C, D, layout);
  sync("mma16_tile<f16>");
}
void mma_s8(const int8_t* A, const int8_t* B, const int* C, int* D, int layout) {
  mma_s8_tile<<<1, 32>>>(A, B, C, D, layout);
  sync("mma_s8_tile");
}
void cp_async(const float* x, float* y, int n) {
  cp_async_scale<<<1, 32, n * sizeof(float)>>>(x, y, n, true);
  sync("cp_async_scale");
}
int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}
void* managed(std::size_t bytes) {
  void* p = nullptr;
  if (const cudaError_t e = cudaMallocManaged(&p, bytes); e != cudaSuccess)
    ::g4::cuda::detail::throw_cuda_error("cudaMallocManaged", cudaGetErrorString(e));
  return p;
}
void release(void* p) { cudaFree(p); }
void synchronize() { sync("cudaDeviceSynchronize"); }

}  // namespace g4::cuda::test::gpu
