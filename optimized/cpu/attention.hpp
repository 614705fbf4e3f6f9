#pragma once
// Attention kernels of the CPU executor: float32 compute against reference/ops/attention.hpp.
//
//   q    row-major [B·Sq, Nq·Dh]     float32 (head-major columns, as the reference)
//   k, v row-major [B·Skv, Nkv·Dh]   float32, or bf16 bits (uint16) for policies storing KV in bf16
//   allowed row-major [B, Sq, Skv]   the boolean mask the reference builds (ops/mask.hpp): causal,
//                                    sliding window, key padding, vision-bidirectional blocks
//   out  row-major [B·Sq, Nq·Dh]     float32
//   s[b, h, i, j] = scaling · q[b, i, h] · k[b, j, h / (Nq/Nkv)]       (Gemma 4: scaling = 1)
//   out[b, i, h]  = Σ_j softmax_j(s over allowed j) · v[b, j, h / (Nq/Nkv)]
// A query row with no allowed key outputs zeros (as ops::softmax_row / ops::attention do).
// The mask alone decides what is seen; query positions only matter for the `window` hint: query
// row i sits at key position q_offset + i, by default Skv − Sq + i (prefill: Sq = Skv; a decode
// step: Sq = 1, Skv = past + 1; set q_offset when the K/V buffer is longer than the context,
// e.g. a preallocated cache).
//
// Versions (DESIGN.md section 10, rule 5):
//   v1 attention_naive  two passes per query row — scores (float32 dot, increasing d), softmax
//                       (float32 max/exp/sum, then divide), P·V (float32, increasing j); one
//                       thread. The ratio rule's baseline ("naive same-precision computation").
//   v2 attention        flash-style: one pass over key blocks with an online softmax (running max
//                       and sum, rescaling the accumulator), all heads of a GQA group processed
//                       together so each K/V block is read once per group; key blocks whose mask
//                       tile is all zero are skipped (and, with the window hint, never touched);
//                       work split over (b, kv head, query block) and, when that gives fewer tasks
//                       than threads (decode), over key ranges merged by log-sum-exp. AVX-512
//                       tile kernels when the CPU has them (run-time check), plain loops otherwise.
// Numerics: float32 everywhere (scores, max, exp, sums, accumulators); bf16 K/V are widened to
// float32 exactly. exp is a Cephes-style polynomial on AVX-512 (≤ 2 ulp) and std::exp otherwise.
// Raw pointers only (no xtensor), so the same structure ports to CUDA (task = thread block).
#include <cstdint>
#include <string>

namespace g4::cpu {

struct AttentionProblem {
  std::int64_t B = 0;    // batch rows
  std::int64_t Sq = 0;   // query rows per batch row
  std::int64_t Skv = 0;  // key/value rows per batch row
  std::int64_t Nq = 0, Nkv = 0, Dh = 0;  // Nq % Nkv == 0; query head h reads kv head h / (Nq/Nkv)
  float scaling = 1.0f;
  const std::uint8_t* allowed = nullptr;  // row-major [B, Sq, Skv], nonzero = allowed; nullptr: all
  // Hint, 0 = none. W > 0 promises allowed[b, i, j] == 0 whenever j ≤ (q_offset + i) − W (true of
  // every Gemma 4 sliding mask, vision blocks included: their window has no upper bound but keeps
  // the lower one). Key blocks below every query's window are then skipped without being read.
  std::int64_t window = 0;
  std::int64_t q_offset = -1;  // key position of query row 0; −1: Skv − Sq
};

struct AttentionTuning {
  int threads = 0;               // 0: the CPUs of this process's affinity mask
  std::int64_t rows = 64;        // target rows per task: (query rows) × (heads of a GQA group)
  std::int64_t block_kv = 64;    // keys per block (the online-softmax step)
  int kv_splits = 0;             // key-range splits per task; 0: automatic (when tasks < 2·threads)
  bool simd = true;              // AVX-512 tile kernels if the CPU has them
};

// Flash-style kernel (v2). k/v: float32, or bf16 bit patterns.
void attention(const float* q, const float* k, const float* v, float* out, const AttentionProblem& p,
               const AttentionTuning& t = {});
void attention(const float* q, const std::uint16_t* k, const std::uint16_t* v, float* out,
               const AttentionProblem& p, const AttentionTuning& t = {});

// The plain two-pass float32 version (v1), one thread.
void attention_naive(const float* q, const float* k, const float* v, float* out, const AttentionProblem& p);
void attention_naive(const float* q, const std::uint16_t* k, const std::uint16_t* v, float* out,
                     const AttentionProblem& p);

// Which tile kernels attention() uses on this CPU with this tuning: "avx512" or "portable".
std::string attention_impl(const AttentionTuning& t = {});

// Multiply-add FLOPs the allowed (query, key) pairs need: 4·Dh·Nq·#allowed(b, i, j) (QKᵀ and P·V).
// The benchmarks' GFLOP/s use this count for every implementation.
double attention_flops(const AttentionProblem& p);

}  // namespace g4::cpu
