// Launcher bodies of add_rms_norm and rope, shared by rms_norm_sim.cpp (g++, simulator) and
// rms_norm_cuda.cu (nvcc): included after the file that defines G4_LAUNCH.
#include "optimized/cuda/checks.hpp"
#include "optimized/cuda/kernels/rms_norm.cuh"
#include "optimized/cuda/kernels/rope.cuh"
#include "optimized/cuda/ops.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

template <class T>
void add_rms_norm(const T* x, const T* r, const float* w, T* sum, T* y, const RmsNormShape& s, Stream stream) {
  detail::check_rms_norm(s, r != nullptr);
  const unsigned blocks = static_cast<unsigned>(s.rows * s.groups);
  if (blocks == 0) return;
  G4_LAUNCH(add_rms_norm_kernel<T>, dim3(blocks), dim3(kRmsNormThreads), 0, stream)
  (x, r, w, sum, y, static_cast<int>(s.dim), s.eps);
}

template <class T>
void rope(const T* x, T* y, const long long* positions, const float* cos_table, const float* sin_table,
          const RopeShape& s, Stream stream) {
  detail::check_rope(s);
  const long long total = s.rows * s.heads * (s.head_dim / 2);
  if (total == 0) return;
  G4_LAUNCH(rope_kernel<T>, dim3(detail::grid_for(total, kRopeThreads)), dim3(kRopeThreads), 0, stream)
  (x, y, positions, cos_table, sin_table, static_cast<int>(s.rows), static_cast<int>(s.heads),
   static_cast<int>(s.head_dim));
}

template void add_rms_norm<float>(const float*, const float*, const float*, float*, float*, const RmsNormShape&,
                                  Stream);
template void add_rms_norm<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*, const float*, __nv_bfloat16*,
                                          __nv_bfloat16*, const RmsNormShape&, Stream);
template void add_rms_norm<__half>(const __half*, const __half*, const float*, __half*, __half*, const RmsNormShape&,
                                   Stream);
template void rope<float>(const float*, float*, const long long*, const float*, const float*, const RopeShape&,
                          Stream);
template void rope<__nv_bfloat16>(const __nv_bfloat16*, __nv_bfloat16*, const long long*, const float*, const float*,
                                  const RopeShape&, Stream);
template void rope<__half>(const __half*, __half*, const long long*, const float*, const float*, const RopeShape&,
                           Stream);

}  // namespace g4::cuda
