// Launcher bodies of the graph's remaining nodes (kernels/graph_ops.cuh), shared by
// graph_ops_sim.cpp (g++, simulator) and graph_ops_cuda.cu (nvcc): included after G4_LAUNCH.
#include "optimized/cuda/checks.hpp"
#include "optimized/cuda/cublas_backend.hpp"
#include "optimized/cuda/kernels/graph_ops.cuh"
#include "optimized/cuda/ops.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

template <class T>
void gelu_tanh(const T* x, T* y, std::int64_t n, Stream stream) {
  detail::check_count(n, "gelu_tanh");
  if (n == 0) return;
  G4_LAUNCH(gelu_kernel<T>, dim3(detail::grid_for(n, kOpThreads)), dim3(kOpThreads), 0, stream)
  (x, y, static_cast<long long>(n));
}
template <class T>
void add(const T* a, const T* b, T* y, std::int64_t n, Stream stream) {
  detail::check_count(n, "add");
  if (n == 0) return;
  G4_LAUNCH(add_kernel<T>, dim3(detail::grid_for(n, kOpThreads)), dim3(kOpThreads), 0, stream)
  (a, b, y, static_cast<long long>(n));
}
template <class T>
void mul(const T* a, const T* b, T* y, std::int64_t n, Stream stream) {
  detail::check_count(n, "mul");
  if (n == 0) return;
  G4_LAUNCH(mul_kernel<T>, dim3(detail::grid_for(n, kOpThreads)), dim3(kOpThreads), 0, stream)
  (a, b, y, static_cast<long long>(n));
}
template <class T>
void scale(const T* x, T* y, std::int64_t n, float s, Stream stream) {
  detail::check_count(n, "scale");
  if (n == 0) return;
  G4_LAUNCH(scale_kernel<T>, dim3(detail::grid_for(n, kOpThreads)), dim3(kOpThreads), 0, stream)
  (x, y, static_cast<long long>(n), s);
}

#define G4_GRAPH_OPS_INSTANTIATE(T)                                     \
  template void gelu_tanh<T>(const T*, T*, std::int64_t, Stream);       \
  template void add<T>(const T*, const T*, T*, std::int64_t, Stream);   \
  template void mul<T>(const T*, const T*, T*, std::int64_t, Stream);   \
  template void scale<T>(const T*, T*, std::int64_t, float, Stream);
G4_GRAPH_OPS_INSTANTIATE(float)
G4_GRAPH_OPS_INSTANTIATE(__nv_bfloat16)
G4_GRAPH_OPS_INSTANTIATE(__half)
#undef G4_GRAPH_OPS_INSTANTIATE

void axpy_rows(const float* y, const int* rows, const float* w, float* out, std::int64_t n, std::int64_t D,
               Stream stream) {
  detail::check_rows(n, D, "axpy_rows");
  if (n == 0) return;
  G4_LAUNCH(axpy_rows_kernel, dim3(detail::grid_for(n * D, kOpThreads)), dim3(kOpThreads), 0, stream)
  (y, rows, w, out, static_cast<long long>(n), static_cast<int>(D));
}

void gemm_f32(GemmBackend backend, const float* A, const float* W, float* C, const GemmShape& shape, Stream stream) {
  const GemmShape s = detail::check_gemm_f32(shape);
  if (s.M == 0 || s.N == 0) return;
  if (backend == GemmBackend::cublas) {
    detail::gemm_cublas_f32(A, W, C, s, stream);
    return;
  }
  const dim3 grid(static_cast<unsigned>((s.N + kSgemmTile - 1) / kSgemmTile),
                  static_cast<unsigned>((s.M + kSgemmTile - 1) / kSgemmTile));
  G4_LAUNCH(gemm_f32_kernel, grid, dim3(kSgemmTile, kSgemmTile), 0, stream)
  (A, static_cast<int>(s.lda), W, static_cast<int>(s.ldw), C, static_cast<int>(s.ldc), static_cast<int>(s.M),
   static_cast<int>(s.N), static_cast<int>(s.K));
}

}  // namespace g4::cuda
