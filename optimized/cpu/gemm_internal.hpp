#pragma once
// Private to the CPU GEMM (gemm.cpp, gemm_avx512.cpp, gemm_threads.cpp): the packed weight
// layouts, the view the kernels read, and the entry points of the AVX-512 translation unit.
//
// ODR rule for this header: gemm_avx512.cpp is compiled with AVX-512 flags. An inline function
// or template with external linkage that both translation units emit may be merged by the linker
// into the AVX-512 copy, which would then run (and fault) on a CPU without AVX-512. So everything
// defined here has internal linkage (anonymous namespace), and the AVX-512 file uses no standard
// library templates: it talks to the rest through plain functions and structs of pointers.
//
// Packed layouts (W is [N, K], row n = output channel). N is padded to panels of kNR = 32 rows
// (padding rows hold zeros and scale 0), K to Kp (a multiple of 4; of the group for int4; padding
// holds zeros, and A is zero-padded too, so padding never contributes).
//   kF32Rows    float  [N][K]                               (OpenBLAS layout)
//   kF16Rows    fp16   [N][K]
//   kBf16Pairs  bf16   [NP][Kp/2][32][2]      pair p of panel j: 32 rows × (k = 2p, 2p+1);
//                                             one zmm = 16 rows × 2 k, the vdpbf16ps operand
//   kInt8Pairs  int8   [NP][Kp/2][32][2]      int8 weights for bf16 activations (W8A16)
//   kFp8Pairs   e4m3   [NP][Kp/2][32][2]      fp8 codes (never the NaN code: saturating)
//   kInt8Quads  int8   [NP][Kp/4][32][4]      int8 weights for int8 activations: one zmm =
//                                             16 rows × 4 k, the vpdpbusd operand
//   kInt4Quads  nibble [NP][Kp/4][64 bytes]   one 64-byte chunk = 4 k × 32 rows = four zmm of
//                                             bf16 pairs once decoded: word i (0..31) of the chunk
//                                             holds in nibble t (bits 4t..4t+3) element
//                                             (pair 2q + t/2, row 16·(t%2) + i/2, k-parity i%2).
//                                             Symmetric: nibble = q + 8 (q in -7..7);
//                                             asymmetric: nibble = q (0..15), value q − z.
// Scales: int8 / fp8 per row [NP·32]; int4 per (panel, group, row) [NP][G][32], zero points
// (asymmetric, as floats) in the same layout.
#include <cstddef>
#include <cstdint>

namespace g4::cpu::detail {

inline constexpr int kNR = 32;  // panel width: rows of W per packed panel

enum class Layout : int { kF32Rows, kF16Rows, kBf16Pairs, kInt8Pairs, kFp8Pairs, kInt8Quads, kInt4Quads };

// What A is converted to inside the kernel.
enum class AIn : int { kF32, kF16, kBf16, kFp8, kInt8 };

// Everything a kernel needs to read a PackedWeight, as plain pointers.
struct WeightView {
  Layout layout;
  AIn input;
  std::int64_t N, K;
  std::int64_t Kp;     // padded K
  std::int64_t NP;     // panels (ceil(N / 32)); 0 for the row layouts
  std::int64_t group;  // int4 group along K; 0 otherwise
  std::int64_t G;      // int4 groups per row (Kp / group)
  bool asym;           // int4 asymmetric
  const std::uint8_t* data;
  const float* scales;
  const float* zeros;        // int4 asymmetric zero points (floats), [NP][G][32]
  const std::int16_t* zoff;  // int4 asymmetric decode offsets 16 − z, [NP][G][2][32] words
  const std::int32_t* wsum;  // kInt8Quads: Σ_k q[n, k], [NP·32] (the +128 compensation)
};

// ---- threads and scratch (gemm_threads.cpp) -------------------------------------------------

// Threads the kernels use (the CPUs this process may run on, or G4_GEMM_THREADS).
int pool_threads();
// Runs fn(ctx, tid, nthreads) on the caller (tid 0) and on each pool worker that gets to it before
// the caller has finished its own call, and returns when every started call has returned. fn must
// therefore take its work dynamically (claim_chunk on a counter in ctx) until none is left: any
// subset of the threads, even the caller alone, must complete the job. Nested or concurrent
// calls run on the caller alone (nthreads = 1).
void pool_run(void (*fn)(void* ctx, int tid, int nthreads), void* ctx);
// 64-byte aligned scratch owned by the calling thread, one buffer per slot (0-7), grow-only.
// Slots 0-3: the kernels' per-call buffers; 4-6: gemm_exact's float64 A, W block and C block.
void* thread_scratch(int slot, std::size_t bytes);

// ---- AVX-512 kernels (gemm_avx512.cpp; call only when cpu_has_avx512_kernels()) -------------

// C[M, N] = A · Wᵀ for the panel layouts (any M ≥ 1), and M == 1 for kF32Rows / kF16Rows.
void avx512_gemm(const float* a, std::int64_t M, const WeightView& w, float* c);
// fp16 -> float32 widening (vcvtph2ps), n values.
void avx512_f16_to_f32(const std::uint16_t* x, float* y, std::int64_t n);
// The kernel's activation conversion of one row of K values, for the tests: values[k] is the
// converted value before scaling (bf16 / e4m3 / int8 value as float), *scale the row scale (1
// for bf16). Must equal the scalar definition in gemm.cpp bit for bit.
void avx512_convert_row(const float* a, std::int64_t K, AIn in, float* values, float* scale);

// ---- CPU features (gemm.cpp) ----------------------------------------------------------------

// True when the CPU (and OS) support AVX-512 F/BW/VL/BF16/VNNI.
bool cpu_has_avx512_kernels();

namespace {  // internal linkage: see the ODR rule above

inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Next chunk index from a job's counter (a GCC builtin, not std::atomic: see the ODR rule).
inline std::int64_t claim_chunk(std::int64_t* counter) { return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }

// Byte offset of element (n, k) in the pair / quad layouts (element size 1 or 2).
inline std::int64_t pair_index(std::int64_t n, std::int64_t k, std::int64_t Kp) {
  return ((n / kNR * (Kp / 2) + k / 2) * kNR + n % kNR) * 2 + k % 2;
}
inline std::int64_t quad_index(std::int64_t n, std::int64_t k, std::int64_t Kp) {
  return ((n / kNR * (Kp / 4) + k / 4) * kNR + n % kNR) * 4 + k % 4;
}
// Byte and nibble shift of element (n, k) in kInt4Quads.
inline std::int64_t int4_byte(std::int64_t n, std::int64_t k, std::int64_t Kp, int* shift) {
  const std::int64_t nn = n % kNR, i = (nn % 16) * 2 + k % 2;
  const int t = static_cast<int>(((k / 2) % 2) * 2 + nn / 16);
  *shift = (t % 2) * 4;
  return (n / kNR * (Kp / 4) + k / 4) * 64 + 2 * i + t / 2;
}
// Index of (n, g) in the int4 scale / zero layout.
inline std::int64_t group_index(std::int64_t n, std::int64_t g, std::int64_t G) {
  return (n / kNR * G + g) * kNR + n % kNR;
}

}  // namespace
}  // namespace g4::cpu::detail
