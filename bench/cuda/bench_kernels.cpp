// The CUDA kernels (optimized/cuda/ops.hpp, the GPU build) at real Gemma 4 shapes, beside cuBLAS
// and the device's own ceilings measured in the same run (DESIGN.md section 6; issue #7).
//
// Shapes come from the released configs (reference/text: released_text_config for e2b, e4b, 31b,
// 26b-a4b), per variant and mode — prefill512 (M = 512 tokens) and decode (M = 1):
//   GEMMs, one per distinct (N, K) of the variant's linears: q/k/v/o projections of its first
//     sliding and first full layer (v_proj has k_proj's shape and is timed once under that name;
//     k_eq_v layers have none), gate_up and down per distinct MLP width F, and where the variant
//     has per-layer embeddings the model projection [L·P, D], the per-layer gate [P, D] and
//     projection [D, P]. Formats and backends:
//       bf16          gemm_bf16 (gate_up: gemm_bf16_gelu_gated, both weights)  tensor_core | cublas
//       w8a8          gemm_w8a8 (int8 A per token, int8 W per channel)          tensor_core | cublas
//       int8_w8a16, int4_g32, int4_g128, fp8   gemm_dequant                    tensor_core | cublas
//       f32           gemm_f32 (tensor_core = our SIMT kernel; cublas = SGEMM)  tensor_core | cublas
//     Outside bf16 the MLP's gate and up are two GEMMs in the executors: "gate" times one of them.
//     C is bf16 (fp32 for gemm_f32).
//   attention: flash attention, bf16, of the first sliding layer (head dim 256, window masked)
//     and the first full layer (512, k_eq_v where the config says), Nq / Nkv per the config;
//     prefill512 causal (Sq = Skv = 512), decode one query at position 4095 of a 4096 context.
//   add_rms_norm [M, D] bf16 with residual; rope of q (sliding and full head dims); gelu_tanh
//     [M, F] bf16; softcap of the final logits [M, 262144] fp32; route (E 128, K 8) and
//     moe_experts (E 128, K 8, Fe from the config) for 26b-a4b; ple_combine for e2b / e4b.
//
// Timing: each case validates (below), runs 3 warm-up launches, then 20 timed repeats; before
// each repeat the L2 is flushed (device.hpp flush_l2, outside the timed span), and the repeat is
// timed by two CUDA events around the launch(es) on the default stream (state.SetIterationTime,
// UseManualTime). The reported time is Google Benchmark's mean; the counters use the median.
// Counters (analytic counts; a multiply-add is 2 FLOPs; bytes = weights in their stored format
// with their scales + every activation read or written once):
//   median_us      median of the repeats
//   GFLOPs, GBps   FLOPs / median, bytes / median
//   frac_ceiling   compute-bound cases (prefill GEMMs, prefill attention, prefill MoE experts):
//                  GFLOPs / the device's measured GEMM rate of the same arithmetic (bf16 and
//                  the bf16-mma dequant kernels: bf16_gflops; w8a8: int8_gops; gemm_f32 and the
//                  fp32 SIMT attention: sgemm_gflops); every other case: GBps / copy_gbs
//   frac_roofline  max(FLOPs / compute ceiling, bytes / copy_gbs) / median: 1 = on the roofline
//   x_cublas       tensor_core GEMM cases: median of the cublas backend (timed in the same case,
//                  same protocol, just before) / median of ours; > 1: ours is faster
// Validation before timing: every output finite, and each GEMM against another computation of
// the same product — the other backend —
// within rel_l2 1e-2. A sanity check that the case computes what it claims; the precision gates
// are the simulator tests (tests/optimized/cuda). A failing case is an error row, not timed.
//
// Without a usable GPU (device_info() throws g4::ConfigError) the program prints one line,
// "bench_cuda_kernels: skipped: <reason>", to stderr and exits 0 without registering anything.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "optimized/cuda/device.hpp"
#include "optimized/cuda/ops.hpp"
#include "reference/common/check.hpp"
#include "reference/text/config.hpp"

namespace cuda = g4::cuda;
using bf16 = __nv_bfloat16;
using g4::text::LayerSpec;
using g4::text::LayerType;
using g4::text::TextConfig;

namespace {

constexpr std::int64_t kPrefill = 512, kContext = 4096;
constexpr std::int64_t kPleVocab = 4096;  // table rows for ple_combine (ids index only M rows of it)
constexpr int kWarmup = 3, kRepeats = 20;
constexpr double kAgree = 1e-2;

cuda::DeviceCeilings g_ceil{};

// ---- Inputs: a device pool of uniform(-1, 1) floats, uploaded once; every operand is a span of
// it or derived from one on the device (bf16 by to_16bit, int8 / fp8 / int4 by the quantisation
// kernels), so a case costs no host generation or upload. ----
constexpr std::size_t kPool = std::size_t(1) << 27;      // floats (512 MiB): >= the largest operand
constexpr std::size_t kHostPool = std::size_t(1) << 24;  // the pool repeats this host block
constexpr std::size_t kAOffset = 64 * 1009;              // A's span starts here (W's at 0 and K)
// (span offsets are multiples of 16 floats, so every span is 64-byte aligned for vector loads)

const float* pool() {
  static const cuda::DeviceBuffer<float> p = [] {
    std::vector<float> h(kHostPool);
    std::mt19937 rng(20241207);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    for (float& x : h) x = d(rng);
    cuda::DeviceBuffer<float> b(kPool);
    for (std::size_t off = 0; off < kPool; off += kHostPool) cuda::copy_to_device(b.data() + off, h.data(), kHostPool * 4);
    return b;
  }();
  return p.data();
}

const float* span(std::size_t n, std::size_t off = 0) {
  if (off + n > kPool) throw std::runtime_error(fmt::format("operand of {} floats exceeds the input pool", n));
  return pool() + off;
}

// n bf16 values (RN of pool values), in pool-sized chunks (the MoE weights exceed the pool).
cuda::DeviceBuffer<bf16> make_bf16(std::size_t n, std::size_t off = 0) {
  cuda::DeviceBuffer<bf16> b(n);
  for (std::size_t i = 0; i < n;) {
    const std::size_t src = (off + i) % kPool, len = std::min(n - i, kPool - src);
    cuda::to_16bit(cuda::Fmt16::bf16, pool() + src, reinterpret_cast<std::uint16_t*>(b.data() + i),
                   static_cast<std::int64_t>(len));
    i += len;
  }
  return b;
}

cuda::DeviceBuffer<float> make_f32(std::size_t n, std::size_t off = 0) {
  cuda::DeviceBuffer<float> b(n);
  cuda::scale(span(n, off), b.data(), static_cast<std::int64_t>(n), 1.0f);  // exact copy
  return b;
}

template <class T>
std::vector<float> download(const cuda::DeviceBuffer<T>& b) {
  std::vector<T> h(b.size());
  b.download(h.data(), h.size());
  std::vector<float> f(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) {
    if constexpr (std::is_same_v<T, bf16>) f[i] = __bfloat162float(h[i]);
    else f[i] = static_cast<float>(h[i]);
  }
  return f;
}

void require_finite(const std::vector<float>& v, const char* what) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) throw std::runtime_error(fmt::format("validation: {} [{}] = {}", what, i, v[i]));
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// ---- Timing ----
class Timer {
 public:
  Timer() : start_(cuda::create_event()), stop_(cuda::create_event()) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() {
    cuda::destroy_event(start_);
    cuda::destroy_event(stop_);
  }
  // One repeat: flush the L2, then the launches between two events; milliseconds.
  double repeat(const std::function<void()>& fn) {
    cuda::flush_l2();
    cuda::record_event(start_);
    fn();
    cuda::record_event(stop_);
    return cuda::elapsed_ms(start_, stop_);
  }

 private:
  cuda::Event start_, stop_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? NAN : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

void warm_up(const std::function<void()>& fn) {
  for (int i = 0; i < kWarmup; ++i) fn();
  cuda::synchronize();
}

// The cublas backend's median, for x_cublas (same protocol as the timed loop).
double median_ms(const std::function<void()>& fn) {
  warm_up(fn);
  Timer t;
  std::vector<double> ms;
  for (int i = 0; i < kRepeats; ++i) ms.push_back(t.repeat(fn));
  return median(ms);
}

struct Work {
  double flops = 0, bytes = 0;
  double compute_gflops = 0;  // the ceiling of this arithmetic (0: no meaningful compute term)
  bool compute_bound = false;  // frac_ceiling against compute_gflops (else against copy_gbs)
};

void timed(benchmark::State& st, const std::function<void()>& fn, const Work& w, double baseline_ms = 0) {
  warm_up(fn);
  Timer t;
  std::vector<double> ms;
  for (auto _ : st) {
    const double x = t.repeat(fn);
    ms.push_back(x);
    st.SetIterationTime(x * 1e-3);
  }
  const double s = median(ms) * 1e-3;
  const double gflops = w.flops / s * 1e-9, gbps = w.bytes / s * 1e-9;
  const double t_compute = w.compute_gflops > 0 ? w.flops / (w.compute_gflops * 1e9) : 0.0;
  const double t_memory = w.bytes / (g_ceil.copy_gbs * 1e9);
  st.counters["median_us"] = s * 1e6;
  st.counters["GFLOPs"] = gflops;
  st.counters["GBps"] = gbps;
  st.counters["frac_ceiling"] = w.compute_bound ? gflops / w.compute_gflops : gbps / g_ceil.copy_gbs;
  st.counters["frac_roofline"] = std::max(t_compute, t_memory) / s;
  if (baseline_ms > 0) st.counters["x_cublas"] = baseline_ms * 1e-3 / s;
}

// Runs a case body; an exception (validation, CUDA error, shape refused) becomes an error row.
void guarded(benchmark::State& st, const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    st.SkipWithError(e.what());
  }
}

// ---- GEMMs ----
enum class Fmt { bf16, w8a8, int8_w8a16, int4_g32, int4_g128, fp8, f32 };
const Fmt kFmts[] = {Fmt::bf16, Fmt::w8a8, Fmt::int8_w8a16, Fmt::int4_g32, Fmt::int4_g128, Fmt::fp8, Fmt::f32};

const char* fmt_name(Fmt f) {
  switch (f) {
    case Fmt::bf16: return "bf16";
    case Fmt::w8a8: return "w8a8";
    case Fmt::int8_w8a16: return "int8_w8a16";
    case Fmt::int4_g32: return "int4_g32";
    case Fmt::int4_g128: return "int4_g128";
    case Fmt::fp8: return "fp8";
    case Fmt::f32: return "f32";
  }
  return "?";
}

struct Linear {
  std::string name;
  std::int64_t N, K;
  bool gated;  // gate_up: gate and up weights [N, K] each (fused in the bf16 kernel)
};

struct DevQuant {
  cuda::QuantFmt fmt = cuda::QuantFmt::int8;
  cuda::DeviceBuffer<std::uint8_t> data;
  cuda::DeviceBuffer<float> scales;
  std::int64_t group = 0;
  cuda::QuantWeight view() const { return cuda::QuantWeight{fmt, data.data(), scales.data(), group}; }
};

// W [N, K] from the pool, quantised on the device as the policies store it.
DevQuant quantise(Fmt f, std::int64_t N, std::int64_t K) {
  DevQuant q;
  const float* w = span(static_cast<std::size_t>(N * K));
  if (f == Fmt::int4_g32 || f == Fmt::int4_g128) {
    q.fmt = cuda::QuantFmt::int4;
    q.group = f == Fmt::int4_g32 ? 32 : 128;
    q.data = cuda::DeviceBuffer<std::uint8_t>(static_cast<std::size_t>(N * ((K + 1) / 2)));
    q.scales = cuda::DeviceBuffer<float>(static_cast<std::size_t>(N * ((K + q.group - 1) / q.group)));
    cuda::quantize_int4(w, q.data.data(), q.scales.data(), nullptr, N, K, q.group, false);
  } else {
    q.fmt = f == Fmt::fp8 ? cuda::QuantFmt::fp8_e4m3 : cuda::QuantFmt::int8;
    q.data = cuda::DeviceBuffer<std::uint8_t>(static_cast<std::size_t>(N * K));
    q.scales = cuda::DeviceBuffer<float>(static_cast<std::size_t>(N));
    cuda::quantize_rows(f == Fmt::fp8 ? cuda::RowFmt::fp8_e4m3 : cuda::RowFmt::int8, w, q.data.data(), q.scales.data(),
                        N, K);
  }
  return q;
}

// One GEMM case's device operands and launches.
class GemmOperands {
 public:
  GemmOperands(Fmt f, std::int64_t M, const Linear& l) : f_(f), M_(M), l_(l), shape_{M, l.N, l.K, 0, 0, 0} {
    const auto MK = static_cast<std::size_t>(M * l.K), NK = static_cast<std::size_t>(l.N * l.K);
    const auto MN = static_cast<std::size_t>(M * l.N);
    switch (f) {
      case Fmt::bf16:
        a16_ = make_bf16(MK, kAOffset);
        w16_ = make_bf16(NK);
        if (l.gated) u16_ = make_bf16(NK, static_cast<std::size_t>(l.K));
        break;
      case Fmt::w8a8:
      case Fmt::fp8:
        a8_ = cuda::DeviceBuffer<std::uint8_t>(MK);
        sa_ = cuda::DeviceBuffer<float>(static_cast<std::size_t>(M));
        cuda::quantize_rows(f == Fmt::fp8 ? cuda::RowFmt::fp8_e4m3 : cuda::RowFmt::int8, span(MK, kAOffset), a8_.data(),
                            sa_.data(), M, l.K);
        wq_ = quantise(f, l.N, l.K);
        break;
      case Fmt::int8_w8a16:
      case Fmt::int4_g32:
      case Fmt::int4_g128:
        a16_ = make_bf16(MK, kAOffset);
        wq_ = quantise(f, l.N, l.K);
        break;
      case Fmt::f32:
        break;  // A and W are pool spans
    }
    if (f == Fmt::f32) c32_ = cuda::DeviceBuffer<float>(MN);
    else c16_ = cuda::DeviceBuffer<bf16>(MN);
  }

  void run(cuda::GemmBackend b) {
    switch (f_) {
      case Fmt::bf16:
        if (l_.gated) cuda::gemm_bf16_gelu_gated<bf16>(b, a16_.data(), w16_.data(), u16_.data(), c16_.data(), shape_);
        else cuda::gemm_bf16<bf16>(b, a16_.data(), w16_.data(), c16_.data(), shape_);
        return;
      case Fmt::w8a8:
        cuda::gemm_w8a8<bf16>(b, reinterpret_cast<const std::int8_t*>(a8_.data()), sa_.data(),
                              reinterpret_cast<const std::int8_t*>(wq_.data.data()), wq_.scales.data(), c16_.data(),
                              shape_);
        return;
      case Fmt::fp8:
        cuda::gemm_dequant<bf16>(b, a8_.data(), sa_.data(), wq_.view(), c16_.data(), shape_);
        return;
      case Fmt::int8_w8a16:
      case Fmt::int4_g32:
      case Fmt::int4_g128:
        cuda::gemm_dequant<bf16>(b, a16_.data(), nullptr, wq_.view(), c16_.data(), shape_);
        return;
      case Fmt::f32:
        cuda::gemm_f32(b, span(static_cast<std::size_t>(M_ * l_.K), kAOffset),
                       span(static_cast<std::size_t>(l_.N * l_.K)), c32_.data(), shape_);
        return;
    }
  }

  std::vector<float> output() const { return f_ == Fmt::f32 ? download(c32_) : download(c16_); }

  // The same product computed another way: the other backend.
  std::vector<float> reference(cuda::GemmBackend b) {
    run(b == cuda::GemmBackend::cublas ? cuda::GemmBackend::tensor_core : cuda::GemmBackend::cublas);
    return output();
  }

  Work work() const {
    const double M = double(M_), N = double(l_.N), K = double(l_.K), nw = l_.gated ? 2.0 : 1.0;
    Work w;
    w.flops = 2.0 * M * N * K * nw;
    double wbytes = 0, abytes = 0, cbytes = M * N * 2;
    switch (f_) {
      case Fmt::bf16: wbytes = N * K * 2, abytes = M * K * 2; break;
      case Fmt::w8a8:
      case Fmt::fp8: wbytes = N * K + N * 4, abytes = M * K + M * 4; break;
      case Fmt::int8_w8a16: wbytes = N * K + N * 4, abytes = M * K * 2; break;
      case Fmt::int4_g32:
      case Fmt::int4_g128: {
        const double g = f_ == Fmt::int4_g32 ? 32 : 128;
        wbytes = N * std::ceil(K / 2) + N * std::ceil(K / g) * 4, abytes = M * K * 2;
        break;
      }
      case Fmt::f32: wbytes = N * K * 4, abytes = M * K * 4, cbytes = M * N * 4; break;
    }
    w.bytes = wbytes * nw + abytes + cbytes;
    w.compute_gflops = f_ == Fmt::w8a8 ? g_ceil.int8_gops : (f_ == Fmt::f32 ? g_ceil.sgemm_gflops : g_ceil.bf16_gflops);
    w.compute_bound = M_ > 1;
    return w;
  }

 private:
  Fmt f_;
  std::int64_t M_;
  Linear l_;
  cuda::GemmShape shape_;
  cuda::DeviceBuffer<bf16> a16_, w16_, u16_, c16_;
  cuda::DeviceBuffer<std::uint8_t> a8_;
  cuda::DeviceBuffer<float> sa_, c32_;
  DevQuant wq_;
};

void bm_gemm(benchmark::State& st, Fmt f, std::int64_t M, const Linear& l, cuda::GemmBackend b) {
  guarded(st, [&] {
    GemmOperands ops(f, M, l);
    ops.run(b);
    const std::vector<float> got = ops.output();
    require_finite(got, "C");
    const double d = rel_l2(got, ops.reference(b));
    if (!(d <= kAgree))
      throw std::runtime_error(fmt::format("validation: rel_l2 {:.3e} against the other computation > {}", d, kAgree));
    const bool ours = b == cuda::GemmBackend::tensor_core;
    const double base = ours ? median_ms([&] { ops.run(cuda::GemmBackend::cublas); }) : 0.0;
    timed(st, [&] { ops.run(b); }, ops.work(), base);
  });
}

// The variant's distinct linear shapes (first name kept; see the header).
std::vector<Linear> linears_of(const TextConfig& c) {
  std::vector<Linear> out;
  auto add = [&](std::string name, std::int64_t N, std::int64_t K, bool gated) {
    for (const Linear& l : out)
      if (l.N == N && l.K == K && l.gated == gated) return;
    out.push_back(Linear{std::move(name), N, K, gated});
  };
  const std::int64_t D = c.hidden_size, Nq = c.num_attention_heads;
  for (LayerType t : {LayerType::kSliding, LayerType::kFull}) {
    const auto it = std::find_if(c.layers.begin(), c.layers.end(), [&](const LayerSpec& s) { return s.type == t; });
    if (it == c.layers.end()) continue;
    const std::string kind = t == LayerType::kSliding ? "sliding" : "full";
    add("q_proj_" + kind, Nq * it->head_dim, D, false);
    add("k_proj_" + kind, it->num_kv_heads * it->head_dim, D, false);
    if (!it->k_eq_v) add("v_proj_" + kind, it->num_kv_heads * it->head_dim, D, false);
    add("o_proj_" + kind, D, Nq * it->head_dim, false);
  }
  for (const LayerSpec& s : c.layers) {
    add(fmt::format("gate_up_F{}", s.mlp_width), s.mlp_width, D, true);
    add(fmt::format("down_F{}", s.mlp_width), D, s.mlp_width, false);
  }
  if (const std::int64_t P = c.ple_dim(); P > 0) {
    add("ple_model_proj", c.num_hidden_layers * P, D, false);
    add("ple_gate", P, D, false);
    add("ple_proj", D, P, false);
  }
  return out;
}

const LayerSpec& first_layer(const TextConfig& c, LayerType t) {
  const auto it = std::find_if(c.layers.begin(), c.layers.end(), [&](const LayerSpec& s) { return s.type == t; });
  if (it == c.layers.end()) throw std::runtime_error(fmt::format("{} has no {} layer", c.name, g4::text::to_string(t)));
  return *it;
}

// ---- Flash attention (bf16) ----
void bm_attention(benchmark::State& st, const TextConfig& c, LayerType t, std::int64_t M) {
  guarded(st, [&] {
    const LayerSpec& l = first_layer(c, t);
    const bool decode = M == 1;
    const std::int64_t Sq = M, Skv = decode ? kContext : M, Nq = c.num_attention_heads, Nkv = l.num_kv_heads;
    const std::int64_t Dh = l.head_dim, W = t == LayerType::kSliding ? c.sliding_window : Skv;
    // allowed[q, k]: causal (query q at position Skv - Sq + q) and within the window.
    std::vector<unsigned char> mask(static_cast<std::size_t>(Sq * Skv));
    double pairs = 0;
    std::int64_t first_key = Skv;
    for (std::int64_t q = 0; q < Sq; ++q)
      for (std::int64_t k = 0; k < Skv; ++k) {
        const std::int64_t pos = Skv - Sq + q;
        const bool ok = k <= pos && pos - k < W;
        mask[static_cast<std::size_t>(q * Skv + k)] = ok;
        pairs += ok;
        if (ok) first_key = std::min(first_key, k);
      }
    const auto q = make_bf16(static_cast<std::size_t>(Sq * Nq * Dh), kAOffset);
    const auto k = make_bf16(static_cast<std::size_t>(Skv * Nkv * Dh));
    const auto v = l.k_eq_v ? cuda::DeviceBuffer<bf16>() : make_bf16(static_cast<std::size_t>(Skv * Nkv * Dh), 4096);
    const cuda::DeviceBuffer<unsigned char> allowed(mask.data(), mask.size());
    cuda::DeviceBuffer<bf16> out(static_cast<std::size_t>(Sq * Nq * Dh));
    const cuda::AttentionShape s{1, Sq, Skv, Nq, Nkv, Dh, 1.0f};
    auto run = [&] { cuda::attention<bf16>(q.data(), k.data(), l.k_eq_v ? k.data() : v.data(), out.data(), allowed.data(), s); };
    run();
    require_finite(download(out), "attention out");
    Work w;
    w.flops = 4.0 * double(Nq) * double(Dh) * pairs;  // QKᵀ and P·V, 2·Dh each per allowed pair
    const double keys = double(Skv - first_key);     // positions any query attends (tiles beyond are skipped)
    w.bytes = 2.0 * double(Sq * Nq * Dh) * 2 + keys * double(Nkv * Dh) * 2 * (l.k_eq_v ? 1 : 2) + double(Sq * Skv);
    w.compute_gflops = g_ceil.sgemm_gflops;  // fp32 SIMT arithmetic
    w.compute_bound = !decode;
    timed(st, run, w);
  });
}

// ---- Element-wise and routing ----
void bm_add_rms_norm(benchmark::State& st, const TextConfig& c, std::int64_t M) {
  guarded(st, [&] {
    const std::int64_t D = c.hidden_size, n = M * D;
    const auto x = make_bf16(static_cast<std::size_t>(n)), r = make_bf16(static_cast<std::size_t>(n), kAOffset);
    const auto wt = make_f32(static_cast<std::size_t>(D));
    cuda::DeviceBuffer<bf16> sum(static_cast<std::size_t>(n)), y(static_cast<std::size_t>(n));
    const cuda::RmsNormShape s{M, 1, D, static_cast<float>(c.rms_norm_eps)};
    auto run = [&] { cuda::add_rms_norm<bf16>(x.data(), r.data(), wt.data(), sum.data(), y.data(), s); };
    run();
    require_finite(download(y), "y");
    Work w;
    w.flops = 5.0 * double(n);
    w.bytes = 4.0 * double(n) * 2 + double(D) * 4;  // x, r read; sum, y written; w
    timed(st, run, w);
  });
}

void bm_rope(benchmark::State& st, const TextConfig& c, LayerType t, std::int64_t M) {
  guarded(st, [&] {
    const LayerSpec& l = first_layer(c, t);
    const std::int64_t H = c.num_attention_heads, Dh = l.head_dim, n_pos = kContext + kPrefill;
    const auto x = make_bf16(static_cast<std::size_t>(M * H * Dh));
    cuda::DeviceBuffer<bf16> y(static_cast<std::size_t>(M * H * Dh));
    std::vector<long long> pos(static_cast<std::size_t>(M));
    for (std::int64_t i = 0; i < M; ++i) pos[static_cast<std::size_t>(i)] = M == 1 ? kContext - 1 : i;
    const cuda::DeviceBuffer<long long> positions(pos.data(), pos.size());
    const float* cos_t = span(static_cast<std::size_t>(n_pos * Dh / 2));
    const float* sin_t = span(static_cast<std::size_t>(n_pos * Dh / 2), kAOffset);
    const cuda::RopeShape s{M, H, Dh, n_pos};
    auto run = [&] { cuda::rope<bf16>(x.data(), y.data(), positions.data(), cos_t, sin_t, s); };
    run();
    require_finite(download(y), "y");
    Work w;
    w.flops = 3.0 * double(M * H * Dh);
    w.bytes = 2.0 * double(M * H * Dh) * 2 + double(M) * (8 + 2.0 * double(Dh / 2) * 4);  // x, y; positions, cos/sin rows
    timed(st, run, w);
  });
}

void bm_gelu(benchmark::State& st, const TextConfig& c, std::int64_t M) {
  guarded(st, [&] {
    const std::int64_t n = M * c.layers.front().mlp_width;
    const auto x = make_bf16(static_cast<std::size_t>(n));
    cuda::DeviceBuffer<bf16> y(static_cast<std::size_t>(n));
    auto run = [&] { cuda::gelu_tanh<bf16>(x.data(), y.data(), n); };
    run();
    require_finite(download(y), "y");
    Work w;
    w.flops = 10.0 * double(n);
    w.bytes = 2.0 * double(n) * 2;
    timed(st, run, w);
  });
}

void bm_softcap(benchmark::State& st, const TextConfig& c, std::int64_t M) {
  guarded(st, [&] {
    const std::int64_t n = M * c.vocab_size;
    const float* x = span(static_cast<std::size_t>(n));
    cuda::DeviceBuffer<float> y(static_cast<std::size_t>(n));
    const float cap = static_cast<float>(c.final_logit_softcapping.value_or(30.0));
    auto run = [&] { cuda::softcap<float>(x, y.data(), n, cap); };
    run();
    require_finite(download(y), "y");
    Work w;
    w.flops = 3.0 * double(n);
    w.bytes = 2.0 * double(n) * 4;
    timed(st, run, w);
  });
}

void bm_route(benchmark::State& st, const TextConfig& c, std::int64_t M) {
  guarded(st, [&] {
    const std::int64_t E = c.num_experts, K = c.top_k_experts;
    const float* logits = span(static_cast<std::size_t>(M * E));
    const auto scale = make_f32(static_cast<std::size_t>(E), kAOffset);
    cuda::DeviceBuffer<float> probs(static_cast<std::size_t>(M * E)), weights(static_cast<std::size_t>(M * K));
    cuda::DeviceBuffer<int> index(static_cast<std::size_t>(M * K));
    auto run = [&] { cuda::route(logits, scale.data(), probs.data(), weights.data(), index.data(), M, E, K); };
    run();
    require_finite(download(weights), "weights");
    Work w;
    w.bytes = double(M * E) * 8 + double(E) * 4 + double(M * K) * 8;  // logits, probs; scales; weights, index
    timed(st, run, w);
  });
}

void bm_moe(benchmark::State& st, const TextConfig& c, std::int64_t M) {
  guarded(st, [&] {
    const std::int64_t T = M, D = c.hidden_size, Fe = c.moe_intermediate_size, E = c.num_experts, K = c.top_k_experts;
    // Routing from random logits through route(), as in the layer.
    cuda::DeviceBuffer<float> weights(static_cast<std::size_t>(T * K));
    cuda::DeviceBuffer<int> index(static_cast<std::size_t>(T * K));
    const auto scale = make_f32(static_cast<std::size_t>(E), kAOffset);
    cuda::route(span(static_cast<std::size_t>(T * E), 64 * 193), scale.data(), nullptr, weights.data(), index.data(), T, E, K);
    std::vector<int> idx(static_cast<std::size_t>(T * K));
    index.download(idx.data(), idx.size());
    const double touched = double(std::set<int>(idx.begin(), idx.end()).size());
    const auto x = make_bf16(static_cast<std::size_t>(T * D), kAOffset);
    const auto gate_up = make_bf16(static_cast<std::size_t>(E * 2 * Fe * D));
    const auto down = make_bf16(static_cast<std::size_t>(E * D * Fe), 64 * 13);
    cuda::DeviceBuffer<float> out(static_cast<std::size_t>(T * D)), y(static_cast<std::size_t>(T * K * D));
    cuda::DeviceBuffer<int> offsets(static_cast<std::size_t>(E + 1)), rows(static_cast<std::size_t>(T * K)),
        slot_row(static_cast<std::size_t>(T * K));
    cuda::DeviceBuffer<bf16> h(static_cast<std::size_t>(T * K * Fe));
    const cuda::MoeScratch scratch{offsets.data(), rows.data(), slot_row.data(), h.data(), y.data()};
    const cuda::MoeShape s{T, D, Fe, E, K};
    auto run = [&] {
      cuda::moe_experts(x.data(), index.data(), weights.data(), gate_up.data(), down.data(), out.data(), s, scratch);
    };
    run();
    require_finite(download(out), "out");
    Work w;
    w.flops = double(T * K) * 6.0 * double(D) * double(Fe);  // gate, up: 2·Fe·D each; down: 2·D·Fe
    w.bytes = touched * 3.0 * double(Fe * D) * 2 + double(T * D) * (2 + 4) + double(T * K) * 8;
    w.compute_gflops = g_ceil.bf16_gflops;
    w.compute_bound = T > 1;
    timed(st, run, w);
  });
}

void bm_ple(benchmark::State& st, const TextConfig& c, std::int64_t M) {
  guarded(st, [&] {
    const std::int64_t L = c.num_hidden_layers, P = c.ple_dim(), D = c.hidden_size, LP = L * P;
    const float* ctx = span(static_cast<std::size_t>(M * LP), kAOffset);
    const auto table = make_bf16(static_cast<std::size_t>(kPleVocab * LP));
    const auto norm_w = make_f32(static_cast<std::size_t>(P));
    std::vector<long long> h_ids(static_cast<std::size_t>(M));
    std::mt19937 rng(7);
    for (long long& id : h_ids) id = std::uniform_int_distribution<long long>(0, kPleVocab - 1)(rng);
    const cuda::DeviceBuffer<long long> ids(h_ids.data(), h_ids.size());
    cuda::DeviceBuffer<float> out(static_cast<std::size_t>(M * LP));
    const float eps = static_cast<float>(c.rms_norm_eps);
    auto run = [&] { cuda::ple_combine<bf16>(ctx, table.data(), ids.data(), norm_w.data(), out.data(), M, L, P, D, eps); };
    run();
    require_finite(download(out), "out");
    Work w;
    w.flops = 8.0 * double(M * LP);
    w.bytes = double(M * LP) * (4 + 2 + 4) + double(M) * 8 + double(P) * 4;  // ctx, table rows, out; ids, w
    timed(st, run, w);
  });
}

benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b) {
  return b->UseManualTime()->Iterations(kRepeats)->Unit(benchmark::kMicrosecond);
}

void register_all() {
  for (const std::string& variant : g4::text::released_variants()) {
    const TextConfig c = g4::text::released_text_config(variant);
    const std::vector<Linear> linears = linears_of(c);
    for (const std::int64_t M : {kPrefill, std::int64_t{1}}) {
      const std::string mode = M == 1 ? "decode" : "prefill512";
      auto name = [&](const std::string& tail) { return fmt::format("{}/{}/{}", variant, mode, tail); };
      for (const Linear& l : linears)
        for (const Fmt f : kFmts) {
          Linear lin = l;
          if (f != Fmt::bf16 && l.gated) {  // no fused gated kernel outside bf16: one of the two GEMMs
            lin.gated = false;
            lin.name = fmt::format("gate_F{}", l.N);
          }
          for (const auto b : {cuda::GemmBackend::tensor_core, cuda::GemmBackend::cublas}) {
            const char* bn = b == cuda::GemmBackend::tensor_core ? "tensor_core" : "cublas";
            configure(benchmark::RegisterBenchmark(name(fmt::format("{}/{}/{}", lin.name, fmt_name(f), bn)).c_str(),
                                                   bm_gemm, f, M, lin, b));
          }
        }
      for (const LayerType t : {LayerType::kSliding, LayerType::kFull}) {
        const std::string kind = t == LayerType::kSliding ? "sliding" : "full";
        const std::string ctx = M == 1 ? fmt::format("ctx{}", kContext) : "causal";
        configure(benchmark::RegisterBenchmark(name(fmt::format("attention_{}/{}/bf16", kind, ctx)).c_str(),
                                               bm_attention, c, t, M));
        configure(benchmark::RegisterBenchmark(name(fmt::format("rope_{}/bf16", kind)).c_str(), bm_rope, c, t, M));
      }
      configure(benchmark::RegisterBenchmark(name("add_rms_norm/bf16").c_str(), bm_add_rms_norm, c, M));
      configure(benchmark::RegisterBenchmark(name("gelu/bf16").c_str(), bm_gelu, c, M));
      configure(benchmark::RegisterBenchmark(name("softcap/f32").c_str(), bm_softcap, c, M));
      if (c.enable_moe_block) {
        configure(benchmark::RegisterBenchmark(name("route/f32").c_str(), bm_route, c, M));
        configure(benchmark::RegisterBenchmark(name("moe_experts/bf16").c_str(), bm_moe, c, M));
      }
      if (c.ple_dim() > 0) configure(benchmark::RegisterBenchmark(name("ple_combine/bf16").c_str(), bm_ple, c, M));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  cuda::DeviceInfo info;
  try {
    info = cuda::device_info();
  } catch (const g4::ConfigError& e) {
    std::fprintf(stderr, "bench_cuda_kernels: skipped: %s\n", e.what());
    return 0;
  }
  g_ceil = cuda::measure_device_ceilings();
  benchmark::AddCustomContext("device", fmt::format("{} (sm_{}{}, {} SMs, {:.1f} GiB, L2 {:.0f} MiB)", info.name,
                                                    info.cc_major, info.cc_minor, info.sm_count,
                                                    double(info.memory_bytes) / (1 << 30), double(info.l2_bytes) / (1 << 20)));
  benchmark::AddCustomContext(
      "ceilings", fmt::format("bf16 {:.0f} GFLOP/s, int8 {:.0f} GOP/s, sgemm {:.0f} GFLOP/s, dgemm {:.0f} GFLOP/s, copy {:.0f} GB/s",
                              g_ceil.bf16_gflops, g_ceil.int8_gops, g_ceil.sgemm_gflops, g_ceil.dgemm_gflops, g_ceil.copy_gbs));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
