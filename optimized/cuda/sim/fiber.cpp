// Fibers of the SIMT simulator (fiber.hpp). The AddressSanitizer annotations follow the
// protocol of <sanitizer/common_interface_defs.h>: before every switch the leaving side calls
// __sanitizer_start_switch_fiber with the bounds of the stack it goes to, and the arriving side
// calls __sanitizer_finish_switch_fiber (a fiber that ends passes a null fake-stack slot).
// The ThreadSanitizer annotations (fiber.hpp): __tsan_switch_to_fiber right before every
// switch, without synchronisation.
#include "optimized/cuda/sim/fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>
#include <stdexcept>

#if defined(__SANITIZE_ADDRESS__)
#define G4SIM_ASAN 1
#include <sanitizer/common_interface_defs.h>
#else
#define G4SIM_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define G4SIM_TSAN 1
#include <sanitizer/tsan_interface.h>
#else
#define G4SIM_TSAN 0
#endif

namespace g4sim::detail {

namespace {
#if G4SIM_TSAN
#if G4SIM_FIBER_UCONTEXT
#error "the ThreadSanitizer build uses the fcontext fibers (G4SIM_FIBER_UCONTEXT unset)"
#endif
void* tsan_create() { return __tsan_create_fiber(0); }
void tsan_release(void* p) { __tsan_release(p); }
void tsan_acquire(void* p) { __tsan_acquire(p); }
void tsan_destroy(void* f) { __tsan_destroy_fiber(f); }
void* tsan_current() { return __tsan_get_current_fiber(); }
void tsan_switch(void* to) { __tsan_switch_to_fiber(to, __tsan_switch_to_fiber_no_sync); }
#else
void* tsan_create() { return nullptr; }
void tsan_destroy(void*) {}
void* tsan_current() { return nullptr; }
void tsan_switch(void*) {}
[[maybe_unused]] void tsan_release(void*) {}
[[maybe_unused]] void tsan_acquire(void*) {}
#endif
#if G4SIM_ASAN
void asan_start(void** fake_save, const void* lo, std::size_t n) { __sanitizer_start_switch_fiber(fake_save, lo, n); }
void asan_finish(void* fake, const void** lo, std::size_t* n) { __sanitizer_finish_switch_fiber(fake, lo, n); }
#else
void asan_start(void**, const void*, std::size_t) {}
void asan_finish(void*, const void**, std::size_t*) {}
#endif
}  // namespace

Fiber::Fiber(std::size_t stack_bytes) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  stack_bytes_ = (stack_bytes + page - 1) / page * page;
  map_bytes_ = stack_bytes_ + page;
  void* m = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  map_ = static_cast<unsigned char*>(m);
  mprotect(map_, page, PROT_NONE);  // guard page: stacks grow down into it
  stack_lo_ = map_ + page;
  tsan_fiber_ = tsan_create();
}

Fiber::~Fiber() {
  if (tsan_fiber_) tsan_destroy(tsan_fiber_);
  munmap(map_, map_bytes_);
}

void Fiber::trampoline_body(Fiber* self) {
  asan_finish(nullptr, &self->sched_stack_lo_, &self->sched_stack_bytes_);
  self->entry_(self->arg_);  // the entry catches every exception itself (runtime.cpp)
  self->finished_ = true;
  asan_start(nullptr, self->sched_stack_lo_, self->sched_stack_bytes_);  // this stack's frames die
}

#if G4SIM_FIBER_UCONTEXT

void Fiber::uc_entry(unsigned lo, unsigned hi) {
  Fiber* self = reinterpret_cast<Fiber*>((static_cast<std::uintptr_t>(hi) << 32) | lo);
  trampoline_body(self);
  // returning switches to uc_link (the scheduler context saved by resume())
}

void Fiber::reset(Entry entry, void* arg) {
  entry_ = entry;
  arg_ = arg;
  finished_ = false;
  getcontext(&ctx_);
  ctx_.uc_stack.ss_sp = stack_lo_;
  ctx_.uc_stack.ss_size = stack_bytes_;
  ctx_.uc_link = &sched_;
  const auto p = reinterpret_cast<std::uintptr_t>(this);
  makecontext(&ctx_, reinterpret_cast<void (*)()>(&Fiber::uc_entry), 2, static_cast<unsigned>(p & 0xffffffffu),
              static_cast<unsigned>(p >> 32));
}

void Fiber::resume() {
  void* fake = nullptr;
  asan_start(&fake, stack_lo_, stack_bytes_);
  tsan_sched_ = tsan_current();
  tsan_switch(tsan_fiber_);
  swapcontext(&sched_, &ctx_);
  asan_finish(fake, nullptr, nullptr);
}

void Fiber::yield() {
  asan_start(&fake_stack_, sched_stack_lo_, sched_stack_bytes_);
  tsan_switch(tsan_sched_);
  swapcontext(&ctx_, &sched_);
  asan_finish(fake_stack_, &sched_stack_lo_, &sched_stack_bytes_);
}

#else

namespace bc = boost::context::detail;

void Fiber::fc_entry(bc::transfer_t t) {
  Fiber* self = static_cast<Fiber*>(t.data);
  self->sched_ = t.fctx;
  trampoline_body(self);
  // TSan: the fiber's last touch of this object happens before the scheduler's next (resume()
  // acquires), which may be its destruction.
  const bc::fcontext_t back = self->sched_;
  void* const tsan_back = self->tsan_sched_;
  tsan_release(self);
  tsan_switch(tsan_back);
  bc::jump_fcontext(back, nullptr);  // never resumed again until reset()
}

void Fiber::reset(Entry entry, void* arg) {
  entry_ = entry;
  arg_ = arg;
  finished_ = false;
  ctx_ = bc::make_fcontext(stack_lo_ + stack_bytes_, stack_bytes_, &Fiber::fc_entry);
}

void Fiber::resume() {
  void* fake = nullptr;
  asan_start(&fake, stack_lo_, stack_bytes_);
  tsan_sched_ = tsan_current();
  tsan_switch(tsan_fiber_);
  bc::transfer_t t = bc::jump_fcontext(ctx_, this);
  tsan_acquire(this);  // a finished fiber's release (fc_entry); nothing otherwise
  ctx_ = t.fctx;
  asan_finish(fake, nullptr, nullptr);
}

void Fiber::yield() {
  asan_start(&fake_stack_, sched_stack_lo_, sched_stack_bytes_);
  tsan_switch(tsan_sched_);
  bc::transfer_t t = bc::jump_fcontext(sched_, nullptr);
  sched_ = t.fctx;
  asan_finish(fake_stack_, &sched_stack_lo_, &sched_stack_bytes_);
}

#endif

}  // namespace g4sim::detail
