#include "harness/run_command.hpp"

#include <chrono>
#include <optional>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "golden/bundle.hpp"
#include "golden/limits.hpp"
#include "golden/safetensors.hpp"
#include "harness/cpu_executor.hpp"
#include "harness/cuda_executor.hpp"
#include "harness/audio_bundle.hpp"
#include "harness/vision_bundle.hpp"
#include "harness/machine.hpp"
#include "harness/metrics.hpp"
#include "harness/report.hpp"
#include "harness/runner.hpp"
#include "optimized/cpu/policy.hpp"
#include "reference/common/check.hpp"
#include "reference/text/config.hpp"
#include "reference/text/random_weights.hpp"

extern "C" void openblas_set_num_threads(int);

#ifndef GEMMA4_SOURCE_DIR
#define GEMMA4_SOURCE_DIR "."
#endif

namespace g4::harness {
namespace {

namespace fs = std::filesystem;

// One layer of each kind per released variant (the layer indices follow from the configs).
std::vector<RealLayer> real_layers(const RunCommandOptions& o) {
  std::vector<RealLayer> all;
  for (const std::string& v : text::released_variants()) {
    const text::TextConfig c = text::released_text_config(v);
    auto first = [&](auto pred) -> index_t {
      for (index_t i = 0; i < c.num_hidden_layers; ++i)
        if (pred(c.layers[i])) return i;
      return -1;
    };
    const char* moe = c.enable_moe_block ? "-moe" : "";
    const index_t s = first([](const text::LayerSpec& l) { return l.type == text::LayerType::kSliding && l.kv_role != text::KvRole::kReuse; });
    const index_t f = first([](const text::LayerSpec& l) { return l.type == text::LayerType::kFull && l.kv_role != text::KvRole::kReuse; });
    const index_t r = first([](const text::LayerSpec& l) { return l.kv_role == text::KvRole::kReuse; });
    all.push_back({v, s, std::string("sliding") + moe});
    all.push_back({v, f, std::string("full") + moe});
    if (r >= 0) all.push_back({v, r, "kv-shared"});
  }
  std::vector<RealLayer> keep;
  for (const RealLayer& l : all) {
    const bool v_ok = o.variants.empty() || std::find(o.variants.begin(), o.variants.end(), l.variant) != o.variants.end();
    bool k_ok = o.kinds.empty();
    for (const std::string& k : o.kinds) k_ok |= l.kind.find(k) != std::string::npos;
    if (v_ok && k_ok) keep.push_back(l);
  }
  return keep;
}

bool runnable_kind(const std::string& kind) { return kind == "text" || kind == "vision" || kind == "audio"; }

std::vector<std::string> default_goldens() {
  std::vector<std::string> out;
  const fs::path dir = fs::path(GEMMA4_SOURCE_DIR) / "golden" / "data";
  G4_CHECK(fs::is_directory(dir), IoError, "{}: no golden bundles here (pass --golden BUNDLE)", dir.string());
  // The bundles whose graph runs on the executors: the text decoder, the vision tower and the audio
  // tower (written against the same Executor; the audio tower's convolutions and chunked attention
  // stay float64). Multimodal and assistant bundles are `verify`'s.
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / "golden.h5") && runnable_kind(golden::bundle_kind(e.path().string())))
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// 1.50 GiB, 12.0 MiB, 512 KiB, 100 B
std::string gib(double bytes) {
  if (bytes >= double(1ull << 30)) return fmt::format("{:.2f} GiB", bytes / double(1ull << 30));
  if (bytes >= double(1ull << 20)) return fmt::format("{:.1f} MiB", bytes / double(1ull << 20));
  if (bytes >= 1024.0) return fmt::format("{:.0f} KiB", bytes / 1024.0);
  return fmt::format("{:.0f} B", bytes);
}

// Weights and activations of one golden bundle, as run_golden holds them: every tensor widened to
// float64 (the checkpoint's own element count: its header was validated), plus packed copies,
// plus every golden tap as float64 twice (the golden and the executor's output).
// Vision and audio bundles alike (their golden.h5 taps stand for the reference's).
double bundle_bytes(const std::string& dir, double packed_bytes_per_weight) {
  const std::string kind = golden::bundle_kind(dir);
  std::optional<golden::GoldenBundle> text;
  std::optional<VisionBundle> vis;
  std::optional<AudioBundle> aud;
  // Each validates its config, golden.h5's inputs and the checkpoint's headers.
  if (kind == "vision") vis.emplace(dir);
  else if (kind == "audio") aud.emplace(dir);
  else text.emplace(dir);
  const golden::Checkpoint ck(vis ? dir + "/model.safetensors" : aud ? aud->checkpoint.path() : text->weights_path());
  double params = 0;
  for (const std::string& n : ck.names()) params += static_cast<double>(ck.info(n).numel());
  const golden::H5Reader& h5 = vis ? vis->h5 : aud ? aud->h5 : text->h5();
  double taps = 0;
  for (const std::string& t : h5.list("/taps")) {
    double n = 1;
    for (const auto d : h5.shape("/taps/" + t)) n *= static_cast<double>(d);
    taps += n;
  }
  return params * (8 + packed_bytes_per_weight) + 2 * 8 * taps;
}

void check_budget(double need, std::uint64_t budget, const std::string& what, const std::string& parts) {
  G4_CHECK(need <= static_cast<double>(budget), ConfigError,
           "--memory-budget {} bytes ({}): {} would need about {} ({}); not started. Raise the budget or leave it out "
           "(--golden, --variants, --layers, --tokens, --context)",
           budget, gib(static_cast<double>(budget)), what, gib(need), parts);
}

}  // namespace

LayerMemory estimate_layer_bytes(const std::string& variant, std::int64_t layer, std::int64_t tokens,
                                 std::int64_t past, double packed_bytes_per_weight) {
  const text::TextConfig c = text::released_text_config(variant);
  G4_CHECK(layer >= 0 && layer < c.num_hidden_layers, ConfigError, "{}: no layer {}", variant, layer);
  const double D = static_cast<double>(c.hidden_size);
  auto layer_params = [&](const text::LayerSpec& s) {
    const double q = static_cast<double>(c.num_attention_heads * s.head_dim);
    const double kv = static_cast<double>(s.num_kv_heads * s.head_dim);
    double p = 2 * D * q + (s.k_eq_v ? 1 : 2) * D * kv;  // q, o; k and v (k_eq_v: one)
    p += 3 * D * static_cast<double>(s.mlp_width);        // gate, up, down
    if (c.enable_moe_block)                               // experts + router
      p += static_cast<double>(c.num_experts) * (3 * D * static_cast<double>(c.moe_intermediate_size) + D);
    p += 2 * D * static_cast<double>(c.hidden_size_per_layer_input);  // PLE gate + projection
    return p;
  };
  const text::LayerSpec& s = c.layers[static_cast<std::size_t>(layer)];
  double params = layer_params(s);
  if (s.kv_role == text::KvRole::kReuse) params += layer_params(c.layers[static_cast<std::size_t>(s.kv_source)]);
  LayerMemory m;
  m.weights = 8 * params;
  m.packed = packed_bytes_per_weight * params;
  const double T = static_cast<double>(tokens), ctx = static_cast<double>(past + tokens);
  const double q = static_cast<double>(c.num_attention_heads * s.head_dim);
  const double kv = static_cast<double>(s.num_kv_heads * s.head_dim);
  m.kv_cache = 2 * 2 * 8 * ctx * kv;  // K and V, reference and policy side
  // Taps of one layer (norms, q/k/v, attention, o, MLP halves, residuals) and the scores.
  const double width = 8 * D + 2 * q + 2 * kv + 3 * static_cast<double>(s.mlp_width) +
                       (c.enable_moe_block ? 3 * static_cast<double>(c.moe_intermediate_size) * c.top_k_experts : 0);
  m.activations = 2 * 8 * (T * width + static_cast<double>(c.num_attention_heads) * T * ctx);
  return m;
}

int run_command(const RunCommandOptions& o_in, int argc, char** argv) {
  RunCommandOptions o = o_in;
  const auto t_start = std::chrono::steady_clock::now();
  if (o.threads > 0) openblas_set_num_threads(o.threads);
  // Goldens: every preset. Real-size layers: the policies the measurements need (fp32 and
  // bf16 prefill efficiency, fp16 headroom, bf16/int8/int4 decode streaming), so the default
  // fits its 15 minutes; --policies selects any presets for both.
  std::vector<std::string> real_policies = o.policies;
  if (o.policies.empty()) {
    for (const cpu::Policy& p : cpu::policy_presets()) o.policies.push_back(p.name);
    real_policies = {"fp32", "bf16", "fp16", "int8", "int4-g128"};
  }
  for (const std::string& p : o.policies) cpu::policy_by_name(p);  // unknown names fail before any work
  for (const std::string& v : o.variants) text::released_text_config(v);
  if (o.golden && o.goldens.empty()) o.goldens = default_goldens();
  // Inputs are validated and the memory budget checked before any work: a bad bundle or a layer
  // that would not fit stops the run with one line, and nothing is written.
  double packed_bytes = 0;
  for (const std::string& p : o.policies) packed_bytes = std::max(packed_bytes, weight_bytes(cpu::policy_by_name(p)));
  if (o.memory_budget > 0) golden::set_read_limit(o.memory_budget);
  if (o.golden)
    for (const std::string& b : o.goldens) {
      const std::string kind = golden::bundle_kind(b);
      G4_CHECK(runnable_kind(kind), ConfigError,
               "--golden {}: a bundle of kind '{}'; `run` drives the text, vision and audio graphs (check it with "
               "`verify --golden {}`)", b, kind, b);
      const double need = bundle_bytes(b, packed_bytes);
      if (o.memory_budget > 0) check_budget(need, o.memory_budget, "golden " + b, "weights, packed weights and taps");
    }
  double real_packed = 0;
  for (const std::string& p : real_policies) real_packed = std::max(real_packed, weight_bytes(cpu::policy_by_name(p)));
  if (o.memory_budget > 0 && o.real)
    for (const RealLayer& l : real_layers(o))
      for (const std::int64_t past : {std::int64_t{0}, o.context}) {
        const std::int64_t tokens = past ? 1 : o.tokens;
        const LayerMemory m = estimate_layer_bytes(l.variant, l.layer, tokens, past, real_packed);
        check_budget(m.total(), o.memory_budget,
                     fmt::format("real {} layer {} ({}, {})", l.variant, l.layer, l.kind,
                                 past ? fmt::format("decode after {} tokens", past) : fmt::format("prefill {}", tokens)),
                     fmt::format("weights {} as float64 + {} packed, KV cache {}, activations {}", gib(m.weights),
                                 gib(m.packed), gib(m.kv_cache), gib(m.activations)));
        if (o.context == 0) break;
      }
  if (o.tolerances.empty()) o.tolerances = std::string(GEMMA4_SOURCE_DIR) + "/harness/tolerances.json";
  if (o.out.empty()) o.out = "reports/out/run.h5";
  G4_CHECK(o.out.size() > 3 && o.out.ends_with(".h5"), ConfigError, "--out {}: expected a path ending in .h5", o.out);
  const fs::path out_dir = fs::path(o.out).parent_path();
  if (!out_dir.empty()) fs::create_directories(out_dir);
  G4_CHECK(out_dir.empty() || fs::is_directory(out_dir), IoError, "--out {}: {} is not a directory", o.out,
           out_dir.string());

  RunnerContext ctx;
  ctx.tolerances = Tolerances::load(o.tolerances);
  // Timed repeats after one warm-up: 3 on the goldens; 2 on real-size nodes, which take seconds
  // each (the median of two is their mean); --repeats sets both.
  ctx.repeats = o.repeats >= 0 ? o.repeats : 3;
  // One pack cache per policy, shared by that policy's executors over one source's weights
  // (dropped when the source changes).
  std::map<std::string, std::shared_ptr<PackCache>> packs;
  G4_CHECK(o.executor == "cpu" || o.executor == "cuda-sim" || o.executor == "cuda", ConfigError,
           "--executor {}: expected cpu, cuda-sim or cuda", o.executor);
  const bool cuda_sim = o.executor == "cuda-sim", cuda_gpu = o.executor == "cuda";
  if (cuda_sim) {
    G4_CHECK(!o.real, ConfigError,
             "--executor cuda-sim: real-size layers would take hours in the simulator; pass --no-real");
    G4_CHECK(cuda_sim_built(), ConfigError,
             "--executor cuda-sim: this build has no CUDA simulator (no CUDA Toolkit headers when it was configured)");
  }
  std::string gpu_device;
  if (cuda_gpu) gpu_device = cuda_gpu_device();  // one line (exit 2) without a GPU executor or a device
  if (cuda_sim || cuda_gpu) {
    if (o_in.policies.empty()) {  // the presets the CUDA kernels implement
      o.policies = cuda_policies();
      std::erase_if(real_policies, [](const std::string& p) { return !cuda_supports(cpu::policy_by_name(p)); });
    }
    for (const std::string& p : o.policies) check_cuda_policy(p);
    for (const std::string& p : real_policies) check_cuda_policy(p);
  }
  // The naive twin of the ratio rule is the CPU executor's for every executor (for the CUDA
  // executors: exact accumulation of the same bf16/fp32 inputs, i.e. the simulator's cuBLAS-
  // precision rule, and every executor's numbers are relative to one baseline).
  ctx.make_executor = [&packs, cuda_sim, cuda_gpu](const std::string& policy,
                                                  bool naive) -> std::unique_ptr<text::Executor> {
    if (cuda_sim && !naive) return make_cuda_sim_executor(policy);
    if (cuda_gpu && !naive) return make_cuda_gpu_executor(policy);
    auto& cache = packs[policy];
    if (!cache) cache = std::make_shared<PackCache>();
    return std::make_unique<CpuExecutor>(cpu::policy_by_name(policy), naive, cache);
  };
  ctx.storage_max = [](const std::string& policy) { return storage_max(cpu::policy_by_name(policy)); };
  ctx.weight_bytes = [](const std::string& policy) { return weight_bytes(cpu::policy_by_name(policy)); };
  ctx.act_bytes = [](const std::string& policy) { return act_bytes(cpu::policy_by_name(policy)); };
  const Modes modes{o.teacher, o.free};
  RunnerContext real_ctx = ctx;
  real_ctx.repeats = o.repeats >= 0 ? o.repeats : 2;
  real_ctx.release_policy = [&packs](const std::string& policy) { packs.erase(policy); };
  // Simulated kernels run on the host, one block after another: their wall time is no GPU's, so
  // cuda-sim nodes are run once and not timed (time_median_s NaN: no throughput in the report).
  if (cuda_sim) ctx.repeats = real_ctx.repeats = 0;

  Report report;
  report.provenance = collect_provenance(argc, argv, o.seed, o.tolerances);
  // The ceilings of the machine whose kernels are timed: the GPU's for --executor cuda.
  if (!o.quiet) fmt::print(stderr, "measuring {}'s ceilings ...\n", cuda_gpu ? gpu_device : "this machine");
  report.machine = cuda_gpu ? measure_gpu_ceilings() : measure_ceilings();
  if (!o.quiet)
    fmt::print(stderr, "  dgemm {:.1f} GFLOP/s, sgemm {:.1f}, bf16 {:.1f}, int8 {:.1f} GOP/s, {} {:.1f} GB/s\n",
               report.machine.dgemm_gflops, report.machine.sgemm_gflops, report.machine.bf16_gflops,
               report.machine.int8_gops, cuda_gpu ? "device copy" : "stream", report.machine.stream_read_gbs);

  const std::vector<RealLayer> layers = o.real ? real_layers(o) : std::vector<RealLayer>{};
  const std::size_t total = (o.golden ? o.goldens.size() : 0) + layers.size();
  std::size_t done = 0;
  auto progress = [&](const std::string& what, const std::vector<RunResult>& runs) {
    ++done;
    if (o.quiet) return;
    std::size_t fails = 0;
    for (const RunResult& r : runs) fails += !r.pass;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    fmt::print(stderr, "[{:>2}/{}] {:<44} {:>2} runs, {} failed  ({:.0f} s elapsed)\n", done, total, what, runs.size(),
               fails, el);
  };
  if (o.golden)
    for (const std::string& b : o.goldens) {
      packs.clear();
      const std::string kind = golden::bundle_kind(b);
      auto runs = kind == "vision"  ? run_vision_golden(b, o.policies, modes, ctx)
                  : kind == "audio" ? run_audio_golden(b, o.policies, modes, ctx)
                                    : run_golden(b, o.policies, modes, ctx);
      progress("golden " + fs::path(b).filename().string(), runs);
      for (auto& r : runs) report.runs.push_back(std::move(r));
    }
  for (const RealLayer& l : layers) {
    packs.clear();
    text::RandomWeights random(text::released_text_config(l.variant), o.seed);
    std::vector<RealStep> steps{{o.tokens, 0}};
    if (o.context > 0) steps.push_back({1, o.context});
    auto runs = run_real_layer(l, steps, o.seed, real_policies, modes, real_ctx, &random);
    progress(fmt::format("real {} layer {} ({})", l.variant, l.layer, l.kind), runs);
    for (auto& r : runs) report.runs.push_back(std::move(r));
  }

  std::optional<OverheadTimer> io(Overhead::kIo);
  write_report(report, o.out);
  const std::string md_path = o.out.substr(0, o.out.size() - 3) + ".md";
  {
    const std::string tmp = md_path + ".tmp";
    std::ofstream md(tmp);
    md << report_markdown(report);
    md.close();
    if (!md.good()) {  // e.g. a full disk: leave no temp file behind
      std::error_code ec;
      fs::remove(tmp, ec);
      throw IoError(fmt::format("{}: cannot write the markdown summary (disk full or not writable?)", md_path));
    }
    std::error_code ec;
    fs::rename(tmp, md_path, ec);
    if (ec) {
      fs::remove(tmp, ec);
      throw IoError(fmt::format("{}: cannot rename {} onto it", md_path, tmp));
    }
  }
  io.reset();
  fmt::print("{}", report_terminal(report));
  bool pass = true;
  for (const RunResult& r : report.runs) pass = pass && r.pass;
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  // The harness's own cost: metrics (every comparison) and I/O (golden reading, report writing).
  const double metrics_s = overhead_seconds(Overhead::kMetrics), io_s = overhead_seconds(Overhead::kIo);
  fmt::print("harness overhead: metrics {:.2f} s + I/O {:.2f} s = {:.2f} % of the run\n", metrics_s, io_s,
             100.0 * (metrics_s + io_s) / std::max(el, 1e-9));
  if (const double b = overhead_seconds(Overhead::kBoundary); b > 0)
    fmt::print("executor boundary (weight packing and float64 <-> policy-format conversions around the timed "
               "kernels; in no node's time): {:.2f} s\n", b);
  fmt::print("report {} and {} written; {} runs in {:.0f} s: {}\n", o.out, md_path, report.runs.size(), el,
             pass ? "every gate passed" : "SOME GATES FAILED");
  return pass ? 0 : 1;
}

}  // namespace g4::harness
