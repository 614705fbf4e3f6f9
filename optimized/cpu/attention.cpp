// Attention kernels of the CPU executor; see attention.hpp for the contract and the versions.
//
// v2 (flash). A task = (b, kv head g — or all kv heads when the queries fit one block, i.e.
// decode —, query block [i0, i0 + nrow), key split). Per kv head of the task:
//   rows r = ii·group + hh (ii query row in the block, hh head in the GQA group), so row r of the
//   accumulator is the same memory as out[(b, i0 + ii), (g·group + hh)·Dh ...];
//   M = nrow·group rows, padded to mp (a multiple of 16) with zero query rows.
//   Qt  [Dh, mp]   the task's queries, transposed once per task
//   St  [bk, mp]   scores of one key block, transposed: St[j, r] = s(r, j0 + j); the online
//                  softmax then runs down the columns, 16 rows per vector, no horizontal reduction
//   V   packed per block (pv kernels' layout; bf16 widened on the way)
//   O   [M, Dh]    unnormalised accumulator;  m, l [mp]  running max and sum
// Per key block: classify its mask tile (none / partial / all allowed; none = skipped), S = K·Qt
// (broadcast k[j, d], vector over r), set masked entries of a partial tile to −∞, update m and l,
// P = exp(S − m); O = O·alpha + Pᵀ·V (broadcast P[j, r], vector over Dh). Finally O / l, or the
// log-sum-exp merge of the key splits.
// AVX-512 code is confined to functions with a target attribute (G4_AVX512) and entered only
// after a run-time CPU check, so this file needs no special compile flags and runs anywhere.
// Threads: a persistent pool (TaskPool below); scratch is per thread and grow-only.
#include "optimized/cpu/attention.hpp"

#include "optimized/cpu/avx512_target.hpp"
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "optimized/formats/bf16.hpp"
#include "reference/common/check.hpp"


namespace g4::cpu {
namespace {

using i64 = std::int64_t;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline float widen(float x) { return x; }
inline float widen(std::uint16_t h) { return formats::bf16_to_float(h); }  // bf16 bits -> float32, exact

i64 round_up(i64 x, i64 m) { return (x + m - 1) / m * m; }

bool have_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return ok;
}

// 64-byte aligned float scratch that only grows (kept per thread across calls: a fresh multi-
// hundred-KiB buffer per call is a fresh mmap whose pages fault in again on every call).
struct Buf {
  std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
  i64 cap = 0;
  float* ensure(i64 n) {
    if (n > cap) {
      const size_t bytes = static_cast<size_t>(round_up(std::max<i64>(n, 1) * 4, 64));
      p.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!p) {
        cap = 0;
        throw std::bad_alloc();
      }
      cap = n;
    }
    return p.get();
  }
  float* get() const { return p.get(); }
};

// A persistent pool of worker threads: run(n, threads, f) calls f(worker, task) for every task in
// [0, n), tasks handed out in increasing order from a shared counter, on `threads` threads of
// which the caller is worker 0. Workers sleep on a condition variable between calls (no
// spinning, so they take nothing from the GEMM's threads). One run at a time; an exception in a
// task is rethrown to the caller after every worker has stopped.
class TaskPool {
 public:
  static TaskPool& instance() {
    static TaskPool pool;
    return pool;
  }
  ~TaskPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }

  void run(i64 n, int threads, const std::function<void(int, i64)>& f) {
    threads = static_cast<int>(std::max<i64>(1, std::min<i64>(threads, n)));
    if (threads == 1 || t_in_task) {  // one thread, or called from inside a task: run inline
      for (i64 t = 0; t < n; ++t) f(0, t);
      return;
    }
    std::lock_guard<std::mutex> call(call_mu_);
    {
      std::unique_lock<std::mutex> lk(mu_);
      while (static_cast<int>(workers_.size()) < threads - 1) {
        const int id = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, id] { loop(id); });
      }
      job_ = &f;
      n_ = n;
      next_ = 0;
      active_ = threads;
      pending_ = threads - 1;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    work(0);
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return pending_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(int id) {
    t_in_task = true;
    try {
      for (i64 t = next_++; t < n_; t = next_++) (*job_)(id, t);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
      next_ = n_;  // the others stop taking tasks
    }
    t_in_task = false;
  }
  void loop(int id) {
    std::uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (id >= active_) continue;
      }
      work(id);
      {
        std::lock_guard<std::mutex> lk(mu_);
        --pending_;
      }
      done_cv_.notify_one();
    }
  }

  static inline thread_local bool t_in_task = false;
  std::mutex call_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int, i64)>* job_ = nullptr;
  i64 n_ = 0;
  std::atomic<i64> next_{0};
  int active_ = 0, pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// CPUs this process may run on (its affinity mask), at least 1.
int available_cpus() {
  static const int n = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }();
  return n;
}

void parallel_tasks(i64 n, int threads, const std::function<void(int, i64)>& f) {
  TaskPool::instance().run(n, threads, f);
}

// ---------------------------------------------------------------------------------------------
// Tile kernels, portable (plain loops; the compiler vectorises the loops over r and over Dh).

// St[j, r] = scale · Σ_d K[j, d] · Qt[d, r]   for j < nk, r < mp.
void scores_portable(const float* K, i64 ldk, i64 nk, const float* Qt, i64 mp, i64 Dh, float scale, float* St) {
  for (i64 j = 0; j < nk; ++j) {
    float* s = St + j * mp;
    for (i64 r = 0; r < mp; ++r) s[r] = 0.0f;
    for (i64 d = 0; d < Dh; ++d) {
      const float kd = K[j * ldk + d];
      const float* qd = Qt + d * mp;
      for (i64 r = 0; r < mp; ++r) s[r] += kd * qd[r];
    }
    if (scale != 1.0f)
      for (i64 r = 0; r < mp; ++r) s[r] *= scale;
  }
}

// Online softmax step over the block's nk keys, columns r < mp: m ← max(m, max_j S), alpha =
// exp(m_old − m), S ← exp(S − m) (masked −∞ → 0), l ← l·alpha + Σ_j S. A column with nothing
// allowed yet keeps m = −∞ and uses 0 as its shift, so it stays all-zero with no NaN.
void softmax_step_portable(float* St, i64 nk, i64 mp, float* m, float* l, float* alpha) {
  for (i64 r = 0; r < mp; ++r) {
    float mx = m[r];
    for (i64 j = 0; j < nk; ++j) mx = std::max(mx, St[j * mp + r]);
    const float shift = mx == kNegInf ? 0.0f : mx;
    alpha[r] = std::exp(m[r] - shift);
    float sum = 0.0f;
    for (i64 j = 0; j < nk; ++j) {
      const float e = std::exp(St[j * mp + r] - shift);
      St[j * mp + r] = e;
      sum += e;
    }
    l[r] = l[r] * alpha[r] + sum;
    m[r] = mx;
  }
}

// O[r, :] = O[r, :]·alpha[r] + Σ_j St[j, r] · V[j, :]   for r < M;  V packed row-major [nk, Dh].
void pv_portable(const float* St, i64 mp, i64 nk, const float* V, i64 M, i64 Dh, const float* alpha, float* O) {
  const i64 ldv = Dh;
  for (i64 r = 0; r < M; ++r) {
    float* o = O + r * Dh;
    const float a = alpha[r];
    for (i64 c = 0; c < Dh; ++c) o[c] *= a;
    for (i64 j = 0; j < nk; ++j) {
      const float pj = St[j * mp + r];
      if (pj == 0.0f) continue;
      const float* vj = V + j * ldv;
      for (i64 c = 0; c < Dh; ++c) o[c] += pj * vj[c];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tile kernels, AVX-512.

// NJ keys × NV·16 rows of St.
template <int NJ, int NV>
G4_AVX512 inline void scores_block(const float* K, i64 ldk, const float* Qt, i64 mp, i64 Dh, float scale, float* St) {
  __m512 acc[NJ][NV];
  for (int j = 0; j < NJ; ++j)
    for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_setzero_ps();
  for (i64 d = 0; d < Dh; ++d) {
    __m512 qv[NV];
    for (int v = 0; v < NV; ++v) qv[v] = _mm512_loadu_ps(Qt + d * mp + 16 * v);
    for (int j = 0; j < NJ; ++j) {
      const __m512 kb = _mm512_set1_ps(K[j * ldk + d]);
      for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_fmadd_ps(kb, qv[v], acc[j][v]);
    }
  }
  const __m512 sc = _mm512_set1_ps(scale);
  for (int j = 0; j < NJ; ++j)
    for (int v = 0; v < NV; ++v)
      _mm512_storeu_ps(St + j * mp + 16 * v, scale == 1.0f ? acc[j][v] : _mm512_mul_ps(acc[j][v], sc));
}

template <int NJ>
G4_AVX512 inline void scores_row(const float* K, i64 ldk, const float* Qt, i64 mp, i64 Dh, float scale, float* St) {
  i64 r = 0;
  for (; r + 64 <= mp; r += 64) scores_block<NJ, 4>(K, ldk, Qt + r, mp, Dh, scale, St + r);
  switch ((mp - r) / 16) {
    case 3: scores_block<NJ, 3>(K, ldk, Qt + r, mp, Dh, scale, St + r); break;
    case 2: scores_block<NJ, 2>(K, ldk, Qt + r, mp, Dh, scale, St + r); break;
    case 1: scores_block<NJ, 1>(K, ldk, Qt + r, mp, Dh, scale, St + r); break;
    default: break;
  }
}

G4_AVX512 void scores_avx512(const float* K, i64 ldk, i64 nk, const float* Qt, i64 mp, i64 Dh, float scale, float* St) {
  i64 j = 0;
  for (; j + 6 <= nk; j += 6) scores_row<6>(K + j * ldk, ldk, Qt, mp, Dh, scale, St + j * mp);
  const float* Kj = K + j * ldk;
  float* Sj = St + j * mp;
  switch (nk - j) {
    case 5: scores_row<5>(Kj, ldk, Qt, mp, Dh, scale, Sj); break;
    case 4: scores_row<4>(Kj, ldk, Qt, mp, Dh, scale, Sj); break;
    case 3: scores_row<3>(Kj, ldk, Qt, mp, Dh, scale, Sj); break;
    case 2: scores_row<2>(Kj, ldk, Qt, mp, Dh, scale, Sj); break;
    case 1: scores_row<1>(Kj, ldk, Qt, mp, Dh, scale, Sj); break;
    default: break;
  }
}

G4_AVX512 void softmax_step_avx512(float* St, i64 nk, i64 mp, float* m, float* l, float* alpha) {
  const __m512 neg_inf = _mm512_set1_ps(kNegInf);
  for (i64 r = 0; r < mp; r += 16) {
    const __m512 m_old = _mm512_loadu_ps(m + r);
    __m512 mx = m_old;
    for (i64 j = 0; j < nk; ++j) mx = _mm512_max_ps(mx, _mm512_loadu_ps(St + j * mp + r));
    const __m512 shift = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(mx, neg_inf, _CMP_NEQ_OQ), mx);
    const __m512 a = exp512(_mm512_sub_ps(m_old, shift));
    __m512 sum = _mm512_setzero_ps();
    for (i64 j = 0; j < nk; ++j) {
      const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(St + j * mp + r), shift));
      _mm512_storeu_ps(St + j * mp + r, e);
      sum = _mm512_add_ps(sum, e);
    }
    _mm512_storeu_ps(l + r, _mm512_fmadd_ps(_mm512_loadu_ps(l + r), a, sum));
    _mm512_storeu_ps(m + r, mx);
    _mm512_storeu_ps(alpha + r, a);
  }
}

// NR rows × NV·16 columns of O; kTail: one vector whose lanes beyond `tail` are left alone.
// (The masked and unmasked forms are separate instantiations: with a run-time mask in the loop
// GCC 12 keeps the accumulator array in memory and spills it every iteration.)
template <int NR, int NV, bool kTail>
G4_AVX512 inline void pv_block(const float* St, i64 mp, i64 nk, const float* V, i64 ldv, const float* alpha, float* O,
                               i64 ldo, __mmask16 tail) {
  static_assert(!kTail || NV == 1);
  __m512 acc[NR][NV];
  for (int r = 0; r < NR; ++r) {
    const __m512 a = _mm512_set1_ps(alpha[r]);
    for (int v = 0; v < NV; ++v)
      acc[r][v] = _mm512_mul_ps(a, kTail ? _mm512_maskz_loadu_ps(tail, O + r * ldo) : _mm512_loadu_ps(O + r * ldo + 16 * v));
  }
  for (i64 j = 0; j < nk; ++j) {
    __m512 vv[NV];
    for (int v = 0; v < NV; ++v)
      vv[v] = kTail ? _mm512_maskz_loadu_ps(tail, V + j * ldv) : _mm512_loadu_ps(V + j * ldv + 16 * v);
    for (int r = 0; r < NR; ++r) {
      const __m512 pb = _mm512_set1_ps(St[j * mp + r]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(pb, vv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int v = 0; v < NV; ++v) {
      if constexpr (kTail)
        _mm512_mask_storeu_ps(O + r * ldo, tail, acc[r][v]);
      else
        _mm512_storeu_ps(O + r * ldo + 16 * v, acc[r][v]);
    }
}

// V packed by pack_v_avx512: column blocks of 64, each [nk, 64] (so the nk rows a block of O
// needs are one contiguous run, not nk lines Nkv·Dh·4 bytes apart fighting over the same L1 sets).
template <int NR>
G4_AVX512 inline void pv_rows(const float* St, i64 mp, i64 nk, const float* Vp, i64 Dh, const float* alpha,
                              float* O) {
  for (i64 c0 = 0; c0 < Dh; c0 += 64) {
    const float* Vc = Vp + c0 * nk;
    const i64 w = std::min<i64>(64, Dh - c0);
    if (w == 64) {
      pv_block<NR, 4, false>(St, mp, nk, Vc, 64, alpha, O + c0, Dh, 0);
      continue;
    }
    i64 c = 0;
    for (; c + 16 <= w; c += 16) pv_block<NR, 1, false>(St, mp, nk, Vc + c, 64, alpha, O + c0 + c, Dh, 0);
    if (c < w)
      pv_block<NR, 1, true>(St, mp, nk, Vc + c, 64, alpha, O + c0 + c, Dh, static_cast<__mmask16>((1u << (w - c)) - 1u));
  }
}

G4_AVX512 void pv_avx512(const float* St, i64 mp, i64 nk, const float* Vp, i64 M, i64 Dh, const float* alpha,
                         float* O) {
  i64 r = 0;
  for (; r + 6 <= M; r += 6) pv_rows<6>(St + r, mp, nk, Vp, Dh, alpha + r, O + r * Dh);
  const float* Sr = St + r;
  float* Or = O + r * Dh;
  switch (M - r) {
    case 5: pv_rows<5>(Sr, mp, nk, Vp, Dh, alpha + r, Or); break;
    case 4: pv_rows<4>(Sr, mp, nk, Vp, Dh, alpha + r, Or); break;
    case 3: pv_rows<3>(Sr, mp, nk, Vp, Dh, alpha + r, Or); break;
    case 2: pv_rows<2>(Sr, mp, nk, Vp, Dh, alpha + r, Or); break;
    case 1: pv_rows<1>(Sr, mp, nk, Vp, Dh, alpha + r, Or); break;
    default: break;
  }
}

// 16 values of a V row as float32 (bf16 widened exactly), lanes beyond `m` zero.
G4_AVX512 inline __m512 load16(const float* x, __mmask16 m) { return _mm512_maskz_loadu_ps(m, x); }
G4_AVX512 inline __m512 load16(const std::uint16_t* x, __mmask16 m) {
  const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, x));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

// V block rows [0, nk) (Dh values each, lds apart) -> the layout of pv_rows.
template <class KV>
G4_AVX512 void pack_v_avx512(const KV* src, i64 lds, i64 nk, i64 Dh, float* dst) {
  for (i64 c0 = 0; c0 < Dh; c0 += 64) {
    const i64 w = std::min<i64>(64, Dh - c0);
    float* blk = dst + c0 * nk;
    for (i64 j = 0; j < nk; ++j) {
      const KV* s = src + j * lds + c0;
      float* o = blk + j * 64;
      for (i64 c = 0; c < w; c += 16) {
        const __mmask16 m = w - c >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (w - c)) - 1u);
        _mm512_mask_storeu_ps(o + c, m, load16(s + c, m));
      }
    }
  }
}

template <class KV>
void pack_v_portable(const KV* src, i64 lds, i64 nk, i64 Dh, float* dst) {
  for (i64 j = 0; j < nk; ++j)
    for (i64 d = 0; d < Dh; ++d) dst[j * Dh + d] = widen(src[j * lds + d]);
}

// bf16 rows -> float32 rows (exact): dst[j, :Dh] = widen(src[j·lds + :Dh]).
G4_AVX512 void widen_rows_avx512(const std::uint16_t* src, i64 lds, i64 rows, i64 Dh, float* dst) {
  for (i64 j = 0; j < rows; ++j) {
    const std::uint16_t* s = src + j * lds;
    float* o = dst + j * Dh;
    i64 d = 0;
    for (; d + 16 <= Dh; d += 16) {
      const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + d)));
      _mm512_storeu_ps(o + d, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
    for (; d < Dh; ++d) o[d] = widen(s[d]);
  }
}

void widen_rows_portable(const std::uint16_t* src, i64 lds, i64 rows, i64 Dh, float* dst) {
  for (i64 j = 0; j < rows; ++j)
    for (i64 d = 0; d < Dh; ++d) dst[j * Dh + d] = widen(src[j * lds + d]);
}

struct TileKernels {
  void (*scores)(const float*, i64, i64, const float*, i64, i64, float, float*);
  void (*softmax_step)(float*, i64, i64, float*, float*, float*);
  void (*pv)(const float*, i64, i64, const float*, i64, i64, const float*, float*);
  void (*widen_rows)(const std::uint16_t*, i64, i64, i64, float*);
  void (*pack_v_f32)(const float*, i64, i64, i64, float*);
  void (*pack_v_bf16)(const std::uint16_t*, i64, i64, i64, float*);
};

TileKernels tile_kernels(bool simd) {
  if (simd && have_avx512())
    return {scores_avx512, softmax_step_avx512, pv_avx512, widen_rows_avx512, pack_v_avx512<float>,
            pack_v_avx512<std::uint16_t>};
  return {scores_portable,     softmax_step_portable,          pv_portable,
          widen_rows_portable, pack_v_portable<float>, pack_v_portable<std::uint16_t>};
}

// ---------------------------------------------------------------------------------------------

void check_problem(const AttentionProblem& p, const char* who) {
  G4_CHECK(p.B >= 0 && p.Sq >= 0 && p.Skv >= 0 && p.Nq > 0 && p.Nkv > 0 && p.Dh > 0 && p.Nq % p.Nkv == 0 &&
               p.window >= 0,
           ShapeError, "{}: B={} Sq={} Skv={} Nq={} Nkv={} Dh={} window={} (need Nq % Nkv == 0, sizes ≥ 0)", who, p.B,
           p.Sq, p.Skv, p.Nq, p.Nkv, p.Dh, p.window);
}

enum class TileClass { kNone, kPartial, kAll };

// The mask tile rows [i0, i0 + nrow) × keys [j0, j0 + nk) of batch row b.
TileClass classify(const AttentionProblem& p, i64 b, i64 i0, i64 nrow, i64 j0, i64 nk) {
  if (!p.allowed) return TileClass::kAll;
  std::uint8_t any = 0, all = 1;
  for (i64 ii = 0; ii < nrow; ++ii) {
    const std::uint8_t* row = p.allowed + ((b * p.Sq + i0 + ii) * p.Skv + j0);
    std::uint8_t a = 0, mn = 0xFF;
    for (i64 j = 0; j < nk; ++j) {
      a |= row[j];
      mn = std::min(mn, row[j]);
    }
    any |= a;
    all &= mn != 0;
  }
  return !any ? TileClass::kNone : all ? TileClass::kAll : TileClass::kPartial;
}

template <class KV>
void attention_flash(const float* q, const KV* k, const KV* v, float* out, const AttentionProblem& p,
                     const AttentionTuning& t) {
  check_problem(p, "attention");
  if (p.B == 0 || p.Sq == 0) return;
  constexpr bool kBf16 = std::is_same_v<KV, std::uint16_t>;
  const i64 group = p.Nq / p.Nkv, Dh = p.Dh, ldq = p.Nq * Dh, ldkv = p.Nkv * Dh;
  const i64 bq = std::max<i64>(1, std::min<i64>(p.Sq, std::max<i64>(1, t.rows) / group));  // query rows per task
  const i64 bk = std::max<i64>(1, t.block_kv);
  const i64 nqb = (p.Sq + bq - 1) / bq;
  // kv heads per task: all of them when the queries fit one block (decode): a key block is then
  // consumed as whole rows [nk, Nkv·Dh] by one thread, not as Nkv column slices Nkv·Dh apart read
  // by different tasks (short page-crossing runs: half the bandwidth of contiguous rows in a read
  // test on the development machine).
  const i64 gh = nqb == 1 ? p.Nkv : 1, ngb = p.Nkv / gh;
  const i64 units = p.B * ngb * nqb;
  const i64 m_max = bq * group, mp_max = round_up(m_max, 16);
  const i64 off = p.q_offset >= 0 ? p.q_offset : p.Skv - p.Sq;  // query row i sits at key position i + off
  const TileKernels tk = tile_kernels(t.simd);

  // Key range of a unit: below the window of its first query nothing is allowed (the hint);
  // the start is aligned down to a block multiple so the hint never changes the tiling.
  auto kv_lo = [&](i64 i0) -> i64 {
    if (p.window <= 0) return 0;
    const i64 lo = std::max<i64>(0, i0 + off - p.window + 1);
    return std::min(lo, p.Skv) / bk * bk;
  };
  i64 max_tiles = 0;
  for (i64 qb = 0; qb < nqb; ++qb) max_tiles = std::max(max_tiles, (p.Skv - kv_lo(qb * bq) + bk - 1) / bk);

  const int threads = t.threads > 0 ? t.threads : available_cpus();
  i64 splits = t.kv_splits > 0 ? t.kv_splits : 1;
  if (t.kv_splits <= 0 && threads > 1 && units < 2 * threads) splits = (2 * threads + units - 1) / units;
  splits = std::max<i64>(1, std::min<i64>(splits, std::max<i64>(1, max_tiles)));

  // Partial results of split tasks, per (unit, split, head of the task): O [M, Dh], m [M], l [M].
  thread_local Buf part_o_buf, part_ml_buf;  // the caller's; grow-only
  float* part_o = nullptr;
  float* part_ml = nullptr;
  if (splits > 1) {
    part_o = part_o_buf.ensure(units * splits * gh * m_max * Dh);
    part_ml = part_ml_buf.ensure(units * splits * gh * m_max * 2);
  }
  auto slot = [&](i64 unit, i64 split, i64 gi) { return (unit * splits + split) * gh + gi; };
  auto unit_coords = [&](i64 unit, i64& b, i64& g0, i64& i0, i64& nrow) {
    const i64 qb = nqb - 1 - unit % nqb;  // heaviest query blocks (most keys when causal) first
    g0 = (unit / nqb) % ngb * gh;
    b = unit / (nqb * ngb);
    i0 = qb * bq;
    nrow = std::min(bq, p.Sq - i0);
  };

  auto task = [&](int, i64 task_id) {
    struct Scratch {
      Buf qt, st, o, m, l, alpha, kf, vf;
    };
    thread_local Scratch sc;  // per pool thread, grow-only
    sc.qt.ensure(gh * Dh * mp_max);
    sc.st.ensure(bk * mp_max);
    sc.o.ensure(gh * m_max * Dh);
    sc.m.ensure(gh * mp_max);
    sc.l.ensure(gh * mp_max);
    sc.alpha.ensure(mp_max);
    if (kBf16) sc.kf.ensure(bk * Dh);
    sc.vf.ensure(bk * round_up(Dh, 64));
    const i64 unit = task_id / splits, split = task_id % splits;
    i64 b, g0, i0, nrow;
    unit_coords(unit, b, g0, i0, nrow);
    const i64 M = nrow * group, mp = round_up(M, 16);
    float* St = sc.st.get();
    auto Qt = [&](i64 gi) { return sc.qt.get() + gi * Dh * mp_max; };
    auto O = [&](i64 gi) { return sc.o.get() + gi * m_max * Dh; };
    auto m = [&](i64 gi) { return sc.m.get() + gi * mp_max; };
    auto l = [&](i64 gi) { return sc.l.get() + gi * mp_max; };

    std::vector<const float*> qrow(static_cast<size_t>(M));
    for (i64 gi = 0; gi < gh; ++gi) {
      // Qt[d, ii·group + hh] = q[(b, i0 + ii), (g·group + hh)·Dh + d]; zero rows M..mp. Written
      // row by row of Qt (contiguous stores; the M source rows stay in cache).
      float* qt = Qt(gi);
      for (i64 ii = 0; ii < nrow; ++ii)
        for (i64 hh = 0; hh < group; ++hh)
          qrow[ii * group + hh] = q + (b * p.Sq + i0 + ii) * ldq + ((g0 + gi) * group + hh) * Dh;
      for (i64 d = 0; d < Dh; ++d) {
        float* dst = qt + d * mp;
        for (i64 r = 0; r < M; ++r) dst[r] = qrow[r][d];
        for (i64 r = M; r < mp; ++r) dst[r] = 0.0f;
      }
      std::fill(m(gi), m(gi) + mp, kNegInf);
      std::fill(l(gi), l(gi) + mp, 0.0f);
      std::fill(O(gi), O(gi) + M * Dh, 0.0f);
    }

    const i64 lo = kv_lo(i0), ntiles = (p.Skv - lo + bk - 1) / bk;
    const i64 t_begin = ntiles * split / splits, t_end = ntiles * (split + 1) / splits;
    for (i64 tile = t_begin; tile < t_end; ++tile) {
      const i64 j0 = lo + tile * bk, nk = std::min(bk, p.Skv - j0);
      const TileClass cls = classify(p, b, i0, nrow, j0, nk);
      if (cls == TileClass::kNone) continue;
      for (i64 gi = 0; gi < gh; ++gi) {
        const KV* kt = k + (b * p.Skv + j0) * ldkv + (g0 + gi) * Dh;
        const KV* vt = v + (b * p.Skv + j0) * ldkv + (g0 + gi) * Dh;
        const float* kp = nullptr;
        i64 ldk = 0;
        if constexpr (kBf16) {
          tk.widen_rows(kt, ldkv, nk, Dh, sc.kf.get());
          tk.pack_v_bf16(vt, ldkv, nk, Dh, sc.vf.get());
          kp = sc.kf.get(), ldk = Dh;
        } else {
          tk.pack_v_f32(vt, ldkv, nk, Dh, sc.vf.get());
          kp = kt, ldk = ldkv;
        }
        tk.scores(kp, ldk, nk, Qt(gi), mp, Dh, p.scaling, St);
        if (cls == TileClass::kPartial) {
          for (i64 ii = 0; ii < nrow; ++ii) {
            const std::uint8_t* row = p.allowed + ((b * p.Sq + i0 + ii) * p.Skv + j0);
            for (i64 j = 0; j < nk; ++j)
              if (!row[j]) std::fill(St + j * mp + ii * group, St + j * mp + (ii + 1) * group, kNegInf);
          }
        }
        tk.softmax_step(St, nk, mp, m(gi), l(gi), sc.alpha.get());
        tk.pv(St, mp, nk, sc.vf.get(), M, Dh, sc.alpha.get(), O(gi));
      }
    }

    for (i64 gi = 0; gi < gh; ++gi) {
      if (splits > 1) {
        const i64 s = slot(unit, split, gi);
        std::memcpy(part_o + s * m_max * Dh, O(gi), sizeof(float) * static_cast<size_t>(M * Dh));
        std::memcpy(part_ml + s * m_max * 2, m(gi), sizeof(float) * static_cast<size_t>(M));
        std::memcpy(part_ml + s * m_max * 2 + m_max, l(gi), sizeof(float) * static_cast<size_t>(M));
        continue;
      }
      for (i64 ii = 0; ii < nrow; ++ii) {
        float* orow = out + (b * p.Sq + i0 + ii) * ldq + (g0 + gi) * group * Dh;
        for (i64 hh = 0; hh < group; ++hh) {
          const i64 r = ii * group + hh;
          const float li = l(gi)[r];
          const float* o = O(gi) + r * Dh;
          float* dst = orow + hh * Dh;
          if (li == 0.0f)  // nothing allowed: zeros (NaN inputs give l = NaN and stay visible)
            std::fill(dst, dst + Dh, 0.0f);
          else
            for (i64 c = 0; c < Dh; ++c) dst[c] = o[c] / li;
        }
      }
    }
  };
  parallel_tasks(units * splits, threads, task);
  if (splits == 1) return;

  // Merge the splits of each unit (log-sum-exp): o = Σ_s e^(m_s − m*)·O_s / Σ_s e^(m_s − m*)·l_s.
  parallel_tasks(units, threads, [&](int, i64 unit) {
    i64 b, g0, i0, nrow;
    unit_coords(unit, b, g0, i0, nrow);
    std::vector<float> w(static_cast<size_t>(splits));
    for (i64 gi = 0; gi < gh; ++gi)
      for (i64 ii = 0; ii < nrow; ++ii) {
        float* orow = out + (b * p.Sq + i0 + ii) * ldq + (g0 + gi) * group * Dh;
        for (i64 hh = 0; hh < group; ++hh) {
          const i64 r = ii * group + hh;
          float* dst = orow + hh * Dh;
          float mstar = kNegInf;
          for (i64 s = 0; s < splits; ++s) mstar = std::max(mstar, part_ml[slot(unit, s, gi) * m_max * 2 + r]);
          std::fill(dst, dst + Dh, 0.0f);
          if (mstar == kNegInf) continue;  // nothing allowed: zeros
          float L = 0.0f;
          for (i64 s = 0; s < splits; ++s) {
            const float* ml = part_ml + slot(unit, s, gi) * m_max * 2;
            w[static_cast<size_t>(s)] = std::exp(ml[r] - mstar);
            L += w[static_cast<size_t>(s)] * ml[m_max + r];
          }
          for (i64 s = 0; s < splits; ++s) {
            const float ws = w[static_cast<size_t>(s)];
            if (ws == 0.0f) continue;
            const float* o = part_o + (slot(unit, s, gi) * m_max + r) * Dh;
            for (i64 c = 0; c < Dh; ++c) dst[c] += ws * o[c];
          }
          for (i64 c = 0; c < Dh; ++c) dst[c] /= L;
        }
      }
  });
}

template <class KV>
void attention_two_pass(const float* q, const KV* k, const KV* v, float* out, const AttentionProblem& p) {
  check_problem(p, "attention_naive");
  const i64 group = p.Nq / p.Nkv, Dh = p.Dh, ldq = p.Nq * Dh, ldkv = p.Nkv * Dh;
  std::vector<float> s(static_cast<size_t>(p.Skv));
  for (i64 b = 0; b < p.B; ++b)
    for (i64 h = 0; h < p.Nq; ++h) {
      const i64 g = h / group;
      for (i64 i = 0; i < p.Sq; ++i) {
        const float* qi = q + (b * p.Sq + i) * ldq + h * Dh;
        const std::uint8_t* ok = p.allowed ? p.allowed + (b * p.Sq + i) * p.Skv : nullptr;
        float* o = out + (b * p.Sq + i) * ldq + h * Dh;
        // Pass 1: scores and their max.
        float mx = kNegInf;
        for (i64 j = 0; j < p.Skv; ++j) {
          if (ok && !ok[j]) continue;
          const KV* kj = k + (b * p.Skv + j) * ldkv + g * Dh;
          float acc = 0.0f;
          for (i64 d = 0; d < Dh; ++d) acc += qi[d] * widen(kj[d]);
          s[static_cast<size_t>(j)] = acc * p.scaling;
          mx = std::max(mx, s[static_cast<size_t>(j)]);
        }
        for (i64 d = 0; d < Dh; ++d) o[d] = 0.0f;
        if (mx == kNegInf) continue;  // nothing allowed: zeros
        // Softmax: p_j = exp(s_j − max) / Σ.
        float sum = 0.0f;
        for (i64 j = 0; j < p.Skv; ++j) {
          float& sj = s[static_cast<size_t>(j)];
          sj = (ok && !ok[j]) ? 0.0f : std::exp(sj - mx);
          sum += sj;
        }
        for (i64 j = 0; j < p.Skv; ++j) s[static_cast<size_t>(j)] /= sum;
        // Pass 2: o = Σ_j p_j · v_j.
        for (i64 j = 0; j < p.Skv; ++j) {
          const float pj = s[static_cast<size_t>(j)];
          if (pj == 0.0f) continue;
          const KV* vj = v + (b * p.Skv + j) * ldkv + g * Dh;
          for (i64 d = 0; d < Dh; ++d) o[d] += pj * widen(vj[d]);
        }
      }
    }
}

}  // namespace

void attention(const float* q, const float* k, const float* v, float* out, const AttentionProblem& p,
               const AttentionTuning& t) {
  attention_flash(q, k, v, out, p, t);
}
void attention(const float* q, const std::uint16_t* k, const std::uint16_t* v, float* out, const AttentionProblem& p,
               const AttentionTuning& t) {
  attention_flash(q, k, v, out, p, t);
}
void attention_naive(const float* q, const float* k, const float* v, float* out, const AttentionProblem& p) {
  attention_two_pass(q, k, v, out, p);
}
void attention_naive(const float* q, const std::uint16_t* k, const std::uint16_t* v, float* out,
                     const AttentionProblem& p) {
  attention_two_pass(q, k, v, out, p);
}

std::string attention_impl(const AttentionTuning& t) { return t.simd && have_avx512() ? "avx512" : "portable"; }

double attention_flops(const AttentionProblem& p) {
  double pairs = 0.0;
  if (!p.allowed) {
    pairs = static_cast<double>(p.B) * static_cast<double>(p.Sq) * static_cast<double>(p.Skv);
  } else {
    const i64 n = p.B * p.Sq * p.Skv;
    i64 c = 0;
    for (i64 x = 0; x < n; ++x) c += p.allowed[x] != 0;
    pairs = static_cast<double>(c);
  }
  return 4.0 * static_cast<double>(p.Dh) * static_cast<double>(p.Nq) * pairs;
}

}  // namespace g4::cpu
