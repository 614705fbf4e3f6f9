#pragma once
// CUDA shim for the SIMT simulator: include this FIRST in a g++ translation unit, then the
// kernel headers (optimized/cuda/kernels/*.cuh) compile unchanged as host code and run on
// fibers (runtime.hpp). The numeric types come from the CUDA Toolkit's own headers
// (cuda_bf16.h, cuda_fp16.h, cuda_fp8.h compile as host code with g++: the conversions are the
// same RN / satfinite code as on the device); this file supplies what they leave device-only:
// qualifiers, built-in variables, barriers, warp collectives, atomics and math intrinsics.
//
// Intrinsic semantics follow the CUDA C++ Programming Guide / PTX ISA, including the corner
// cases a CPU would get wrong by default:
//   __float2int_rn & co: cvt.rni.s32.f32 saturates out-of-range values and maps NaN to 0 (a C++
//     cast would be undefined behaviour);
//   shuffles: the source lane is computed within `width`-lane segments; a source lane outside
//     the mask is an error here (undefined on the GPU);
//   atomics: blocks run one after another on one OS thread and fibers switch only at barriers,
//     so a plain read-modify-write is atomic.
// Fast-math intrinsics (__expf, __fdividef, ...) are computed exactly here; the GPU's are a few
// ulp off, which the fp64-reference tolerances absorb (notes/cuda-simulation.md section 6.5).
#if defined(__CUDACC__)
#error "cusim.h is the g++ simulator shim; nvcc translation units must not include it"
#endif

#include <vector_types.h>
#include <vector_functions.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <string>
#include <bit>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

#include "optimized/cuda/sim/runtime.hpp"

#define G4_CUDA_SIM 1

// ---- qualifiers (crt/host_defines.h defines most as empty annotations for non-nvcc builds) ----
#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __host__
#define __host__
#undef __shared__
#define __shared__ static thread_local  // a block never leaves its OS thread
#undef __constant__
#define __constant__
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
#undef __forceinline__
#define __forceinline__ inline
#undef __noinline__
#define __noinline__

// Static shared array, poisoned (0xFF) per block: G4_SHARED(float, s, [32]);
// (ThreadSanitizer build: the thread_local's first-use guard is the simulator's, not a race between
// simulated threads, so the declaration runs with race detection off.)
#define G4_SHARED(T, name, dims)               \
  ::g4sim::detail::ignore_accesses_begin();    \
  static thread_local T name dims;             \
  ::g4sim::detail::ignore_accesses_end();      \
  ::g4sim::detail::poison_static_shared(name, sizeof(name))
// Dynamic shared memory (the launch's third argument): G4_DYNAMIC_SMEM(float, smem);
#define G4_DYNAMIC_SMEM(T, name) T* name = reinterpret_cast<T*>(::g4sim::detail::tl_thread->block->dyn_smem)

// ---- built-in variables ----
#define threadIdx (::g4sim::detail::tl_thread->thread_idx)
#define blockIdx (::g4sim::detail::tl_thread->block->block_idx)
#define blockDim (::g4sim::detail::tl_thread->block->block_dim)
#define gridDim (::g4sim::detail::tl_thread->block->grid_dim)
#ifndef warpSize
#define warpSize 32
#endif

namespace g4sim::detail {
inline Site site_of(const std::source_location& l) {
  return Site{l.file_name(), static_cast<unsigned>(l.line()), static_cast<unsigned>(l.column())};
}
// Runs f(lane, payloads) for every lane of `mask` once they all arrived; returns this lane's R.
template <class R, class F>
R warp_op(unsigned mask, const void* payload, const std::source_location& loc, F&& f) {
  R result{};
  auto compute = [&](unsigned lane, const void* const* payloads) { result = f(lane, payloads); };
  using C = decltype(compute);
  warp_collective(
      mask, site_of(loc), payload,
      [](void* obj, unsigned lane, const void* const* p) { (*static_cast<C*>(obj))(lane, p); }, &compute);
  return result;
}
inline unsigned lane_id() { return tl_thread->lane; }
template <class T>
T shfl_from(unsigned mask, const void* const* payloads, unsigned src, const std::source_location& loc) {
  if (src >= 32 || !payloads[src])
    kernel_fault(site_of(loc), "shuffle reads lane " + std::to_string(src) + ", which is not in the mask");
  T v;
  std::memcpy(&v, payloads[src], sizeof(T));
  return v;
}
}  // namespace g4sim::detail

// ---- barriers ----
inline void __syncthreads(std::source_location loc = std::source_location::current()) {
  ::g4sim::detail::block_barrier(::g4sim::detail::site_of(loc), 0);
}
inline int __syncthreads_count(int pred, std::source_location loc = std::source_location::current()) {
  ::g4sim::detail::block_barrier(::g4sim::detail::site_of(loc), pred);
  return ::g4sim::detail::tl_thread->vote_result;
}
inline int __syncthreads_or(int pred, std::source_location loc = std::source_location::current()) {
  return __syncthreads_count(pred, loc) > 0;
}
inline int __syncthreads_and(int pred, std::source_location loc = std::source_location::current()) {
  const auto& b = ::g4sim::detail::tl_thread->block->block_dim;
  return __syncthreads_count(pred, loc) == static_cast<int>(b.x * b.y * b.z);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location loc = std::source_location::current()) {
  ::g4sim::detail::warp_op<int>(mask, nullptr, loc, [](unsigned, const void* const*) { return 0; });
}
inline void __threadfence() { std::atomic_signal_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_signal_fence(std::memory_order_seq_cst); }

// ---- warp shuffles (any trivially copyable T of at most 8 bytes, like CUDA's overload set) ----
template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32, std::source_location loc = std::source_location::current()) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8);
  return ::g4sim::detail::warp_op<T>(mask, &v, loc, [&](unsigned lane, const void* const* p) {
    const unsigned w = static_cast<unsigned>(width);
    const unsigned s = (lane / w) * w + (static_cast<unsigned>(src) % w);
    return ::g4sim::detail::shfl_from<T>(mask, p, s, loc);
  });
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32,
                 std::source_location loc = std::source_location::current()) {
  return ::g4sim::detail::warp_op<T>(mask, &v, loc, [&](unsigned lane, const void* const* p) {
    const unsigned w = static_cast<unsigned>(width);
    const unsigned s = (lane % w) >= delta ? lane - delta : lane;
    return ::g4sim::detail::shfl_from<T>(mask, p, s, loc);
  });
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32,
                   std::source_location loc = std::source_location::current()) {
  return ::g4sim::detail::warp_op<T>(mask, &v, loc, [&](unsigned lane, const void* const* p) {
    const unsigned w = static_cast<unsigned>(width);
    const unsigned s = (lane % w) + delta < w ? lane + delta : lane;
    return ::g4sim::detail::shfl_from<T>(mask, p, s, loc);
  });
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32,
                  std::source_location loc = std::source_location::current()) {
  return ::g4sim::detail::warp_op<T>(mask, &v, loc, [&](unsigned lane, const void* const* p) {
    const unsigned w = static_cast<unsigned>(width);
    const unsigned s = lane ^ static_cast<unsigned>(lane_mask);
    return ::g4sim::detail::shfl_from<T>(mask, p, (s / w == lane / w) ? s : lane, loc);
  });
}

// ---- votes and reductions ----
namespace g4sim::detail {
template <class F>
unsigned vote(unsigned mask, int pred, const std::source_location& loc, F&& combine) {
  return warp_op<unsigned>(mask, &pred, loc, [&](unsigned, const void* const* p) {
    unsigned bits = 0;
    for (unsigned l = 0; l < 32; ++l)
      if (p[l] && *static_cast<const int*>(p[l])) bits |= 1u << l;
    return combine(bits);
  });
}
template <class T, class F>
T reduce(unsigned mask, T v, const std::source_location& loc, F&& op) {
  return warp_op<T>(mask, &v, loc, [&](unsigned, const void* const* p) {
    bool first = true;
    T acc{};
    for (unsigned l = 0; l < 32; ++l) {
      if (!p[l]) continue;
      const T x = *static_cast<const T*>(p[l]);
      acc = first ? x : op(acc, x);
      first = false;
    }
    return acc;
  });
}
}  // namespace g4sim::detail
inline unsigned __ballot_sync(unsigned mask, int pred, std::source_location loc = std::source_location::current()) {
  return ::g4sim::detail::vote(mask, pred, loc, [](unsigned b) { return b; });
}
inline int __any_sync(unsigned mask, int pred, std::source_location loc = std::source_location::current()) {
  return static_cast<int>(::g4sim::detail::vote(mask, pred, loc, [](unsigned b) { return b != 0u; }));
}
inline int __all_sync(unsigned mask, int pred, std::source_location loc = std::source_location::current()) {
  return static_cast<int>(::g4sim::detail::vote(mask, pred, loc, [mask](unsigned b) { return b == mask; }));
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned v, std::source_location loc = std::source_location::current()) {
  return ::g4sim::detail::reduce(mask, v, loc, [](unsigned a, unsigned b) { return a + b; });
}
inline int __reduce_add_sync(unsigned mask, int v, std::source_location loc = std::source_location::current()) {
  return static_cast<int>(__reduce_add_sync(mask, static_cast<unsigned>(v), loc));
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v, std::source_location loc = std::source_location::current()) {
  return ::g4sim::detail::reduce(mask, v, loc, [](unsigned a, unsigned b) { return a > b ? a : b; });
}
inline int __reduce_max_sync(unsigned mask, int v, std::source_location loc = std::source_location::current()) {
  return ::g4sim::detail::reduce(mask, v, loc, [](int a, int b) { return a > b ? a : b; });
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v, std::source_location loc = std::source_location::current()) {
  return ::g4sim::detail::reduce(mask, v, loc, [](unsigned a, unsigned b) { return a < b ? a : b; });
}
inline int __reduce_min_sync(unsigned mask, int v, std::source_location loc = std::source_location::current()) {
  return ::g4sim::detail::reduce(mask, v, loc, [](int a, int b) { return a < b ? a : b; });
}

// ---- atomics (see the header comment: plain read-modify-write is atomic here) ----
// ThreadSanitizer build: an atomic is not a data race, so its read-modify-write is hidden from
// race detection (it orders nothing, like CUDA's relaxed atomics).
namespace g4sim::detail {
struct AtomicScope {
  AtomicScope() { ignore_accesses_begin(); }
  ~AtomicScope() { ignore_accesses_end(); }
};
}  // namespace g4sim::detail
template <class T>
T atomicAdd(T* p, T v) {
  ::g4sim::detail::AtomicScope atomic;
  const T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  ::g4sim::detail::AtomicScope atomic;
  const T old = *p;
  *p = old < v ? v : old;
  return old;
}
template <class T>
T atomicMin(T* p, T v) {
  ::g4sim::detail::AtomicScope atomic;
  const T old = *p;
  *p = v < old ? v : old;
  return old;
}
template <class T>
T atomicExch(T* p, T v) {
  ::g4sim::detail::AtomicScope atomic;
  const T old = *p;
  *p = v;
  return old;
}
template <class T>
T atomicCAS(T* p, T compare, T v) {
  ::g4sim::detail::AtomicScope atomic;
  const T old = *p;
  if (old == compare) *p = v;
  return old;
}

// ---- math and bit intrinsics the CUDA headers leave device-only ----
// Device code calls the classification functions unqualified (CUDA's math API is global).
using std::isfinite;
using std::isinf;
using std::isnan;
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return std::isnan(x) ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned>(x)) + 1; }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
template <class T>
T __ldg(const T* p) {
  return *p;
}
namespace g4sim::detail {
// cvt.rn?.s32.f32: round with `r`, saturate to [lo, hi], NaN -> 0 (PTX ISA, cvt).
template <class I>
I cvt_sat(double r) {
  if (std::isnan(r)) return 0;
  if (r <= static_cast<double>(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
  if (r >= static_cast<double>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  return static_cast<I>(r);
}
}  // namespace g4sim::detail
inline int __float2int_rn(float x) { return ::g4sim::detail::cvt_sat<int>(std::nearbyint(double(x))); }
inline int __float2int_rz(float x) { return ::g4sim::detail::cvt_sat<int>(std::trunc(double(x))); }
inline int __float2int_rd(float x) { return ::g4sim::detail::cvt_sat<int>(std::floor(double(x))); }
inline int __float2int_ru(float x) { return ::g4sim::detail::cvt_sat<int>(std::ceil(double(x))); }
inline unsigned __float2uint_rn(float x) { return ::g4sim::detail::cvt_sat<unsigned>(std::nearbyint(double(x))); }
inline int __double2int_rn(double x) { return ::g4sim::detail::cvt_sat<int>(std::nearbyint(x)); }

// ---- launch: the simulator's `kernel<<<grid, block, smem>>>(args...)` ----
namespace g4sim {
// Runs kernel(args...) for every thread of the grid. Arguments are converted to the kernel's
// parameter types once (as a launch copies them) and each thread gets its own by-value copy.
template <class... P, class... A>
void launch(dim3 grid, dim3 block, std::size_t dyn_smem_bytes, void (*kernel)(P...), A&&... args) {
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  const std::function<void()> body = [&] { std::apply(kernel, params); };
  detail::run_grid(grid, block, dyn_smem_bytes, body, "(unnamed kernel)");
}
template <class... P, class... A>
void launch_named(const char* name, dim3 grid, dim3 block, std::size_t dyn_smem_bytes, void (*kernel)(P...),
                  A&&... args) {
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  const std::function<void()> body = [&] { std::apply(kernel, params); };
  detail::run_grid(grid, block, dyn_smem_bytes, body, name);
}
}  // namespace g4sim
