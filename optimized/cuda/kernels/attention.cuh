#pragma once
// Flash-style attention with an online softmax (reference/ops/attention.hpp; CPU twin
// optimized/cpu attention):
//
//   s[b,h,i,j] = scaling · q[b,i,h] · k[b,j,g(h)]          g(h) = h / (Nq/Nkv)      (GQA)
//   o[b,i,h]   = Σ_j softmax_j(s over allowed j) · v[b,j,g(h)]
//   allowed: the reference's boolean mask [B, Sq, Skv] (ops/mask.hpp: causal, sliding window,
//            padding, vision blocks), nullptr = all allowed. A row with no allowed key gives 0.
//   k_eq_v (v is k) and a shared K/V source (another layer's cache) are just the pointers passed.
//
// Online softmax per (query row, head), float32: running max m, running sum l and accumulator
// acc; for every allowed key: m' = max(m, s), c = exp(m − m'), l = l·c + exp(s − m'),
// acc = acc·c + exp(s − m')·v_j; finally o = acc / l. T (float, __nv_bfloat16 or __half) is the
// storage type of q, k, v and out: widened exactly on load, o rounded once (RN) to T at the store.
//
// Mapping: one warp per (query row i, head h); a block's 4 warps take 4 consecutive (i, h) pairs
// of ONE (batch b, kv head g), so the K/V tile staged in shared memory (kAttnKeys keys x Dh, type
// T) serves all of them (the GQA group shares it). Lane l owns dims l, l+32, ... (Dh <= 512:
// at most 16 per lane, kept in registers). A score is a lane-partial dot product plus a 5-step
// xor-shuffle reduction. Key tiles with no allowed key for any warp of the block are skipped as
// a whole (__syncthreads_or), which is how the sliding window costs O(window), not O(Skv).
// Dynamic shared memory: 2 · kAttnKeys · Dh · sizeof(T).
#include "optimized/cuda/kernels/common.cuh"
#include "optimized/cuda/kernels/rms_norm.cuh"

namespace g4::cuda::inline G4_CUDA_BACKEND {

constexpr int kAttnWarps = 4, kAttnThreads = 32 * kAttnWarps, kAttnKeys = 8, kAttnMaxPerLane = 16;

// __launch_bounds__(…, 1): without the min-blocks hint ptxas (CUDA 13, sm_80) capped the bf16
// instantiation at 80 registers and spilled 8 bytes; scripts/cuda_check.sh caught it.
template <class T>
__global__ void __launch_bounds__(kAttnThreads, 1)
    flash_attention_kernel(const T* __restrict__ q, const T* k, const T* v, T* __restrict__ out,
                           const unsigned char* __restrict__ allowed, int Sq, int Skv, int Nq, int Nkv, int Dh,
                           float scaling) {
  G4_DYNAMIC_SMEM(T, smem);
  T* ks = smem;                   // [kAttnKeys][Dh]
  T* vs = smem + kAttnKeys * Dh;  // [kAttnKeys][Dh]
  const int group = Nq / Nkv;
  const int b = blockIdx.z, g = blockIdx.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int pair = blockIdx.x * kAttnWarps + warp;  // (i, hh) = (pair / group, pair % group)
  const bool active = pair < Sq * group;
  const int i = active ? pair / group : 0, h = g * group + (active ? pair % group : 0);
  const long long q_row = (static_cast<long long>(b) * Sq + i) * Nq * Dh + static_cast<long long>(h) * Dh;
  const unsigned char* mask_row = allowed ? allowed + (static_cast<long long>(b) * Sq + i) * Skv : nullptr;

  float qr[kAttnMaxPerLane], acc[kAttnMaxPerLane];
#pragma unroll
  for (int c = 0; c < kAttnMaxPerLane; ++c) {
    const int d = c * 32 + lane;
    qr[c] = active && d < Dh ? to_f32(q[q_row + d]) * scaling : 0.0f;
    acc[c] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;

  for (int j0 = 0; j0 < Skv; j0 += kAttnKeys) {
    const int nk = Skv - j0 < kAttnKeys ? Skv - j0 : kAttnKeys;
    int mine = 0;  // does this warp's row allow any key of the tile?
    if (active)
      for (int j = 0; j < nk; ++j) mine |= mask_row ? mask_row[j0 + j] : 1;
    if (!__syncthreads_or(mine)) continue;  // uniform: every thread sees the same result
    // Stage K/V rows j0 .. j0+nk of kv head g.
    for (int e = threadIdx.x; e < nk * Dh; e += blockDim.x) {
      const int j = e / Dh, d = e % Dh;
      const long long src = (static_cast<long long>(b) * Skv + j0 + j) * Nkv * Dh + static_cast<long long>(g) * Dh + d;
      ks[j * Dh + d] = k[src];
      vs[j * Dh + d] = v[src];
    }
    __syncthreads();
    for (int j = 0; j < nk; ++j) {
      // Uniform per warp (same row for all lanes), so the shuffles below see a full warp.
      if (!active || (mask_row && !mask_row[j0 + j])) continue;
      float part = 0.0f;
#pragma unroll
      for (int c = 0; c < kAttnMaxPerLane; ++c) {
        const int d = c * 32 + lane;
        if (d < Dh) part += qr[c] * to_f32(ks[j * Dh + d]);
      }
      for (int o = 16; o > 0; o >>= 1) part += __shfl_xor_sync(kFullMask, part, o);
      const float m_new = fmaxf(m, part);
      const float corr = expf(m - m_new), p = expf(part - m_new);
      l = l * corr + p;
#pragma unroll
      for (int c = 0; c < kAttnMaxPerLane; ++c) {
        const int d = c * 32 + lane;
        if (d < Dh) acc[c] = acc[c] * corr + p * to_f32(vs[j * Dh + d]);
      }
      m = m_new;
    }
    __syncthreads();  // the tile is consumed before the next one overwrites it
  }
  if (!active) return;
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
  for (int c = 0; c < kAttnMaxPerLane; ++c) {
    const int d = c * 32 + lane;
    if (d < Dh) out[q_row + d] = from_f32<T>(acc[c] * inv);
  }
}

}  // namespace g4::cuda
