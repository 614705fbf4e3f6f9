// ThreadSanitizer build of the simulator (fcontext fibers with TSan's fiber annotations; the
// happens-before model is described at the top of sim/runtime.cpp).
//   sim_tsan_main ok    runs correct kernels (a barrier between a shared-memory write and another
//                       warp's read, __syncwarp inside a warp, shuffles, several blocks) and the
//                       project's tensor-core GEMMs through their launchers (cp.async double
//                       buffers, ldmatrix, mma: bf16 fused gated, W8A8 s8, int4 decoded in the load
//                       path, 2x2 blocks each): no report
//   sim_tsan_main race  the same rotation through shared memory with the __syncthreads missing:
//                       thread t reads s[(t + 32) % 64], written by a thread of the other warp
//                       with no barrier between; TSan must report a data race on this file's lines
// Registered twice in CTest (the race run passes only when TSan's report names the kernel lines).
#include "optimized/cuda/sim/cusim.h"

#include <cstdio>
#include <cstring>
#include <vector>

#include "optimized/cuda/kernels/common.cuh"
#include "optimized/cuda/ops.hpp"

__global__ void rotate_missing_barrier(const float* x, float* y) {
  G4_SHARED(float, s, [64]);
  const unsigned t = threadIdx.x;
  s[t] = x[blockIdx.x * 64 + t];              // the write
  y[blockIdx.x * 64 + t] = s[(t + 32) % 64];  // the racing read (no __syncthreads between)
}

__global__ void rotate_ok(const float* x, float* y) {
  G4_SHARED(float, s, [64]);
  G4_SHARED(float, w, [64]);
  const unsigned t = threadIdx.x;
  s[t] = x[blockIdx.x * 64 + t];
  __syncthreads();
  float v = s[(t + 32) % 64];
  w[t] = v;
  __syncwarp();
  v += w[(t & ~31u) | ((t + 1) & 31u)];  // a lane of the same warp, ordered by __syncwarp
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  s[t] = v;  // a second phase on the same shared words, after the barrier
  __syncthreads();
  y[blockIdx.x * 64 + t] = s[63 - t];
}

int main(int argc, char** argv) {
  const bool race = argc > 1 && std::strcmp(argv[1], "race") == 0;
  std::vector<float> x(128), y(128, 0.0f);
  for (int i = 0; i < 128; ++i) x[i] = float(i);
  if (race) {
    g4sim::launch(dim3(2), dim3(64), 0, rotate_missing_barrier, x.data(), y.data());
    std::puts("tsan: the race kernel ran (TSan's report, if any, is above)");
    return 0;
  }
  g4sim::launch(dim3(2), dim3(64), 0, rotate_ok, x.data(), y.data());

  // The GEMMs: M 70, N 72 (two 64x64 tiles each way), K 128 (four k tiles: the double buffer
  // turns over). Values are small integers; the run only has to be race-free and finite.
  const int M = 70, N = 72, K = 128;
  std::vector<__nv_bfloat16> a(M * K), w(N * K), u(N * K);
  std::vector<std::int8_t> a8(M * K), w8(N * K);
  std::vector<std::uint8_t> w4(N * K / 2);
  std::vector<float> sa(M, 0.5f), sw(N, 0.25f), s4(N * (K / 32), 0.125f), c(M * N);
  for (int i = 0; i < M * K; ++i) a[i] = __float2bfloat16_rn(float(i % 7 - 3)), a8[i] = std::int8_t(i % 9 - 4);
  for (int i = 0; i < N * K; ++i) {
    w[i] = __float2bfloat16_rn(float(i % 5 - 2));
    u[i] = __float2bfloat16_rn(float(i % 3 - 1));
    w8[i] = std::int8_t(i % 11 - 5);
  }
  for (int i = 0; i < N * K / 2; ++i) w4[i] = std::uint8_t(i * 37);
  const g4::cuda::GemmShape s{M, N, K, 0, 0, 0};
  double sum = 0;
  auto total = [&] {
    for (float v : c) sum += v;
  };
  g4::cuda::gemm_bf16_gelu_gated<float>(g4::cuda::GemmBackend::tensor_core, a.data(), w.data(), u.data(), c.data(), s);
  total();
  g4::cuda::gemm_w8a8<float>(g4::cuda::GemmBackend::tensor_core, a8.data(), sa.data(), w8.data(), sw.data(), c.data(), s);
  total();
  const g4::cuda::QuantWeight q4{g4::cuda::QuantFmt::int4, w4.data(), s4.data(), 32};
  g4::cuda::gemm_dequant<float>(g4::cuda::GemmBackend::tensor_core, a.data(), nullptr, q4, c.data(), s);
  total();
  std::printf("tsan run clean: y[0] = %g, GEMM checksum %g\n", double(y[0]), sum);
  return sum == sum ? 0 : 1;  // NaN: an unwritten output
}
