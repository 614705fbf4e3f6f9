#pragma once
// Host-side argument checks of the CUDA launchers (plain C++, compiled by g++ for both the
// simulator and the nvcc library, so nvcc never sees fmt).
#include "optimized/cuda/ops.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND::detail {

void check_rms_norm(const RmsNormShape& s, bool has_sum_out);
void check_rope(const RopeShape& s);
// Launch grid for `total` elements at `threads` per block, capped for a grid-stride loop.
// Fills lda/ldw/ldc defaults and checks the tensor-core / cp.async requirements.
GemmShape check_gemm(GemmShape s, const void* A, const void* W, const void* W2);
// Fills lda/ldw/ldc defaults and checks the quantised GEMMs' requirements (gemm_w8a8: s8 = true).
GemmShape check_gemm_quant(GemmShape s, bool s8, const QuantWeight& w, const void* A, const float* a_scale);
// Fills lda/ldw/ldc defaults for the SIMT fp32 GEMM (no alignment requirement).
GemmShape check_gemm_f32(GemmShape s);
void check_attention(const AttentionShape& s);
void check_count(std::int64_t n, const char* op);
void check_rows(std::int64_t rows, std::int64_t cols, const char* op);
void check_route(std::int64_t T, std::int64_t E, std::int64_t K, std::int64_t max_experts);
void check_moe(const MoeShape& s);
void check_int4(std::int64_t n, std::int64_t k, std::int64_t group, bool asymmetric, const void* zeros);
unsigned grid_for(std::int64_t total, int threads);
// Throws g4::Error("CUDA <what>: <message>") (used by the nvcc launchers).
[[noreturn]] void throw_cuda_error(const char* what, const char* message);
// Throws g4::ConfigError("no usable CUDA device: <what>: <message>") (device_info on the GPU build).
[[noreturn]] void throw_no_device(const char* what, const char* message);

}  // namespace g4::cuda::detail
