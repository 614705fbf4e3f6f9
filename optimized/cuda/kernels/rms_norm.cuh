#pragma once
// RMSNorm fused with the residual add (reference/ops/rms_norm.hpp; CPU twin optimized/cpu
// add_rms_norm):
//
//   sum = x + r                          (skipped when r == nullptr: sum = x, not written)
//   y   = sum · (mean(sum²) + eps)^(-1/2) · w      per group of `dim` values (w == nullptr: no w)
//
// One block per (row, group); T (float, __nv_bfloat16 or __half) is the storage type of x, r, sum,
// y; the arithmetic is float32: sum is rounded to T once (the stored residual stream), and the
// norm is taken of the ROUNDED sum, as the unfused pair would do it. Σ sum² is a float32 sum: per-thread
// strided partial sums, a warp xor-shuffle tree, one partial per warp in shared memory, warp 0
// adds the partials with a second shuffle tree. inv = 1 / sqrtf(mean + eps) (IEEE sqrt and
// division on the GPU: sqrtf and `/` are correctly rounded without --use_fast_math).
// x, r, sum, y may alias (in-place update of the residual stream); hence no __restrict__.
// Launch: grid = rows·groups blocks, block = kRmsNormThreads, no dynamic shared memory.
#include "optimized/cuda/kernels/common.cuh"

namespace g4::cuda::inline G4_CUDA_BACKEND {

constexpr int kRmsNormThreads = 256;

// Storage <-> float32 for every kernel templated on the storage type T: widening is exact;
// narrowing is ONE round to nearest even of the float32 value. fp16 follows IEEE 754 like
// optimized/formats/fp16.hpp (the CPU executor's storage rounding): no saturation, |v| >= 65520
// (65504 + half an ulp, a tie whose even neighbour is 2^16) -> +-inf, subnormals kept. On the GPU
// __float2half_rn is cvt.rn.f16.f32 (no .satfinite); in the simulator it is cuda_fp16.hpp's host
// code; both give the same bits as formats::float_to_fp16 (test_cuda_graph_ops, fp16_overflow_*).
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
template <class T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
  return __float2half_rn(v);
}

// Sum of v over the block (every thread gets the result). Two barriers; `partial` holds one
// float per warp.
__device__ __forceinline__ float block_sum_f32(float v, float* partial) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = (blockDim.x + 31) / 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  float s = lane < nwarps ? partial[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(kFullMask, s, o);
  __syncthreads();  // partial may be reused by the caller
  return s;
}

template <class T>
__global__ void __launch_bounds__(kRmsNormThreads)
    add_rms_norm_kernel(const T* x, const T* r, const float* __restrict__ w, T* sum, T* y, int dim, float eps) {
  G4_SHARED(float, partial, [32]);
  const long long base = static_cast<long long>(blockIdx.x) * dim;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float v = to_f32(x[base + i]);
    if (r) {
      const T s = from_f32<T>(v + to_f32(r[base + i]));
      sum[base + i] = s;
      v = to_f32(s);
    }
    ss += v * v;
  }
  const float total = block_sum_f32(ss, partial);
  const float inv = 1.0f / sqrtf(total / static_cast<float>(dim) + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    // Re-read what this thread itself wrote (sum) or x: no cross-thread dependency.
    const float v = r ? to_f32(sum[base + i]) : to_f32(x[base + i]);
    const float o = v * inv;
    y[base + i] = from_f32<T>(w ? o * w[i] : o);
  }
}

}  // namespace g4::cuda
