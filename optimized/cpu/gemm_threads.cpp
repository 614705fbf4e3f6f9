// The kernels' thread pool and per-thread scratch (gemm_internal.hpp).
//
// One persistent worker per extra CPU; the caller is thread 0. A job is published by bumping a
// generation counter; workers spin on it for a short while after each job (a decode step issues
// GEMVs back to back, and waking a sleeping thread costs tens of microseconds, a sizeable part of
// a 100 µs GEMV), then sleep on a condition variable so an idle process burns no CPU (and leaves
// the cores to OpenBLAS's own threads between our calls).
// Jobs hand out their work dynamically (an atomic chunk counter in the job), so a worker that
// starts late, or is descheduled on a busy machine, only takes fewer chunks: the caller never
// waits for a thread that has not started. The caller closes the job when it runs out of
// chunks and waits only for the workers that entered before that (spinning briefly, then
// yielding the CPU).
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "optimized/cpu/gemm_internal.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define G4_PAUSE() _mm_pause()
#else
#define G4_PAUSE() ((void)0)
#endif

namespace g4::cpu::detail {
namespace {

int detect_threads() {
  if (const char* env = std::getenv("G4_GEMM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return std::min(n, 256);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

thread_local bool t_in_pool_job = false;

class Pool {
 public:
  Pool() : nthreads_(detect_threads()) {
    for (int t = 1; t < nthreads_; ++t) workers_.emplace_back([this, t] { work(t); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int threads() const { return nthreads_; }

  void run(void (*fn)(void*, int, int), void* ctx) {
    if (nthreads_ == 1 || t_in_pool_job || !run_mu_.try_lock()) {
      fn(ctx, 0, 1);
      return;
    }
    fn_ = fn;
    ctx_ = ctx;
    exited_.store(0, std::memory_order_relaxed);
    entry_.store(0, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen_.fetch_add(1, std::memory_order_release);
      if (sleepers_ > 0) cv_.notify_all();
    }
    t_in_pool_job = true;
    fn(ctx, 0, nthreads_);
    t_in_pool_job = false;
    // Close the job: a worker arriving from now on sees kClosed and leaves ctx alone.
    const std::uint64_t entered = entry_.fetch_or(kClosed, std::memory_order_acq_rel) & ~kClosed;
    for (int i = 0; exited_.load(std::memory_order_acquire) != entered; ++i) {
      if (i < 4096) G4_PAUSE();
      else std::this_thread::yield();
    }
    run_mu_.unlock();
  }

 private:
  void work(int tid) {
    t_in_pool_job = true;
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t g = gen_.load(std::memory_order_acquire);
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; g == seen; ++i) {
        G4_PAUSE();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() - t0 > kSpin) {
          std::unique_lock<std::mutex> lk(mu_);
          ++sleepers_;
          cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
          --sleepers_;
        }
        g = gen_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_.load()) return;
      // Enter the current job unless it is closed (fn_ / ctx_ were written before entry_ was
      // reset, so they belong to the job entered here, even if that is a newer one than g).
      if (entry_.fetch_add(1, std::memory_order_acq_rel) & kClosed) continue;
      fn_(ctx_, tid, nthreads_);
      exited_.fetch_add(1, std::memory_order_release);
    }
  }

  static constexpr std::chrono::microseconds kSpin{100};
  static constexpr std::uint64_t kClosed = 1ull << 62;
  const int nthreads_;
  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // one job at a time
  std::mutex mu_;
  std::condition_variable cv_;
  int sleepers_ = 0;  // guarded by mu_
  std::atomic<std::uint64_t> gen_{0};
  std::atomic<std::uint64_t> entry_{0};   // workers that entered the job, | kClosed when closed
  std::atomic<std::uint64_t> exited_{0};  // workers that finished it
  std::atomic<bool> stop_{false};
  void (*fn_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
};

Pool& pool() {
  static Pool p;
  return p;
}

struct Scratch {
  void* ptr[8] = {};
  std::size_t size[8] = {};
  ~Scratch() {
    for (void* p : ptr) std::free(p);
  }
};
thread_local Scratch t_scratch;

}  // namespace

int pool_threads() { return pool().threads(); }

void pool_run(void (*fn)(void*, int, int), void* ctx) { pool().run(fn, ctx); }

void* thread_scratch(int slot, std::size_t bytes) {
  Scratch& s = t_scratch;
  if (bytes > s.size[slot]) {
    std::free(s.ptr[slot]);
    const std::size_t sz = (std::max<std::size_t>(bytes, 4096) + 63) / 64 * 64;
    s.ptr[slot] = std::aligned_alloc(64, sz);
    if (!s.ptr[slot]) {
      s.size[slot] = 0;
      throw std::bad_alloc();
    }
    s.size[slot] = sz;
  }
  return s.ptr[slot];
}

}  // namespace g4::cpu::detail
