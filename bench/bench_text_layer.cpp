// Real-size Gemma 4 decoder layers through the float64 reference, against this machine's dgemm.
// See bench/README.md for how to run it, what every counter means and how FLOPs are counted.
//
// Cases, run in this order (Google Benchmark runs in registration order):
//   BM_dgemm/T:512/K:4096/N:4096        ops::matmul_blas on one square-ish shape: the baseline rate
//   BM_peak_memory/31b/layers:6/S:512   31B layers 0..5 layer by layer through TextModel; peak RSS
//   BM_layer/<variant>/L<i>_<kind>/S:512 one decoder layer, prefill B=1, S tokens, seeded weights
//
// Extra flag (taken out of argv before Google Benchmark sees it):
//   --g4_seq=N   prefill length of every layer case and of the memory pass (default 512)
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "reference/ops/matmul.hpp"
#include "reference/text/config.hpp"
#include "reference/text/executor.hpp"
#include "reference/text/model.hpp"
#include "reference/text/random_weights.hpp"

namespace {

using namespace g4;
using namespace g4::text;

constexpr std::uint64_t kSeed = 20250401;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
index_t g_seq = 512;  // --g4_seq

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool all_finite(const Mat& m) {
  for (double x : m)
    if (!std::isfinite(x)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Memory probes (Linux).

double maxrss_gib() {  // getrusage ru_maxrss: the process high-water mark since it started (KiB)
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) * 1024.0 / kGiB;
}

double proc_status_gib(const char* field) {  // "VmRSS" / "VmHWM" from /proc/self/status (kB)
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(f, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
      return std::stod(line.substr(n + 1)) * 1024.0 / kGiB;
  return -1.0;
}

// The machine's CPU seconds from /proc/stat (all cores): busy (user, nice, system, irq, softirq,
// steal) and stolen by the hypervisor.
struct MachineCpu {
  double busy = 0, steal = 0;
  static MachineCpu now() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    double v[8] = {};
    f >> cpu;
    for (double& x : v) f >> x;
    const double hz = double(sysconf(_SC_CLK_TCK));
    return {(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz, v[7] / hz};
  }
};

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// This process, every thread: CPU seconds (user, system), minor page faults, involuntary context
// switches; and the machine's CPU (to see other processes competing for the cores).
struct ProcUsage {
  double user = 0, sys = 0, minflt = 0, nivcsw = 0;
  MachineCpu machine;
  static ProcUsage now() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return {double(ru.ru_utime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec),
            double(ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_stime.tv_usec), double(ru.ru_minflt),
            double(ru.ru_nivcsw), MachineCpu::now()};
  }
};

int n_cpus() { return std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)); }

bool reset_hwm() {  // Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

// ---------------------------------------------------------------------------------------------
// Analytic counts.

// FLOPs of one decoder layer at prefill (B rows of S tokens). A multiply-add is 2 FLOPs.
struct LayerFlops {
  double proj = 0;     // every x·Wᵀ the layer makes through Executor::linear
  double experts = 0;  // MoE experts, the K active experts of each token only
  double attn = 0;     // QKᵀ and P·V
  double matmul() const { return proj + experts; }
  double total() const { return proj + experts + attn; }
};

LayerFlops layer_flops(const TextConfig& c, index_t i, index_t B, index_t S) {
  const LayerSpec& s = c.layers.at(i);
  const double T = double(B * S), D = double(c.hidden_size), Nq = double(c.num_attention_heads);
  const double Dh = double(s.head_dim), Nkv = double(s.num_kv_heads), F = double(s.mlp_width);
  const double P = double(c.ple_dim());
  LayerFlops f;
  f.proj = 2 * T * D * Nq * Dh       // q_proj
           + 2 * T * Nq * Dh * D     // o_proj
           + 3 * (2 * T * D * F);    // gate_proj, up_proj, down_proj
  if (s.kv_role != KvRole::kReuse) f.proj += (s.k_eq_v ? 1 : 2) * (2 * T * D * Nkv * Dh);  // k_proj (+ v_proj)
  if (P > 0) f.proj += 2 * (2 * T * D * P);  // per_layer_input_gate, per_layer_projection
  if (c.enable_moe_block) {
    const double E = double(c.num_experts), K = double(c.top_k_experts), Fe = double(c.moe_intermediate_size);
    f.proj += 2 * T * D * E;                    // router.proj
    f.experts = 2 * T * K * (2 * Fe * D + D * Fe);  // gate_up_proj + down_proj of the K chosen experts
  }
  // Keys per query: S on full layers, the window on sliding layers (dense count, causality not
  // subtracted: the reference computes q·k for every key of the row and masks afterwards).
  const double keys = s.type == LayerType::kFull ? double(S) : double(std::min(S, c.sliding_window));
  f.attn = 2 * (2 * double(B) * Nq * double(S) * keys * Dh);
  return f;
}

// float64 bytes of layer i's weights, as RandomWeights::layer(i) makes them (== LayerWeights::bytes()).
double layer_weight_bytes(const TextConfig& c, index_t i) {
  const LayerSpec& s = c.layers.at(i);
  const double D = double(c.hidden_size), NqDh = double(c.num_attention_heads * s.head_dim);
  const double KvDh = double(s.num_kv_heads * s.head_dim), F = double(s.mlp_width), P = double(c.ple_dim());
  double n = 4 * D + NqDh * D + double(s.head_dim) + D * NqDh + 3 * F * D;  // norms, q, q_norm, o, MLP
  if (s.kv_role != KvRole::kReuse) n += KvDh * D * (s.k_eq_v ? 1 : 2) + double(s.head_dim);  // k (+v), k_norm
  if (P > 0) n += 2 * P * D + D;
  if (c.enable_moe_block) {
    const double E = double(c.num_experts), Fe = double(c.moe_intermediate_size);
    n += E * D + D + E + E * 2 * Fe * D + E * D * Fe + 3 * D;
  }
  return n * sizeof(double);
}

double model_weight_bytes(const TextConfig& c) {  // every layer + embedding + final norm (+ PLE tables)
  double b = 0;
  for (index_t i = 0; i < c.num_hidden_layers; ++i) b += layer_weight_bytes(c, i);
  b += double(c.vocab_size) * c.hidden_size * sizeof(double) + c.hidden_size * sizeof(double);
  if (c.ple_dim() > 0) {
    const double LP = double(c.num_hidden_layers * c.ple_dim());
    b += (double(c.vocab_size_per_layer_input) * LP + LP * c.hidden_size + c.ple_dim()) * sizeof(double);
  }
  return b;
}

TextInputs random_inputs(const TextConfig& c, index_t B, index_t S, std::uint64_t seed) {
  TextInputs in;
  in.input_ids = IdMat::from_shape({static_cast<size_t>(B), static_cast<size_t>(S)});
  in.attention_mask = IdMat::from_shape({static_cast<size_t>(B), static_cast<size_t>(S)});
  NormalStream u(seed, -100, "bench.input_ids");
  for (auto& id : in.input_ids) id = std::min<std::int64_t>(c.vocab_size - 1, std::int64_t(u.uniform() * c.vocab_size));
  in.attention_mask.fill(1);
  return in;
}

// ---------------------------------------------------------------------------------------------
// An executor that times the nodes of interest and counts what it multiplied.

class TimingExecutor : public ReferenceExecutor {
 public:
  struct Acc {
    double seconds = 0, flops = 0, thread_cpu = 0;
  };
  Acc lin, attn, exp;
  Acc norm, rope_, gelu_, elem, route_;  // rms_norm; rope; gelu; mul/add/scale; route
  void reset() { lin = attn = exp = norm = rope_ = gelu_ = elem = route_ = Acc{}; }

  template <class F>
  static Mat timed(Acc& acc, F&& f) {
    const double t0 = now_s();
    Mat y = f();
    acc.seconds += now_s() - t0;
    return y;
  }
  Mat rms_norm(const std::string& n, const Mat& x, const Vec* w, double eps, index_t dim) override {
    return timed(norm, [&] { return ReferenceExecutor::rms_norm(n, x, w, eps, dim); });
  }
  Mat rope(const std::string& n, const Mat& x, const std::vector<index_t>& pos, const Vec& inv_freq,
           index_t head_dim) override {
    return timed(rope_, [&] { return ReferenceExecutor::rope(n, x, pos, inv_freq, head_dim); });
  }
  Mat gelu(const std::string& n, const Mat& x) override {
    return timed(gelu_, [&] { return ReferenceExecutor::gelu(n, x); });
  }
  Mat mul(const std::string& n, const Mat& a, const Mat& b) override {
    return timed(elem, [&] { return ReferenceExecutor::mul(n, a, b); });
  }
  Mat add(const std::string& n, const Mat& a, const Mat& b) override {
    return timed(elem, [&] { return ReferenceExecutor::add(n, a, b); });
  }
  Mat scale(const std::string& n, const Mat& x, double f) override {
    return timed(elem, [&] { return ReferenceExecutor::scale(n, x, f); });
  }
  ops::RouterOutput route(const std::string& n, const Mat& logits, const Vec& pes, index_t top_k) override {
    const double t0 = now_s();
    ops::RouterOutput r = ReferenceExecutor::route(n, logits, pes, top_k);
    route_.seconds += now_s() - t0;
    return r;
  }

  Mat linear(const std::string& n, const Mat& x, const Mat& w) override {
    const double t0 = now_s();
    Mat y = ReferenceExecutor::linear(n, x, w);
    lin.seconds += now_s() - t0;
    lin.flops += 2.0 * double(rows(x)) * double(cols(x)) * double(rows(w));
    return y;
  }
  Mat attention(const std::string& n, const Mat& q, const Mat& k, const Mat& v, const std::vector<std::uint8_t>& allowed,
                const ops::AttentionShape& a, Mat* probs) override {
    const double t0 = now_s(), c0 = thread_cpu_s();
    Mat o = ReferenceExecutor::attention(n, q, k, v, allowed, a, probs);
    attn.seconds += now_s() - t0;
    attn.thread_cpu += thread_cpu_s() - c0;
    return o;
  }
  Mat experts(const std::string& n, const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
              const std::vector<double>& down, index_t E, index_t Fe) override {
    const double t0 = now_s();
    Mat y = ReferenceExecutor::experts(n, xe, r, gate_up, down, E, Fe);
    exp.seconds += now_s() - t0;
    exp.flops += 2.0 * double(r.index.size()) * 3.0 * double(Fe) * double(cols(xe));
    return y;
  }
};

// ---------------------------------------------------------------------------------------------
// dgemm baseline.

std::vector<double> g_dgemm_samples;  // GFLOP/s of every timed dgemm call of this run
double g_dgemm_foreign = 0;            // the worst foreign CPU share seen while timing dgemm

double measure_dgemm_once(index_t T, index_t K, index_t N, int calls) {
  std::vector<double> x(size_t(T * K)), w(size_t(N * K)), y(size_t(T * N));
  NormalStream g(kSeed, -50, "bench.dgemm");
  for (auto& v : x) v = g.next();
  for (auto& v : w) v = g.next();
  ops::matmul_blas(x.data(), w.data(), y.data(), T, K, N);  // warm-up: starts the BLAS threads
  for (int i = 0; i < calls; ++i) {
    const double t0 = now_s();
    ops::matmul_blas(x.data(), w.data(), y.data(), T, K, N);
    g_dgemm_samples.push_back(2.0 * T * K * N / (now_s() - t0) * 1e-9);
  }
  return median(g_dgemm_samples);
}

// The baseline the ratios use: the median over every dgemm call timed so far in this run (measured
// here, outside any timing, if BM_dgemm was filtered out).
double dgemm_gflops() {
  if (g_dgemm_samples.empty()) measure_dgemm_once(512, 4096, 4096, 5);
  return median(g_dgemm_samples);
}

void BM_dgemm(benchmark::State& state) {
  const index_t T = state.range(0), K = state.range(1), N = state.range(2);
  std::vector<double> x(size_t(T * K)), w(size_t(N * K)), y(size_t(T * N));
  NormalStream g(kSeed, -50, "bench.dgemm");
  for (auto& v : x) v = g.next();
  for (auto& v : w) v = g.next();
  ops::matmul_blas(x.data(), w.data(), y.data(), T, K, N);  // warm-up
  double wall = 0;
  const ProcUsage u0 = ProcUsage::now();
  for (auto _ : state) {
    const double t0 = now_s();
    ops::matmul_blas(x.data(), w.data(), y.data(), T, K, N);
    const double dt = now_s() - t0;
    wall += dt;
    g_dgemm_samples.push_back(2.0 * T * K * N / dt * 1e-9);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const ProcUsage u1 = ProcUsage::now();
  g_dgemm_foreign = std::max(g_dgemm_foreign, std::max(0.0, (u1.machine.busy - u0.machine.busy - (u1.user - u0.user + u1.sys - u0.sys)) / (wall * n_cpus())));
  state.counters["foreign_cpu"] = g_dgemm_foreign;
  if (!std::isfinite(y[0])) state.SkipWithError("dgemm produced a non-finite value");
  const double flops = 2.0 * T * K * N;
  state.counters["GFLOP"] = flops * 1e-9;
  state.counters["GFLOPs"] = flops * double(state.iterations()) / wall * 1e-9;
}

// ---------------------------------------------------------------------------------------------
// Layer cases.

struct CaseSpec {
  std::string variant;
  index_t layer;
  std::string kind;  // for the name only
  std::string name;  // the registered benchmark name (State has no name() in 1.7)
};

// Everything a layer case needs, made once and kept while that case's repetitions run; the
// previous case is freed before the next one is made, so one layer's weights are alive at a time.
struct LayerCase {
  std::string key;
  TextConfig cfg;
  std::unique_ptr<RandomWeights> rw;
  TextInputs in;
  ForwardState st;
  Mat h;  // the layer's input [T, D]
  LayerWeights w;
  index_t layer = 0;
  LayerFlops flops;
  double gen_seconds = 0;
  std::string error;
};
std::unique_ptr<LayerCase> g_case;

ForwardOptions bench_options() {
  ForwardOptions o;
  o.lm_head = false;
  return o;
}

LayerCase& get_case(const CaseSpec& spec, index_t S) {
  const std::string key = fmt::format("{}/{}/{}", spec.variant, spec.layer, S);
  if (g_case && g_case->key == key) return *g_case;
  g_case.reset();  // free the previous layer before making this one
  auto c = std::make_unique<LayerCase>();
  c->key = key;
  c->layer = spec.layer;
  c->cfg = released_text_config(spec.variant);
  c->rw = std::make_unique<RandomWeights>(c->cfg, kSeed);
  const index_t B = 1;
  c->in = random_inputs(c->cfg, B, S, kSeed);
  c->flops = layer_flops(c->cfg, spec.layer, B, S);
  ReferenceExecutor ex;
  TextModel m(c->cfg, *c->rw, ex, TapSink{}, bench_options());
  c->st = m.prepare(c->in);
  c->h = m.embed(c->in);
  if (c->cfg.ple_dim() > 0) m.per_layer_inputs(c->in, c->h, c->st);
  const LayerSpec& ls = c->cfg.layers.at(spec.layer);
  if (ls.kv_role == KvRole::kReuse) {
    // The source layer fills ForwardState::shared_kv (its output is this layer's input).
    const LayerWeights ws = c->rw->layer(ls.kv_source);
    c->h = m.decoder_layer(ls.kv_source, ws, c->h, c->st);
    if (!c->st.shared_kv.count(ls.kv_source))
      c->error = fmt::format("source layer {} did not store its K/V", ls.kv_source);
  }
  const double t0 = now_s();
  c->w = c->rw->layer(spec.layer);
  c->gen_seconds = now_s() - t0;
  if (std::abs(double(c->w.bytes()) - layer_weight_bytes(c->cfg, spec.layer)) > 0.5)
    c->error = fmt::format("analytic weight bytes {} != LayerWeights::bytes() {}",
                           layer_weight_bytes(c->cfg, spec.layer), c->w.bytes());

  // Validate before timing: one untimed run; finite output; the executor's own count of the
  // matmul FLOPs equals the analytic count.
  if (c->error.empty()) {
    TimingExecutor tex;
    TextModel tm(c->cfg, *c->rw, tex, TapSink{}, bench_options());
    const Mat out = tm.decoder_layer(spec.layer, c->w, c->h, c->st);
    const double counted = tex.lin.flops + tex.exp.flops;
    if (rows(out) != B * S || cols(out) != c->cfg.hidden_size) c->error = "layer output has the wrong shape";
    else if (!all_finite(out)) c->error = "layer output is not finite";
    else if (std::abs(counted - c->flops.matmul()) > 1e-9 * c->flops.matmul())
      c->error = fmt::format("executor counted {} matmul FLOPs, analytic count is {}", counted, c->flops.matmul());
  }
  g_case = std::move(c);
  return *g_case;
}

struct Sample {
  double ms, gflops, mm_gflops, frac, layer_frac, attn_share, attn_gflops, mm_share, cpu_util, foreign;
  double norm, rope, gelu, elem, route;  // shares of the layer time
};
std::map<std::string, std::vector<Sample>> g_samples;  // per case, one per repetition
std::vector<std::string> g_order;

void BM_layer(benchmark::State& state, CaseSpec spec) {
  LayerCase* cp = nullptr;
  try {
    cp = &get_case(spec, g_seq);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {
    }
    return;
  }
  LayerCase& c = *cp;
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    for (auto _ : state) {
    }
    return;
  }
  const double dgemm = dgemm_gflops();
  TimingExecutor ex;
  TextModel m(c.cfg, *c.rw, ex, TapSink{}, bench_options());
  double wall = 0;
  bool finite = true;
  const ProcUsage u0 = ProcUsage::now();
  for (auto _ : state) {
    const double t0 = now_s();
    Mat out = m.decoder_layer(c.layer, c.w, c.h, c.st);
    wall += now_s() - t0;
    finite = finite && std::isfinite(out(0, 0)) && std::isfinite(out(rows(out) - 1, cols(out) - 1));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  const ProcUsage u1 = ProcUsage::now();
  if (!finite) state.SkipWithError("layer output is not finite");
  const double it = double(state.iterations());
  const double mm_s = ex.lin.seconds + ex.exp.seconds;
  Sample s;
  s.ms = wall / it * 1e3;
  s.gflops = c.flops.total() * it / wall * 1e-9;
  s.mm_gflops = c.flops.matmul() * it / mm_s * 1e-9;
  s.frac = s.mm_gflops / dgemm;
  s.layer_frac = s.gflops / dgemm;
  s.attn_share = ex.attn.seconds / wall;
  s.attn_gflops = c.flops.attn * it / ex.attn.seconds * 1e-9;
  s.mm_share = mm_s / wall;
  const double own_cpu = u1.user - u0.user + u1.sys - u0.sys;
  s.cpu_util = own_cpu / (wall * n_cpus());
  s.foreign = std::max(0.0, (u1.machine.busy - u0.machine.busy - own_cpu) / (wall * n_cpus()));
  auto& k = state.counters;
  k["GFLOP"] = c.flops.total() * 1e-9;
  k["GFLOPs"] = s.gflops;
  k["mm_GFLOPs"] = s.mm_gflops;
  k["frac_dgemm"] = s.frac;
  k["layer_frac_dgemm"] = s.layer_frac;
  k["attn_share"] = s.attn_share;
  k["attn_GFLOPs"] = s.attn_gflops;
  k["mm_share"] = s.mm_share;
  k["dgemm_GFLOPs"] = dgemm;
  k["weights_GiB"] = double(c.w.bytes()) / kGiB;
  k["gen_s"] = c.gen_seconds;
  k["cpu_util"] = s.cpu_util;
  k["sys_share"] = (u1.sys - u0.sys) / std::max(1e-9, u1.user - u0.user + u1.sys - u0.sys);
  k["minflt_per_it"] = (u1.minflt - u0.minflt) / it;
  k["nivcsw_per_it"] = (u1.nivcsw - u0.nivcsw) / it;
  k["steal_s"] = u1.machine.steal - u0.machine.steal;
  k["foreign_cpu"] = s.foreign;
  k["attn_cpu_frac"] = ex.attn.thread_cpu / ex.attn.seconds;
  k["norm_share"] = ex.norm.seconds / wall;
  k["rope_share"] = ex.rope_.seconds / wall;
  k["gelu_share"] = ex.gelu_.seconds / wall;
  k["elem_share"] = ex.elem.seconds / wall;
  if (c.flops.experts > 0) k["route_share"] = ex.route_.seconds / wall;
  s.norm = ex.norm.seconds / wall;
  s.rope = ex.rope_.seconds / wall;
  s.gelu = ex.gelu_.seconds / wall;
  s.elem = ex.elem.seconds / wall;
  s.route = ex.route_.seconds / wall;
  if (c.flops.experts > 0) {
    k["proj_GFLOPs"] = c.flops.proj * it / ex.lin.seconds * 1e-9;
    k["experts_GFLOPs"] = c.flops.experts * it / ex.exp.seconds * 1e-9;
  }
  const std::string& name = spec.name;
  if (!g_samples.count(name)) g_order.push_back(name);
  g_samples[name].push_back(s);
}

// ---------------------------------------------------------------------------------------------
// Peak memory of a 31B layer-by-layer pass.

struct MemoryReport {
  bool done = false;
  std::vector<double> gen_seconds, fwd_seconds;
  double rss_before = 0, maxrss = 0, hwm = 0, max_layer_weights = 0, model_bytes = 0, embed_bytes = 0;
  bool hwm_reset = false;
  index_t layers = 0, S = 0;
};
MemoryReport g_mem;

void BM_peak_memory(benchmark::State& state) {
  const index_t n_layers = state.range(0), S = g_seq, B = 1;
  for (auto _ : state) {
    state.PauseTiming();
    g_case.reset();  // no layer case alive
    MemoryReport r;
    r.hwm_reset = reset_hwm();
    r.rss_before = proc_status_gib("VmRSS");
    state.ResumeTiming();

    const TextConfig cfg = released_text_config("31b");
    RandomWeights rw(cfg, kSeed);
    ReferenceExecutor ex;
    TextModel m(cfg, rw, ex, TapSink{}, bench_options());  // null TapSink: no taps kept
    const TextInputs in = random_inputs(cfg, B, S, kSeed);
    ForwardState st = m.prepare(in);
    Mat h = m.embed(in);
    for (index_t i = 0; i < n_layers; ++i) {
      const double t0 = now_s();
      const LayerWeights w = rw.layer(i);  // one layer's weights alive at a time
      const double t1 = now_s();
      r.max_layer_weights = std::max(r.max_layer_weights, double(w.bytes()));
      h = m.decoder_layer(i, w, h, st);
      r.gen_seconds.push_back(t1 - t0);
      r.fwd_seconds.push_back(now_s() - t1);
    }
    state.PauseTiming();
    if (!all_finite(h)) state.SkipWithError("31B pass output is not finite");
    r.maxrss = maxrss_gib();
    r.hwm = proc_status_gib("VmHWM");
    r.model_bytes = model_weight_bytes(cfg);
    r.embed_bytes = double(cfg.vocab_size) * cfg.hidden_size * sizeof(double);
    r.layers = n_layers;
    r.S = S;
    r.done = true;
    g_mem = r;
    state.ResumeTiming();
  }
  auto& k = state.counters;
  k["peak_GiB"] = g_mem.maxrss;
  k["hwm_GiB"] = g_mem.hwm;
  k["layer_weights_GiB"] = g_mem.max_layer_weights / kGiB;
  k["act_GiB"] = g_mem.hwm - g_mem.rss_before - g_mem.max_layer_weights / kGiB;
  k["model_GiB"] = g_mem.model_bytes / kGiB;
}

// ---------------------------------------------------------------------------------------------

void print_summary() {
  std::printf("\n=== summary (medians over repetitions; ratios to the dgemm rate of this run) ===\n");
  std::printf("dgemm (ops::matmul_blas, 512x4096x4096): %.1f GFLOP/s median over %zu calls; OpenBLAS threads %d; "
              "foreign %.0f%%\n",
              median(g_dgemm_samples), g_dgemm_samples.size(), openblas_get_num_threads(), 100 * g_dgemm_foreign);
  if (!g_order.empty()) {
    std::printf("%-40s %7s %15s %8s %8s %10s %10s %5s %6s %6s %9s %9s\n", "case", "ms", "[min, max]", "GFLOP/s",
                "mm_GF/s", "frac_dgemm", "layer_frac", "mm_%", "attn_%", "rest_%", "attn_GF/s", "foreign_%");
    for (const auto& name : g_order) {
      const auto& v = g_samples[name];
      auto col = [&](double Sample::*f) {
        std::vector<double> x;
        for (const auto& s : v) x.push_back(s.*f);
        return x;
      };
      auto med = [&](double Sample::*f) { return median(col(f)); };
      const std::vector<double> ms = col(&Sample::ms);
      const double mm = med(&Sample::mm_share), at = med(&Sample::attn_share);
      std::printf("%-40s %7.0f [%6.0f,%6.0f] %8.1f %8.1f %10.2f %10.2f %5.1f %6.1f %6.1f %9.1f %9.0f\n", name.c_str(),
                  med(&Sample::ms), *std::min_element(ms.begin(), ms.end()), *std::max_element(ms.begin(), ms.end()),
                  med(&Sample::gflops), med(&Sample::mm_gflops), med(&Sample::frac), med(&Sample::layer_frac),
                  100 * mm, 100 * at, 100 * (1 - mm - at), med(&Sample::attn_gflops), 100 * med(&Sample::foreign));
    }
    std::printf("(mm: projections + experts; attn: the attention node; rest: norms, RoPE, GELU, adds, copies; "
                "foreign: CPU used by other processes during the timing, in %% of the machine)\n");
    std::printf("rest_%% split: %-27s %6s %6s %6s %6s %6s %6s\n", "", "norm", "rope", "gelu", "elem", "route", "glue");
    for (const auto& name : g_order) {
      const auto& v = g_samples[name];
      auto med = [&](double Sample::*f) {
        std::vector<double> x;
        for (const auto& s : v) x.push_back(s.*f);
        return 100 * median(x);
      };
      const double glue = 100 - med(&Sample::mm_share) - med(&Sample::attn_share) - med(&Sample::norm) -
                          med(&Sample::rope) - med(&Sample::gelu) - med(&Sample::elem) - med(&Sample::route);
      std::printf("  %-40s %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f\n", name.c_str(), med(&Sample::norm), med(&Sample::rope),
                  med(&Sample::gelu), med(&Sample::elem), med(&Sample::route), glue);
    }
    double worst = g_dgemm_foreign;
    for (const auto& [name, v] : g_samples)
      for (const auto& s : v) worst = std::max(worst, s.foreign);
    if (worst > 0.10)
      std::printf("WARNING: other processes used up to %.0f%% of the machine during a timing: these numbers are "
                  "contaminated; rerun on a quiet machine.\n", 100 * worst);
  }
  std::printf("\nprocess peak RSS over the whole run (ru_maxrss): %.2f GiB\n", maxrss_gib());
  if (g_mem.done) {
    const MemoryReport& r = g_mem;
    std::printf("\n31B layer-by-layer pass, layers 0..%ld, B=1 S=%ld, one layer's weights alive at a time:\n",
                long(r.layers - 1), long(r.S));
    for (size_t i = 0; i < r.gen_seconds.size(); ++i)
      std::printf("  layer %zu (%s): weights generated in %.1f s, forward %.1f s\n", i,
                  to_string(released_text_config("31b").layers[i].type).c_str(), r.gen_seconds[i], r.fwd_seconds[i]);
    std::printf("  RSS before the pass                 %7.2f GiB\n", r.rss_before);
    std::printf("  peak RSS, getrusage ru_maxrss       %7.2f GiB  (process high-water mark)\n", r.maxrss);
    std::printf("  peak RSS of the pass, VmHWM         %7.2f GiB  (%s)\n", r.hwm,
                r.hwm_reset ? "reset just before the pass" : "could not reset: process high-water mark");
    std::printf("  largest layer's float64 weights     %7.2f GiB  (LayerWeights::bytes())\n",
                r.max_layer_weights / kGiB);
    std::printf("  activations + overhead              %7.2f GiB  (VmHWM - RSS before - weights)\n",
                r.hwm - r.rss_before - r.max_layer_weights / kGiB);
    std::printf("  machine memory                      %7.2f GiB\n", 24.0);
    std::printf("  whole 31B in float64 for contrast   %7.1f GiB  (60 layers %.1f + embedding %.1f)\n",
                r.model_bytes / kGiB, (r.model_bytes - r.embed_bytes) / kGiB, r.embed_bytes / kGiB);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Our own flag first (Google Benchmark rejects flags it does not know).
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--g4_seq=", 9) == 0) g_seq = std::stol(argv[i] + 9);
    else argv[out++] = argv[i];
  }
  argc = out;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::AddCustomContext("prefill_tokens", std::to_string(g_seq));

  benchmark::RegisterBenchmark("BM_dgemm", BM_dgemm)
      ->Args({512, 4096, 4096})
      ->ArgNames({"T", "K", "N"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Iterations(5)
      ->Repetitions(3)
      ->ReportAggregatesOnly(true);

  benchmark::RegisterBenchmark("BM_peak_memory/31b", BM_peak_memory)
      ->Arg(6)
      ->ArgNames({"layers"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Iterations(1)
      ->Repetitions(1);

  const std::vector<CaseSpec> cases = {
      {"e2b", 0, "sliding", ""},
      {"e2b", 15, "sliding_kvshared", ""},
      {"31b", 5, "full_keqv", ""},
      {"26b-a4b", 0, "sliding_moe", ""},
  };
  for (CaseSpec c : cases) {
    c.name = fmt::format("BM_layer/{}/L{}_{}/S:{}", c.variant, c.layer, c.kind, g_seq);
    benchmark::RegisterBenchmark(c.name.c_str(), BM_layer, c)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(1)
        ->Repetitions(3)
        ->ReportAggregatesOnly(true);
  }

  benchmark::RunSpecifiedBenchmarks();
  g_case.reset();
  print_summary();
  benchmark::Shutdown();
  return 0;
}
