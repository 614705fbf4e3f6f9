// The GPU build's device API (device.hpp): cudaMalloc, cudaMemcpyAsync, CUDA events, an L2 flush
// by a device memset, and the device's ceilings measured with cuBLAS and device-to-device copies.
#include <cuda_runtime.h>
#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "optimized/cuda/checks.hpp"
#include "optimized/cuda/device.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

namespace {
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) detail::throw_cuda_error(what, cudaGetErrorString(e));
}
void check(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) detail::throw_cuda_error(what, cublasGetStatusString(st));
}
cudaStream_t cs(Stream s) { return static_cast<cudaStream_t>(s); }
}  // namespace

DeviceInfo device_info() {
  int count = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess)
    detail::throw_no_device("cudaGetDeviceCount", cudaGetErrorString(e));
  if (count == 0) detail::throw_no_device("cudaGetDeviceCount", "0 devices");
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, dev), "cudaGetDeviceProperties");
  DeviceInfo d;
  d.name = p.name;
  d.cc_major = p.major;
  d.cc_minor = p.minor;
  d.sm_count = p.multiProcessorCount;
  d.memory_bytes = static_cast<std::int64_t>(p.totalGlobalMem);
  d.l2_bytes = p.l2CacheSize;
  return d;
}

void* device_alloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), "cudaMalloc");
  return p;
}
void device_free(void* p) noexcept {
  if (p) cudaFree(p);
}

void copy_to_device(void* dst, const void* src, std::size_t bytes, Stream s) {
  if (!bytes) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cs(s)), "cudaMemcpyAsync (host to device)");
  check(cudaStreamSynchronize(cs(s)), "cudaStreamSynchronize");
}
void copy_to_host(void* dst, const void* src, std::size_t bytes, Stream s) {
  if (!bytes) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cs(s)), "cudaMemcpyAsync (device to host)");
  check(cudaStreamSynchronize(cs(s)), "cudaStreamSynchronize");
}
void fill_zero(void* dst, std::size_t bytes, Stream s) {
  if (bytes) check(cudaMemsetAsync(dst, 0, bytes, cs(s)), "cudaMemsetAsync");
}
void synchronize(Stream s) { check(cudaStreamSynchronize(cs(s)), "cudaStreamSynchronize"); }

Stream create_stream() {
  cudaStream_t s = nullptr;
  // A blocking stream: the copies on the legacy default stream (copy_to_host with no stream)
  // wait for its kernels, and its kernels wait for those copies.
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  return s;
}
void destroy_stream(Stream s) noexcept {
  if (s) cudaStreamDestroy(cs(s));
}

Event create_event() {
  cudaEvent_t e = nullptr;
  check(cudaEventCreate(&e), "cudaEventCreate");
  return e;
}
void destroy_event(Event e) noexcept {
  if (e) cudaEventDestroy(static_cast<cudaEvent_t>(e));
}
void record_event(Event e, Stream s) { check(cudaEventRecord(static_cast<cudaEvent_t>(e), cs(s)), "cudaEventRecord"); }
double elapsed_ms(Event start, Event stop) {
  check(cudaEventSynchronize(static_cast<cudaEvent_t>(stop)), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(stop)),
        "cudaEventElapsedTime");
  return ms;
}

void flush_l2(Stream s) {
  // Twice the L2, allocated once per process (freed at exit by the driver).
  static const std::size_t bytes = 2 * static_cast<std::size_t>(std::max<std::int64_t>(device_info().l2_bytes, 1 << 20));
  static void* buf = device_alloc(bytes);
  check(cudaMemsetAsync(buf, 0x5A, bytes, cs(s)), "cudaMemsetAsync (L2 flush)");
}

DeviceCeilings measure_device_ceilings() {
  constexpr int n = 8192;
  const std::size_t elems = static_cast<std::size_t>(n) * n;
  DeviceBuffer<unsigned char> a(elems * 8), b(elems * 8), c(elems * 8);
  check(cudaMemset(a.data(), 0x3C, elems * 8), "cudaMemset");
  check(cudaMemset(b.data(), 0x3C, elems * 8), "cudaMemset");
  cublasHandle_t h = nullptr;
  check(cublasCreate(&h), "cublasCreate");
  Event e0 = create_event(), e1 = create_event();
  // Best of 5 timed runs after one warm-up.
  auto best_ms = [&](auto&& run) {
    run();
    double best = std::numeric_limits<double>::infinity();
    for (int r = 0; r < 5; ++r) {
      record_event(e0);
      run();
      record_event(e1);
      best = std::min(best, elapsed_ms(e0, e1));
    }
    return best;
  };
  auto gemm = [&](cudaDataType_t in, cudaDataType_t out, cublasComputeType_t compute, const void* alpha,
                  const void* beta) {
    return best_ms([&] {
      check(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, alpha, a.data(), in, n, b.data(), in, n, beta,
                         c.data(), out, n, compute, CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx (device ceilings)");
    });
  };
  const double flop = 2.0 * n * n * static_cast<double>(n);
  const double one64 = 1.0, zero64 = 0.0;
  const float one32 = 1.0f, zero32 = 0.0f;
  const int one_i = 1, zero_i = 0;
  DeviceCeilings r{};
  r.dgemm_gflops = flop / gemm(CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F, &one64, &zero64) * 1e-6;
  r.sgemm_gflops = flop / gemm(CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, &one32, &zero32) * 1e-6;
  r.bf16_gflops = flop / gemm(CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F, &one32, &zero32) * 1e-6;
  r.int8_gops = flop / gemm(CUDA_R_8I, CUDA_R_32I, CUBLAS_COMPUTE_32I, &one_i, &zero_i) * 1e-6;
  constexpr std::size_t copy_bytes = std::size_t(1) << 29;  // 512 MiB from a into b
  const double copy_ms = best_ms([&] {
    check(cudaMemcpyAsync(b.data(), a.data(), copy_bytes, cudaMemcpyDeviceToDevice, nullptr), "cudaMemcpyAsync");
  });
  r.copy_gbs = 2.0 * copy_bytes / copy_ms * 1e-6;
  destroy_event(e0);
  destroy_event(e1);
  cublasDestroy(h);
  return r;
}

}  // namespace g4::cuda
