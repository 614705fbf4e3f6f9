#pragma once
// Tensor-core GEMMs of the quantised precision policies (optimized/cpu/policy.hpp), "TN" like
// gemm.cuh: C[m, n] from A [M, K] (activations) and W [N, K] (weights as nn.Linear stores them).
// Same semantics as the CPU executor's GEMMs (optimized/cpu/gemm.cpp), which define them:
//
//   int8 (W8A8)   A: int8 codes, per-token scale sa[m] (dynamic: quantize_rows RowFmt::int8),
//                 W: int8 codes, per-channel scale sw[n]:
//                     acc = Σ_k qa[m,k]·qw[n,k]  (exact int32, mma.sync.m16n8k32.s8)
//                     C   = (float(acc) · sa[m]) · sw[n]              — gemm_naive bit for bit
//   int8-w8a16    A bf16, W int8 codes + sw[n]:  C = (Σ_k a·q) · sw[n]      (fp32 accumulation)
//   int4-gG       A bf16, W symmetric int4 groups of G along K (formats/int4.hpp: packed
//                 [N, K/2], low nibble = even k, two's complement), scale s[n, g]:
//                     C = Σ_g s[n, g] · (Σ_{k in group g} a·q)     group sums in fp32, then the
//                     scaled group sums added in fp32 (gemm_naive's order of operations)
//   fp8-e4m3      A: e4m3 codes + per-token scale sa[m] (quantize_rows RowFmt::fp8_e4m3),
//                 W: e4m3 codes + sw[n]:  C = ((Σ_k a·w) · sa[m]) · sw[n]
//
// Weight-only and fp8 kernel (gemm_dq_tc_kernel): the quantised tiles are decoded to bf16 in
// the load path — int8 q, int4 q in −8..7 and every e4m3 value are exact in bf16, so the decode
// adds no rounding — and the bf16 mma.sync.m16n8k16 step of gemm_tile.cuh runs on them (products exact,
// fp32 accumulation). The scales are applied in the fp32 epilogue (int4: at each group's end),
// never folded into the bf16 operands (that would add a bf16 rounding the policy does not have).
// bf16 A tiles still come by cp.async; decoded tiles by plain loads (8 bytes, or 4 of int4) and
// one 16-byte shared store per 8 values, into the stage the previous barrier released.
//
// W8A8 kernel (gemm_s8_tc_kernel): int8 tiles of 64 rows x 64 k (64 bytes, rows padded to 80
// bytes like the bf16 tiles), cp.async double buffer, and ldmatrix on bytes: an 8x8 b16 matrix is
// 8 rows x 16 bytes, and lane l receives bytes 4(l%4)..+3 of row l/4 — exactly the m16n8k32 s8
// fragment (a[0] = (g, 4t..4t+3), a[2] = (g, 16+4t..), b[0] = (k 4t..4t+3, n g)), so the
// addressing is that of the bf16 kernel with bytes for elements and k steps of 32.
//
// Tiling as gemm.cuh: 128 threads (4 warps, 2x2), 64x64 output tile, warp sub-tile 32x32.
// Requirements (checked on the host, checks.cpp check_gemm_quant): K % 8 == 0 (W8A8: K % 16),
// lda / ldw multiples of 8 (W8A8: 16), 16-byte aligned operands; int4: group a positive multiple
// of 32 (a k tile never straddles two groups).
#include "optimized/cuda/kernels/gemm_tile.cuh"

namespace g4::cuda::inline G4_CUDA_BACKEND {

enum class TileFmt { bf16, int8, fp8e4m3, int4 };

constexpr int kS8BK = 64;            // k (bytes) per W8A8 tile
constexpr int kS8Lds = kS8BK + 16;   // padded shared row stride (bytes)

// Eight consecutive stored values -> eight bf16 (exact), as one 16-byte word.
template <TileFmt F>
__device__ __forceinline__ uint4 decode8(const uint8_t* p) {
  __nv_bfloat16 v[8];
  if constexpr (F == TileFmt::int4) {
    const uint32_t w = *reinterpret_cast<const uint32_t*>(p);  // nibble i = element i (low first)
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int nib = static_cast<int>((w >> (4 * i)) & 0xFu);
      v[i] = __float2bfloat16_rn(static_cast<float>(nib >= 8 ? nib - 16 : nib));
    }
  } else {
    const uint2 w = *reinterpret_cast<const uint2*>(p);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint8_t b = static_cast<uint8_t>(((i < 4 ? w.x : w.y) >> (8 * (i % 4))) & 0xFFu);
      if constexpr (F == TileFmt::int8) {
        v[i] = __float2bfloat16_rn(static_cast<float>(static_cast<int8_t>(b)));
      } else {
        const __half_raw h = __nv_cvt_fp8_to_halfraw(b, __NV_E4M3);
        v[i] = __float2bfloat16_rn(__half2float(__half(h)));
      }
    }
  }
  uint4 out;
  out.x = tc::pack2(v[0], v[1]);
  out.y = tc::pack2(v[2], v[3]);
  out.z = tc::pack2(v[4], v[5]);
  out.w = tc::pack2(v[6], v[7]);
  return out;
}

// Rows [row0, row0+64) x k [k0, k0+32) of a quantised K-contiguous matrix (row stride ld
// elements) decoded into a padded bf16 shared tile; rows >= rows_total and k >= K are zeros.
template <TileFmt F>
__device__ __forceinline__ void gemm_decode_tile(__nv_bfloat16* tile, const uint8_t* src, int ld, int row0,
                                                 int rows_total, int k0, int K) {
  for (int c = threadIdx.x; c < kGemmBM * (kGemmBK / 8); c += kGemmThreads) {
    const int r = c / (kGemmBK / 8), kc = (c % (kGemmBK / 8)) * 8;
    uint4 v = make_uint4(0u, 0u, 0u, 0u);
    if (row0 + r < rows_total && k0 + kc < K) {
      const long long e = static_cast<long long>(row0 + r) * ld + k0 + kc;  // element index
      v = decode8<F>(src + (F == TileFmt::int4 ? e / 2 : e));
    }
    *reinterpret_cast<uint4*>(tile + r * kGemmLds + kc) = v;
  }
}

// A: bf16 (AF == bf16) or e4m3 codes (AF == fp8e4m3, with a_scale); W: int8, fp8e4m3 or int4
// codes, w_scale [N] (int8 / fp8) or [N, G] (int4, G = ceil(K / group)).
template <TileFmt AF, TileFmt WF, class OutT>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_dq_tc_kernel(const void* __restrict__ A, int lda, const float* __restrict__ a_scale,
                      const uint8_t* __restrict__ W, int ldw, const float* __restrict__ w_scale, int group,
                      OutT* __restrict__ C, int ldc, int M, int N, int K) {
  static_assert(AF == TileFmt::bf16 || AF == TileFmt::fp8e4m3, "A is bf16 or e4m3");
  static_assert(WF != TileFmt::bf16, "use gemm_16_tc_kernel");
  constexpr bool kGroups = WF == TileFmt::int4;
  G4_SHARED(__align__(16) __nv_bfloat16, As, [2][kGemmBM * kGemmLds]);
  G4_SHARED(__align__(16) __nv_bfloat16, Ws, [2][kGemmBN * kGemmLds]);
  const int m0 = blockIdx.y * kGemmBM, n0 = blockIdx.x * kGemmBN;
  const int warp = threadIdx.x / 32, wm = 32 * (warp / 2), wn = 32 * (warp % 2);
  const int lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;

  float part[2][4][4], acc[2][4][4];  // part: the running (group) sum; acc: Σ_g scale·part (int4)
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) part[i][j][e] = acc[i][j][e] = 0.0f;

  const int ktiles = (K + kGemmBK - 1) / kGemmBK;
  const int G = kGroups ? (K + group - 1) / group : 1;
  auto load_stage = [&](int stage, int kt) {
    if constexpr (AF == TileFmt::bf16)
      gemm_load_tile(As[stage], static_cast<const __nv_bfloat16*>(A), lda, m0, M, kt * kGemmBK, K, nullptr);
    else
      gemm_decode_tile<AF>(As[stage], static_cast<const uint8_t*>(A), lda, m0, M, kt * kGemmBK, K);
    gemm_decode_tile<WF>(Ws[stage], W, ldw, n0, N, kt * kGemmBK, K);
    tc::cp_async_commit();
  };
  load_stage(0, 0);
  for (int kt = 0; kt < ktiles; ++kt) {
    const int s = kt % 2;
    if (kt + 1 < ktiles) {
      load_stage(s ^ 1, kt + 1);  // its buffers were released by the barrier at the end of kt-1
      tc::cp_async_wait<1>();
    } else {
      tc::cp_async_wait<0>();
    }
    __syncthreads();  // stage s complete: every thread's cp.async and decoded stores
#pragma unroll
    for (int kk = 0; kk < kGemmBK; kk += 16) gemm_warp_step(part, As[s], Ws[s], wm, wn, kk);
    __syncthreads();  // all warps done with stage s before it is refilled
    if constexpr (kGroups) {
      const int kend = (kt + 1) * kGemmBK;
      if (kend % group == 0 || kt + 1 == ktiles) {  // group kt·32/group ends here: acc += s·part
        const int gi = kt * kGemmBK / group;
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int n = n0 + wn + 8 * j + 2 * t + h;
            const float sc = n < N ? w_scale[static_cast<long long>(n) * G + gi] : 0.0f;
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
              for (int e = h; e < 4; e += 2) {
                acc[i][j][e] += part[i][j][e] * sc;
                part[i][j][e] = 0.0f;
              }
          }
      }
    }
  }

  // Epilogue: element e of tile (i, j) is C[wm + 16i + g + 8(e >= 2), wn + 8j + 2t + (e & 1)].
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int m = m0 + wm + 16 * i + g + 8 * (e >= 2), n = n0 + wn + 8 * j + 2 * t + (e & 1);
        if (m < M && n < N) {
          float v;
          if constexpr (kGroups) v = acc[i][j][e];
          else if constexpr (AF == TileFmt::fp8e4m3) v = part[i][j][e] * a_scale[m] * w_scale[n];
          else v = part[i][j][e] * w_scale[n];
          store_out(C + static_cast<long long>(m) * ldc + n, v);
        }
      }
}

// Rows [row0, row0+64) x bytes [k0, k0+64) of a K-contiguous int8 matrix into a padded shared
// tile (stride kS8Lds), 16-byte cp.async chunks; rows >= rows_total and k >= K are zeros.
__device__ __forceinline__ void gemm_s8_load_tile(int8_t* tile, const int8_t* src, int ld, int row0, int rows_total,
                                                  int k0, int K) {
  for (int c = threadIdx.x; c < kGemmBM * (kS8BK / 16); c += kGemmThreads) {
    const int r = c / (kS8BK / 16), kc = (c % (kS8BK / 16)) * 16;
    int8_t* dst = tile + r * kS8Lds + kc;
    if (row0 + r < rows_total && k0 + kc < K)
      tc::cp_async_16(dst, src + static_cast<long long>(row0 + r) * ld + k0 + kc);
    else
      *reinterpret_cast<uint4*>(dst) = make_uint4(0u, 0u, 0u, 0u);
  }
}

// W8A8 GEMM. kSwapFragments: a deliberately wrong A fragment (a[1] <-> a[2]: rows g+8 taken for
// k 16..31), compiled only into the fault-test launcher (tests: it must fail the gate).
template <class OutT, bool kSwapFragments = false>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_s8_tc_kernel(const int8_t* __restrict__ A, int lda, const float* __restrict__ a_scale,
                      const int8_t* __restrict__ W, int ldw, const float* __restrict__ w_scale,
                      OutT* __restrict__ C, int ldc, int M, int N, int K) {
  G4_SHARED(__align__(16) int8_t, As, [2][kGemmBM * kS8Lds]);
  G4_SHARED(__align__(16) int8_t, Ws, [2][kGemmBN * kS8Lds]);
  const int m0 = blockIdx.y * kGemmBM, n0 = blockIdx.x * kGemmBN;
  const int warp = threadIdx.x / 32, wm = 32 * (warp / 2), wn = 32 * (warp % 2);
  const int lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;

  int acc[2][4][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0;

  const int ktiles = (K + kS8BK - 1) / kS8BK;
  auto load_stage = [&](int stage, int kt) {
    gemm_s8_load_tile(As[stage], A, lda, m0, M, kt * kS8BK, K);
    gemm_s8_load_tile(Ws[stage], W, ldw, n0, N, kt * kS8BK, K);
    tc::cp_async_commit();
  };
  load_stage(0, 0);
  for (int kt = 0; kt < ktiles; ++kt) {
    const int s = kt % 2;
    if (kt + 1 < ktiles) {
      load_stage(s ^ 1, kt + 1);
      tc::cp_async_wait<1>();
    } else {
      tc::cp_async_wait<0>();
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kS8BK; kk += 32) {  // one m16n8k32 step: 32 bytes of k
      uint32_t a[2][4], b[4][2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        tc::ldmatrix_x4(a[i], As[s] + (wm + 16 * i + lane % 16) * kS8Lds + kk + 16 * (lane / 16));
        if constexpr (kSwapFragments) {
          const uint32_t x = a[i][1];
          a[i][1] = a[i][2];
          a[i][2] = x;
        }
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        uint32_t r[4];
        const int n = wn + 16 * j + (lane % 8) + 8 * (lane / 16);
        tc::ldmatrix_x4(r, Ws[s] + n * kS8Lds + kk + 16 * ((lane / 8) % 2));
        b[2 * j][0] = r[0];
        b[2 * j][1] = r[1];
        b[2 * j + 1][0] = r[2];
        b[2 * j + 1][1] = r[3];
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) tc::mma_m16n8k32_s8(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int m = m0 + wm + 16 * i + g + 8 * (e >= 2), n = n0 + wn + 8 * j + 2 * t + (e & 1);
        if (m < M && n < N)
          store_out(C + static_cast<long long>(m) * ldc + n, static_cast<float>(acc[i][j][e]) * a_scale[m] * w_scale[n]);
      }
}

// ---- The cublas backend's kernels (gemm_quant_launch.inl): what runs around cublasGemmEx. ----

constexpr int kQuantAuxThreads = 256;

// Quantised codes [rows, ld] (int4: packed, ld counting elements) -> dense bf16 [rows, K], eight
// values per thread and grid-stride step (K % 8 == 0). Without kFoldScale the codes themselves:
// exact, as in the tensor-core kernel's load path (decode8). kFoldScale (int4 groups, whose
// per-group scales cannot be applied after one GEMM over all of K): w = bf16(s[r, k/group]·q), the
// fp32 product rounded once to bf16 — the baseline's "dequantise, then a bf16 GEMM".
// scales: [rows, G] with G = ceil(K / group); group a multiple of 8, so eight values share one.
template <TileFmt F, bool kFoldScale>
__global__ void __launch_bounds__(kQuantAuxThreads)
    decode_bf16_kernel(const uint8_t* __restrict__ src, int ld, const float* __restrict__ scales, int group, int G,
                       __nv_bfloat16* __restrict__ dst, int rows, int K) {
  static_assert(!kFoldScale || F == TileFmt::int4, "only int4 groups fold their scales");
  const long long chunks_per_row = K / 8, chunks = static_cast<long long>(rows) * chunks_per_row;
  for (long long c = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; c < chunks;
       c += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long r = c / chunks_per_row;
    const int k = static_cast<int>(c % chunks_per_row) * 8;
    const long long e = r * ld + k;  // element index of the first of the eight codes
    uint4 v;
    if constexpr (kFoldScale) {
      const float s = scales[r * G + k / group];
      const uint32_t w = *reinterpret_cast<const uint32_t*>(src + e / 2);  // nibble i = element i (low first)
      __nv_bfloat16 b[8];
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int nib = static_cast<int>((w >> (4 * i)) & 0xFu);
        b[i] = __float2bfloat16_rn(s * static_cast<float>(nib >= 8 ? nib - 16 : nib));
      }
      v = make_uint4(tc::pack2(b[0], b[1]), tc::pack2(b[2], b[3]), tc::pack2(b[4], b[5]), tc::pack2(b[6], b[7]));
    } else {
      v = decode8<F>(src + (F == TileFmt::int4 ? e / 2 : e));
    }
    *reinterpret_cast<uint4*>(dst + r * K + k) = v;
  }
}

// The scale epilogue after cuBLAS's GEMM: C[m, n] = float(acc[m, n])·sa[m]·sw[n] (a_scale
// nullptr: float(acc)·sw[n]), fp32, left to right, rounded once to OutT — the tensor-core
// kernels' epilogues, operation for operation. acc: [M, N] dense (int32 for W8A8, fp32 else).
template <class AccT, class OutT>
__global__ void __launch_bounds__(kQuantAuxThreads)
    gemm_scale_kernel(const AccT* __restrict__ acc, const float* __restrict__ a_scale,
                      const float* __restrict__ w_scale, OutT* __restrict__ C, int ldc, int M, int N) {
  const long long total = static_cast<long long>(M) * N;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long m = i / N;
    const int n = static_cast<int>(i % N);
    float v = static_cast<float>(acc[i]);
    if (a_scale != nullptr) v = v * a_scale[m];
    store_out(C + m * ldc + n, v * w_scale[n]);
  }
}

}  // namespace g4::cuda
