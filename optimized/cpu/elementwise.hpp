#pragma once
// Element-wise kernels and the MoE router of the CPU executor (float32), against
// reference/ops/activations.hpp and reference/ops/moe.hpp (route).
//
//   gelu_tanh(x)     = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))         ("gelu_pytorch_tanh")
//   gelu_gate_mul    out = gelu_tanh(gate) ⊙ up                            (the GeGLU MLP, fused)
//   softcap(x, c)    = c·tanh(x / c)
//   add, mul, scale, mul_rows (y[t, :] = x[t, :] ⊙ v, the router's per-channel scale)
//   route            softmax over E logits → top-K (ties: lower expert index first) → renormalise
//                    → × per_expert_scale[expert]
//
// Numerics (float32 in, float32 out, float32 arithmetic):
//   * gelu_tanh uses the identity 0.5·(1 + tanh z) = 1 / (1 + e^(−2z)), i.e.
//     gelu = x / (1 + exp(−2z)): one exp and one division, and no cancellation in 1 + tanh z for
//     negative x (where the literal formula loses all digits of the small result). The AVX-512 exp
//     is a Cephes-style polynomial (≤ 2 ulp); the portable path uses std::exp on the same formula.
//     Per element: |error| ≤ (12·|z| + 6)·u32·|gelu(x)| (z's ≤ 6 roundings amplified by |2z| in
//     the exp, + the exp's ≤ 2u, the add, the division), which the tests check element by element.
//     Note: the float64 reference evaluates the literal formula, whose 1 + tanh z is only good to
//     ~2^-52 absolute: for x ≲ −4 the reference itself is off in relative terms, and for x ≲ −5.8
//     it returns 0 (true value ~1e-15). Drift reports there measure the reference, not the kernel.
//   * softcap uses tanh(t) = sign(t)·(1 − 2/(e^(2|t|) + 1)) for |t| ≥ 0.625 and Cephes' odd
//     polynomial below (no cancellation near 0); per element ≤ (2·|t| + 7)·u32 relative
//     (t = x / cap); the portable path uses std::tanh.
//   * add / mul: one rounding (≤ u32 relative); scale: the float32 factor s is itself rounded by the
//     caller, so ≤ 2·u32 against a float64 factor.
//   * route: probs = exp(z − max) / Σ in float32 (std::exp, sequential sum over E), top-K by
//     probability with ties to the lower index (the reference's stable sort), weights =
//     p / Σ_top-K p (summed in rank order) · per_expert_scale.
// Naive twins (*_naive) compute the literal formulas with std::tanh in plain loops.
// Raw pointers only; n counts elements. Outputs may alias inputs.
#include <cstdint>

namespace g4::cpu {

// simd: AVX-512 bodies when the CPU has them (run-time check); false forces the portable loops.
struct ElementwiseTuning {
  bool simd = true;
};

void gelu_tanh(const float* x, float* y, std::int64_t n, const ElementwiseTuning& t = {});
void gelu_tanh_naive(const float* x, float* y, std::int64_t n);

// out[t, f] = gelu_tanh(gate[t·ld_gate + f]) · up[t·ld_up + f] for t < rows, f < cols. With the
// fused gate_up projection ([T, 2F], gate first): gate = gu, up = gu + F, ld_gate = ld_up = 2F.
struct GatedProblem {
  std::int64_t rows = 0, cols = 0;
  std::int64_t ld_gate = 0, ld_up = 0, ld_out = 0;  // 0: cols
};
void gelu_gate_mul(const float* gate, const float* up, float* out, const GatedProblem& p,
                   const ElementwiseTuning& t = {});
void gelu_gate_mul_naive(const float* gate, const float* up, float* out, const GatedProblem& p);

void softcap(const float* x, float* y, std::int64_t n, float cap, const ElementwiseTuning& t = {});
void softcap_naive(const float* x, float* y, std::int64_t n, float cap);

void add(const float* a, const float* b, float* y, std::int64_t n);
void mul(const float* a, const float* b, float* y, std::int64_t n);
void scale(const float* x, float s, float* y, std::int64_t n);
// y[t, c] = x[t, c] · v[c], row-major [rows, cols].
void mul_rows(const float* x, const float* v, float* y, std::int64_t rows, std::int64_t cols);

struct RouterProblem {
  std::int64_t T = 0;  // tokens
  std::int64_t E = 0;  // experts
  std::int64_t K = 0;  // experts per token, 0 < K ≤ E
};
// logits [T, E], per_expert_scale [E] -> probs [T, E] (may be nullptr), weights [T, K],
// index [T, K] (expert ids by descending probability).
void route(const float* logits, const float* per_expert_scale, float* probs, float* weights, std::int32_t* index,
           const RouterProblem& p);

}  // namespace g4::cpu
