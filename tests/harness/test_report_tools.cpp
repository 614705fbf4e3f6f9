// Report tools (issue #5) at the library level: compare, every gate rule on a planted
// regression (and an unchanged report passing), bisect of one report and of a series, the CI
// outputs, per-layer drift, and the model-card tables' arithmetic.
#define BOOST_TEST_MODULE test_report_tools
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/report_bisect.hpp"
#include "harness/report_compare.hpp"
#include "harness/report_show.hpp"
#include "harness/tables.hpp"
#include "reference/common/check.hpp"
#include "report_fixture.hpp"

using namespace g4::harness;
using g4::harness::testing::node_of;
using g4::harness::testing::run_of;
using g4::harness::testing::synthetic_report;

namespace {

const GateRules& rules() {
  static const GateRules r = GateRules::load(default_gate_rules_path());
  return r;
}

std::vector<Finding> failures(const GateResult& g) {
  std::vector<Finding> out;
  for (const auto& f : g.findings)
    if (f.fail) out.push_back(f);
  return out;
}

// The gate fails with exactly one failure, of `rule`, naming `tap` in `run`.
void expect_single_failure(const Report& base, const Report& now, const std::string& rule, const std::string& run,
                           const std::string& tap) {
  const GateResult g = gate_reports(base, now, rules());
  const auto f = failures(g);
  BOOST_TEST(!g.pass);
  BOOST_TEST_REQUIRE(f.size() == 1u, "failures: " << f.size() << (f.empty() ? "" : " first: " + f[0].message));
  BOOST_TEST(f[0].rule == rule);
  BOOST_TEST(f[0].run_id == run);
  BOOST_TEST(f[0].tap == tap);
  BOOST_TEST(f[0].message.find(run) != std::string::npos);
  if (!tap.empty() && tap != "logits" && tap != "router") BOOST_TEST(f[0].message.find(tap) != std::string::npos);
}

const std::string kTF = "golden.synth.bf16.teacher";
const std::string kFR = "golden.synth.bf16.free";
const std::string kTap = "model.layers.1.self_attn.o_proj";

}  // namespace

BOOST_AUTO_TEST_CASE(rules_file_loads_and_refuses_bad_fields) {
  BOOST_TEST(rules().version == 1);
  BOOST_TEST(rules().error_growth_factor == 2.0);
  g4::harness::testing::ScratchDir s("rules");
  const std::string p = s.path("r.json");
  auto write = [&](const std::string& text) {
    std::ofstream(p) << text;
  };
  write("{\"version\": 1}");
  BOOST_CHECK_THROW(GateRules::load(p), g4::ConfigError);  // fields missing
  nlohmann::json j = nlohmann::json::parse(std::ifstream(default_gate_rules_path()));
  j["error_growth_facter"] = 3;  // a typo must not silently drop a rule
  write(j.dump());
  BOOST_CHECK_THROW(GateRules::load(p), g4::ConfigError);
  j.erase("error_growth_facter");
  j.erase("_error_floor");  // every number needs its comment
  write(j.dump());
  BOOST_CHECK_THROW(GateRules::load(p), g4::ConfigError);
}

BOOST_AUTO_TEST_CASE(unchanged_report_passes_and_compares_as_ratio_one) {
  const Report r = synthetic_report();
  const GateResult g = gate_reports(r, r, rules());
  BOOST_TEST(g.pass);
  BOOST_TEST(failures(g).empty());
  const Comparison c = compare_reports(r, r);
  BOOST_TEST(c.runs.size() == 4u);
  BOOST_TEST(c.nodes.size() == 4u * 14u);
  for (const auto& n : c.nodes) {
    BOOST_TEST(n.rel_l2_ratio == 1.0);
    BOOST_TEST(n.roofline_ratio == 1.0);
  }
  for (const auto& d : c.runs) BOOST_TEST(d.efficiency_ratio == 1.0);
}

BOOST_AUTO_TEST_CASE(error_growth_fires_beyond_the_factor_only) {
  const Report base = synthetic_report();
  Report now = base;
  node_of(now, kTF, kTap).m.rel_l2 *= 1.9;  // within 2x: machine noise, passes
  BOOST_TEST(gate_reports(base, now, rules()).pass);
  node_of(now, kTF, kTap).m.rel_l2 = node_of(base, kTF, kTap).m.rel_l2 * 3;
  expect_single_failure(base, now, "error_growth_factor", kTF, kTap);
  // compare ranks it first
  const Comparison c = compare_reports(base, now);
  BOOST_TEST(c.nodes.front().tap == kTap);
  BOOST_TEST(c.nodes.front().run_id == kTF);
  BOOST_TEST(std::abs(c.nodes.front().rel_l2_ratio - 3.0) < 1e-12);
  BOOST_TEST(comparison_text(c, 5).find(kTap) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(error_floor_absorbs_rounding_of_exact_nodes) {
  Report base = synthetic_report();
  node_of(base, "golden.synth.fp32.teacher", "model.embed_tokens").m.rel_l2 = 0;
  Report now = base;
  node_of(now, "golden.synth.fp32.teacher", "model.embed_tokens").m.rel_l2 = 1e-7;  // one fp32 rounding
  BOOST_TEST(gate_reports(base, now, rules()).pass);
  node_of(now, "golden.synth.fp32.teacher", "model.embed_tokens").m.rel_l2 = 1e-5;
  expect_single_failure(base, now, "error_growth_factor", "golden.synth.fp32.teacher", "model.embed_tokens");
}

BOOST_AUTO_TEST_CASE(new_nonfinite_and_nan_fire) {
  const Report base = synthetic_report();
  Report now = base;
  node_of(now, kFR, kTap).m.nonfinite = 3;
  expect_single_failure(base, now, "new non-finite", kFR, kTap);
  now = base;
  node_of(now, kFR, kTap).m.rel_l2 = std::numeric_limits<double>::quiet_NaN();
  expect_single_failure(base, now, "new non-finite", kFR, kTap);
}

BOOST_AUTO_TEST_CASE(after_routing_flip_nodes_are_left_to_the_flip_count) {
  Report base = synthetic_report();
  node_of(base, kFR, kTap).op = "after-routing-flip";
  Report now = base;
  node_of(now, kFR, kTap).m.rel_l2 *= 100;
  BOOST_TEST(gate_reports(base, now, rules()).pass);
  run_of(now, kFR).moe->routing_flips += 2;
  expect_single_failure(base, now, "moe_max_new_flips", kFR, "router");
}

BOOST_AUTO_TEST_CASE(kl_and_top1_limits_fire) {
  const Report base = synthetic_report();
  Report now = base;
  run_of(now, kFR).logits->kl_mean *= 3;
  expect_single_failure(base, now, "kl_growth_factor", kFR, "logits");
  now = base;
  run_of(now, kFR).logits->kl_max *= 3;
  expect_single_failure(base, now, "kl_growth_factor", kFR, "logits");
  now = base;
  run_of(now, kFR).logits->top1 -= 1.0 / 50;  // one token of 50: allowed
  BOOST_TEST(gate_reports(base, now, rules()).pass);
  run_of(now, kFR).logits->top1 -= 1.0 / 50;  // two tokens
  expect_single_failure(base, now, "top1_max_drop_tokens", kFR, "logits");
  now = base;
  run_of(now, kFR).logits.reset();
  expect_single_failure(base, now, "logits present", kFR, "");
}

BOOST_AUTO_TEST_CASE(run_verdict_and_coverage_fire) {
  const Report base = synthetic_report();
  Report now = base;
  run_of(now, kTF).pass = false;
  expect_single_failure(base, now, "run pass", kTF, "");
  now = base;
  auto& nodes = run_of(now, kTF).nodes;
  nodes.erase(nodes.begin() + 3);
  const std::string dropped = run_of(base, kTF).nodes[3].tap;
  expect_single_failure(base, now, "tap present", kTF, dropped);
  now = base;
  now.runs.pop_back();
  expect_single_failure(base, now, "run present", base.runs.back().id, "");
}

BOOST_AUTO_TEST_CASE(throughput_is_gated_loosely_as_same_run_roofline_fractions) {
  const Report base = synthetic_report();
  // A machine twice as fast in every respect, same code: the ratios cancel.
  Report now = base;
  now.machine = {200, 400, 800, 1600, 40};
  for (auto& run : now.runs)
    for (auto& n : run.nodes) n.time_median_s /= 2;
  {
    const Comparison c = compare_reports(base, now);
    for (const auto& d : c.runs) BOOST_TEST(std::abs(d.efficiency_ratio - 1.0) < 1e-12);
    BOOST_TEST(gate_reports(base, now, rules()).pass);
  }
  // 1.5x slower on the same machine: noise, passes; 3x slower: fails, naming the slowest node.
  now = base;
  for (auto& n : run_of(now, kTF).nodes) n.time_median_s *= 1.5;
  BOOST_TEST(gate_reports(base, now, rules()).pass);
  now = base;
  for (auto& n : run_of(now, kTF).nodes) n.time_median_s *= 2.5;
  node_of(now, kTF, kTap).time_median_s *= 4;
  expect_single_failure(base, now, "throughput_min_ratio", kTF, kTap);
  // Runs too short to time are noted, never failed.
  Report tiny = base;
  for (auto& run : tiny.runs)
    for (auto& n : run.nodes) n.time_median_s = 1e-6;
  Report tiny_slow = tiny;
  for (auto& run : tiny_slow.runs)
    for (auto& n : run.nodes) n.time_median_s *= 100;
  const GateResult g = gate_reports(tiny, tiny_slow, rules());
  BOOST_TEST(g.pass);
  BOOST_TEST(g.findings.size() == 4u);  // one note per run
}

BOOST_AUTO_TEST_CASE(ci_outputs_are_parseable_and_name_the_tap) {
  const Report base = synthetic_report();
  Report now = base;
  node_of(now, kTF, kTap).m.rel_l2 *= 10;
  const GateResult g = gate_reports(base, now, rules());
  const auto j = nlohmann::json::parse(gate_json(g, rules(), "base.h5", "new<&>.h5"));
  BOOST_TEST(j["schema"] == "gemma4-harness-gate");
  BOOST_TEST(j["pass"] == false);
  BOOST_TEST(j["findings"][0]["tap"] == kTap);
  BOOST_TEST(j["findings"][0]["rule"] == "error_growth_factor");
  const std::string x = gate_junit(g, "base.h5", "new<&>.h5");
  BOOST_TEST(x.find("failures=\"1\"") != std::string::npos);
  BOOST_TEST(x.find("<failure type=\"error_growth_factor\"") != std::string::npos);
  BOOST_TEST(x.find(kTap) != std::string::npos);
  BOOST_TEST(x.find("new&lt;&amp;&gt;.h5") != std::string::npos);  // escaped
  BOOST_TEST(x.find("new<&>") == std::string::npos);
  // 4 runs x 6 checks
  BOOST_TEST(x.find("tests=\"24\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bisect_finds_the_planted_divergence) {
  Report r = synthetic_report();
  {
    const auto exits = bisect_band(r);
    BOOST_TEST_REQUIRE(exits.size() == 2u);  // the free-running runs only
    for (const auto& e : exits) BOOST_TEST(!e.left);
  }
  // Layer 2's MLP leaves the band; layer 2's later node and the final norm follow it.
  node_of(r, kFR, "model.layers.2.mlp.down_proj").m.rel_l2 = 1.0;
  node_of(r, kFR, "model.layers.2.mlp.down_proj").pass = false;
  node_of(r, kFR, "model.norm").m.rel_l2 = 1.0;
  node_of(r, kFR, "model.norm").pass = false;
  const auto exits = bisect_band(r);
  const BandExit* e = nullptr;
  for (const auto& x : exits)
    if (x.run_id == kFR) e = &x;
  BOOST_TEST_REQUIRE(e != nullptr);
  BOOST_TEST(e->left);
  BOOST_TEST(e->layer == 2);
  BOOST_TEST(e->op == "mlp.down_proj");
  BOOST_TEST(std::isfinite(e->teacher_rel_l2));
  const std::string text = bisect_band_text(exits);
  BOOST_TEST(text.find("layer 2 op mlp.down_proj") != std::string::npos);
  BOOST_TEST(text.find("1 of 2 free-running runs leave the band") != std::string::npos);
  // A non-finite value counts as leaving the band even under its bound.
  Report nf = synthetic_report();
  node_of(nf, kFR, "model.layers.1.self_attn.q_proj").m.nonfinite = 1;
  for (const auto& x : bisect_band(nf))
    if (x.run_id == kFR) {
      BOOST_TEST(x.left);
      BOOST_TEST(x.layer == 1);
      BOOST_TEST(x.op == "self_attn.q_proj");
    }
}

BOOST_AUTO_TEST_CASE(bisect_series_names_the_first_commit_that_moved) {
  std::vector<Report> rs(5, synthetic_report());
  for (std::size_t i = 0; i < rs.size(); ++i) rs[i].provenance.commit = fmt::format("c{}", i + 1);
  // c3: a number moves a little (the gate still passes); c4: beyond the gate.
  for (std::size_t i = 2; i < rs.size(); ++i) node_of(rs[i], kTF, kTap).m.rel_l2 *= 1.1;
  for (std::size_t i = 3; i < rs.size(); ++i) node_of(rs[i], kFR, "model.layers.0.mlp.down_proj").m.rel_l2 *= 5;
  const std::vector<std::string> paths{"r1.h5", "r2.h5", "r3.h5", "r4.h5", "r5.h5"};
  const auto steps = bisect_series(rs, paths, rules());
  BOOST_TEST(steps[1].identical_to_previous);
  BOOST_TEST(!steps[2].identical_to_previous);
  BOOST_TEST(steps[2].gate_pass);
  BOOST_TEST(!steps[3].gate_pass);
  BOOST_TEST(steps[4].identical_to_previous);
  const std::string text = bisect_series_text(steps);
  BOOST_TEST(text.find("first commit where a number moved: #3 r3.h5 (commit c3)") != std::string::npos);
  BOOST_TEST(text.find("first commit the gate fails (against #1): #4 r4.h5 (commit c4)") != std::string::npos);
  BOOST_TEST(text.find("model.layers.0.mlp.down_proj") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(layer_drift_groups_taps_by_layer) {
  Report r = synthetic_report();
  const auto d = layer_drift(run_of(r, kFR));
  BOOST_TEST_REQUIRE(d.size() == 5u);
  BOOST_TEST(d[0].label == "in");
  BOOST_TEST(d[1].label == "0");
  BOOST_TEST(d[3].label == "2");
  BOOST_TEST(d[4].label == "out");
  BOOST_TEST(d[3].worst_tap == "model.layers.2.mlp.down_proj");  // the largest of its layer
  BOOST_TEST(std::abs(d[3].max_rel_l2 - 4e-3 * 4 * 3) < 1e-15);
  const std::string md = report_show_markdown(r);
  BOOST_TEST(md.find("### Per-layer drift") != std::string::npos);
  const std::string text = report_show_text(r);
  BOOST_TEST(text.find("per-layer drift, golden:golden/data/synth free-running") != std::string::npos);
  BOOST_TEST(text.find("roofline") != std::string::npos);
}

// The tables' arithmetic on hand-checkable cases.
BOOST_AUTO_TEST_CASE(kv_cache_counts_window_and_sharing) {
  const auto c = g4::text::released_text_config("e2b");
  // e2b: 15 layers own/store K/V (12 sliding of Dh 256, 3 full of Dh 512), 1 KV head, 20 kv-shared.
  const double ctx = 128 * 1024;
  const double expect = 2.0 * 2 * (12 * 256 * 512.0 + 3 * 512 * ctx);  // K+V, 2 B per value
  const KvBytes b = kv_cache_bytes(c, 128 * 1024, 2);
  BOOST_TEST(b.actual == expect);
  BOOST_TEST(b.no_sharing > b.actual);
  BOOST_TEST(b.naive > b.no_sharing);
  // 31b: no sharing, so actual = no_sharing.
  const KvBytes b31 = kv_cache_bytes(g4::text::released_text_config("31b"), 4096, 2);
  BOOST_TEST(b31.actual == b31.no_sharing);
}

BOOST_AUTO_TEST_CASE(tables_print_every_section) {
  for (const char* t : {"specs", "params", "memory", "kv", "flops"}) BOOST_TEST(!model_card_tables(t).empty());
  BOOST_TEST(model_card_tables("nope").empty());
  const std::string mem = memory_table();
  BOOST_TEST(mem.find("What the published figures must have counted") != std::string::npos);
  // 26B-A4B in BF16, text only: 25.23e9 x 2 B = 47.0 GiB (llama.cpp's 48150 MiB GGUF).
  const TextParams p = count_text_params(g4::text::released_text_config("26b-a4b"));
  BOOST_TEST(std::abs(double(p.total()) * 2 / (1 << 30) - 48150.0 / 1024) < 0.05);
  // 2 FLOP per weight: the matmul weights of a 31B token are its parameters less the lookups and
  // norms (the embedding counted once, as the LM head).
  const auto c31 = g4::text::released_text_config("31b");
  const TextParams p31 = count_text_params(c31);
  const std::int64_t w = matmul_params_per_token(c31);
  BOOST_TEST(w < p31.total());
  BOOST_TEST(double(p31.total() - w) < 1e-3 * double(p31.total()));
}

// Names come from the file: bad UTF-8 and extreme counts must not throw or overflow.
BOOST_AUTO_TEST_CASE(hostile_names_and_counts) {
  const Report base = synthetic_report();
  Report now = base;
  node_of(now, kTF, kTap).tap = "bad\xff\xfe tap";
  run_of(now, kFR).moe->routing_flips = std::numeric_limits<std::int64_t>::max();
  Report low = base;
  run_of(low, kFR).moe->routing_flips = std::numeric_limits<std::int64_t>::min();
  const GateResult g = gate_reports(low, now, rules());
  BOOST_TEST(!g.pass);
  BOOST_CHECK_NO_THROW(nlohmann::json::parse(gate_json(g, rules(), "a.h5", "b.h5")));
  BOOST_CHECK_NO_THROW(gate_junit(g, "a.h5", "b.h5"));
}
