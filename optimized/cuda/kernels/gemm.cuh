#pragma once
// Tensor-core GEMM, 16-bit inputs (In = __nv_bfloat16 or __half), fp32 accumulation, "TN" (both
// operands K-contiguous):
//
//   C[m, n] = Σ_k A[m, k] · W[n, k]                      A: activations [M, K], W: weights [N, K]
//   gated:  C[m, n] = gelu_tanh(Σ_k A[m,k]·W[n,k]) · (Σ_k A[m,k]·W2[n,k])     (GeGLU MLP, fused)
//   gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))   (reference/ops/activations.hpp),
//                  evaluated as x / (1 + exp(−2z)), z = √(2/π)·(x + 0.044715·x³), like the CPU
//                  executor's gelu_gate_mul (no cancellation in 1 + tanh z for z ≪ 0).
// Output: float32 or the input's 16-bit type (rounded once, RN; fp16 overflow -> +-inf, as the CPU's
// formats/fp16.hpp), row-major [M, N] with leading dimension ldc. bf16 and fp16 share the kernel:
// their m16n8k16 fragment layouts are the same, only the mma instruction differs (gemm_tile.cuh).
//
// Tiling: a 128-thread block (4 warps as 2x2) computes a 64x64 tile of C; each warp a 32x32
// sub-tile = 2 (m16) x 4 (n8) mma.sync.m16n8k16 tiles per 16-wide k step. K advances 32 at a time
// through a two-stage shared-memory pipeline: cp.async (16-byte chunks) prefetches stage s+1
// while the warps run ldmatrix + mma on stage s. Shared rows are padded to 40 elements (80 bytes) so
// the 8 row addresses of one ldmatrix hit distinct bank groups. Out-of-range rows (m >= M,
// n >= N) and the k tail are zero-filled instead of copied. Requirements (checked on the host):
// K % 8 == 0 and 16-byte aligned A, W, W2 rows (lda, ldw multiples of 8).
//
// Numerics: each mma sums 16 exact products into the fp32 accumulator (hardware: not IEEE-RN,
// see tensor_core.cuh; simulator: exact sum rounded once per mma), so the accumulation error is
// that of a K/16-term fp32 sum — below a naive fp32 dot product's K terms. The same for bf16 and
// fp16 inputs; fp16 has 3 more significand bits (u = 2^-11) and a range of ±65504, so its input
// and output roundings are 8x smaller, while a value beyond the range becomes ±inf.
#include "optimized/cuda/kernels/activations.cuh"
#include "optimized/cuda/kernels/common.cuh"
#include "optimized/cuda/kernels/gemm_tile.cuh"
#include "optimized/cuda/kernels/tensor_core.cuh"

namespace g4::cuda::inline G4_CUDA_BACKEND {

// Grouping (MoE expert GEMMs), all nullptr / 0 for a plain GEMM:
//   group_offsets [G+1]: group g = blockIdx.z owns output rows [off[g], off[g+1]); its A rows are
//                 A[a_rows[off[g] + m]] when a_rows is given (tokens gathered per expert), else
//                 A[off[g] + m]; its weights are W + g·w_group_stride (and W2 likewise).
//   M is then the largest group size the grid covers (blocks beyond a group's rows exit at once).
struct GemmGroups {
  const int* offsets = nullptr;
  const int* a_rows = nullptr;
  long long w_group_stride = 0;
};

// gated == false: W2 unused. In: __nv_bfloat16 or __half; OutT: float or In.
template <class In, class OutT, bool kGated>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_16_tc_kernel(const In* __restrict__ A, int lda, const In* __restrict__ W, const In* __restrict__ W2, int ldw,
                      OutT* __restrict__ C, int ldc, int M, int N, int K, GemmGroups groups) {
  static_assert(std::is_same_v<OutT, float> || std::is_same_v<OutT, In>, "output float32 or the input type");
  const int* gather = nullptr;
  if (groups.offsets) {  // uniform per block: the early exit precedes every barrier
    const int g = blockIdx.z, first = groups.offsets[g];
    M = groups.offsets[g + 1] - first;
    if (static_cast<int>(blockIdx.y) * kGemmBM >= M) return;
    if (groups.a_rows) gather = groups.a_rows + first;
    else A += static_cast<long long>(first) * lda;
    W += g * groups.w_group_stride;
    if (kGated) W2 += g * groups.w_group_stride;
    C += static_cast<long long>(first) * ldc;
  }
  G4_SHARED(__align__(16) In, As, [2][kGemmBM * kGemmLds]);
  G4_SHARED(__align__(16) In, Ws, [2][kGemmBN * kGemmLds]);
  G4_SHARED(__align__(16) In, W2s, [kGated ? 2 : 1][kGated ? kGemmBN * kGemmLds : 8]);
  const int m0 = blockIdx.y * kGemmBM, n0 = blockIdx.x * kGemmBN;
  const int warp = threadIdx.x / 32, wm = 32 * (warp / 2), wn = 32 * (warp % 2);

  float acc[2][4][4], acc2[2][4][4];  // fully unrolled loops keep both in registers
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = acc2[i][j][e] = 0.0f;

  const int ktiles = (K + kGemmBK - 1) / kGemmBK;
  auto load_stage = [&](int stage, int kt) {
    gemm_load_tile(As[stage], A, lda, m0, M, kt * kGemmBK, K, gather);
    gemm_load_tile(Ws[stage], W, ldw, n0, N, kt * kGemmBK, K, nullptr);
    if constexpr (kGated) gemm_load_tile(W2s[stage], W2, ldw, n0, N, kt * kGemmBK, K, nullptr);
    tc::cp_async_commit();
  };
  load_stage(0, 0);
  for (int kt = 0; kt < ktiles; ++kt) {
    const int s = kt % 2;
    if (kt + 1 < ktiles) {
      load_stage(s ^ 1, kt + 1);  // prefetch; its buffer was released by the barrier below
      tc::cp_async_wait<1>();     // stage s landed (this thread's copies)
    } else {
      tc::cp_async_wait<0>();
    }
    __syncthreads();  // ... and every thread's copies
#pragma unroll
    for (int kk = 0; kk < kGemmBK; kk += 16) {
      gemm_warp_step(acc, As[s], Ws[s], wm, wn, kk);
      if constexpr (kGated) gemm_warp_step(acc2, As[s], W2s[s], wm, wn, kk);
    }
    __syncthreads();  // all warps done with stage s before it is refilled
  }

  // Epilogue: accumulator element e of tile (i, j) is C[wm + 16i + g + 8(e >= 2), wn + 8j + 2t + (e & 1)].
  const int lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int m = m0 + wm + 16 * i + g + 8 * (e >= 2), n = n0 + wn + 8 * j + 2 * t + (e & 1);
        if (m < M && n < N) {
          float v = acc[i][j][e];
          if constexpr (kGated) v = gelu_tanh_f32(v) * acc2[i][j][e];
          store_out(C + static_cast<long long>(m) * ldc + n, v);
        }
      }
}

// MoE plan, one block of E threads (E <= 1024): thread e lists, in increasing token order, the
// (token t, slot j) with index[t, j] == e; offsets = exclusive scan of the counts (serial, E
// small); rows[off[e] + r] = token, slot_row[t·K + j] = off[e] + r. Deterministic (no atomics).
__global__ void moe_plan_kernel(const int* __restrict__ index, int T, int K, int E, int* __restrict__ offsets,
                                int* __restrict__ rows, int* __restrict__ slot_row) {
  G4_DYNAMIC_SMEM(int, counts);  // [E]
  const int e = threadIdx.x;
  int n = 0;
  if (e < E)
    for (int i = 0; i < T * K; ++i) n += index[i] == e;
  if (e < E) counts[e] = n;
  __syncthreads();
  if (threadIdx.x == 0) {
    int acc = 0;
    for (int x = 0; x < E; ++x) {
      offsets[x] = acc;
      const int c = counts[x];
      counts[x] = acc;
      acc += c;
    }
    offsets[E] = acc;
  }
  __syncthreads();
  if (e < E) {
    int pos = counts[e];
    for (int i = 0; i < T * K; ++i)
      if (index[i] == e) {
        rows[pos] = i / K;
        slot_row[i] = pos++;
      }
  }
}

// MoE combine: out[t, :] = Σ_j w[t, j] · Y[slot_row[t, j], :], the slots taken in increasing
// expert index (the order transformers adds the experts in), float32. One block per token.
__global__ void moe_combine_kernel(const float* __restrict__ Y, const float* __restrict__ weights,
                                   const int* __restrict__ index, const int* __restrict__ slot_row, float* __restrict__ out,
                                   int K, int D) {
  const long long t = blockIdx.x;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float acc = 0.0f;
    int last = -1;
    for (int s = 0; s < K; ++s) {  // selection in expert order: K is small (8)
      int best = -1, best_e = 0x7fffffff;
      for (int j = 0; j < K; ++j) {
        const int ej = index[t * K + j];
        if (ej > last && ej < best_e) best_e = ej, best = j;
      }
      last = best_e;
      acc += weights[t * K + best] * Y[static_cast<long long>(slot_row[t * K + best]) * D + d];
    }
    out[t * D + d] = acc;
  }
}

// Elementwise GeGLU combine for the cuBLAS path: out = gelu_tanh(gate) · up (fp32 in).
template <class OutT>
__global__ void gelu_gate_mul_kernel(const float* __restrict__ gate, const float* __restrict__ up,
                                     OutT* __restrict__ out, long long n) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    store_out(out + i, gelu_tanh_f32(gate[i]) * up[i]);
}

}  // namespace g4::cuda
