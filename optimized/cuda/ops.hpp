#pragma once
// Host API of the CUDA kernels (issue #7). Every function launches one kernel on raw pointers.
// The same declarations have two implementations, and a program links exactly one:
//   gemma4_cuda_sim  (g++): runs the kernel in the SIMT simulator; pointers are host memory and
//                    `stream` is ignored; returns when the kernel finished.
//   gemma4_cuda      (nvcc): launches on the GPU; pointers are device memory; asynchronous on
//                    `stream` (a cudaStream_t, nullptr = legacy default stream).
// Launch-configuration and argument errors throw g4::ShapeError (checks.cpp); a failed launch on
// the GPU throws g4::Error with cudaGetErrorString's text; a kernel fault in the simulator throws
// g4sim::KernelError.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "optimized/cuda/backend.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

using Stream = void*;

struct RmsNormShape {
  std::int64_t rows = 0;    // T
  std::int64_t groups = 1;  // groups (heads) per row; row width = groups · dim
  std::int64_t dim = 0;     // values per group
  float eps = 1e-6f;
};

// sum = x + r (rounded to T), y = rms_norm(sum)·w per group; r == nullptr: y = rms_norm(x)·w and
// sum is not written. w: [dim] float32 or nullptr. x, r, sum, y may alias. T = float, bf16 or
// fp16 (__half) in this op and every other op templated on the storage type T: float32 arithmetic,
// each stored value rounded once (RN; fp16 overflow -> ±inf, as optimized/formats/fp16.hpp).
template <class T>
void add_rms_norm(const T* x, const T* r, const float* w, T* sum, T* y, const RmsNormShape& s, Stream stream = nullptr);

struct RopeShape {
  std::int64_t rows = 0, heads = 0, head_dim = 0;  // x, y: [rows, heads·head_dim]; head_dim even
  std::int64_t n_pos = 0;                          // rows of the cos/sin tables
};
// Rotate-half RoPE from float32 cos/sin tables [n_pos, head_dim/2] (g4::cpu::rope_table);
// positions: [rows], each in [0, n_pos) (checked on the host in the simulator only: on the GPU
// they are device memory). y may alias x.
template <class T>
void rope(const T* x, T* y, const long long* positions, const float* cos_table, const float* sin_table,
          const RopeShape& s, Stream stream = nullptr);

struct AttentionShape {
  std::int64_t B = 0, Sq = 0, Skv = 0, Nq = 0, Nkv = 0, Dh = 0;  // Nq % Nkv == 0, Dh <= 512
  float scaling = 1.0f;
};
// Flash attention (kernels/attention.cuh). q, out: [B·Sq, Nq·Dh]; k, v: [B·Skv, Nkv·Dh] (v may be
// k: k_eq_v); allowed: [B, Sq, Skv] nonzero = allowed (ops::build_mask), nullptr = all.
template <class T>
void attention(const T* q, const T* k, const T* v, T* out, const unsigned char* allowed, const AttentionShape& s,
               Stream stream = nullptr);

// y = cap · tanh(x / cap) (final-logit softcap). y may alias x.
template <class T>
void softcap(const T* x, T* y, std::int64_t n, float cap, Stream stream = nullptr);

// The graph's remaining element-wise nodes (kernels/graph_ops.cuh): float32 arithmetic, rounded
// once to T (float, bf16 or fp16). y may alias an input.
template <class T>
void gelu_tanh(const T* x, T* y, std::int64_t n, Stream stream = nullptr);  // gelu_tanh(x)
template <class T>
void add(const T* a, const T* b, T* y, std::int64_t n, Stream stream = nullptr);  // a + b
template <class T>
void mul(const T* a, const T* b, T* y, std::int64_t n, Stream stream = nullptr);  // a · b
template <class T>
void scale(const T* x, T* y, std::int64_t n, float s, Stream stream = nullptr);  // s · x
// out[rows[i], :] += w[i] · y[i, :] for i < n (float32, one fma; rows distinct). y: [n, D].
void axpy_rows(const float* y, const int* rows, const float* w, float* out, std::int64_t n, std::int64_t D,
               Stream stream = nullptr);

// float32 <-> 16-bit storage (raw bit patterns), round to nearest even.
enum class Fmt16 { bf16, fp16 };
void to_16bit(Fmt16 f, const float* x, std::uint16_t* y, std::int64_t n, Stream stream = nullptr);
void from_16bit(Fmt16 f, const std::uint16_t* x, float* y, std::int64_t n, Stream stream = nullptr);

// Per-row scaled 8-bit formats (optimized/formats int8.hpp / fp8.hpp semantics, bit for bit):
// scale[r] = amax_r / F, q = code(x / scale). fp8 saturates to the largest finite value.
enum class RowFmt { int8, fp8_e4m3, fp8_e5m2 };
void quantize_rows(RowFmt f, const float* x, std::uint8_t* q, float* scale, std::int64_t rows, std::int64_t cols,
                   Stream stream = nullptr);
void dequantize_rows(RowFmt f, const std::uint8_t* q, const float* scale, float* y, std::int64_t rows,
                     std::int64_t cols, Stream stream = nullptr);

// Weight-only int4 groups along K (optimized/formats/int4.hpp layout and semantics, bit for bit):
// w [n, k] <-> packed [n, (k+1)/2], scales [n, ceil(k/group)], zeros (asymmetric only, else
// nullptr) [n, ceil(k/group)].
void quantize_int4(const float* w, std::uint8_t* packed, float* scales, std::uint8_t* zeros, std::int64_t n,
                   std::int64_t k, std::int64_t group, bool asymmetric, Stream stream = nullptr);
void dequantize_int4(const std::uint8_t* packed, const float* scales, const std::uint8_t* zeros, float* w,
                     std::int64_t n, std::int64_t k, std::int64_t group, bool asymmetric, Stream stream = nullptr);

// MoE router (reference/ops/moe.hpp route): logits [T, E] -> probs [T, E] (nullptr: not
// written), weights [T, K], index [T, K]. E <= 256, K <= min(E, 32).
void route(const float* logits, const float* per_expert_scale, float* probs, float* weights, int* index,
           std::int64_t T, std::int64_t E, std::int64_t K, Stream stream = nullptr);

// Per-layer inputs: out[t, l·P + p] = (rms_norm(ctx·D^-1/2)·w + table[ids[t], l·P + p]·√P)·2^-1/2
// with ctx [T, L·P] (the per-layer model projection, float32), table [V, L·P] (T = float, bf16 or fp16).
template <class T>
void ple_combine(const float* ctx, const T* table, const long long* ids, const float* norm_w, float* out,
                 std::int64_t tokens, std::int64_t L, std::int64_t P, std::int64_t D, float eps,
                 Stream stream = nullptr);

// GEMM facade, bf16 inputs, "TN": C[m, n] = Σ_k A[m, k]·W[n, k] (A activations [M, K], W weights
// [N, K] as stored by nn.Linear), fp32 accumulation, C float32 or bf16 (rounded once, RN).
//   tensor_core: our kernel (kernels/gemm.cuh: mma.sync + ldmatrix + cp.async);
//   cublas:      GPU: cublasGemmEx (CUBLAS_COMPUTE_32F); simulator: a CPU GEMM with cuBLAS's
//                precision rules (exact widening and products, accumulation rounded to fp32
//                once per output, output rounded RN) — also the ratio rule's baseline.
// Requirements: K % 8 == 0, lda and ldw multiples of 8, 16-byte aligned A and W (cp.async).
enum class GemmBackend { tensor_core, cublas };
struct GemmShape {
  std::int64_t M = 0, N = 0, K = 0;
  std::int64_t lda = 0, ldw = 0, ldc = 0;  // 0 = dense (K, K, N)
};
template <class OutT>
void gemm_bf16(GemmBackend backend, const __nv_bfloat16* A, const __nv_bfloat16* W, OutT* C, const GemmShape& s,
               Stream stream = nullptr);
// GeGLU MLP up-projection: C = gelu_tanh(A·Wgᵀ) ⊙ (A·Wuᵀ); the tensor-core kernel fuses both
// GEMMs and the activation (fp32 epilogue); the cublas path runs two GEMMs into fp32 and an
// elementwise kernel (simulator: the same in CPU code).
template <class OutT>
void gemm_bf16_gelu_gated(GemmBackend backend, const __nv_bfloat16* A, const __nv_bfloat16* Wg,
                          const __nv_bfloat16* Wu, OutT* C, const GemmShape& s, Stream stream = nullptr);
// The same two with fp16 inputs (the fp16 policy): the same kernel on mma.sync m16n8k16 f16, fp32
// accumulation; cublas: CUDA_R_16F inputs (simulator: the same precision rules). OutT: float or
// __half (rounded once, RN; beyond ±65504 the output is ±inf, as optimized/formats/fp16.hpp).
template <class OutT>
void gemm_f16(GemmBackend backend, const __half* A, const __half* W, OutT* C, const GemmShape& s,
              Stream stream = nullptr);
template <class OutT>
void gemm_f16_gelu_gated(GemmBackend backend, const __half* A, const __half* Wg, const __half* Wu, OutT* C,
                         const GemmShape& s, Stream stream = nullptr);
// fp32 GEMM (the fp32 policy): C[m, n] = Σ_k A[m, k]·W[n, k], float32 in and out.
//   tensor_core: our SIMT kernel (no tensor cores: kernels/graph_ops.cuh), a K-term fp32 dot
//                product per output, one fma per term in k order;
//   cublas:      an SGEMM (cublasGemmEx CUDA_R_32F, CUBLAS_COMPUTE_32F, no TF32; simulator: the
//                exact sum rounded once, cublas_backend.hpp).
// Any K, any alignment.
void gemm_f32(GemmBackend backend, const float* A, const float* W, float* C, const GemmShape& s,
              Stream stream = nullptr);


// Quantised GEMMs of the precision policies (kernels/gemm_quant.cuh has the exact semantics:
// those of optimized/cpu/gemm.cpp). All "TN", C [M, N] float32 or bf16 (rounded once, RN).
//   gemm_w8a8:   int8 (W8A8). A int8 codes [M, K] + per-token scales [M] (quantize_rows
//                RowFmt::int8), W int8 codes [N, K] + per-channel scales [N]; mma.sync m16n8k32
//                s8 with exact int32 accumulation, C = float(acc)·sa[m]·sw[n].
//                K % 16 == 0, lda / ldw multiples of 16.
//   gemm_dequant: weight-only int8 (int8-w8a16) and int4 (int4-g32 / -g128, symmetric groups,
//                formats/int4.hpp layout) with bf16 A; fp8-e4m3 with e4m3 A codes + per-token
//                scales (quantize_rows RowFmt::fp8_e4m3). Weight tiles (and e4m3 A tiles) are
//                decoded to bf16 in the load path (exact) for the bf16 m16n8k16 mma; scales in the
//                fp32 epilogue (int4: per group). K % 8 == 0, lda / ldw multiples of 8 (elements),
//                16-byte aligned operands; int4: group a positive multiple of 32.
// lda / ldw count elements (int4: two per byte).
// Backends (GemmBackend, as gemm_bf16):
//   tensor_core: the kernels above (the executors' GEMMs).
//   cublas:      the cuBLAS baseline (gemm_quant_launch.inl). W8A8: cublasGemmEx int8 x int8 ->
//                int32 (CUBLAS_COMPUTE_32I, TN; the requirements above cover cuBLAS's int8 ones)
//                into device scratch, then the same epilogue float(acc)·sa[m]·sw[n] as a kernel:
//                equal to the tensor-core kernel bit for bit. Dequant: the weights (and e4m3 A)
//                decoded to bf16 into device scratch by a kernel, cublasGemmEx bf16
//                (CUBLAS_COMPUTE_32F) into fp32 scratch, then the tensor-core kernel's fp32
//                epilogue as a kernel (int8: acc·sw[n]; fp8: acc·sa[m]·sw[n]); int4: one GEMM over
//                all of K cannot apply per-group scales, so the decode folds them,
//                w = bf16(s[n, g]·q) (one bf16 rounding per weight), and cuBLAS writes C.
//                Device scratch by cudaMallocAsync on the stream: M·N·4 bytes, plus N·K·2 (decoded
//                weights) and M·K·2 (fp8: decoded A) for gemm_dequant.
//                Simulator: the same kernels around a CPU GEMM with cuBLAS's precision rules
//                (exact int32 sums; bf16 products summed exactly, rounded to fp32 once).
enum class QuantFmt { int8, fp8_e4m3, int4 };
struct QuantWeight {
  QuantFmt fmt = QuantFmt::int8;
  const std::uint8_t* data = nullptr;  // int8 / e4m3 codes [N, ldw], int4 packed [N, ldw / 2]
  const float* scales = nullptr;       // [N] (int8, fp8) or [N, ceil(K / group)] (int4)
  std::int64_t group = 0;              // int4 only
};
template <class OutT>
void gemm_w8a8(GemmBackend backend, const std::int8_t* A, const float* a_scale, const std::int8_t* W,
               const float* w_scale, OutT* C, const GemmShape& s, Stream stream = nullptr);
// A: bf16 (int8 / int4 weights, a_scale nullptr) or e4m3 codes (fp8 weights, a_scale [M]).
template <class OutT>
void gemm_dequant(GemmBackend backend, const void* A, const float* a_scale, const QuantWeight& W, OutT* C,
                  const GemmShape& s, Stream stream = nullptr);
namespace testing {
// gemm_w8a8 with a deliberately wrong s8 A fragment (a[1] <-> a[2]): for the test that the gate
// catches a wrong fragment layout. Float32 output.
void gemm_w8a8_swapped_fragments(const std::int8_t* A, const float* a_scale, const std::int8_t* W,
                                 const float* w_scale, float* C, const GemmShape& s, Stream stream = nullptr);
}  // namespace testing

// MoE experts (reference/ops/moe.hpp), tokens gathered per expert:
//   for each token t and slot j (e = index[t, j]):  h = gelu_tanh(x[t]·gateᵀ[e]) ⊙ (x[t]·upᵀ[e])
//   (bf16, the fused gated tensor-core GEMM), y = h·downᵀ[e] (fp32), out[t] = Σ_j w[t, j]·y
//   summed in increasing expert index. x: [T, D] bf16 (the pre-FFN-2-normed stream), index /
//   weights: [T, K] from route(), gate_up: [E, 2Fe, D], down: [E, D, Fe] (bf16), out: [T, D] fp32.
// Device scratch (caller-owned): offsets [E+1], rows [T·K], slot_row [T·K] ints, h [T·K, Fe] bf16,
// y [T·K, D] fp32. Requirements: D % 8 == 0, Fe % 8 == 0 (cp.async), E <= 1024.
struct MoeShape {
  std::int64_t T = 0, D = 0, Fe = 0, E = 0, K = 0;
};
struct MoeScratch {
  int* offsets = nullptr;
  int* rows = nullptr;
  int* slot_row = nullptr;
  __nv_bfloat16* h = nullptr;
  float* y = nullptr;
};
void moe_experts(const __nv_bfloat16* x, const int* index, const float* weights, const __nv_bfloat16* gate_up,
                 const __nv_bfloat16* down, float* out, const MoeShape& s, const MoeScratch& scratch,
                 Stream stream = nullptr);

}  // namespace g4::cuda
