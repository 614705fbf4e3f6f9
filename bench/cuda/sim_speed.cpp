// Speed of the SIMT simulator (not of any GPU): simulated threads per second and the cost of
// one 256-thread __syncthreads, for the fiber back-end this binary was linked with
// (bench_cuda_sim_fcontext / bench_cuda_sim_ucontext). Plain program, wall clock, best of 3.
//   kernels: "elementwise" (no barrier: one fiber start + return per thread),
//            "barriers"    (200 __syncthreads per thread),
//            "shuffles"    (a 5-step __shfl_xor_sync tree, x20, per thread).
#include "optimized/cuda/sim/cusim.h"

#include <chrono>
#include <cstdio>
#include <vector>

#include "optimized/cuda/kernels/common.cuh"

__global__ void elementwise(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = 2.0f * x[i] + 1.0f;
}

__global__ void barriers(float* y, int rounds) {
  G4_SHARED(float, s, [256]);
  float v = float(threadIdx.x);
  for (int r = 0; r < rounds; ++r) {
    s[threadIdx.x] = v;
    __syncthreads();
    v = s[(threadIdx.x + 1) % blockDim.x];
  }
  y[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

__global__ void shuffles(float* y, int rounds) {
  float v = float(threadIdx.x);
  for (int r = 0; r < rounds; ++r)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  y[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

template <class F>
double best_seconds(F&& f) {
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

int main() {
#if G4SIM_FIBER_UCONTEXT
  const char* backend = "ucontext";
#else
  const char* backend = "fcontext";
#endif
  const int blocks = 64, threads = 256, n = blocks * threads, rounds = 200;
  std::vector<float> x(n, 1.0f), y(n);
  const double te = best_seconds([&] { g4sim::launch(dim3(blocks), dim3(threads), 0, elementwise, x.data(), y.data(), n); });
  const double tb = best_seconds([&] { g4sim::launch(dim3(4), dim3(threads), 0, barriers, y.data(), rounds); });
  const double ts = best_seconds([&] { g4sim::launch(dim3(4), dim3(threads), 0, shuffles, y.data(), 20); });
  std::printf("backend %s\n", backend);
  std::printf("elementwise: %.3g simulated threads/s (%d threads in %.3f ms)\n", n / te, n, te * 1e3);
  std::printf("barriers:    %.2f us per 256-thread __syncthreads (%d barriers x 4 blocks in %.3f ms)\n",
              tb / (4.0 * rounds) * 1e6, rounds, tb * 1e3);
  std::printf("shuffles:    %.2f us per 256-thread round of 32-lane shuffles (100 per thread in %.3f ms)\n",
              ts / (4.0 * 100) * 1e6, ts * 1e3);
  return 0;
}
