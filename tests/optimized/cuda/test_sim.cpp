// Self-tests of the SIMT simulator (optimized/cuda/sim): semantics of the built-ins, barriers,
// warp collectives, atomics and intrinsics, and that the bug classes it exists to catch are
// caught: a missing __syncthreads, a divergent / partial barrier, a deadlock, a mismatched warp
// collective, unwritten outputs and cross-block write conflicts.
// The out-of-bounds write is caught by the AddressSanitizer build of test_sim_asan.cpp.
#include "optimized/cuda/sim/cusim.h"

#define BOOST_TEST_MODULE test_cuda_sim
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "optimized/cuda/device.hpp"
#include "optimized/cuda/kernels/common.cuh"
#include "tests/optimized/cuda/sim_check.hpp"

namespace {

using g4sim::KernelError;
using g4sim::test::bytes_of;
using g4sim::test::check_schedules;

// ---- kernels under test ----

// Block sum: warp shuffle tree, one partial per warp in shared memory, warp 0 finishes.
__global__ void block_sum(const float* x, float* out, int n) {
  G4_SHARED(float, partial, [32]);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? x[i] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const unsigned nwarps = blockDim.x / 32;
    float w = lane < nwarps ? partial[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) w += __shfl_down_sync(0xffffffffu, w, o);
    if (lane == 0) out[blockIdx.x] = w;
  }
}

// The same with the barrier forgotten: warp 0 may read partials not yet written.
__global__ void block_sum_missing_barrier(const float* x, float* out, int n) {
  G4_SHARED(float, partial, [32]);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? x[i] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  if (warp == 0) {
    const unsigned nwarps = blockDim.x / 32;
    float w = lane < nwarps ? partial[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) w += __shfl_down_sync(0xffffffffu, w, o);
    if (lane == 0) out[blockIdx.x] = w;
  }
}

// Rotation through dynamic shared memory; `barrier` = false forgets the __syncthreads.
__global__ void rotate_smem(const float* x, float* y, bool barrier) {
  G4_DYNAMIC_SMEM(float, s);
  const unsigned t = threadIdx.x;
  s[t] = x[blockIdx.x * blockDim.x + t];
  if (barrier) __syncthreads();
  y[blockIdx.x * blockDim.x + t] = s[(t + 1) % blockDim.x];
}

__global__ void divergent_barrier(float* y) {
  if (threadIdx.x < 8) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  y[threadIdx.x] = 1.0f;
}

__global__ void barrier_after_exit(float* y) {
  if (threadIdx.x >= 16) return;
  __syncthreads();
  y[threadIdx.x] = 1.0f;
}

__global__ void warp_then_block_deadlock(float* y) {
  if (threadIdx.x < 16) {
    __syncwarp(0xffffffffu);  // names lanes 16..31, which wait at the block barrier instead
  } else {
    __syncthreads();
  }
  y[threadIdx.x] = 1.0f;
}

__global__ void mismatched_shuffles(float* y) {
  float v = float(threadIdx.x);
  if (threadIdx.x % 2) v = __shfl_xor_sync(0xffffffffu, v, 1);
  else v = __shfl_xor_sync(0xffffffffu, v, 1);
  y[threadIdx.x] = v;
}

__global__ void shuffle_semantics(int* out) {
  const int lane = threadIdx.x;
  int* o = out + 8 * lane;
  o[0] = __shfl_sync(0xffffffffu, lane * 10, 5, 16);    // lane 5 of each 16-lane segment
  o[1] = __shfl_up_sync(0xffffffffu, lane * 10, 3, 16);
  o[2] = __shfl_down_sync(0xffffffffu, lane * 10, 3, 16);
  o[3] = __shfl_xor_sync(0xffffffffu, lane * 10, 6);
  o[4] = static_cast<int>(__ballot_sync(0xffffffffu, lane % 3 == 0));
  o[5] = __any_sync(0xffffffffu, lane == 31) + 2 * __all_sync(0xffffffffu, lane < 31);
  o[6] = __reduce_add_sync(0xffffffffu, lane) + 1000 * __reduce_max_sync(0xffffffffu, lane);
  // A half-warp collective: only lanes 0..15 take part.
  o[7] = lane < 16 ? __shfl_sync(0x0000ffffu, lane * 3, 15 - lane) : -1;
}

__global__ void syncthreads_votes(int* out) {
  const int t = threadIdx.x;
  const int c = __syncthreads_count(t % 4 == 0);
  const int a = __syncthreads_and(t < 1000);
  const int o = __syncthreads_or(t == 7);
  out[t] = c + 1000 * a + 10000 * o;
}

__global__ void indices(int* out) {
  const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[b * blockDim.x * blockDim.y * blockDim.z + t] = 1000 * b + t;
}

__global__ void histogram(const int* x, int n, int* bins, float* fsum) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    atomicAdd(&bins[x[i]], 1);
    atomicAdd(fsum, 0.5f);
  }
}

__global__ void read_uninitialised_smem(float* y) {
  G4_DYNAMIC_SMEM(float, s);
  y[threadIdx.x] = s[threadIdx.x];
}

__global__ void last_block_wins(float* y) {
  if (threadIdx.x == 0) y[0] = float(blockIdx.x);  // every block writes y[0]: a cross-block race
}

__global__ void partial_tail(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n - 1) y[i] = 2.0f * x[i];  // off by one: y[n-1] never written
}

__global__ void float_to_int(const float* x, int* y) { y[threadIdx.x] = __float2int_rn(x[threadIdx.x]); }

__global__ void throws_in_kernel(float* y) {
  if (threadIdx.x == 3) throw std::runtime_error("kernel-side failure");
  y[threadIdx.x] = 0.0f;
}

std::vector<float> ramp(int n, float scale = 1.0f) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = scale * float((i * 37) % 101 - 50) / 16.0f;
  return v;
}

bool message_has(const KernelError& e, const char* what) { return std::string(e.what()).find(what) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_sim)

BOOST_AUTO_TEST_CASE(block_sum_correct_under_every_schedule) {
  const int n = 1000, threads = 256, blocks = (n + threads - 1) / threads;
  const auto x = ramp(n);
  std::vector<float> out(blocks);
  const std::string problem = check_schedules([&] {
    std::fill(out.begin(), out.end(), std::numeric_limits<float>::quiet_NaN());
    g4sim::launch(dim3(blocks), dim3(threads), 0, block_sum, x.data(), out.data(), n);
    return bytes_of(out);
  });
  BOOST_TEST(problem.empty(), problem);
  for (int b = 0; b < blocks; ++b) {
    double ref = 0;
    for (int i = b * threads; i < std::min(n, (b + 1) * threads); ++i) ref += x[i];
    BOOST_TEST(std::abs(out[b] - ref) <= 1e-5 * (1 + std::abs(ref)));  // values are k/16: exact sums
  }
}

BOOST_AUTO_TEST_CASE(missing_syncthreads_is_caught) {
  const int n = 512, threads = 256, blocks = 2;
  const auto x = ramp(n);
  std::vector<float> out(blocks);
  const std::string problem = check_schedules([&] {
    std::fill(out.begin(), out.end(), std::numeric_limits<float>::quiet_NaN());
    g4sim::launch(dim3(blocks), dim3(threads), 0, block_sum_missing_barrier, x.data(), out.data(), n);
    return bytes_of(out);
  });
  BOOST_TEST_MESSAGE("missing barrier (static smem): " << problem);
  BOOST_TEST(!problem.empty());

  std::vector<float> y(n);
  auto run = [&](bool barrier) {
    return check_schedules([&] {
      std::fill(y.begin(), y.end(), std::numeric_limits<float>::quiet_NaN());
      g4sim::launch(dim3(blocks), dim3(threads), threads * sizeof(float), rotate_smem, x.data(), y.data(), barrier);
      return bytes_of(y);
    });
  };
  BOOST_TEST(run(true).empty(), run(true));
  const std::string p2 = run(false);
  BOOST_TEST_MESSAGE("missing barrier (dynamic smem): " << p2);
  BOOST_TEST(!p2.empty());
}

BOOST_AUTO_TEST_CASE(divergent_barrier_reported) {
  std::vector<float> y(32);
  try {
    g4sim::launch(dim3(1), dim3(32), 0, divergent_barrier, y.data());
    BOOST_FAIL("divergent __syncthreads not reported");
  } catch (const KernelError& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(message_has(e, "divergent __syncthreads"));
  }
}

BOOST_AUTO_TEST_CASE(barrier_after_exit_reported) {
  std::vector<float> y(64);
  try {
    g4sim::launch(dim3(1), dim3(64), 0, barrier_after_exit, y.data());
    BOOST_FAIL("barrier after exit not reported");
  } catch (const KernelError& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(message_has(e, "returned"));
  }
}

BOOST_AUTO_TEST_CASE(deadlock_reported_not_hung) {
  std::vector<float> y(32);
  try {
    g4sim::launch(dim3(1), dim3(32), 0, warp_then_block_deadlock, y.data());
    BOOST_FAIL("deadlock not reported");
  } catch (const KernelError& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(message_has(e, "deadlock"));
  }
}

BOOST_AUTO_TEST_CASE(mismatched_warp_collectives_reported) {
  std::vector<float> y(32);
  try {
    g4sim::launch(dim3(1), dim3(32), 0, mismatched_shuffles, y.data());
    BOOST_FAIL("mismatched collectives not reported");
  } catch (const KernelError& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(message_has(e, "mismatched warp collectives"));
  }
}

BOOST_AUTO_TEST_CASE(warp_collective_semantics) {
  std::vector<int> out(32 * 8, -7);
  g4sim::launch(dim3(1), dim3(32), 0, shuffle_semantics, out.data());
  unsigned ballot = 0;
  for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
  for (int l = 0; l < 32; ++l) {
    const int* o = &out[8 * l];
    const int seg = l / 16 * 16, in = l % 16;
    BOOST_TEST(o[0] == (seg + 5) * 10);
    BOOST_TEST(o[1] == (in >= 3 ? (l - 3) * 10 : l * 10));
    BOOST_TEST(o[2] == (in + 3 < 16 ? (l + 3) * 10 : l * 10));
    BOOST_TEST(o[3] == (l ^ 6) * 10);
    BOOST_TEST(static_cast<unsigned>(o[4]) == ballot);
    BOOST_TEST(o[5] == 1);  // any(lane == 31) = 1, all(lane < 31) = 0
    BOOST_TEST(o[6] == 496 + 1000 * 31);
    BOOST_TEST(o[7] == (l < 16 ? (15 - l) * 3 : -1));
  }
}

BOOST_AUTO_TEST_CASE(syncthreads_count_and_or) {
  std::vector<int> out(96);
  g4sim::launch(dim3(1), dim3(96), 0, syncthreads_votes, out.data());
  for (int t = 0; t < 96; ++t) BOOST_TEST(out[t] == 24 + 1000 + 10000);
}

BOOST_AUTO_TEST_CASE(builtin_indices_3d) {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  std::vector<int> out(12 * 24, -1);
  g4sim::launch(grid, block, 0, indices, out.data());
  for (int b = 0; b < 12; ++b)
    for (int t = 0; t < 24; ++t) BOOST_TEST(out[b * 24 + t] == 1000 * b + t);
}

BOOST_AUTO_TEST_CASE(atomics_across_blocks) {
  const int n = 700;
  std::vector<int> x(n), bins(7, 0);
  for (int i = 0; i < n; ++i) x[i] = (i * 13) % 7;
  float fsum = 0;
  g4sim::launch(dim3(3), dim3(256), 0, histogram, x.data(), n, bins.data(), &fsum);
  for (int b = 0; b < 7; ++b) BOOST_TEST(bins[b] == 100);
  BOOST_TEST(fsum == 350.0f);
}

BOOST_AUTO_TEST_CASE(shared_memory_is_poisoned) {
  std::vector<float> y(64, 0.0f);
  g4sim::launch(dim3(1), dim3(64), 64 * sizeof(float), read_uninitialised_smem, y.data());
  for (float v : y) BOOST_TEST(std::isnan(v));
}

BOOST_AUTO_TEST_CASE(cross_block_conflict_and_unwritten_output_caught) {
  std::vector<float> y(1);
  const std::string p1 = check_schedules([&] {
    y[0] = std::numeric_limits<float>::quiet_NaN();
    g4sim::launch(dim3(4), dim3(32), 0, last_block_wins, y.data());
    return bytes_of(y);
  });
  BOOST_TEST_MESSAGE("cross-block conflict: " << p1);
  BOOST_TEST(!p1.empty());

  const int n = 100;
  const auto x = ramp(n);
  std::vector<float> z(n);
  const std::string p2 = check_schedules([&] {
    std::fill(z.begin(), z.end(), std::numeric_limits<float>::quiet_NaN());
    g4sim::launch(dim3(4), dim3(32), 0, partial_tail, x.data(), z.data(), n);
    return bytes_of(z);
  });
  BOOST_TEST_MESSAGE("unwritten tail: " << p2);
  BOOST_TEST(p2.find("output float 99") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(float2int_saturates_like_ptx) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {2.5f, 3.5f, -2.5f, 1e10f, -1e10f, nan, inf, -inf};
  std::vector<int> y(x.size());
  g4sim::launch(dim3(1), dim3(static_cast<unsigned>(x.size())), 0, float_to_int, x.data(), y.data());
  const std::vector<int> want = {2, 4, -2, INT_MAX, INT_MIN, 0, INT_MAX, INT_MIN};
  BOOST_TEST(y == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(launch_errors_and_kernel_exceptions) {
  std::vector<float> y(2048);
  BOOST_CHECK_THROW(g4sim::launch(dim3(1), dim3(2048), 0, read_uninitialised_smem, y.data()), KernelError);
  BOOST_CHECK_THROW(g4sim::launch(dim3(0), dim3(32), 0, read_uninitialised_smem, y.data()), KernelError);
  BOOST_CHECK_THROW(g4sim::launch(dim3(1), dim3(32), 300 * 1024, read_uninitialised_smem, y.data()), KernelError);
  BOOST_CHECK_THROW(g4sim::launch(dim3(1), dim3(32), 0, throws_in_kernel, y.data()), std::runtime_error);
  // The simulator is usable again after an aborted block.
  std::vector<float> out(1);
  const auto x = ramp(64);
  g4sim::launch(dim3(1), dim3(64), 0, block_sum, x.data(), out.data(), 64);
  BOOST_TEST(std::isfinite(out[0]));
}

BOOST_AUTO_TEST_SUITE_END()

// The simulator's device API (device.hpp): "device" memory is host memory poisoned with 0xFF
// bytes (NaN in every float format), so what no kernel wrote reads as NaN; copies round-trip;
// events time nothing (NaN) and the ceilings are not measured, so simulated time can never be
// read as a GPU's.
BOOST_AUTO_TEST_CASE(simulated_device_memory_is_poisoned_and_untimed) {
  const g4::cuda::DeviceInfo d = g4::cuda::device_info();
  BOOST_TEST(d.simulated);
  g4::cuda::DeviceBuffer<float> b(100);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(b.data()) % 256 == 0u);  // cudaMalloc's alignment
  std::vector<float> h(100, 1.0f);
  b.download(h.data(), h.size());
  for (float v : h) BOOST_TEST_REQUIRE(std::isnan(v));
  std::iota(h.begin(), h.end(), 0.0f);
  b.upload(h.data(), 50);  // half of it
  std::vector<float> back(100);
  b.download(back.data(), back.size());
  for (int i = 0; i < 100; ++i) BOOST_TEST((i < 50 ? back[i] == float(i) : std::isnan(back[i])), i);
  b.zero();
  b.download(back.data(), back.size());
  for (float v : back) BOOST_TEST_REQUIRE(v == 0.0f);
  const g4::cuda::Event e0 = g4::cuda::create_event(), e1 = g4::cuda::create_event();
  g4::cuda::record_event(e0);
  g4::cuda::record_event(e1);
  BOOST_TEST(std::isnan(g4::cuda::elapsed_ms(e0, e1)));
  const g4::cuda::DeviceCeilings c = g4::cuda::measure_device_ceilings();
  for (double v : {c.dgemm_gflops, c.sgemm_gflops, c.bf16_gflops, c.int8_gops, c.copy_gbs}) BOOST_TEST(std::isnan(v));
  BOOST_TEST(g4::cuda::device_alloc(0) == nullptr);
}
