#pragma once
// Fibers of the SIMT simulator: one per simulated CUDA thread.
//
// Two interchangeable switch back-ends behind one tiny interface:
//   * Boost.Context's fcontext (make_fcontext / jump_fcontext; Debian libboost-context-dev), the
//     default: a register swap of ~20 instructions, no system call;
//   * glibc ucontext (G4SIM_FIBER_UCONTEXT=1): swapcontext also saves the signal mask (one
//     rt_sigprocmask system call per switch), ~5x slower, but it is what AddressSanitizer's
//     fiber annotations are documented with, so the ASan build uses it.
// Measured on this project's 2-core VM with bench_cuda_sim (optimized/cuda/README.md): see the
// numbers there; fcontext won by the factor above and is the default.
//
// ThreadSanitizer build (-fsanitize=thread): every fiber is a TSan fiber (__tsan_create_fiber /
// __tsan_destroy_fiber), and every switch is announced with __tsan_switch_to_fiber(..,
// __tsan_switch_to_fiber_no_sync): a switch implies no happens-before, so two simulated threads
// are ordered only by what the runtime annotates (runtime.cpp: block start/end, __syncthreads,
// __syncwarp) and a missing barrier is a reported data race.
//
// A fiber runs `entry(arg)` on its own stack; resume() switches into it until it calls yield()
// or returns. Stacks are allocated once (mmap, with a PROT_NONE guard page below, so a stack
// overflow is a SIGSEGV, not a silent corruption) and reused: reset() restarts a fiber on the
// same stack, which is how one block's fibers serve every block of every launch.
#include <cstddef>
#include <cstdint>

#if G4SIM_FIBER_UCONTEXT
#include <ucontext.h>
#else
#include <boost/context/detail/fcontext.hpp>
#endif

namespace g4sim::detail {

class Fiber {
 public:
  using Entry = void (*)(void*);

  explicit Fiber(std::size_t stack_bytes);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Prepares the fiber to run entry(arg) from the top of its stack at the next resume().
  void reset(Entry entry, void* arg);
  // Switches from the scheduler into the fiber; returns when it yields or finishes.
  void resume();
  // Called on the fiber: switches back to the scheduler that resumed it.
  void yield();
  bool finished() const { return finished_; }

 private:
  static void trampoline_body(Fiber* self);

  unsigned char* map_ = nullptr;  // guard page + stack
  std::size_t map_bytes_ = 0;
  unsigned char* stack_lo_ = nullptr;
  std::size_t stack_bytes_ = 0;
  Entry entry_ = nullptr;
  void* arg_ = nullptr;
  bool finished_ = true;
  // ASan fiber-switch bookkeeping (unused without ASan).
  void* fake_stack_ = nullptr;
  const void* sched_stack_lo_ = nullptr;
  std::size_t sched_stack_bytes_ = 0;
  // TSan fiber contexts (unused without TSan): this fiber's, and the scheduler's that resumed it.
  void* tsan_fiber_ = nullptr;
  void* tsan_sched_ = nullptr;
#if G4SIM_FIBER_UCONTEXT
  static void uc_entry(unsigned lo, unsigned hi);
  ucontext_t ctx_{};
  ucontext_t sched_{};
#else
  static void fc_entry(boost::context::detail::transfer_t t);
  boost::context::detail::fcontext_t ctx_ = nullptr;
  boost::context::detail::fcontext_t sched_ = nullptr;
#endif
};

}  // namespace g4sim::detail
