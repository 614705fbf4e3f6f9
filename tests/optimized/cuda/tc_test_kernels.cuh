#pragma once
// Test kernels for the tensor-core wrappers, shared by the simulator test (test_tensor_core.cpp)
// and the GPU test (test_tensor_core_gpu.cu): one warp computes D = A·B + C on one tile.
//   A: 16xK row-major (K = 16 for bf16/f16, 32 for s8), B: K x 8 row-major (k x n), C/D: 16x8.
// `layout` selects how fragments are loaded:
//   0  direct register loads following the PTX fragment layout (tensor_core.cuh)
//   1  ldmatrix.x4 for A and ldmatrix.x2.trans for B from shared memory (16-bit types only)
//   2  a deliberately WRONG layout (a[1] and a[2] swapped: rows g+8 taken for columns +8): the
//      test requires that this one is caught
#include "optimized/cuda/kernels/tensor_core.cuh"

namespace g4::cuda::test {

template <class T>
__device__ __forceinline__ uint32_t ld_pair(const T* p) {  // p[0] low, p[1] high
  return tc::pack2(p[0], p[1]);
}

template <class T, bool kF16>
__global__ void mma16_tile(const T* A, const T* B, const float* C, float* D, int layout) {
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  uint32_t a[4], b[2];
  if (layout == 1) {
    G4_SHARED(__align__(16) T, sa, [16 * 16]);
    G4_SHARED(__align__(16) T, sb, [16 * 8]);
    for (int i = lane; i < 16 * 16; i += 32) sa[i] = A[i];
    for (int i = lane; i < 16 * 8; i += 32) sb[i] = B[i];
    __syncwarp();
    const int row = (lane % 8) + 8 * ((lane / 8) % 2), col = 8 * (lane / 16);
    tc::ldmatrix_x4(a, &sa[row * 16 + col]);
    tc::ldmatrix_x2_trans(b, &sb[(lane % 16) * 8]);
  } else {
    const int r0 = g, r1 = g + 8, c0 = 2 * t, c1 = 2 * t + 8;
    a[0] = ld_pair(&A[r0 * 16 + c0]);
    a[1] = ld_pair(&A[r1 * 16 + c0]);
    a[2] = ld_pair(&A[r0 * 16 + c1]);
    a[3] = ld_pair(&A[r1 * 16 + c1]);
    if (layout == 2) {
      const uint32_t s = a[1];
      a[1] = a[2];
      a[2] = s;
    }
    b[0] = tc::pack2(B[(2 * t) * 8 + g], B[(2 * t + 1) * 8 + g]);
    b[1] = tc::pack2(B[(2 * t + 8) * 8 + g], B[(2 * t + 9) * 8 + g]);
  }
  float c[4], d[4];
  for (int i = 0; i < 4; ++i) c[i] = C[(g + 8 * (i >= 2)) * 8 + 2 * t + (i & 1)];
  if constexpr (kF16) tc::mma_m16n8k16_f16(d, a, b, c);
  else tc::mma_m16n8k16_bf16(d, a, b, c);
  for (int i = 0; i < 4; ++i) D[(g + 8 * (i >= 2)) * 8 + 2 * t + (i & 1)] = d[i];
}

__global__ void mma_s8_tile(const int8_t* A, const int8_t* B, const int* C, int* D, int layout) {
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  auto ra = [&](int r, int k) { return tc::pack4(A[r * 32 + k], A[r * 32 + k + 1], A[r * 32 + k + 2], A[r * 32 + k + 3]); };
  auto rb = [&](int k, int n) { return tc::pack4(B[k * 8 + n], B[(k + 1) * 8 + n], B[(k + 2) * 8 + n], B[(k + 3) * 8 + n]); };
  uint32_t a[4] = {ra(g, 4 * t), ra(g + 8, 4 * t), ra(g, 16 + 4 * t), ra(g + 8, 16 + 4 * t)};
  if (layout == 2) {
    const uint32_t s = a[1];
    a[1] = a[2];
    a[2] = s;
  }
  const uint32_t b[2] = {rb(4 * t, g), rb(16 + 4 * t, g)};
  int c[4], d[4];
  for (int i = 0; i < 4; ++i) c[i] = C[(g + 8 * (i >= 2)) * 8 + 2 * t + (i & 1)];
  tc::mma_m16n8k32_s8(d, a, b, c);
  for (int i = 0; i < 4; ++i) D[(g + 8 * (i >= 2)) * 8 + 2 * t + (i & 1)] = d[i];
}

// cp.async staging of n floats (n a multiple of 4 * blockDim.x) through shared memory, y = 2x.
// `wait_first` = false reads the staged data BEFORE cp.async.wait_group: a bug the simulator
// must expose (the destination holds poison until the wait).
__global__ void cp_async_scale(const float* x, float* y, int n, bool wait_first) {
  G4_DYNAMIC_SMEM(float, s);
  for (int i = 4 * threadIdx.x; i < n; i += 4 * blockDim.x) tc::cp_async_16(&s[i], &x[i]);
  tc::cp_async_commit();
  if (wait_first) tc::cp_async_wait<0>();
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) y[i] = 2.0f * s[(i + 4) % n];
  if (!wait_first) tc::cp_async_wait<0>();
}

}  // namespace g4::cuda::test
