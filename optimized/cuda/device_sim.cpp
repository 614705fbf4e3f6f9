// The simulator's device API (device.hpp): host memory poisoned with 0xFF, memcpy, no timing.
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "optimized/cuda/device.hpp"
#include "reference/common/check.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

DeviceInfo device_info() {
  DeviceInfo d;
  d.name = "SIMT simulator (host memory)";
  d.simulated = true;
  return d;
}

void* device_alloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  // 256-byte alignment like cudaMalloc, so the kernels' 16-byte cp.async chunks are aligned.
  void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!p) throw g4::Error(fmt::format("simulated device_alloc: {} bytes: out of host memory", bytes));
  std::memset(p, 0xFF, bytes);
  return p;
}
void device_free(void* p) noexcept { std::free(p); }

void copy_to_device(void* dst, const void* src, std::size_t bytes, Stream) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void copy_to_host(void* dst, const void* src, std::size_t bytes, Stream) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void fill_zero(void* dst, std::size_t bytes, Stream) {
  if (bytes) std::memset(dst, 0, bytes);
}
void synchronize(Stream) {}

Stream create_stream() { return nullptr; }
void destroy_stream(Stream) noexcept {}

Event create_event() { return nullptr; }
void destroy_event(Event) noexcept {}
void record_event(Event, Stream) {}
double elapsed_ms(Event, Event) { return std::numeric_limits<double>::quiet_NaN(); }
void flush_l2(Stream) {}

DeviceCeilings measure_device_ceilings() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {nan, nan, nan, nan, nan};
}

}  // namespace g4::cuda
