// Launcher bodies of the tensor-core GEMM (kernels/gemm.cuh; bf16 and fp16 inputs), shared by
// gemm_sim.cpp (g++, simulator) and gemm_cuda.cu (nvcc); each includes this after defining
// G4_LAUNCH and defines the cublas backend of every GEMM facade (cublas_backend.hpp).
#include "optimized/cuda/checks.hpp"
#include "optimized/cuda/cublas_backend.hpp"
#include "optimized/cuda/kernels/gemm.cuh"
#include "optimized/cuda/ops.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND::detail {

template <class In, class OutT, bool kGated>
void gemm_tc(const In* A, const In* W, const In* W2, OutT* C, const GemmShape& s, Stream stream) {
  if (s.M == 0 || s.N == 0) return;
  const dim3 grid(static_cast<unsigned>((s.N + kGemmBN - 1) / kGemmBN), static_cast<unsigned>((s.M + kGemmBM - 1) / kGemmBM));
  auto* kernel = &gemm_16_tc_kernel<In, OutT, kGated>;
  G4_LAUNCH(kernel, grid, dim3(kGemmThreads), 0, stream)
  (A, static_cast<int>(s.lda), W, W2, static_cast<int>(s.ldw), C, static_cast<int>(s.ldc), static_cast<int>(s.M),
   static_cast<int>(s.N), static_cast<int>(s.K), GemmGroups{});
}

// The facade of both input types; kGated: W is the gate and W2 the up projection.
template <class In, class OutT, bool kGated>
void gemm_16(GemmBackend backend, const In* A, const In* W, const In* W2, OutT* C, const GemmShape& shape,
             Stream stream) {
  const GemmShape s = check_gemm(shape, A, W, W2);
  if (backend == GemmBackend::tensor_core) gemm_tc<In, OutT, kGated>(A, W, W2, C, s, stream);
  else if constexpr (kGated) gemm_cublas_gated<In, OutT>(A, W, W2, C, s, stream);
  else gemm_cublas<In, OutT>(A, W, C, s, stream);
}

}  // namespace g4::cuda::detail

namespace g4::cuda::inline G4_CUDA_BACKEND {

template <class OutT>
void gemm_bf16(GemmBackend backend, const __nv_bfloat16* A, const __nv_bfloat16* W, OutT* C, const GemmShape& shape,
               Stream stream) {
  detail::gemm_16<__nv_bfloat16, OutT, false>(backend, A, W, nullptr, C, shape, stream);
}
template <class OutT>
void gemm_bf16_gelu_gated(GemmBackend backend, const __nv_bfloat16* A, const __nv_bfloat16* Wg,
                          const __nv_bfloat16* Wu, OutT* C, const GemmShape& shape, Stream stream) {
  detail::gemm_16<__nv_bfloat16, OutT, true>(backend, A, Wg, Wu, C, shape, stream);
}
template <class OutT>
void gemm_f16(GemmBackend backend, const __half* A, const __half* W, OutT* C, const GemmShape& shape, Stream stream) {
  detail::gemm_16<__half, OutT, false>(backend, A, W, nullptr, C, shape, stream);
}
template <class OutT>
void gemm_f16_gelu_gated(GemmBackend backend, const __half* A, const __half* Wg, const __half* Wu, OutT* C,
                         const GemmShape& shape, Stream stream) {
  detail::gemm_16<__half, OutT, true>(backend, A, Wg, Wu, C, shape, stream);
}

void moe_experts(const __nv_bfloat16* x, const int* index, const float* weights, const __nv_bfloat16* gate_up,
                 const __nv_bfloat16* down, float* out, const MoeShape& s, const MoeScratch& w, Stream stream) {
  detail::check_moe(s);
  if (s.T == 0) return;
  const int T = static_cast<int>(s.T), K = static_cast<int>(s.K), E = static_cast<int>(s.E);
  const int D = static_cast<int>(s.D), Fe = static_cast<int>(s.Fe);
  G4_LAUNCH(moe_plan_kernel, dim3(1), dim3(static_cast<unsigned>((E + 31) / 32 * 32)), E * sizeof(int), stream)
  (index, T, K, E, w.offsets, w.rows, w.slot_row);
  const unsigned ytiles = static_cast<unsigned>((T + kGemmBM - 1) / kGemmBM);  // a group has at most T rows
  // h = gelu(x_g · gate_eᵀ) ⊙ (x_g · up_eᵀ): gate_up[e] is [2Fe, D], gate the first Fe rows.
  auto* k1 = &gemm_16_tc_kernel<__nv_bfloat16, __nv_bfloat16, true>;
  G4_LAUNCH(k1, dim3(static_cast<unsigned>((Fe + kGemmBN - 1) / kGemmBN), ytiles, static_cast<unsigned>(E)),
            dim3(kGemmThreads), 0, stream)
  (x, D, gate_up, gate_up + static_cast<long long>(Fe) * D, D, w.h, Fe, T, Fe, D,
   GemmGroups{w.offsets, w.rows, 2ll * Fe * D});
  // y = h_g · down_eᵀ: down[e] is [D, Fe]; h rows are already grouped (no gather).
  auto* k2 = &gemm_16_tc_kernel<__nv_bfloat16, float, false>;
  G4_LAUNCH(k2, dim3(static_cast<unsigned>((D + kGemmBN - 1) / kGemmBN), ytiles, static_cast<unsigned>(E)),
            dim3(kGemmThreads), 0, stream)
  (w.h, Fe, down, nullptr, Fe, w.y, D, T, D, Fe, GemmGroups{w.offsets, nullptr, static_cast<long long>(D) * Fe});
  G4_LAUNCH(moe_combine_kernel, dim3(static_cast<unsigned>(T)), dim3(256), 0, stream)
  (w.y, weights, index, w.slot_row, out, K, D);
}

template void gemm_bf16<float>(GemmBackend, const __nv_bfloat16*, const __nv_bfloat16*, float*, const GemmShape&,
                               Stream);
template void gemm_bf16<__nv_bfloat16>(GemmBackend, const __nv_bfloat16*, const __nv_bfloat16*, __nv_bfloat16*,
                                       const GemmShape&, Stream);
template void gemm_bf16_gelu_gated<float>(GemmBackend, const __nv_bfloat16*, const __nv_bfloat16*,
                                          const __nv_bfloat16*, float*, const GemmShape&, Stream);
template void gemm_bf16_gelu_gated<__nv_bfloat16>(GemmBackend, const __nv_bfloat16*, const __nv_bfloat16*,
                                                  const __nv_bfloat16*, __nv_bfloat16*, const GemmShape&, Stream);
template void gemm_f16<float>(GemmBackend, const __half*, const __half*, float*, const GemmShape&, Stream);
template void gemm_f16<__half>(GemmBackend, const __half*, const __half*, __half*, const GemmShape&, Stream);
template void gemm_f16_gelu_gated<float>(GemmBackend, const __half*, const __half*, const __half*, float*,
                                         const GemmShape&, Stream);
template void gemm_f16_gelu_gated<__half>(GemmBackend, const __half*, const __half*, const __half*, __half*,
                                          const GemmShape&, Stream);

}  // namespace g4::cuda
