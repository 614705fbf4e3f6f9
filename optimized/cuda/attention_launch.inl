// Launcher bodies of the flash attention kernel, shared by attention_sim.cpp (g++, simulator)
// and attention_cuda.cu (nvcc): included after the file that defines G4_LAUNCH.
#include "optimized/cuda/checks.hpp"
#include "optimized/cuda/kernels/attention.cuh"
#include "optimized/cuda/ops.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

template <class T>
void attention(const T* q, const T* k, const T* v, T* out, const unsigned char* allowed, const AttentionShape& s,
               Stream stream) {
  detail::check_attention(s);
  const long long pairs = s.Sq * (s.Nq / s.Nkv);
  if (s.B == 0 || pairs == 0) return;
  const dim3 grid(static_cast<unsigned>((pairs + kAttnWarps - 1) / kAttnWarps), static_cast<unsigned>(s.Nkv),
                  static_cast<unsigned>(s.B));
  const std::size_t smem = 2 * kAttnKeys * static_cast<std::size_t>(s.Dh) * sizeof(T);
  G4_LAUNCH(flash_attention_kernel<T>, grid, dim3(kAttnThreads), smem, stream)
  (q, k, v, out, allowed, static_cast<int>(s.Sq), static_cast<int>(s.Skv), static_cast<int>(s.Nq),
   static_cast<int>(s.Nkv), static_cast<int>(s.Dh), s.scaling);
}

template void attention<float>(const float*, const float*, const float*, float*, const unsigned char*,
                               const AttentionShape&, Stream);
template void attention<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*,
                                       __nv_bfloat16*, const unsigned char*, const AttentionShape&, Stream);
template void attention<__half>(const __half*, const __half*, const __half*, __half*, const unsigned char*,
                                const AttentionShape&, Stream);

}  // namespace g4::cuda
