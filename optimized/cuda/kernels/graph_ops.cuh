#pragma once
// The remaining nodes of the text graph for the CUDA executor (harness/cuda_executor.cpp): one
// formula each, float32 arithmetic, the result rounded once (RN) to the storage type T (float, bf16
// or fp16; fp16 overflow gives +-inf like the CPU's formats/fp16.hpp: rms_norm.cuh from_f32).
//
//   gelu        y = gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
//               (reference/ops/activations.hpp; activations.cuh's gelu_tanh_f32)
//   add / mul   y = a + b,  y = a · b
//   scale       y = s · x
//   axpy_rows   out[rows[i], :] += w[i] · y[i, :]   (float32; MoE combine of one expert's tokens:
//               the rows of one launch are distinct, so no two threads write one element)
//   gemm_f32    C[m, n] = Σ_k A[m, k] · W[n, k]   ("TN", float32 in and out, no tensor cores):
//               a 16x16-thread block computes a 16x16 tile of C, one output per thread; K goes
//               through shared memory 16 at a time (rows padded to 17 floats: the 16 threads of a
//               half-warp reading column kk of the W tile hit distinct banks); the sum runs in
//               k order with one fused multiply-add per term (__fmaf_rn), so the result is that
//               of a K-term fp32 dot product, independent of the schedule.
#include "optimized/cuda/kernels/common.cuh"
#include "optimized/cuda/kernels/activations.cuh"
#include "optimized/cuda/kernels/rms_norm.cuh"

namespace g4::cuda::inline G4_CUDA_BACKEND {

constexpr int kOpThreads = 256;
constexpr int kSgemmTile = 16;

#define G4_GRID_STRIDE(i, n)                                                                 \
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<long long>(gridDim.x) * blockDim.x)

template <class T>
__global__ void __launch_bounds__(kOpThreads) gelu_kernel(const T* x, T* y, long long n) {
  G4_GRID_STRIDE(i, n) y[i] = from_f32<T>(gelu_tanh_f32(to_f32(x[i])));
}
template <class T>
__global__ void __launch_bounds__(kOpThreads) add_kernel(const T* a, const T* b, T* y, long long n) {
  G4_GRID_STRIDE(i, n) y[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}
template <class T>
__global__ void __launch_bounds__(kOpThreads) mul_kernel(const T* a, const T* b, T* y, long long n) {
  G4_GRID_STRIDE(i, n) y[i] = from_f32<T>(to_f32(a[i]) * to_f32(b[i]));
}
template <class T>
__global__ void __launch_bounds__(kOpThreads) scale_kernel(const T* x, T* y, long long n, float s) {
  G4_GRID_STRIDE(i, n) y[i] = from_f32<T>(s * to_f32(x[i]));
}
__global__ void __launch_bounds__(kOpThreads)
    axpy_rows_kernel(const float* y, const int* rows, const float* w, float* out, long long n, int D) {
  G4_GRID_STRIDE(i, n * D) {
    const long long r = i / D;
    const int d = static_cast<int>(i % D);
    const long long o = static_cast<long long>(rows[r]) * D + d;
    out[o] = __fmaf_rn(w[r], y[i], out[o]);
  }
}

#undef G4_GRID_STRIDE

__global__ void __launch_bounds__(kSgemmTile * kSgemmTile)
    gemm_f32_kernel(const float* __restrict__ A, int lda, const float* __restrict__ W, int ldw, float* __restrict__ C,
                    int ldc, int M, int N, int K) {
  G4_SHARED(float, As, [kSgemmTile][kSgemmTile + 1]);
  G4_SHARED(float, Ws, [kSgemmTile][kSgemmTile + 1]);
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int m = blockIdx.y * kSgemmTile + ty, n = blockIdx.x * kSgemmTile + tx;
  const int n_load = blockIdx.x * kSgemmTile + ty;  // the W row this thread stages
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += kSgemmTile) {
    const int k = k0 + tx;
    As[ty][tx] = m < M && k < K ? A[static_cast<long long>(m) * lda + k] : 0.0f;
    Ws[ty][tx] = n_load < N && k < K ? W[static_cast<long long>(n_load) * ldw + k] : 0.0f;
    __syncthreads();
    const int kn = K - k0 < kSgemmTile ? K - k0 : kSgemmTile;  // no padded terms in the sum
    for (int kk = 0; kk < kn; ++kk) acc = __fmaf_rn(As[ty][kk], Ws[tx][kk], acc);
    __syncthreads();
  }
  if (m < M && n < N) C[static_cast<long long>(m) * ldc + n] = acc;
}

}  // namespace g4::cuda
