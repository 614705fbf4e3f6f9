// AddressSanitizer build of the simulator (ucontext fibers with ASan's fiber-switch annotations).
//   sim_asan_main ok   runs correct kernels (barriers, shuffles, dynamic smem) under ASan: exits 0
//   sim_asan_main oob  runs a kernel whose last thread writes one float past its output buffer:
//                      ASan must abort with "heap-buffer-overflow" naming this file's kernel line
// Registered twice in CTest (the oob run passes only when ASan's report appears in its output).
#include "optimized/cuda/sim/cusim.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "optimized/cuda/kernels/common.cuh"

__global__ void scale_oob(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) y[i] = 2.0f * x[i < n ? i : 0];  // bug: i == n writes past the end
}

__global__ void rotate_ok(const float* x, float* y) {
  G4_DYNAMIC_SMEM(float, s);
  const unsigned t = threadIdx.x;
  s[t] = x[blockIdx.x * blockDim.x + t];
  __syncthreads();
  float v = s[(t + 1) % blockDim.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  y[blockIdx.x * blockDim.x + t] = v;
}

int main(int argc, char** argv) {
  const bool oob = argc > 1 && std::strcmp(argv[1], "oob") == 0;
  const int n = 100;
  // Exact-size heap buffers: ASan's redzone starts right after the last element.
  std::unique_ptr<float[]> x(new float[n]), y(new float[n]);
  for (int i = 0; i < n; ++i) x[i] = float(i);
  if (oob) {
    g4sim::launch(dim3(4), dim3(32), 0, scale_oob, x.get(), y.get(), n);
    std::puts("oob write NOT detected");
    return 1;
  }
  std::unique_ptr<float[]> a(new float[128]), b(new float[128]);
  for (int i = 0; i < 128; ++i) a[i] = float(i);
  g4sim::launch(dim3(2), dim3(64), 64 * sizeof(float), rotate_ok, a.get(), b.get());
  std::puts("asan run clean");
  return 0;
}
