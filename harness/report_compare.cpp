#include "harness/report_compare.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "harness/report_format.hpp"
#include "reference/common/check.hpp"

namespace g4::harness {
namespace {

using fmtx::ratio;
using fmtx::sci;

constexpr double kInf = std::numeric_limits<double>::infinity();

// A node with error numbers of its own (the same rule as report.cpp's worst-node ranking).
bool ranked(const NodeResult& n) { return n.m.compared > 0 && n.op != "indices"; }

std::map<std::string, std::size_t> tap_index(const RunResult& run) {
  std::map<std::string, std::size_t> m;
  for (std::size_t k = 0; k < run.nodes.size(); ++k) m.emplace(run.nodes[k].tap, k);
  return m;
}

double node_score(const NodeResult& b, const NodeResult& x) {
  if (!ranked(b) || !ranked(x)) return -kInf;
  if (x.m.nonfinite > b.m.nonfinite) return kInf;
  if (std::isnan(x.m.rel_l2) && !std::isnan(b.m.rel_l2)) return kInf;
  const double r = change_ratio(x.m.rel_l2, b.m.rel_l2);
  if (std::isnan(r)) return 0;
  if (r == 0) return -1e300;  // an error that vanished: best of all, but finite for sorting
  return std::log2(r);
}

}  // namespace

double change_ratio(double now, double base) {
  if (std::isnan(now) || std::isnan(base)) return kNaN;
  if (std::isinf(now) && std::isinf(base)) return kNaN;
  if (base == 0) return now == 0 ? 1.0 : kInf;
  return now / base;
}

double node_roofline_fraction(const NodeResult& n, const std::string& policy, const MachineCeilings& m) {
  if (!std::isfinite(n.time_median_s) || !(n.time_median_s > 0)) return kNaN;
  const double peak = ceiling_value(m, ceiling_for_policy(policy)) * 1e9;
  const double bw = m.stream_read_gbs * 1e9;
  if (!std::isfinite(peak) || !std::isfinite(bw) || !(peak > 0) || !(bw > 0)) return kNaN;
  return std::max(n.flops / peak, n.bytes / bw) / n.time_median_s;
}

double run_efficiency(const RunResult& run, const MachineCeilings& m) {
  return run_throughput(run, m).roofline_fraction;
}

Comparison compare_reports(const Report& base, const Report& now) {
  Comparison c;
  std::map<std::string, std::size_t> base_runs, new_runs;
  for (std::size_t i = 0; i < base.runs.size(); ++i) base_runs.emplace(base.runs[i].id, i);
  for (std::size_t i = 0; i < now.runs.size(); ++i) new_runs.emplace(now.runs[i].id, i);
  for (const auto& r : base.runs)
    if (!new_runs.count(r.id)) c.runs_only_base.push_back(r.id);
  for (std::size_t j = 0; j < now.runs.size(); ++j) {
    const RunResult& x = now.runs[j];
    const auto it = base_runs.find(x.id);
    if (it == base_runs.end()) {
      c.runs_only_new.push_back(x.id);
      continue;
    }
    const RunResult& b = base.runs[it->second];
    RunDelta d;
    d.run_id = x.id;
    d.base_index = it->second;
    d.new_index = j;
    d.pass_base = b.pass;
    d.pass_new = x.pass;
    d.base_tp = run_throughput(b, base.machine);
    d.new_tp = run_throughput(x, now.machine);
    d.efficiency_base = d.base_tp.roofline_fraction;
    d.efficiency_new = d.new_tp.roofline_fraction;
    d.efficiency_ratio = change_ratio(d.efficiency_new, d.efficiency_base);
    d.logits_base = b.logits;
    d.logits_new = x.logits;
    d.moe_base = b.moe;
    d.moe_new = x.moe;
    c.runs.push_back(d);

    const auto bt = tap_index(b);
    const auto xt = tap_index(x);
    for (const auto& n : b.nodes)
      if (!xt.count(n.tap)) c.taps_only_base.emplace_back(x.id, n.tap);
    for (std::size_t k = 0; k < x.nodes.size(); ++k) {
      const NodeResult& xn = x.nodes[k];
      const auto bi = bt.find(xn.tap);
      if (bi == bt.end()) {
        c.taps_only_new.emplace_back(x.id, xn.tap);
        continue;
      }
      const NodeResult& bn = b.nodes[bi->second];
      NodeDelta nd;
      nd.run_id = x.id;
      nd.tap = xn.tap;
      nd.op = xn.op;
      nd.run_index = c.runs.size() - 1;
      nd.base_node = bi->second;
      nd.new_node = k;
      nd.rel_l2_base = bn.m.rel_l2;
      nd.rel_l2_new = xn.m.rel_l2;
      nd.rel_l2_ratio = change_ratio(xn.m.rel_l2, bn.m.rel_l2);
      nd.max_abs_ratio = change_ratio(xn.m.max_abs, bn.m.max_abs);
      nd.nmse_ratio = change_ratio(xn.m.nmse, bn.m.nmse);
      nd.headroom_ratio = change_ratio(xn.headroom, bn.headroom);
      nd.cosine_delta = xn.m.cosine - bn.m.cosine;
      nd.nonfinite_base = bn.m.nonfinite;
      nd.nonfinite_new = xn.m.nonfinite;
      nd.roofline_ratio = change_ratio(node_roofline_fraction(xn, x.policy, now.machine),
                                       node_roofline_fraction(bn, b.policy, base.machine));
      nd.score = node_score(bn, xn);
      c.nodes.push_back(std::move(nd));
    }
  }
  std::stable_sort(c.nodes.begin(), c.nodes.end(),
                   [](const NodeDelta& a, const NodeDelta& b) { return a.score > b.score; });
  return c;
}

std::string comparison_text(const Comparison& c, std::size_t limit) {
  std::string out;
  out += fmt::format("{} runs matched; {} node rows matched\n", c.runs.size(), c.nodes.size());
  for (const auto& id : c.runs_only_base) out += fmt::format("  run only in BASE (missing in NEW): {}\n", id);
  for (const auto& id : c.runs_only_new) out += fmt::format("  run only in NEW: {}\n", id);
  for (const auto& [r, t] : c.taps_only_base) out += fmt::format("  tap only in BASE (missing in NEW): {} {}\n", r, t);
  for (const auto& [r, t] : c.taps_only_new) out += fmt::format("  tap only in NEW: {} {}\n", r, t);

  if (!c.runs.empty()) {
    out += "\nruns (throughput as the fraction of each run's own roofline, NEW / BASE):\n";
    std::vector<std::vector<std::string>> rows{{"run", "pass", "worst rel_l2 base", "new", "roofline base", "new",
                                                "ratio", "KL mean base", "new", "top-1 base", "new"}};
    std::vector<RunDelta> runs = c.runs;
    std::stable_sort(runs.begin(), runs.end(), [](const RunDelta& a, const RunDelta& b) {
      const auto key = [](const RunDelta& d) { return std::isnan(d.efficiency_ratio) ? 1e300 : d.efficiency_ratio; };
      return (a.pass_base && !a.pass_new) > (b.pass_base && !b.pass_new) ||
             ((a.pass_base && !a.pass_new) == (b.pass_base && !b.pass_new) && key(a) < key(b));
    });
    for (const auto& d : runs) {
      double wb = kNaN, wn = kNaN;
      for (const auto& n : c.nodes)
        if (n.run_id == d.run_id) {
          if (std::isnan(wb) || n.rel_l2_base > wb) wb = n.rel_l2_base;
          if (std::isnan(wn) || n.rel_l2_new > wn) wn = n.rel_l2_new;
        }
      const bool lg = d.logits_base && d.logits_new;
      rows.push_back({d.run_id, fmt::format("{}->{}", d.pass_base ? "pass" : "FAIL", d.pass_new ? "pass" : "FAIL"),
                      sci(wb), sci(wn), fmtx::pct(d.efficiency_base), fmtx::pct(d.efficiency_new),
                      ratio(d.efficiency_ratio), lg ? sci(d.logits_base->kl_mean) : "-",
                      lg ? sci(d.logits_new->kl_mean) : "-", lg ? fmtx::pct(d.logits_base->top1) : "-",
                      lg ? fmtx::pct(d.logits_new->top1) : "-"});
    }
    out += fmtx::table(rows, {false, false, true, true, true, true, true, true, true, true, true}, "  ");
  }

  if (!c.nodes.empty()) {
    const std::size_t n = limit == 0 ? c.nodes.size() : std::min(limit, c.nodes.size());
    out += fmt::format("\nnodes, regressions first ({} of {}; rel_l2, max_abs, nmse, headroom as NEW/BASE; cosine "
                       "as NEW-BASE; roofline = the node's same-run roofline fraction NEW/BASE):\n",
                       n, c.nodes.size());
    std::vector<std::vector<std::string>> rows{{"run", "tap", "rel_l2 base", "new", "rel_l2", "max_abs", "nmse",
                                                "headroom", "cosine", "nonfinite", "roofline"}};
    for (std::size_t k = 0; k < n; ++k) {
      const NodeDelta& d = c.nodes[k];
      if (d.score == -kInf && std::isnan(d.roofline_ratio)) continue;
      rows.push_back({d.run_id, d.tap, sci(d.rel_l2_base), sci(d.rel_l2_new), ratio(d.rel_l2_ratio),
                      ratio(d.max_abs_ratio), ratio(d.nmse_ratio), ratio(d.headroom_ratio),
                      std::isnan(d.cosine_delta) ? "nan" : fmt::format("{:+.2e}", d.cosine_delta),
                      fmt::format("{}->{}", d.nonfinite_base, d.nonfinite_new), ratio(d.roofline_ratio)});
    }
    out += fmtx::table(rows, {false, false, true, true, true, true, true, true, true, true, true}, "  ");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rules

#ifndef GEMMA4_SOURCE_DIR
#define GEMMA4_SOURCE_DIR "."
#endif
std::string default_gate_rules_path() { return std::string(GEMMA4_SOURCE_DIR) + "/reports/gate.json"; }

GateRules GateRules::load(const std::string& path) {
  std::ifstream in(path);
  G4_CHECK(in.good(), IoError, "{}: cannot open the gate rules file", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
  G4_CHECK(j.is_object(), ConfigError, "{}: expected a JSON object of gate rules", path);
  GateRules r;
  r.path = path;
  auto num = [&](const char* key, double lo, double hi) {
    G4_CHECK(j.contains(key) && j[key].is_number(), ConfigError, "{}: field '{}' missing or not a number", path, key);
    const double v = j[key].get<double>();
    G4_CHECK(v >= lo && v <= hi, ConfigError, "{}: field '{}' is {}, expected a value in [{}, {}]", path, key, v, lo,
             hi);
    G4_CHECK(j.contains(std::string("_") + key), ConfigError,
             "{}: field '{}' has no '_{}' comment saying where the number comes from", path, key, key);
    return v;
  };
  r.version = static_cast<int>(num("version", 1, 1));
  r.error_growth_factor = num("error_growth_factor", 1, 1e6);
  r.error_floor = num("error_floor", 0, 1);
  r.kl_growth_factor = num("kl_growth_factor", 1, 1e6);
  r.kl_floor = num("kl_floor", 0, 100);
  r.top1_max_drop_tokens = num("top1_max_drop_tokens", 0, 1e9);
  r.moe_max_new_flips = static_cast<std::int64_t>(num("moe_max_new_flips", 0, 1e9));
  r.throughput_min_ratio = num("throughput_min_ratio", 0, 1);
  r.throughput_min_seconds = num("throughput_min_seconds", 0, 1e6);
  for (const auto& [k, v] : j.items()) {
    static const char* known[] = {"version", "error_growth_factor", "error_floor", "kl_growth_factor", "kl_floor",
                                  "top1_max_drop_tokens", "moe_max_new_flips", "throughput_min_ratio",
                                  "throughput_min_seconds"};
    if (k.starts_with("_")) continue;
    G4_CHECK(std::find(std::begin(known), std::end(known), k) != std::end(known), ConfigError,
             "{}: unknown field '{}' (a typo would silently disable a rule)", path, k);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Gate

GateResult gate_reports(const Report& base, const Report& now, const GateRules& rules) {
  GateResult g;
  const Comparison c = compare_reports(base, now);
  auto add = [&](Finding f) { g.findings.push_back(std::move(f)); };
  for (const auto& r : base.runs) g.run_ids.push_back(r.id);

  for (const auto& id : c.runs_only_base)
    add({true, "coverage", "run present", id, "", kNaN, kNaN, kNaN,
         fmt::format("run {} is in BASE but missing in NEW", id)});
  for (const auto& [id, tap] : c.taps_only_base)
    add({true, "coverage", "tap present", id, tap, kNaN, kNaN, kNaN,
         fmt::format("{}: tap {} is in BASE but missing in NEW", id, tap)});

  for (const NodeDelta& d : c.nodes) {
    const NodeResult& b = base.runs[c.runs[d.run_index].base_index].nodes[d.base_node];
    const NodeResult& x = now.runs[c.runs[d.run_index].new_index].nodes[d.new_node];
    if (!ranked(b) && !ranked(x)) continue;
    if (x.m.nonfinite > 0 && b.m.nonfinite == 0) {
      add({true, "numerics", "new non-finite", d.run_id, d.tap, 0, static_cast<double>(x.m.nonfinite), 0,
           fmt::format("{}: tap {} has {} non-finite values (none in BASE)", d.run_id, d.tap, x.m.nonfinite)});
      continue;
    }
    if (std::isnan(x.m.rel_l2) && !std::isnan(b.m.rel_l2)) {
      add({true, "numerics", "new non-finite", d.run_id, d.tap, b.m.rel_l2, x.m.rel_l2, kNaN,
           fmt::format("{}: tap {} rel_l2 is NaN (was {}): the comparison broke", d.run_id, d.tap, sci(b.m.rel_l2))});
      continue;
    }
    // After the executor's first expert choice that differs from the reference's, errors are no
    // longer bounded by roundoff (runner.cpp marks these nodes): they are gated through the MoE
    // flip count instead.
    if (b.op == "after-routing-flip" || x.op == "after-routing-flip") continue;
    const double limit = rules.error_growth_factor * b.m.rel_l2 + rules.error_floor;
    if (x.m.rel_l2 > limit || (std::isinf(x.m.rel_l2) && !std::isinf(b.m.rel_l2)))
      add({true, "numerics", "error_growth_factor", d.run_id, d.tap, b.m.rel_l2, x.m.rel_l2, limit,
           fmt::format("{}: tap {} rel_l2 {} -> {} ({}), limit {} = {} x BASE + {}", d.run_id, d.tap,
                       sci(b.m.rel_l2), sci(x.m.rel_l2), ratio(d.rel_l2_ratio), sci(limit), rules.error_growth_factor,
                       sci(rules.error_floor))});
  }

  for (const RunDelta& d : c.runs) {
    if (d.pass_base && !d.pass_new)
      add({true, "verdict", "run pass", d.run_id, "", 1, 0, 1,
           fmt::format("{}: passed its own tolerances in BASE, fails them in NEW", d.run_id)});
    if (d.logits_base && !d.logits_new)
      add({true, "coverage", "logits present", d.run_id, "", kNaN, kNaN, kNaN,
           fmt::format("{}: BASE compared logits, NEW does not", d.run_id)});
    if (d.logits_base && d.logits_new) {
      const LogitResult &lb = *d.logits_base, &ln = *d.logits_new;
      for (const auto& [name, vb, vn] : {std::tuple{"kl_mean", lb.kl_mean, ln.kl_mean},
                                         std::tuple{"kl_max", lb.kl_max, ln.kl_max}}) {
        const double limit = rules.kl_growth_factor * vb + rules.kl_floor;
        if (vn > limit || (std::isnan(vn) && !std::isnan(vb)))
          add({true, "logits", "kl_growth_factor", d.run_id, "logits", vb, vn, limit,
               fmt::format("{}: logits {} {} -> {} nats, limit {} = {} x BASE + {}", d.run_id, name, sci(vb), sci(vn),
                           sci(limit), rules.kl_growth_factor, sci(rules.kl_floor))});
      }
      const double tokens = static_cast<double>(std::max(ln.tokens, lb.tokens));
      const double drop = (lb.top1 - ln.top1) * tokens;
      if (drop > rules.top1_max_drop_tokens + 1e-9 || (std::isnan(ln.top1) && !std::isnan(lb.top1)))
        add({true, "logits", "top1_max_drop_tokens", d.run_id, "logits", lb.top1, ln.top1,
             lb.top1 - rules.top1_max_drop_tokens / tokens,
             fmt::format("{}: logits top-1 {} -> {} ({:.0f} of {:.0f} tokens lost, at most {} allowed)", d.run_id,
                         fmtx::pct(lb.top1), fmtx::pct(ln.top1), drop, tokens, rules.top1_max_drop_tokens)});
    }
    if (d.moe_base && d.moe_new) {
      // In double: counts read from a file may be anything, and an int64 difference can overflow.
      const double more = static_cast<double>(d.moe_new->routing_flips) - static_cast<double>(d.moe_base->routing_flips);
      if (more > static_cast<double>(rules.moe_max_new_flips))
        add({true, "moe", "moe_max_new_flips", d.run_id, "router", static_cast<double>(d.moe_base->routing_flips),
             static_cast<double>(d.moe_new->routing_flips), static_cast<double>(rules.moe_max_new_flips),
             fmt::format("{}: MoE routing flips {} -> {} (at most {} more allowed)", d.run_id,
                         d.moe_base->routing_flips, d.moe_new->routing_flips, rules.moe_max_new_flips)});
    }
    // Throughput, loosely: the fraction of each run's own roofline.
    const bool long_enough = d.base_tp.seconds >= rules.throughput_min_seconds &&
                             d.new_tp.seconds >= rules.throughput_min_seconds;
    if (d.base_tp.timed_nodes == 0 && d.new_tp.timed_nodes == 0) continue;
    if (!long_enough) {
      add({false, "throughput", "throughput_min_seconds", d.run_id, "", d.base_tp.seconds, d.new_tp.seconds,
           rules.throughput_min_seconds,
           fmt::format("{}: throughput not gated: timed node time {} s (BASE) / {} s (NEW) is under {} s", d.run_id,
                       sci(d.base_tp.seconds), sci(d.new_tp.seconds), rules.throughput_min_seconds)});
    } else if (std::isnan(d.efficiency_ratio)) {
      add({false, "throughput", "throughput_min_ratio", d.run_id, "", d.efficiency_base, d.efficiency_new, kNaN,
           fmt::format("{}: throughput not gated: a ceiling was not measured in one of the runs", d.run_id)});
    } else if (d.efficiency_ratio < rules.throughput_min_ratio) {
      // Name the node that lost the most.
      std::string worst;
      double wr = kInf;
      for (const NodeDelta& n : c.nodes)
        if (n.run_id == d.run_id && n.roofline_ratio < wr) wr = n.roofline_ratio, worst = n.tap;
      add({true, "throughput", "throughput_min_ratio", d.run_id, worst, d.efficiency_base, d.efficiency_new,
           rules.throughput_min_ratio,
           fmt::format("{}: roofline fraction {} -> {} ({} of BASE, at least {} required); slowest change at {} ({})",
                       d.run_id, fmtx::pct(d.efficiency_base), fmtx::pct(d.efficiency_new), ratio(d.efficiency_ratio),
                       ratio(rules.throughput_min_ratio), worst.empty() ? "(no node)" : worst, ratio(wr))});
    }
  }
  std::stable_partition(g.findings.begin(), g.findings.end(), [](const Finding& f) { return f.fail; });
  g.pass = std::none_of(g.findings.begin(), g.findings.end(), [](const Finding& f) { return f.fail; });
  return g;
}

std::string gate_text(const GateResult& g, const GateRules& rules) {
  std::size_t fails = 0, notes = 0;
  for (const auto& f : g.findings) (f.fail ? fails : notes)++;
  std::string out;
  for (const auto& f : g.findings)
    if (f.fail) out += fmt::format("FAIL [{}/{}] {}\n", f.check, f.rule, f.message);
  if (notes > 0) out += fmt::format("{} note{} (not failures; see --json):\n", notes, notes == 1 ? "" : "s");
  std::size_t shown = 0;
  for (const auto& f : g.findings)
    if (!f.fail && shown++ < 5) out += fmt::format("  note [{}] {}\n", f.check, f.message);
  if (notes > 5) out += fmt::format("  ... {} more\n", notes - 5);
  out += fmt::format("gate {} (rules {} version {}): {} runs, {} failure{}\n", g.pass ? "PASS" : "FAIL", rules.path,
                     rules.version, g.run_ids.size(), fails, fails == 1 ? "" : "s");
  return out;
}

namespace {
std::string xml(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (c < 0x20 && ch != '\n' && ch != '\t') out += ' ';  // not allowed in XML 1.0
        else out += ch;
    }
  }
  return out;
}
const char* kChecks[] = {"coverage", "verdict", "numerics", "logits", "moe", "throughput"};
}  // namespace

std::string gate_junit(const GateResult& g, const std::string& base_path, const std::string& new_path) {
  std::vector<std::string> ids = g.run_ids;
  for (const auto& f : g.findings)
    if (std::find(ids.begin(), ids.end(), f.run_id) == ids.end()) ids.push_back(f.run_id);
  std::size_t tests = 0, failures = 0;
  std::string cases;
  for (const auto& id : ids)
    for (const char* check : kChecks) {
      ++tests;
      std::vector<const Finding*> fails, notes;
      for (const auto& f : g.findings)
        if (f.run_id == id && f.check == check) (f.fail ? fails : notes).push_back(&f);
      cases += fmt::format("    <testcase classname=\"{}\" name=\"{}\"", xml(id), check);
      if (fails.empty() && notes.empty()) {
        cases += "/>\n";
        continue;
      }
      cases += ">\n";
      if (!fails.empty()) {
        ++failures;
        std::string body;
        for (const auto* f : fails) body += f->message + "\n";
        cases += fmt::format("      <failure type=\"{}\" message=\"{}\">{}</failure>\n", xml(fails[0]->rule),
                             xml(fails.size() == 1 ? fails[0]->message
                                                   : fmt::format("{} (and {} more)", fails[0]->message, fails.size() - 1)),
                             xml(body));
      }
      if (!notes.empty()) {
        std::string body;
        for (const auto* f : notes) body += f->message + "\n";
        cases += fmt::format("      <system-out>{}</system-out>\n", xml(body));
      }
      cases += "    </testcase>\n";
    }
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<testsuites name=\"gemma4-harness gate\" tests=\"{}\" failures=\"{}\">\n"
      "  <testsuite name=\"report gate {} vs {}\" tests=\"{}\" failures=\"{}\" errors=\"0\">\n{}"
      "  </testsuite>\n</testsuites>\n",
      tests, failures, xml(new_path), xml(base_path), tests, failures, cases);
}

std::string gate_json(const GateResult& g, const GateRules& rules, const std::string& base_path,
                      const std::string& new_path) {
  auto num = [](double v) -> nlohmann::json {
    if (std::isnan(v)) return nullptr;
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return v;
  };
  nlohmann::json j;
  j["schema"] = "gemma4-harness-gate";
  j["schema_version"] = 1;
  j["base"] = base_path;
  j["new"] = new_path;
  j["rules"] = {{"path", rules.path}, {"version", rules.version}};
  j["pass"] = g.pass;
  j["runs"] = g.run_ids;
  j["findings"] = nlohmann::json::array();
  for (const auto& f : g.findings)
    j["findings"].push_back({{"fail", f.fail}, {"check", f.check}, {"rule", f.rule}, {"run", f.run_id},
                             {"tap", f.tap}, {"base", num(f.base)}, {"new", num(f.now)}, {"limit", num(f.limit)},
                             {"message", f.message}});
  // Tap names come from the report file: invalid UTF-8 is replaced (U+FFFD), not thrown on.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace g4::harness
