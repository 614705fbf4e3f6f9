#pragma once
// RMSNorm and RoPE kernels of the CPU executor (float32), against reference/ops/rms_norm.hpp and
// reference/ops/rope.hpp, plus the fusions the executor uses:
//
//   rms_norm       y = x · (mean(x²) + eps)^(-1/2) · w   per group of `dim` (w == nullptr: no scale)
//   add_rms_norm   sum = x + r;  y = rms_norm(sum)        (residual add, then the next norm)
//   rope           rotate-half RoPE from a float32 cos/sin table, per head
//   rms_norm_rope  y = rope(rms_norm(x) per head)         (q_norm + q_rope, k_norm + k_rope)
//
// Layouts: x, y row-major [rows, groups·dim] (a row holds `groups` heads of `dim`); the outputs may
// alias the inputs (in-place). w: [dim].
// Numerics, float32 throughout:
//   * Σx² is a float32 sum (16-lane partial sums, then a fixed pairwise reduction on AVX-512;
//     the naive twins sum sequentially in increasing index), mean = Σx²/dim, then
//     inv = 1/sqrt(mean + eps) (correctly rounded sqrt and division: the reference's
//     pow(·, −0.5) in float64), y = (x · inv) · w in that order. eps is given as float
//     (1e-6 → 9.99999997e-7, a relative change of 3e-8 of a term that is itself ≪ mean).
//   * RoPE angles: θ = pos · inv_freq[k] is computed in FLOAT64 and cos θ, sin θ are rounded once
//     to float32 (rope_table). transformers builds inv_freq and θ in float32, which moves θ by
//     up to ~pos · 2^-24 rad (≈ 2.4e-4 rad at pos 4096); here the only error is the final rounding
//     of cos/sin (≤ 2^-24 relative), identical for every policy. Dims with inv_freq = 0
//     (proportional RoPE beyond n_rot) get cos 1, sin 0 exactly and pass through unchanged.
//   * Fusions skip the storage-format rounding between the fused nodes (the intermediate stays
//     float32): e.g. under bf16 storage, unfused q_norm → (round to bf16) → q_rope.
// Naive twins (*_naive): the same formulas as plain loops (sequential sums, no fusion: the fused
// naive twins run the unfused naive kernels in turn), one thread — the ratio rule's baselines.
// All kernels are single-threaded (they are memory-bound and cheap next to the matmuls around them).
#include <cstdint>

namespace g4::cpu {

// simd: AVX-512 bodies when the CPU has them (run-time check); false forces the portable loops.
struct NormRopeTuning {
  bool simd = true;
};

struct RmsNormProblem {
  std::int64_t rows = 0;    // T
  std::int64_t dim = 0;     // values per group (D for the residual norms, Dh for q/k/v norms)
  std::int64_t groups = 1;  // groups per row (heads); row width = groups · dim
  float eps = 1e-6f;
};

void rms_norm(const float* x, const float* w, float* y, const RmsNormProblem& p, const NormRopeTuning& t = {});
void rms_norm_naive(const float* x, const float* w, float* y, const RmsNormProblem& p);

// sum = x + r (float32 add), y = rms_norm(sum). sum may alias x or r; y may alias sum.
void add_rms_norm(const float* x, const float* r, const float* w, float* sum, float* y, const RmsNormProblem& p,
                  const NormRopeTuning& t = {});
void add_rms_norm_naive(const float* x, const float* r, const float* w, float* sum, float* y,
                        const RmsNormProblem& p);

// cos/sin tables [n_pos, half], row-major: entry (pos, k) = cos/sin(pos · inv_freq[k]), the angle
// and the functions in float64, each rounded once to float32. inv_freq: [half] (float64, e.g.
// from ops::rope_inv_freq).
void rope_table(const double* inv_freq, std::int64_t half, std::int64_t n_pos, float* cos_table, float* sin_table);
// The same for listed positions only: row r = positions[r] (a decode step at position 4096
// needs one row; RopeProblem.positions then index these rows).
void rope_table_at(const double* inv_freq, std::int64_t half, const std::int64_t* positions, std::int64_t n,
                   float* cos_table, float* sin_table);

struct RopeProblem {
  std::int64_t rows = 0;       // T
  std::int64_t heads = 0;      // N (heads per row)
  std::int64_t head_dim = 0;   // Dh (even); the table has Dh/2 columns
  const std::int64_t* positions = nullptr;  // [rows], each in [0, n_pos)
  const float* cos_table = nullptr;         // [n_pos, Dh/2]
  const float* sin_table = nullptr;         // [n_pos, Dh/2]
  std::int64_t n_pos = 0;
};

// y[k] = x[k]·cos − x[k + Dh/2]·sin;  y[k + Dh/2] = x[k + Dh/2]·cos + x[k]·sin   (per head)
void rope(const float* x, float* y, const RopeProblem& p, const NormRopeTuning& t = {});
void rope_naive(const float* x, float* y, const RopeProblem& p);

// Per head: normalise over Dh (weight w: [Dh], or nullptr), then rotate. One pass over x.
void rms_norm_rope(const float* x, const float* w, float eps, float* y, const RopeProblem& p,
                   const NormRopeTuning& t = {});
void rms_norm_rope_naive(const float* x, const float* w, float eps, float* y, const RopeProblem& p);

}  // namespace g4::cpu
