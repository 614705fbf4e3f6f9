// Host-side argument checks of the CUDA launchers (checks.hpp).
#include "optimized/cuda/checks.hpp"

#include <cstdint>
#include <limits>

#include "reference/common/check.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND::detail {

void check_rms_norm(const RmsNormShape& s, bool) {
  G4_CHECK(s.rows >= 0 && s.groups >= 1 && s.dim >= 1, ShapeError, "cuda add_rms_norm: rows {} groups {} dim {}",
           s.rows, s.groups, s.dim);
  G4_CHECK(s.rows * s.groups <= std::numeric_limits<int>::max() && s.dim <= std::numeric_limits<int>::max(),
           ShapeError, "cuda add_rms_norm: {} x {} groups exceed the grid limit", s.rows, s.groups);
  G4_CHECK(s.eps >= 0.0f, ShapeError, "cuda add_rms_norm: eps {} < 0", s.eps);
}

void check_rope(const RopeShape& s) {
  G4_CHECK(s.rows >= 0 && s.heads >= 1 && s.head_dim >= 2 && s.head_dim % 2 == 0 && s.n_pos >= 1, ShapeError,
           "cuda rope: rows {} heads {} head_dim {} (even, >= 2) n_pos {}", s.rows, s.heads, s.head_dim, s.n_pos);
  G4_CHECK(s.head_dim <= std::numeric_limits<int>::max() && s.rows <= std::numeric_limits<int>::max(), ShapeError,
           "cuda rope: shape too large for int indices");
}

GemmShape check_gemm(GemmShape s, const void* A, const void* W, const void* W2) {
  if (s.lda == 0) s.lda = s.K;
  if (s.ldw == 0) s.ldw = s.K;
  if (s.ldc == 0) s.ldc = s.N;
  G4_CHECK(s.M >= 0 && s.N >= 0 && s.K >= 0, ShapeError, "cuda gemm: M {} N {} K {}", s.M, s.N, s.K);
  G4_CHECK(s.K % 8 == 0 && s.lda % 8 == 0 && s.ldw % 8 == 0, ShapeError,
           "cuda gemm: K {}, lda {}, ldw {} must be multiples of 8 (16-byte cp.async chunks)", s.K, s.lda, s.ldw);
  G4_CHECK(s.lda >= s.K && s.ldw >= s.K && s.ldc >= s.N, ShapeError, "cuda gemm: leading dimensions {} {} {} < K/N",
           s.lda, s.ldw, s.ldc);
  for (const void* p : {A, W, W2})
    G4_CHECK(!p || reinterpret_cast<std::uintptr_t>(p) % 16 == 0, ShapeError,
             "cuda gemm: operand pointer {} is not 16-byte aligned", p);
  G4_CHECK(s.M <= std::numeric_limits<int>::max() && s.N <= std::numeric_limits<int>::max() &&
               s.lda <= std::numeric_limits<int>::max() && s.ldc <= std::numeric_limits<int>::max(),
           ShapeError, "cuda gemm: dimensions exceed int");
  return s;
}

GemmShape check_gemm_quant(GemmShape s, bool s8, const QuantWeight& w, const void* A, const float* a_scale) {
  const char* what = s8 ? "cuda gemm_w8a8" : "cuda gemm_dequant";
  const std::int64_t mult = s8 ? 16 : 8;  // 16-byte chunks: 16 int8, or 8 values of any decoded format
  if (s.lda == 0) s.lda = s.K;
  if (s.ldw == 0) s.ldw = s.K;
  if (s.ldc == 0) s.ldc = s.N;
  G4_CHECK(s.M >= 0 && s.N >= 0 && s.K >= 0, ShapeError, "{}: M {} N {} K {}", what, s.M, s.N, s.K);
  G4_CHECK(s.K % mult == 0 && s.lda % mult == 0 && s.ldw % mult == 0, ShapeError,
           "{}: K {}, lda {}, ldw {} must be multiples of {}", what, s.K, s.lda, s.ldw, mult);
  G4_CHECK(s.lda >= s.K && s.ldw >= s.K && s.ldc >= s.N, ShapeError, "{}: leading dimensions {} {} {} < K/N", what,
           s.lda, s.ldw, s.ldc);
  for (const void* p : {A, static_cast<const void*>(w.data)})
    G4_CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0, ShapeError, "{}: operand pointer {} is not 16-byte aligned",
             what, p);
  G4_CHECK(w.scales != nullptr, ShapeError, "{}: no weight scales", what);
  G4_CHECK((s8 || w.fmt == QuantFmt::fp8_e4m3) == (a_scale != nullptr), ShapeError,
           "{}: per-token activation scales are given exactly for int8 x int8 and fp8 x fp8", what);
  G4_CHECK(w.fmt != QuantFmt::int4 || (w.group > 0 && w.group % 32 == 0), ShapeError,
           "{}: int4 group {} must be a positive multiple of 32 (one k tile per group)", what, w.group);
  G4_CHECK(s.M <= std::numeric_limits<int>::max() && s.N <= std::numeric_limits<int>::max() &&
               s.lda <= std::numeric_limits<int>::max() && s.ldw <= std::numeric_limits<int>::max() &&
               s.ldc <= std::numeric_limits<int>::max() && (s.M + 63) / 64 <= 65535,
           ShapeError, "{}: dimensions exceed int / the grid", what);
  return s;
}

GemmShape check_gemm_f32(GemmShape s) {
  if (s.lda == 0) s.lda = s.K;
  if (s.ldw == 0) s.ldw = s.K;
  if (s.ldc == 0) s.ldc = s.N;
  G4_CHECK(s.M >= 0 && s.N >= 0 && s.K >= 0 && s.lda >= s.K && s.ldw >= s.K && s.ldc >= s.N, ShapeError,
           "cuda gemm_f32: M {} N {} K {}, leading dimensions {} {} {}", s.M, s.N, s.K, s.lda, s.ldw, s.ldc);
  G4_CHECK((s.M + 15) / 16 <= 65535 && s.N <= std::numeric_limits<int>::max() &&
               s.lda <= std::numeric_limits<int>::max() && s.ldw <= std::numeric_limits<int>::max() &&
               s.ldc <= std::numeric_limits<int>::max(),
           ShapeError, "cuda gemm_f32: M {} N {} exceed the grid", s.M, s.N);
  return s;
}

void check_attention(const AttentionShape& s) {
  G4_CHECK(s.B >= 0 && s.Sq >= 0 && s.Skv >= 0 && s.Nkv >= 1 && s.Nq >= s.Nkv && s.Nq % s.Nkv == 0 && s.Dh >= 1,
           ShapeError, "cuda attention: B {} Sq {} Skv {} Nq {} Nkv {} Dh {} (Nq a multiple of Nkv)", s.B, s.Sq, s.Skv,
           s.Nq, s.Nkv, s.Dh);
  G4_CHECK(s.Dh <= 512, ShapeError, "cuda attention: head dim {} > 512 (16 values per lane)", s.Dh);
  G4_CHECK(s.B <= 65535 && s.Nkv <= 65535 && s.B * s.Sq * s.Nq * s.Dh <= std::numeric_limits<int>::max() * 16ll,
           ShapeError, "cuda attention: shape exceeds the grid limits");
}

void check_count(std::int64_t n, const char* op) {
  G4_CHECK(n >= 0, ShapeError, "cuda {}: {} elements", op, n);
}

void check_rows(std::int64_t rows, std::int64_t cols, const char* op) {
  G4_CHECK(rows >= 0 && cols >= 1 && rows <= std::numeric_limits<int>::max() && cols <= std::numeric_limits<int>::max(),
           ShapeError, "cuda {}: [{} x {}] (one block per row: rows and cols must fit int)", op, rows, cols);
}

void check_route(std::int64_t T, std::int64_t E, std::int64_t K, std::int64_t max_experts) {
  G4_CHECK(T >= 0 && E >= 1 && E <= max_experts && K >= 1 && K <= E && K <= 32, ShapeError,
           "cuda route: T {} E {} (<= {}) K {} (<= min(E, 32))", T, E, max_experts, K);
}

void check_moe(const MoeShape& s) {
  G4_CHECK(s.T >= 0 && s.D >= 8 && s.Fe >= 8 && s.D % 8 == 0 && s.Fe % 8 == 0 && s.E >= 1 && s.E <= 1024 &&
               s.K >= 1 && s.K <= s.E,
           ShapeError, "cuda moe_experts: T {} D {} Fe {} (multiples of 8) E {} (<= 1024) K {} (<= E)", s.T, s.D, s.Fe,
           s.E, s.K);
  G4_CHECK(s.T * s.K <= std::numeric_limits<int>::max() / 2 && 2 * s.Fe * s.D <= std::numeric_limits<int>::max(),
           ShapeError, "cuda moe_experts: sizes exceed int indices");
  G4_CHECK((s.T + 63) / 64 <= 65535, ShapeError, "cuda moe_experts: {} tokens exceed the grid", s.T);
}

void check_int4(std::int64_t n, std::int64_t k, std::int64_t group, bool asymmetric, const void* zeros) {
  G4_CHECK(n >= 0 && k >= 1 && group >= 1 && n <= std::numeric_limits<int>::max() &&
               k <= std::numeric_limits<int>::max(),
           ShapeError, "cuda int4: [{} x {}] with group {}", n, k, group);
  G4_CHECK(!asymmetric || zeros != nullptr, ShapeError, "cuda int4: the asymmetric mode needs a zero-point buffer");
}

unsigned grid_for(std::int64_t total, int threads) {
  const std::int64_t blocks = (total + threads - 1) / threads;
  constexpr std::int64_t kMaxBlocks = 65535 * 16;  // grid-stride loops cover the rest
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

void throw_cuda_error(const char* what, const char* message) {
  throw g4::Error(fmt::format("CUDA {}: {}", what, message));
}
void throw_no_device(const char* what, const char* message) {
  throw g4::ConfigError(fmt::format("no usable CUDA device: {}: {}", what, message));
}

}  // namespace g4::cuda::detail
