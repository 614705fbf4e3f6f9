#pragma once
// The tile pieces shared by the tensor-core GEMMs (gemm.cuh: bf16 / fp16; gemm_quant.cuh: the
// quantised policies): tile sizes, the cp.async 16-bit tile loader and one warp's 16-wide k step
// of ldmatrix + mma.sync.m16n8k16 on a 32x32 sub-tile. Tiling and fragment layouts: gemm.cuh.
// In (the element type of the A and W tiles) is __nv_bfloat16 or __half: the two have the same
// 16-bit fragment layouts, so only the mma instruction differs (mma_m16n8k16 below).
#include <type_traits>

#include "optimized/cuda/kernels/common.cuh"
#include "optimized/cuda/kernels/tensor_core.cuh"

namespace g4::cuda::inline G4_CUDA_BACKEND {

constexpr int kGemmBM = 64, kGemmBN = 64, kGemmBK = 32, kGemmThreads = 128;
constexpr int kGemmLds = kGemmBK + 8;  // padded shared row stride (elements)

__device__ __forceinline__ void store_out(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_out(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
// IEEE RN, overflow -> +-inf (no saturation), as the CPU's formats/fp16.hpp (rms_norm.cuh from_f32).
__device__ __forceinline__ void store_out(__half* p, float v) { *p = __float2half_rn(v); }

// D = A·B + C, m16n8k16 with fp32 accumulation, the instruction for the input type.
template <class In>
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                                             const float (&c)[4]) {
  static_assert(std::is_same_v<In, __nv_bfloat16> || std::is_same_v<In, __half>, "bf16 or fp16 inputs");
  if constexpr (std::is_same_v<In, __half>) tc::mma_m16n8k16_f16(d, a, b, c);
  else tc::mma_m16n8k16_bf16(d, a, b, c);
}

// Copies rows [row0, row0+64) x cols [k0, k0+32) of a K-contiguous 16-bit matrix into a padded
// shared tile; 256 chunks of 8 elements, two per thread. Row r comes from src row gather[r] when
// gather is given (MoE: the tokens routed to one expert), else src row r. Rows >= rows_total and
// k >= K are zeros.
template <class In>
__device__ __forceinline__ void gemm_load_tile(In* tile, const In* src, int ld, int row0, int rows_total, int k0, int K,
                                               const int* gather) {
  static_assert(sizeof(In) == 2, "16-bit elements: 8 per 16-byte chunk");
  for (int c = threadIdx.x; c < kGemmBM * (kGemmBK / 8); c += kGemmThreads) {
    const int r = c / (kGemmBK / 8), kc = (c % (kGemmBK / 8)) * 8;
    In* dst = tile + r * kGemmLds + kc;
    if (row0 + r < rows_total && k0 + kc < K) {
      const long long row = gather ? gather[row0 + r] : row0 + r;
      tc::cp_async_16(dst, src + row * ld + k0 + kc);
    } else {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0u, 0u, 0u, 0u);
    }
  }
}

// One 16-wide k step of a warp's 32x32 sub-tile: A fragments for 2 m16 tiles (ldmatrix.x4),
// B fragments for 4 n8 tiles (two ldmatrix.x4, each covering two n8 tiles x 16 k).
template <class In>
__device__ __forceinline__ void gemm_warp_step(float (&acc)[2][4][4], const In* As, const In* Ws, int wm, int wn,
                                               int kk) {
  const int lane = threadIdx.x % 32;
  uint32_t a[2][4], b[4][2];
#pragma unroll
  for (int i = 0; i < 2; ++i) tc::ldmatrix_x4(a[i], As + (wm + 16 * i + lane % 16) * kGemmLds + kk + 8 * (lane / 16));
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    uint32_t r[4];
    const int n = wn + 16 * j + (lane % 8) + 8 * (lane / 16);
    tc::ldmatrix_x4(r, Ws + n * kGemmLds + kk + 8 * ((lane / 8) % 2));
    b[2 * j][0] = r[0];
    b[2 * j][1] = r[1];
    b[2 * j + 1][0] = r[2];
    b[2 * j + 1][1] = r[3];
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) mma_m16n8k16<In>(acc[i][j], a[i], b[j], acc[i][j]);
}

}  // namespace g4::cuda
