#pragma once
// Two reports side by side (`gemma4-harness report compare|gate`, issue #5).
//
// Runs are matched by run id, nodes within a run by tap (tap names are unique within a run). For
// every matched node the change in each metric is a ratio NEW / BASE (rel_l2, max_abs, nmse,
// headroom) or a difference (cosine, nonfinite). Throughput is never compared in absolute units:
// each report carries the ceilings measured at start-up of its own run (harness/machine.cpp), so
// a run's speed is first made a fraction of its own machine's roofline, and only those fractions
// are compared (NEW fraction / BASE fraction); a machine twice as fast in every respect gives 1.
//
// The gate applies the rules of a versioned rule file (reports/gate.json, every number there is
// explained): numerics strictly (error growth, new non-finite values, KL and top-1, MoE routing,
// a run that passed its own tolerances and no longer does, a run or tap that disappeared),
// throughput loosely (a drop in the same-run roofline fraction beyond a generous factor).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/report.hpp"
#include "harness/run_result.hpp"

namespace g4::harness {

// r = now / base with the edge cases spelled out: 1 when both are 0, +inf when only base is 0,
// NaN when either is NaN (or both infinite).
double change_ratio(double now, double base);

// The fraction of this machine's roofline one node reached: max(flops / compute ceiling,
// bytes / stream bandwidth) / time (the node-level term of Throughput::roofline_fraction). NaN
// when the node was not timed or a ceiling was not measured.
double node_roofline_fraction(const NodeResult& n, const std::string& policy, const MachineCeilings& m);

// A run's efficiency on its own machine: the roofline fraction, or (when the stream bandwidth or
// the policy's ceiling was not measured) NaN. Comparable across machines.
double run_efficiency(const RunResult& run, const MachineCeilings& m);

struct NodeDelta {
  std::string run_id, tap, op;
  std::size_t run_index = 0, base_node = 0, new_node = 0;  // indices into the two reports
  double rel_l2_base = kNaN, rel_l2_new = kNaN;
  double rel_l2_ratio = kNaN, max_abs_ratio = kNaN, nmse_ratio = kNaN, headroom_ratio = kNaN;
  double cosine_delta = kNaN;             // new - base
  std::int64_t nonfinite_base = 0, nonfinite_new = 0;
  double roofline_ratio = kNaN;           // node_roofline_fraction new / base (NaN: not timed)
  // How much worse the node got, for sorting (regressions first): log2 of the rel_l2 ratio,
  // +inf for a new non-finite value or a comparison that broke (NaN), -inf for no error numbers.
  double score = 0;
};

struct RunDelta {
  std::string run_id;
  std::size_t base_index = 0, new_index = 0;
  bool pass_base = true, pass_new = true;
  Throughput base_tp, new_tp;
  double efficiency_base = kNaN, efficiency_new = kNaN;
  double efficiency_ratio = kNaN;         // same-run roofline fraction new / base
  std::optional<LogitResult> logits_base, logits_new;
  std::optional<MoeResult> moe_base, moe_new;
};

struct Comparison {
  std::vector<RunDelta> runs;             // matched runs, in the new report's order
  std::vector<NodeDelta> nodes;           // matched nodes, regressions first (score descending)
  std::vector<std::string> runs_only_base, runs_only_new;
  std::vector<std::pair<std::string, std::string>> taps_only_base, taps_only_new;  // (run, tap)
};

Comparison compare_reports(const Report& base, const Report& now);

// The compare subcommand's text: runs (throughput ratios, logits), then the top `limit` node rows
// (0 = all), regressions first; missing and new runs/taps listed.
std::string comparison_text(const Comparison& c, std::size_t limit);

// --- The gate ----------------------------------------------------------------------------------

struct GateRules {
  int version = 0;
  std::string path;
  double error_growth_factor = 2.0;   // NEW rel_l2 <= factor * BASE rel_l2 + floor
  double error_floor = 8 * 0x1.0p-24; // absolute rel_l2 below which growth is rounding noise
  double kl_growth_factor = 2.0;      // NEW kl <= factor * BASE kl + kl_floor (mean and max)
  double kl_floor = 1e-9;             // nats per token
  double top1_max_drop_tokens = 1;    // (BASE top1 - NEW top1) * tokens <= this
  std::int64_t moe_max_new_flips = 1; // NEW routing_flips - BASE routing_flips <= this
  double throughput_min_ratio = 0.5;  // NEW efficiency / BASE efficiency >= this
  double throughput_min_seconds = 0.01;  // runs with less timed node time are not gated
  static GateRules load(const std::string& path);  // ConfigError naming the field
};
// The committed rule file: <source dir>/reports/gate.json.
std::string default_gate_rules_path();

struct Finding {
  bool fail = true;       // false: a note (e.g. throughput not gated), not a failure
  std::string check;      // coverage, numerics, logits, moe, verdict, throughput
  std::string rule;       // the gate.json field that decided it
  std::string run_id, tap;
  double base = kNaN, now = kNaN, limit = kNaN;
  std::string message;    // one line, names the run and the tap
};

struct GateResult {
  bool pass = true;
  std::vector<Finding> findings;   // failures first, then notes
  std::vector<std::string> run_ids;  // runs checked (base's order), for per-run test cases
};

GateResult gate_reports(const Report& base, const Report& now, const GateRules& rules);

// CI outputs. JUnit: one <testcase> per (run, check) with a <failure> naming every offending
// tap; JSON: the whole result ("schema": "gemma4-harness-gate", version 1).
std::string gate_junit(const GateResult& g, const std::string& base_path, const std::string& new_path);
std::string gate_json(const GateResult& g, const GateRules& rules, const std::string& base_path,
                      const std::string& new_path);
std::string gate_text(const GateResult& g, const GateRules& rules);

}  // namespace g4::harness
