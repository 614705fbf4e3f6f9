// The SIMT simulator's scheduler (runtime.hpp).
#include "optimized/cuda/sim/runtime.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "optimized/cuda/sim/fiber.hpp"

// ThreadSanitizer build (-fsanitize=thread; fiber switches carry no synchronisation, fiber.hpp).
// The simulated threads of a block are ordered only by these happens-before edges:
//   block start   the scheduler releases start_sync after preparing the block; each thread
//                 acquires it first (the host's inputs, the block index);
//   __syncthreads a thread releases barrier_sync[n % 2] on arriving at its n-th barrier and
//                 acquires it when released: everything before the barrier in any thread happens
//                 before everything after it in every thread. Two objects alternate so that a
//                 thread already past barrier n (and arriving at n + 1) never feeds the acquire of
//                 a thread still leaving barrier n;
//   __syncwarp    the same per warp (shuffles, votes, mma and ldmatrix order no memory, as on the
//                 GPU);
//   block end     each thread releases end_sync on return (and whenever it parks at a barrier
//                 or collective, so a launch that fails with threads parked also hands their
//                 work to the host); the scheduler acquires it when the block ends or fails (the
//                 host reads the outputs, frees the launch's state; the next block starts after).
//                 No simulated thread ever acquires end_sync, so this orders nothing between them.
// The runtime's own bookkeeping (thread states, collective payloads read by the scheduler, the
// shared-memory poison) is excluded from race detection (AnnotateIgnore{Reads,Writes}*): it is
// the simulator's, not the kernel's. What remains is the kernel's own memory traffic, so two
// threads of a block touching the same shared (or global) word, one writing, with no barrier
// between them, is reported as a data race at the kernel's source lines.
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
extern "C" {
void AnnotateIgnoreReadsBegin(const char* file, int line);
void AnnotateIgnoreReadsEnd(const char* file, int line);
void AnnotateIgnoreWritesBegin(const char* file, int line);
void AnnotateIgnoreWritesEnd(const char* file, int line);
}
namespace {
struct IgnoreAccesses {
  IgnoreAccesses() {
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~IgnoreAccesses() {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
  IgnoreAccesses(const IgnoreAccesses&) = delete;
  IgnoreAccesses& operator=(const IgnoreAccesses&) = delete;
};
void hb_release(void* p) { __tsan_release(p); }
void hb_acquire(void* p) { __tsan_acquire(p); }
}  // namespace
#else
namespace {
struct IgnoreAccesses {
  IgnoreAccesses() {}  // user-provided: no unused-variable warning at the call sites
};
void hb_release(void*) {}
void hb_acquire(void*) {}
}  // namespace
#endif

namespace g4sim {

Options& options() {
  static thread_local Options o;
  return o;
}

Stats& stats() {
  static thread_local Stats s;
  return s;
}

std::string Site::str() const {
  const char* f = std::strrchr(file, '/');
  return fmt::format("{}:{}:{}", f ? f + 1 : file, line, column);
}

bool Site::operator==(const Site& o) const {
  return line == o.line && column == o.column && (file == o.file || std::strcmp(file, o.file) == 0);
}

namespace detail {

thread_local ThreadCtx* tl_thread = nullptr;

namespace {

constexpr unsigned kWarp = 32;
constexpr std::size_t kMaxThreads = 1024;
constexpr std::size_t kMaxDynSmem = 227 * 1024;  // sm_90 opt-in maximum per block

#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kDefaultStack = 256 * 1024;
#else
constexpr std::size_t kDefaultStack = 64 * 1024;
#endif

// Per OS thread: the fiber pool (grown on demand, reused by every block and launch).
struct Pool {
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::size_t stack_bytes = 0;
};
thread_local Pool tl_pool;

struct Running {
  BlockCtx block;
  std::vector<ThreadCtx> threads;
  const std::function<void()>* body = nullptr;
  std::exception_ptr error;
  std::set<void*> poisoned;  // G4_SHARED arrays already poisoned in this block
  // Happens-before objects of the ThreadSanitizer build (addresses only; see the top).
  char start_sync = 0, end_sync = 0, barrier_sync[2] = {};
  std::vector<char> warp_sync;  // 2 per warp
};
thread_local Running* tl_running = nullptr;

void fiber_entry(void* arg) {
  auto* t = static_cast<ThreadCtx*>(arg);
  Running* r;
  {
    IgnoreAccesses ignore;
    r = tl_running;
  }
  hb_acquire(&r->start_sync);
  try {
    (*r->body)();
  } catch (...) {
    IgnoreAccesses ignore;
    if (!r->error) r->error = std::current_exception();
  }
  {
    IgnoreAccesses ignore;
    t->state = State::done;
  }
  hb_release(&r->end_sync);
}

Fiber& fiber_of(ThreadCtx& t) { return *static_cast<Fiber*>(t.fiber); }

std::string state_name(const ThreadCtx& t) {
  switch (t.state) {
    case State::runnable: return "runnable";
    case State::done: return "returned";
    case State::block_wait: return "__syncthreads at " + t.site.str();
    case State::warp_wait: return fmt::format("warp collective (mask {:#010x}) at {}", t.mask, t.site.str());
  }
  return "?";
}

std::string where(const Running& r, const ThreadCtx& t) {
  const auto& b = r.block.block_idx;
  return fmt::format("block ({},{},{}) thread ({},{},{})", b.x, b.y, b.z, t.thread_idx.x, t.thread_idx.y,
                     t.thread_idx.z);
}

[[noreturn]] void fail(const std::string& kernel, const std::string& msg) {
  throw KernelError(fmt::format("simulated kernel {}: {}", kernel, msg));
}

std::vector<unsigned> make_order(std::size_t n, Order o, std::uint64_t seed) {
  std::vector<unsigned> v(n);
  std::iota(v.begin(), v.end(), 0u);
  if (o == Order::reverse) std::reverse(v.begin(), v.end());
  if (o == Order::shuffle) {
    std::mt19937_64 rng(seed);
    std::shuffle(v.begin(), v.end(), rng);
  }
  return v;
}

// Releases every warp collective whose lanes have all arrived. Returns whether any was released.
bool release_warps(Running& r, const std::string& kernel) {
  bool released = false;
  const std::size_t n = r.threads.size();
  for (std::size_t w0 = 0; w0 < n; w0 += kWarp) {
    const unsigned lanes = static_cast<unsigned>(std::min<std::size_t>(kWarp, n - w0));
    ThreadCtx* warp = &r.threads[w0];
    for (unsigned l = 0; l < lanes; ++l) {
      ThreadCtx& t = warp[l];
      if (t.state != State::warp_wait) continue;
      const unsigned mask = t.mask;
      bool all_here = true;
      for (unsigned m = 0; m < kWarp; ++m) {
        if (!(mask >> m & 1u)) continue;
        if (m >= lanes)
          fail(kernel, fmt::format("{}: warp collective at {} names lane {} (mask {:#010x}) but the warp has only {} "
                                   "threads",
                                   where(r, t), t.site.str(), m, mask, lanes));
        const ThreadCtx& o = warp[m];
        if (o.state == State::done)
          fail(kernel, fmt::format("{}: warp collective at {} (mask {:#010x}) waits for lane {}, which already "
                                   "returned",
                                   where(r, t), t.site.str(), mask, m));
        if (o.state != State::warp_wait) {
          all_here = false;
          continue;
        }
        if (!(o.site == t.site) || o.mask != mask) {
          // Both parked at collectives that can never match each other's: report, do not hang.
          if ((o.mask >> l & 1u))
            fail(kernel, fmt::format("{}: mismatched warp collectives: lane {} at {} (mask {:#010x}), lane {} at {} "
                                     "(mask {:#010x})",
                                     where(r, t), l, t.site.str(), mask, m, o.site.str(), o.mask));
          all_here = false;
        }
      }
      if (!all_here) continue;
      const void* payloads[kWarp] = {};
      for (unsigned m = 0; m < kWarp; ++m)
        if (mask >> m & 1u) payloads[m] = warp[m].payload;
      for (unsigned m = 0; m < kWarp; ++m) {
        if (!(mask >> m & 1u)) continue;
        ThreadCtx& o = warp[m];
        if (o.compute) o.compute(o.compute_obj, m, payloads);
        o.state = State::runnable;
      }
      ++stats().warp_collectives;
      released = true;
    }
  }
  return released;
}

bool release_block(Running& r, const std::string& kernel) {
  const ThreadCtx* first = nullptr;
  std::size_t waiting = 0, done = 0;
  int count = 0;
  for (const ThreadCtx& t : r.threads) {
    if (t.state == State::done) {
      ++done;
      continue;
    }
    if (t.state != State::block_wait) return false;  // someone is still elsewhere
    if (!first) first = &t;
    if (!(t.site == first->site))
      fail(kernel, fmt::format("divergent __syncthreads: {} waits at {}, {} at {}", where(r, *first), first->site.str(),
                               where(r, t), t.site.str()));
    ++waiting;
    count += t.vote != 0;
  }
  if (!first) return false;
  if (done > 0)
    fail(kernel, fmt::format("block ({},{},{}): __syncthreads at {} reached by {} threads after {} threads of the "
                             "block returned (a barrier in non-uniform control flow)",
                             r.block.block_idx.x, r.block.block_idx.y, r.block.block_idx.z, first->site.str(), waiting,
                             done));
  for (ThreadCtx& t : r.threads) {
    t.vote_result = count;  // _count; _and = (count == n), _or = (count > 0) in the shim
    t.state = State::runnable;
  }
  ++stats().block_barriers;
  return true;
}

[[noreturn]] void deadlock(Running& r, const std::string& kernel) {
  std::map<std::string, std::vector<unsigned>> by_state;
  for (const ThreadCtx& t : r.threads) by_state[state_name(t)].push_back(t.linear);
  std::string msg = fmt::format("deadlock in block ({},{},{}): no thread can proceed;", r.block.block_idx.x,
                                r.block.block_idx.y, r.block.block_idx.z);
  for (const auto& [s, ids] : by_state) {
    msg += fmt::format(" {} thread(s) [{}{}] {};", ids.size(), ids.front(), ids.size() > 1 ? "..." : "", s);
  }
  fail(kernel, msg);
}

void run_block(Running& r, const std::vector<unsigned>& order, const std::string& kernel) {
  IgnoreAccesses ignore;  // the scheduler's side (TSan build)
  struct BlockEnd {
    Running& r;
    ~BlockEnd() { hb_acquire(&r.end_sync); }
  } block_end{r};
  const Options& opt = options();
  for (ThreadCtx& t : r.threads) {
    t.state = State::runnable;
    t.cp_pending.clear();
    t.cp_committed = 0;
    t.barriers = t.syncwarps = 0;
    fiber_of(t).reset(&fiber_entry, &t);
  }
  if (r.block.dyn_bytes && opt.poison_shared) std::memset(r.block.dyn_smem, 0xFF, r.block.dyn_bytes);
  r.poisoned.clear();
  hb_release(&r.start_sync);
  std::size_t live = r.threads.size();
  while (true) {
    for (unsigned i : order) {
      ThreadCtx& t = r.threads[i];
      if (t.state != State::runnable) continue;
      tl_thread = &t;
      fiber_of(t).resume();
      tl_thread = nullptr;
      ++stats().switches;
      if (r.error) std::rethrow_exception(r.error);
      if (t.state == State::runnable) fail(kernel, "internal: fiber yielded while runnable");
      if (t.state == State::done) --live;
    }
    if (live == 0) break;
    const bool w = release_warps(r, kernel);
    const bool b = !w && release_block(r, kernel);
    if (!w && !b) deadlock(r, kernel);
  }
}

}  // namespace

void block_barrier(const Site& site, int vote) {
  ThreadCtx* t;
  void *sync, *parked;
  {
    IgnoreAccesses ignore;
    t = tl_thread;
    t->state = State::block_wait;
    t->site = site;
    t->vote = vote;
    sync = &tl_running->barrier_sync[t->barriers++ % 2];
    parked = &tl_running->end_sync;
  }
  hb_release(parked);
  hb_release(sync);
  static_cast<Fiber*>(t->fiber)->yield();
  hb_acquire(sync);
}

void warp_collective(unsigned mask, const Site& site, const void* payload, ComputeFn fn, void* obj) {
  ThreadCtx* t;
  void* sync = nullptr;  // __syncwarp (the one collective without a payload) orders memory
  void* parked;
  {
    IgnoreAccesses ignore;
    t = tl_thread;
    if (!(mask >> t->lane & 1u))
      kernel_fault(site, fmt::format("warp collective called by lane {} with mask {:#010x}, which does not name it",
                                     t->lane, mask));
    t->state = State::warp_wait;
    t->site = site;
    t->mask = mask;
    t->payload = payload;
    t->compute = fn;
    t->compute_obj = obj;
    if (!payload) sync = &tl_running->warp_sync[2 * t->warp + t->syncwarps++ % 2];
    parked = &tl_running->end_sync;
  }
  hb_release(parked);
  if (sync) hb_release(sync);
  static_cast<Fiber*>(t->fiber)->yield();
  if (sync) hb_acquire(sync);
  IgnoreAccesses ignore;
  t->compute = nullptr;
}

#if defined(__SANITIZE_THREAD__)
void ignore_accesses_begin() {
  AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
  AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
}
void ignore_accesses_end() {
  AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
  AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
}
#else
void ignore_accesses_begin() {}
void ignore_accesses_end() {}
#endif

void poison_static_shared(void* p, std::size_t bytes) {
  IgnoreAccesses ignore;  // the poison is the simulator's write, not a simulated thread's
  if (!tl_running || !options().poison_shared) return;
  if (tl_running->poisoned.insert(p).second) std::memset(p, 0xFF, bytes);
}

void kernel_fault(const Site& site, const std::string& what) {
  IgnoreAccesses ignore;
  const ThreadCtx* t = tl_thread;
  std::string who = t && tl_running ? where(*tl_running, *t) + ": " : "";
  throw KernelError(fmt::format("{}{} (at {})", who, what, site.str()));
}

void run_grid(dim3 grid, dim3 block, std::size_t dyn_smem_bytes, const std::function<void()>& body,
              const char* kernel_name) {
  IgnoreAccesses ignore;  // the scheduler's side (TSan build): launch state set up and freed here
  const std::string kernel = kernel_name ? kernel_name : "?";
  const std::size_t nthreads = std::size_t(block.x) * block.y * block.z;
  const std::size_t nblocks = std::size_t(grid.x) * grid.y * grid.z;
  // The launch-configuration errors CUDA reports (cudaErrorInvalidConfiguration & co).
  if (nthreads == 0 || nthreads > kMaxThreads || block.z > 64)
    fail(kernel, fmt::format("invalid block ({},{},{}): 1..1024 threads, z <= 64", block.x, block.y, block.z));
  if (nblocks == 0 || grid.y > 65535 || grid.z > 65535)
    fail(kernel, fmt::format("invalid grid ({},{},{})", grid.x, grid.y, grid.z));
  if (dyn_smem_bytes > kMaxDynSmem)
    fail(kernel, fmt::format("{} bytes of dynamic shared memory exceed the sm_90 maximum {}", dyn_smem_bytes,
                             kMaxDynSmem));
  if (tl_running) fail(kernel, "launch from inside a simulated kernel (dynamic parallelism is not simulated)");

  const Options opt = options();
  Pool& pool = tl_pool;
  const std::size_t stack = opt.stack_bytes ? opt.stack_bytes : kDefaultStack;
  if (pool.stack_bytes != stack) {
    pool.fibers.clear();
    pool.stack_bytes = stack;
  }
  while (pool.fibers.size() < nthreads) pool.fibers.push_back(std::make_unique<Fiber>(stack));

  Running r;
  r.body = &body;
  r.block.block_dim = block;
  r.block.grid_dim = grid;
  r.block.dyn_bytes = dyn_smem_bytes;
  std::unique_ptr<unsigned char[]> arena(dyn_smem_bytes ? new unsigned char[dyn_smem_bytes] : nullptr);
  r.block.dyn_smem = arena.get();
  r.threads.resize(nthreads);
  r.warp_sync.assign(2 * ((nthreads + kWarp - 1) / kWarp), 0);
  for (std::size_t i = 0; i < nthreads; ++i) {
    ThreadCtx& t = r.threads[i];
    t.linear = static_cast<unsigned>(i);
    t.thread_idx = make_uint3(static_cast<unsigned>(i % block.x), static_cast<unsigned>(i / block.x % block.y),
                              static_cast<unsigned>(i / (std::size_t(block.x) * block.y)));
    t.warp = static_cast<unsigned>(i / kWarp);
    t.lane = static_cast<unsigned>(i % kWarp);
    t.fiber = pool.fibers[i].get();
    t.block = &r.block;
  }
  const auto thread_order = make_order(nthreads, opt.thread_order, opt.seed);
  const auto block_order = make_order(nblocks, opt.block_order, opt.seed ^ 0x9e3779b97f4a7c15ull);

  struct Guard {
    ~Guard() {
      IgnoreAccesses ignore;
      tl_running = nullptr;
      tl_thread = nullptr;
    }
  } guard;
  {
    IgnoreAccesses ignore;
    tl_running = &r;
  }
  for (unsigned b : block_order) {
    r.block.block_idx = make_uint3(static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                                   static_cast<unsigned>(b / (std::size_t(grid.x) * grid.y)));
    run_block(r, thread_order, kernel);
    ++stats().blocks;
    stats().threads += nthreads;
  }
}

}  // namespace detail
}  // namespace g4sim
