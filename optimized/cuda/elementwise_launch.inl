// Launcher bodies of the small kernels (kernels/elementwise.cuh), shared by elementwise_sim.cpp
// (g++, simulator) and elementwise_cuda.cu (nvcc): included after the file defining G4_LAUNCH.
#include <cmath>

#include "optimized/cuda/checks.hpp"
#include "optimized/cuda/kernels/elementwise.cuh"
#include "optimized/cuda/ops.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

template <class T>
void softcap(const T* x, T* y, std::int64_t n, float cap, Stream stream) {
  detail::check_count(n, "softcap");
  if (n == 0) return;
  G4_LAUNCH(softcap_kernel<T>, dim3(detail::grid_for(n, kEwThreads)), dim3(kEwThreads), 0, stream)
  (x, y, static_cast<long long>(n), cap);
}
template void softcap<float>(const float*, float*, std::int64_t, float, Stream);
template void softcap<__nv_bfloat16>(const __nv_bfloat16*, __nv_bfloat16*, std::int64_t, float, Stream);
template void softcap<__half>(const __half*, __half*, std::int64_t, float, Stream);

void to_16bit(Fmt16 f, const float* x, std::uint16_t* y, std::int64_t n, Stream stream) {
  detail::check_count(n, "to_16bit");
  if (n == 0) return;
  const dim3 grid(detail::grid_for(n, kEwThreads)), block(kEwThreads);
  if (f == Fmt16::bf16) G4_LAUNCH(to_16bit_kernel<0>, grid, block, 0, stream)(x, y, static_cast<long long>(n));
  else G4_LAUNCH(to_16bit_kernel<1>, grid, block, 0, stream)(x, y, static_cast<long long>(n));
}
void from_16bit(Fmt16 f, const std::uint16_t* x, float* y, std::int64_t n, Stream stream) {
  detail::check_count(n, "from_16bit");
  if (n == 0) return;
  const dim3 grid(detail::grid_for(n, kEwThreads)), block(kEwThreads);
  if (f == Fmt16::bf16) G4_LAUNCH(from_16bit_kernel<0>, grid, block, 0, stream)(x, y, static_cast<long long>(n));
  else G4_LAUNCH(from_16bit_kernel<1>, grid, block, 0, stream)(x, y, static_cast<long long>(n));
}

void quantize_rows(RowFmt f, const float* x, std::uint8_t* q, float* scale, std::int64_t rows, std::int64_t cols,
                   Stream stream) {
  detail::check_rows(rows, cols, "quantize_rows");
  if (rows == 0) return;
  const dim3 grid(static_cast<unsigned>(rows)), block(kEwThreads);
  const int c = static_cast<int>(cols);
  if (f == RowFmt::int8) G4_LAUNCH(quantize_rows_kernel<0>, grid, block, 0, stream)(x, q, scale, c);
  else if (f == RowFmt::fp8_e4m3) G4_LAUNCH(quantize_rows_kernel<1>, grid, block, 0, stream)(x, q, scale, c);
  else G4_LAUNCH(quantize_rows_kernel<2>, grid, block, 0, stream)(x, q, scale, c);
}
void dequantize_rows(RowFmt f, const std::uint8_t* q, const float* scale, float* y, std::int64_t rows,
                     std::int64_t cols, Stream stream) {
  detail::check_rows(rows, cols, "dequantize_rows");
  if (rows == 0) return;
  const dim3 grid(detail::grid_for(rows * cols, kEwThreads)), block(kEwThreads);
  const long long r = rows;
  const int c = static_cast<int>(cols);
  if (f == RowFmt::int8) G4_LAUNCH(dequantize_rows_kernel<0>, grid, block, 0, stream)(q, scale, y, r, c);
  else if (f == RowFmt::fp8_e4m3) G4_LAUNCH(dequantize_rows_kernel<1>, grid, block, 0, stream)(q, scale, y, r, c);
  else G4_LAUNCH(dequantize_rows_kernel<2>, grid, block, 0, stream)(q, scale, y, r, c);
}

void quantize_int4(const float* w, std::uint8_t* packed, float* scales, std::uint8_t* zeros, std::int64_t n,
                   std::int64_t k, std::int64_t group, bool asymmetric, Stream stream) {
  detail::check_int4(n, k, group, asymmetric, zeros);
  if (n == 0) return;
  G4_LAUNCH(quantize_int4_kernel, dim3(static_cast<unsigned>(n)), dim3(kEwThreads), 0, stream)
  (w, packed, scales, zeros, static_cast<int>(k), static_cast<int>(group), asymmetric);
}
void dequantize_int4(const std::uint8_t* packed, const float* scales, const std::uint8_t* zeros, float* w,
                     std::int64_t n, std::int64_t k, std::int64_t group, bool asymmetric, Stream stream) {
  detail::check_int4(n, k, group, asymmetric, zeros);
  if (n == 0) return;
  G4_LAUNCH(dequantize_int4_kernel, dim3(detail::grid_for(n * k, kEwThreads)), dim3(kEwThreads), 0, stream)
  (packed, scales, zeros, w, static_cast<long long>(n), static_cast<int>(k), static_cast<int>(group), asymmetric);
}

void route(const float* logits, const float* per_expert_scale, float* probs, float* weights, int* index,
           std::int64_t T, std::int64_t E, std::int64_t K, Stream stream) {
  detail::check_route(T, E, K, 32 * kRouteMaxPerLane);
  if (T == 0) return;
  G4_LAUNCH(route_kernel, dim3(static_cast<unsigned>((T + kRouteWarps - 1) / kRouteWarps)), dim3(32 * kRouteWarps), 0,
            stream)
  (logits, per_expert_scale, probs, weights, index, static_cast<int>(T), static_cast<int>(E), static_cast<int>(K));
}

template <class T>
void ple_combine(const float* ctx, const T* table, const long long* ids, const float* norm_w, float* out,
                 std::int64_t tokens, std::int64_t L, std::int64_t P, std::int64_t D, float eps, Stream stream) {
  detail::check_rows(tokens * L, P, "ple_combine");
  if (tokens == 0) return;
  G4_LAUNCH(ple_combine_kernel<T>, dim3(static_cast<unsigned>(tokens * L)), dim3(kEwThreads), 0, stream)
  (ctx, table, ids, norm_w, out, static_cast<int>(L), static_cast<int>(P),
   static_cast<float>(1.0 / std::sqrt(static_cast<double>(D))), static_cast<float>(std::sqrt(static_cast<double>(P))),
   eps);
}
template void ple_combine<float>(const float*, const float*, const long long*, const float*, float*, std::int64_t,
                                 std::int64_t, std::int64_t, std::int64_t, float, Stream);
template void ple_combine<__nv_bfloat16>(const float*, const __nv_bfloat16*, const long long*, const float*, float*,
                                         std::int64_t, std::int64_t, std::int64_t, std::int64_t, float, Stream);
template void ple_combine<__half>(const float*, const __half*, const long long*, const float*, float*, std::int64_t,
                                  std::int64_t, std::int64_t, std::int64_t, float, Stream);

}  // namespace g4::cuda
