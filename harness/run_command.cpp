#include "harness/run_command.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "harness/cpu_executor.hpp"
#include "harness/machine.hpp"
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

std::vector<std::string> default_goldens() {
  std::vector<std::string> out;
  const fs::path dir = fs::path(GEMMA4_SOURCE_DIR) / "golden" / "data";
  G4_CHECK(fs::is_directory(dir), IoError, "{}: no golden bundles here (pass --golden BUNDLE)", dir.string());
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / "golden.h5")) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

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
  ctx.make_executor = [&packs](const std::string& policy, bool naive) {
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

  Report report;
  report.provenance = collect_provenance(argc, argv, o.seed, o.tolerances);
  if (!o.quiet) fmt::print(stderr, "measuring this machine's ceilings ...\n");
  report.machine = measure_ceilings();
  if (!o.quiet)
    fmt::print(stderr, "  dgemm {:.1f} GFLOP/s, sgemm {:.1f}, bf16 {:.1f}, int8 {:.1f} GOP/s, stream {:.1f} GB/s\n",
               report.machine.dgemm_gflops, report.machine.sgemm_gflops, report.machine.bf16_gflops,
               report.machine.int8_gops, report.machine.stream_read_gbs);

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
      auto runs = run_golden(b, o.policies, modes, ctx);
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

  write_report(report, o.out);
  const std::string md_path = o.out.substr(0, o.out.size() - 3) + ".md";
  {
    const std::string tmp = md_path + ".tmp";
    std::ofstream md(tmp);
    md << report_markdown(report);
    md.close();
    G4_CHECK(md.good(), IoError, "{}: cannot write the markdown summary", tmp);
    fs::rename(tmp, md_path);
  }
  fmt::print("{}", report_terminal(report));
  bool pass = true;
  for (const RunResult& r : report.runs) pass = pass && r.pass;
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  fmt::print("report {} and {} written; {} runs in {:.0f} s: {}\n", o.out, md_path, report.runs.size(), el,
             pass ? "every gate passed" : "SOME GATES FAILED");
  return pass ? 0 : 1;
}

}  // namespace g4::harness
