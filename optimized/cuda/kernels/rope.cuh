#pragma once
// Rotary position embedding, rotate-half convention (reference/ops/rope.hpp; CPU twin
// optimized/cpu rope), default and proportional: both are the same kernel over a cos/sin table
// built on the host by g4::cpu::rope_table from ops::rope_inv_freq (angle and cos/sin in float64,
// rounded once to float32; proportional RoPE's unrotated dims have inv_freq 0, so cos 1, sin 0
// exactly and pass through bit-unchanged).
//
//   y[k]        = x[k]        · cos θ_k − x[k + Dh/2] · sin θ_k
//   y[k + Dh/2] = x[k + Dh/2] · cos θ_k + x[k]        · sin θ_k          θ_k = pos · inv_freq[k]
//
// float32 arithmetic in the order written (nvcc may contract each line into one FMA; the
// simulator rounds the product first: a difference of at most one fp32 rounding per output).
// T: storage type of x and y (float, __nv_bfloat16 or __half; rms_norm.cuh's to_f32 / from_f32:
// exact widening, one RN rounding at the store); y may alias x (each thread reads its
// pair before writing it). One thread per (row, head, k < Dh/2); a grid-stride loop.
#include "optimized/cuda/kernels/common.cuh"
#include "optimized/cuda/kernels/rms_norm.cuh"

namespace g4::cuda::inline G4_CUDA_BACKEND {

constexpr int kRopeThreads = 256;

template <class T>
__global__ void __launch_bounds__(kRopeThreads)
    rope_kernel(const T* x, T* y, const long long* __restrict__ positions, const float* __restrict__ cos_table,
                const float* __restrict__ sin_table, int rows, int heads, int head_dim) {
  const int half = head_dim / 2;
  const long long total = static_cast<long long>(rows) * heads * half;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int k = static_cast<int>(i % half);
    const long long rh = i / half;  // row * heads + head
    const long long row = rh / heads;
    const long long o = rh * head_dim;
    const long long tab = positions[row] * half + k;
    const float c = cos_table[tab], s = sin_table[tab];
    const float a = to_f32(x[o + k]), b = to_f32(x[o + k + half]);
    y[o + k] = from_f32<T>(a * c - b * s);
    y[o + k + half] = from_f32<T>(b * c + a * s);
  }
}

}  // namespace g4::cuda
