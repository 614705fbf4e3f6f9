#pragma once
// Device memory, copies, streams, events and the device's own ceilings: the host side of a CUDA
// program, one declaration with two implementations like ops.hpp (a program links one build,
// or both: backend.hpp).
//   gemma4_cuda_sim (device_sim.cpp): "device" memory is host memory, filled with 0xFF bytes
//       (NaN in every float format) when allocated, so a kernel reading what nobody wrote gives
//       NaN; copies are memcpy; events record nothing and elapsed times are NaN (simulated time
//       is not a measurement); the ceilings are NaN.
//   gemma4_cuda (device_cuda.cu): cudaMalloc / cudaMemcpyAsync / cudaEvent*; the L2 flush writes
//       a buffer of twice the L2 size; the ceilings are measured on the device (cuBLAS GEMMs,
//       device-to-device copies).
// Errors throw g4::Error with the CUDA call and cudaGetErrorString's text; device_info() throws
// g4::ConfigError when no device is usable (no driver, no GPU), one line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "optimized/cuda/backend.hpp"
#include "optimized/cuda/ops.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

struct DeviceInfo {
  std::string name;  // "SIMT simulator (host memory)" in the simulator
  bool simulated = false;
  int cc_major = 0, cc_minor = 0, sm_count = 0;
  std::int64_t memory_bytes = 0, l2_bytes = 0;
};
// The current device (device 0 unless CUDA_VISIBLE_DEVICES says otherwise).
DeviceInfo device_info();

void* device_alloc(std::size_t bytes);  // bytes == 0: nullptr
void device_free(void* p) noexcept;
// Copies complete before they return (the stream's earlier work first).
void copy_to_device(void* dst, const void* src, std::size_t bytes, Stream stream = nullptr);
void copy_to_host(void* dst, const void* src, std::size_t bytes, Stream stream = nullptr);
void fill_zero(void* dst, std::size_t bytes, Stream stream = nullptr);  // asynchronous
void synchronize(Stream stream = nullptr);

// A stream ordered with the legacy default stream both ways (GPU: cudaStreamCreate, blocking), so
// the copies above with stream == nullptr see its kernels' results; nullptr in the simulator.
Stream create_stream();
void destroy_stream(Stream stream) noexcept;

using Event = void*;
Event create_event();
void destroy_event(Event e) noexcept;
void record_event(Event e, Stream stream = nullptr);
// Milliseconds between two recorded events, after waiting for `stop`; NaN in the simulator.
double elapsed_ms(Event start, Event stop);
// Evicts the L2 cache before a timed repeat (a decode GEMV then streams its weights from HBM, as
// in a real decode step); a no-op in the simulator.
void flush_l2(Stream stream = nullptr);

// Measured on the device (GPU build; NaN in the simulator): cuBLAS GEMM rates at 8192³ (fp64,
// fp32, bf16 with fp32 accumulation, int8 with int32 accumulation) and the device-to-device copy
// bandwidth (bytes read + bytes written per second over a 512 MiB copy): each the best of 5 after a
// warm-up.
struct DeviceCeilings {
  double dgemm_gflops, sgemm_gflops, bf16_gflops, int8_gops, copy_gbs;
};
DeviceCeilings measure_device_ceilings();

// An owning device array of n T (moves only).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : p_(static_cast<T*>(device_alloc(n * sizeof(T)))), n_(n) {}
  DeviceBuffer(const T* host, std::size_t n, Stream s = nullptr) : DeviceBuffer(n) { upload(host, n, s); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      device_free(p_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { device_free(p_); }

  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  void upload(const T* host, std::size_t n, Stream s = nullptr) { copy_to_device(p_, host, n * sizeof(T), s); }
  void download(T* host, std::size_t n, Stream s = nullptr) const { copy_to_host(host, p_, n * sizeof(T), s); }
  void zero(Stream s = nullptr) { fill_zero(p_, n_ * sizeof(T), s); }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace g4::cuda
