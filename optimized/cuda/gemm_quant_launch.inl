// Launcher bodies of the quantised GEMMs (kernels/gemm_quant.cuh), shared by gemm_quant_sim.cpp
// (g++, simulator) and gemm_quant_cuda.cu (nvcc): included after G4_LAUNCH.
#include "optimized/cuda/checks.hpp"
#include "optimized/cuda/kernels/gemm_quant.cuh"
#include "optimized/cuda/ops.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

namespace detail {

inline dim3 quant_grid(const GemmShape& s) {
  return dim3(static_cast<unsigned>((s.N + kGemmBN - 1) / kGemmBN), static_cast<unsigned>((s.M + kGemmBM - 1) / kGemmBM));
}

template <class OutT, bool kSwap>
void launch_w8a8(const std::int8_t* A, const float* a_scale, const std::int8_t* W, const float* w_scale, OutT* C,
                 const GemmShape& shape, Stream stream) {
  QuantWeight qw;
  qw.data = reinterpret_cast<const std::uint8_t*>(W);
  qw.scales = w_scale;
  const GemmShape s = check_gemm_quant(shape, true, qw, A, a_scale);
  if (s.M == 0 || s.N == 0) return;
  auto* kernel = &gemm_s8_tc_kernel<OutT, kSwap>;
  G4_LAUNCH(kernel, quant_grid(s), dim3(kGemmThreads), 0, stream)
  (A, static_cast<int>(s.lda), a_scale, W, static_cast<int>(s.ldw), w_scale, C, static_cast<int>(s.ldc),
   static_cast<int>(s.M), static_cast<int>(s.N), static_cast<int>(s.K));
}

template <TileFmt AF, TileFmt WF, class OutT>
void launch_dq(const void* A, const float* a_scale, const QuantWeight& w, OutT* C, const GemmShape& s, Stream stream) {
  auto* kernel = &gemm_dq_tc_kernel<AF, WF, OutT>;
  G4_LAUNCH(kernel, quant_grid(s), dim3(kGemmThreads), 0, stream)
  (A, static_cast<int>(s.lda), a_scale, w.data, static_cast<int>(s.ldw), w.scales, static_cast<int>(w.group), C,
   static_cast<int>(s.ldc), static_cast<int>(s.M), static_cast<int>(s.N), static_cast<int>(s.K));
}

}  // namespace detail

template <class OutT>
void gemm_w8a8(const std::int8_t* A, const float* a_scale, const std::int8_t* W, const float* w_scale, OutT* C,
               const GemmShape& s, Stream stream) {
  detail::launch_w8a8<OutT, false>(A, a_scale, W, w_scale, C, s, stream);
}

template <class OutT>
void gemm_dequant(const void* A, const float* a_scale, const QuantWeight& w, OutT* C, const GemmShape& shape,
                  Stream stream) {
  const GemmShape s = detail::check_gemm_quant(shape, false, w, A, a_scale);
  if (s.M == 0 || s.N == 0) return;
  switch (w.fmt) {
    case QuantFmt::int8:
      detail::launch_dq<TileFmt::bf16, TileFmt::int8>(A, nullptr, w, C, s, stream);
      return;
    case QuantFmt::int4:
      detail::launch_dq<TileFmt::bf16, TileFmt::int4>(A, nullptr, w, C, s, stream);
      return;
    case QuantFmt::fp8_e4m3:
      detail::launch_dq<TileFmt::fp8e4m3, TileFmt::fp8e4m3>(A, a_scale, w, C, s, stream);
      return;
  }
}

namespace testing {
void gemm_w8a8_swapped_fragments(const std::int8_t* A, const float* a_scale, const std::int8_t* W,
                                 const float* w_scale, float* C, const GemmShape& s, Stream stream) {
  detail::launch_w8a8<float, true>(A, a_scale, W, w_scale, C, s, stream);
}
}  // namespace testing

template void gemm_w8a8<float>(const std::int8_t*, const float*, const std::int8_t*, const float*, float*,
                               const GemmShape&, Stream);
template void gemm_w8a8<__nv_bfloat16>(const std::int8_t*, const float*, const std::int8_t*, const float*,
                                       __nv_bfloat16*, const GemmShape&, Stream);
template void gemm_dequant<float>(const void*, const float*, const QuantWeight&, float*, const GemmShape&, Stream);
template void gemm_dequant<__nv_bfloat16>(const void*, const float*, const QuantWeight&, __nv_bfloat16*,
                                          const GemmShape&, Stream);

}  // namespace g4::cuda
