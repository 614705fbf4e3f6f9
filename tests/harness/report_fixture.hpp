#pragma once
// Synthetic reports for the report-tool tests (test_report_tools, test_report_cli): built as a
// Report in memory and written with the real writer (harness/report.hpp), never as raw bytes.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "harness/report.hpp"

namespace g4::harness::testing {

// Two policies (fp32, bf16) x two modes on one golden-like source: an "in" node, three decoder
// layers of four taps each, an "out" node; logits; a MoE summary; timed nodes of a few ms each
// (enough to be throughput-gated). Every node passes its bound.
inline Report synthetic_report() {
  Report r;
  r.provenance.commit = "abc123";
  r.provenance.time_utc = "2026-11-23T12:00:00Z";
  r.provenance.hostname = "test-host";
  r.provenance.cpu_model = "Synthetic CPU";
  r.provenance.command_line = "gemma4-harness run --synthetic";
  r.provenance.threads = 2;
  r.machine = {100, 200, 400, 800, 20};
  const char* ops[] = {"input_layernorm", "self_attn.q_proj", "self_attn.o_proj", "mlp.down_proj"};
  for (const char* policy : {"fp32", "bf16"})
    for (const char* mode : {"teacher-forced", "free-running"}) {
      RunResult run;
      const bool free = std::string(mode) == "free-running";
      run.id = fmt::format("golden.synth.{}.{}", policy, free ? "free" : "teacher");
      run.source = "golden:golden/data/synth";
      run.variant = "synth";
      run.policy = policy;
      run.mode = mode;
      run.seconds = 0.5;
      const double u = std::string(policy) == "fp32" ? 6e-8 : 4e-3;
      auto add = [&](const std::string& tap, double rel, double bound_mult) {
        NodeResult n;
        n.tap = tap;
        n.op = free ? "tap" : "linear";
        n.shape = {2, 13, 48};
        n.m.rel_l2 = rel;
        n.m.max_abs = rel * 3;
        n.m.max_abs_index = 100;
        n.m.max_rel = rel * 10;
        n.m.cosine = 1 - rel * rel / 2;
        n.m.nmse = rel * rel;
        n.m.ref_norm = 10;
        n.m.compared = 2 * 13 * 48;
        n.naive_rel_l2 = rel;
        n.bound = rel * bound_mult;
        n.headroom = 1e-3;
        n.time_median_s = 2e-3;
        n.repeats = 3;
        n.flops = 2e6;
        n.bytes = 1e5;
        run.nodes.push_back(n);
      };
      add("model.embed_tokens", u, 4);
      for (int l = 0; l < 3; ++l)
        for (int k = 0; k < 4; ++k)
          add(fmt::format("model.layers.{}.{}", l, ops[k]), u * (1 + k) * (free ? 1 + l : 1), 4);
      add("model.norm", u * 2, 4);
      run.logits = LogitResult{u * u, u * u * 2, u * u * 5, 0.96, 0.99, 50};
      run.moe = MoeResult{0.99, 2, 100};
      r.runs.push_back(std::move(run));
    }
  return r;
}

inline NodeResult& node_of(Report& r, const std::string& run_id, const std::string& tap) {
  for (auto& run : r.runs)
    if (run.id == run_id)
      for (auto& n : run.nodes)
        if (n.tap == tap) return n;
  throw std::runtime_error("no node " + run_id + " " + tap);
}
inline const NodeResult& node_of(const Report& r, const std::string& run_id, const std::string& tap) {
  return node_of(const_cast<Report&>(r), run_id, tap);
}
inline RunResult& run_of(Report& r, const std::string& run_id) {
  for (auto& run : r.runs)
    if (run.id == run_id) return run;
  throw std::runtime_error("no run " + run_id);
}
inline const RunResult& run_of(const Report& r, const std::string& run_id) {
  return run_of(const_cast<Report&>(r), run_id);
}

// A private scratch folder per test case, removed afterwards.
struct ScratchDir {
  std::filesystem::path dir;
  explicit ScratchDir(const std::string& name) {
    dir = std::filesystem::temp_directory_path() / fmt::format("g4_{}_{}", name, static_cast<long>(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
};

}  // namespace g4::harness::testing
