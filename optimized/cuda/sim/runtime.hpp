#pragma once
// The SIMT simulator's scheduler: runs a CUDA grid on the calling OS thread, one block after
// another, each CUDA thread a fiber (fiber.hpp).
//
// Semantics (what a kernel sees, and what is reported as an error instead of hanging):
//   * __syncthreads(): a block barrier. It is released when every thread of the block waits at a
//     barrier and all wait at the SAME call site (file:line:column). Threads waiting at different
//     sites -> "divergent __syncthreads" error naming both sites. A barrier reached after some
//     threads of the block already returned -> error (strict: the CUDA guide allows
//     __syncthreads in conditional code only when the condition is uniform across the block).
//   * Warp collectives (shuffles, votes, reductions, __syncwarp, the tensor-core wrappers):
//     warp-level barriers among the lanes named in the mask. When every lane of the mask waits at
//     the same site with the same mask, each lane's result is computed from all lanes'
//     contributions (while they are all still parked) and the lanes are released. A lane of the
//     mask that already returned, a lane not in its own mask, or lanes of one mask waiting at
//     different sites -> error.
//   * Nothing runnable and not all threads done -> "deadlock" error listing where each thread
//     waits.
//   * Dynamic shared memory: one exact-size heap arena per block (so AddressSanitizer sees an
//     overrun), filled with 0xFF bytes (NaN in fp32/fp16/bf16) before each block when poisoning
//     is on. G4_SHARED arrays are poisoned the same way; plain static `__shared__` is not.
//   * Thread order within a pass and block order are configurable (Options): forward, reverse
//     or a seeded shuffle, so tests can rerun a kernel under other schedules and demand bitwise
//     identical output (a kernel that is right only under one order has a race).
// Errors are thrown as g4sim::KernelError from launch(); an exception thrown by kernel code is
// rethrown there too. Fibers of an aborted block are abandoned (their stacks are reused), so
// destructors of kernel locals do not run on that path: kernels hold no resources.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <vector_functions.h>
#include <vector_types.h>

#include "reference/common/check.hpp"

namespace g4sim {

class KernelError : public g4::Error {
 public:
  using g4::Error::Error;
};

enum class Order { forward, reverse, shuffle };

struct Options {
  Order thread_order = Order::forward;  // order of runnable threads in each scheduler pass
  Order block_order = Order::forward;   // order of blocks in the grid
  std::uint64_t seed = 1;               // for Order::shuffle
  bool poison_shared = true;            // 0xFF-fill dynamic and G4_SHARED memory per block
  std::size_t stack_bytes = 0;          // per fiber; 0 = default (64 KiB, 256 KiB under ASan)
};

// The options used by the next launches on this OS thread.
Options& options();

// Counters since the last reset (for the speed measurement and the tests).
struct Stats {
  std::uint64_t blocks = 0, threads = 0, block_barriers = 0, warp_collectives = 0, switches = 0;
};
Stats& stats();

struct Site {
  const char* file = "";
  unsigned line = 0, column = 0;
  std::string str() const;
  bool operator==(const Site& o) const;
};

namespace detail {

enum class State : std::uint8_t { runnable, block_wait, warp_wait, done };

struct ThreadCtx;
// A warp collective's per-lane work, run by the scheduler at release time: reads every lane's
// contribution (payloads[l] is null for lanes outside the mask) and writes this lane's result.
using ComputeFn = void (*)(void* obj, unsigned lane, const void* const* payloads);

struct ThreadCtx {
  uint3 thread_idx{};
  unsigned linear = 0, warp = 0, lane = 0;
  State state = State::done;
  Site site{};
  unsigned mask = 0;
  const void* payload = nullptr;
  ComputeFn compute = nullptr;
  void* compute_obj = nullptr;
  int vote = 0, vote_result = 0;  // __syncthreads_count/_and/_or
  void* fiber = nullptr;
  struct BlockCtx* block = nullptr;
  // cp.async copies issued and not yet performed (tensor_core.cuh): performed at wait_group.
  struct CpAsync {
    void* dst;
    const void* src;
    unsigned bytes;
    unsigned group;  // commit-group number; kUncommitted until cp.async.commit_group
  };
  static constexpr unsigned kUncommitted = ~0u;
  std::vector<CpAsync> cp_pending;
  unsigned cp_committed = 0;
  // Barriers passed (ThreadSanitizer build: selects the happens-before object of the next one).
  unsigned barriers = 0, syncwarps = 0;
};

struct BlockCtx {
  uint3 block_idx{};
  dim3 block_dim, grid_dim;
  unsigned char* dyn_smem = nullptr;
  std::size_t dyn_bytes = 0;
};

extern thread_local ThreadCtx* tl_thread;

// Parks the calling thread at a block barrier / warp collective until the scheduler releases it.
void block_barrier(const Site& site, int vote);
void warp_collective(unsigned mask, const Site& site, const void* payload, ComputeFn fn, void* obj);
// ThreadSanitizer build: race detection off / on for the calling fiber (nesting); no-ops otherwise.
void ignore_accesses_begin();
void ignore_accesses_end();
// G4_SHARED: poisons a static shared array the first time a block reaches its declaration.
void poison_static_shared(void* p, std::size_t bytes);
[[noreturn]] void kernel_fault(const Site& site, const std::string& what);

void run_grid(dim3 grid, dim3 block, std::size_t dyn_smem_bytes, const std::function<void()>& body,
              const char* kernel_name);

}  // namespace detail
}  // namespace g4sim
