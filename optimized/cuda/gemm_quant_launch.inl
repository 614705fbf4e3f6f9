// Launcher bodies of the quantised GEMMs (kernels/gemm_quant.cuh), shared by gemm_quant_sim.cpp
// (g++, simulator) and gemm_quant_cuda.cu (nvcc): included after G4_LAUNCH. The cublas backend's
// kernels and their order are here too, around cuBLAS's GEMMs (cublas_backend.hpp).
#include <cstddef>
#include <cstdint>

#include "optimized/cuda/checks.hpp"
#include "optimized/cuda/cublas_backend.hpp"
#include "optimized/cuda/kernels/gemm_quant.cuh"
#include "optimized/cuda/ops.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

namespace detail {

// gemm_w8a8's argument checks (check_gemm_quant on its int8 operands); lda/ldw/ldc filled in.
inline GemmShape check_w8a8(const GemmShape& shape, const std::int8_t* A, const float* a_scale, const std::int8_t* W,
                            const float* w_scale) {
  QuantWeight qw;
  qw.data = reinterpret_cast<const std::uint8_t*>(W);
  qw.scales = w_scale;
  return check_gemm_quant(shape, true, qw, A, a_scale);
}

inline dim3 quant_grid(const GemmShape& s) {
  return dim3(static_cast<unsigned>((s.N + kGemmBN - 1) / kGemmBN), static_cast<unsigned>((s.M + kGemmBM - 1) / kGemmBM));
}

template <class OutT, bool kSwap>
void launch_w8a8(const std::int8_t* A, const float* a_scale, const std::int8_t* W, const float* w_scale, OutT* C,
                 const GemmShape& s, Stream stream) {
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

// C = float(acc)·sa·sw rounded once (gemm_scale_kernel); acc dense [M, N].
template <class AccT, class OutT>
void launch_scale(const AccT* acc, const float* a_scale, const float* w_scale, OutT* C, const GemmShape& s,
                  Stream stream) {
  auto* kernel = &gemm_scale_kernel<AccT, OutT>;
  G4_LAUNCH(kernel, dim3(grid_for(s.M * s.N, kQuantAuxThreads)), dim3(kQuantAuxThreads), 0, stream)
  (acc, a_scale, w_scale, C, static_cast<int>(s.ldc), static_cast<int>(s.M), static_cast<int>(s.N));
}

// rows x K codes (row stride ld elements) -> dense bf16 [rows, K] (decode_bf16_kernel).
template <TileFmt F, bool kFoldScale = false>
void launch_decode(const std::uint8_t* src, std::int64_t ld, const float* scales, std::int64_t group,
                   __nv_bfloat16* dst, std::int64_t rows, std::int64_t K, Stream stream) {
  const int G = kFoldScale ? static_cast<int>((K + group - 1) / group) : 0;
  auto* kernel = &decode_bf16_kernel<F, kFoldScale>;
  G4_LAUNCH(kernel, dim3(grid_for(rows * (K / 8), kQuantAuxThreads)), dim3(kQuantAuxThreads), 0, stream)
  (src, static_cast<int>(ld), scales, static_cast<int>(group), G, dst, static_cast<int>(rows), static_cast<int>(K));
}

// cublas backend of gemm_w8a8: exact int32 sums by cuBLAS, then the tensor-core kernel's epilogue.
template <class OutT>
void w8a8_cublas(const std::int8_t* A, const float* a_scale, const std::int8_t* W, const float* w_scale, OutT* C,
                 const GemmShape& s, Stream stream) {
  const Scratch<std::int32_t> acc(s.M * s.N, stream);
  GemmShape dense = s;
  dense.ldc = s.N;
  gemm_cublas_s8(A, W, acc.get(), dense, stream);
  launch_scale(acc.get(), a_scale, w_scale, C, s, stream);
}

// cublas backend of gemm_dequant: decode to bf16, cuBLAS bf16 GEMM, scale epilogue (int4: the
// scales folded into the decoded weights, cuBLAS writes C).
template <class OutT>
void dequant_cublas(const void* A, const float* a_scale, const QuantWeight& w, OutT* C, const GemmShape& s,
                    Stream stream) {
  const Scratch<__nv_bfloat16> wd(s.N * s.K, stream);
  GemmShape g = s;
  g.ldw = s.K;
  if (w.fmt == QuantFmt::int4) {
    launch_decode<TileFmt::int4, true>(w.data, s.ldw, w.scales, w.group, wd.get(), s.N, s.K, stream);
    gemm_cublas<__nv_bfloat16, OutT>(static_cast<const __nv_bfloat16*>(A), wd.get(), C, g, stream);
    return;
  }
  const bool fp8 = w.fmt == QuantFmt::fp8_e4m3;
  if (fp8) launch_decode<TileFmt::fp8e4m3>(w.data, s.ldw, nullptr, 0, wd.get(), s.N, s.K, stream);
  else launch_decode<TileFmt::int8>(w.data, s.ldw, nullptr, 0, wd.get(), s.N, s.K, stream);
  const Scratch<__nv_bfloat16> ad(fp8 ? s.M * s.K : 0, stream);
  const __nv_bfloat16* a = static_cast<const __nv_bfloat16*>(A);
  if (fp8) {
    launch_decode<TileFmt::fp8e4m3>(static_cast<const std::uint8_t*>(A), s.lda, nullptr, 0, ad.get(), s.M, s.K, stream);
    a = ad.get();
    g.lda = s.K;
  }
  const Scratch<float> acc(s.M * s.N, stream);
  g.ldc = s.N;
  gemm_cublas<__nv_bfloat16, float>(a, wd.get(), acc.get(), g, stream);
  launch_scale(acc.get(), fp8 ? a_scale : nullptr, w.scales, C, s, stream);
}

}  // namespace detail

template <class OutT>
void gemm_w8a8(GemmBackend backend, const std::int8_t* A, const float* a_scale, const std::int8_t* W,
               const float* w_scale, OutT* C, const GemmShape& shape, Stream stream) {
  const GemmShape s = detail::check_w8a8(shape, A, a_scale, W, w_scale);
  if (s.M == 0 || s.N == 0) return;
  if (backend == GemmBackend::tensor_core) detail::launch_w8a8<OutT, false>(A, a_scale, W, w_scale, C, s, stream);
  else detail::w8a8_cublas(A, a_scale, W, w_scale, C, s, stream);
}

template <class OutT>
void gemm_dequant(GemmBackend backend, const void* A, const float* a_scale, const QuantWeight& w, OutT* C,
                  const GemmShape& shape, Stream stream) {
  const GemmShape s = detail::check_gemm_quant(shape, false, w, A, a_scale);
  if (s.M == 0 || s.N == 0) return;
  if (backend == GemmBackend::cublas) {
    detail::dequant_cublas(A, a_scale, w, C, s, stream);
    return;
  }
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
                                 const float* w_scale, float* C, const GemmShape& shape, Stream stream) {
  const GemmShape s = detail::check_w8a8(shape, A, a_scale, W, w_scale);
  if (s.M == 0 || s.N == 0) return;
  detail::launch_w8a8<float, true>(A, a_scale, W, w_scale, C, s, stream);
}
}  // namespace testing

template void gemm_w8a8<float>(GemmBackend, const std::int8_t*, const float*, const std::int8_t*, const float*, float*,
                               const GemmShape&, Stream);
template void gemm_w8a8<__nv_bfloat16>(GemmBackend, const std::int8_t*, const float*, const std::int8_t*,
                                       const float*, __nv_bfloat16*, const GemmShape&, Stream);
template void gemm_dequant<float>(GemmBackend, const void*, const float*, const QuantWeight&, float*, const GemmShape&,
                                  Stream);
template void gemm_dequant<__nv_bfloat16>(GemmBackend, const void*, const float*, const QuantWeight&, __nv_bfloat16*,
                                          const GemmShape&, Stream);

}  // namespace g4::cuda
