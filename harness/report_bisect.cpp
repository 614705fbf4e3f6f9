#include "harness/report_bisect.hpp"

#include <cmath>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "harness/report_format.hpp"

namespace g4::harness {
namespace {

using fmtx::sci;

bool ranked(const NodeResult& n) { return n.m.compared > 0 && n.op != "indices"; }

// Outside the band: over the bound that was applied, or a non-finite value, or a NaN error.
bool outside(const NodeResult& n) {
  if (n.m.nonfinite > 0 || std::isnan(n.m.rel_l2)) return true;
  if (!std::isnan(n.bound) && n.m.rel_l2 > n.bound) return true;
  return !n.pass;
}

// Same number, NaN equal to NaN (a stored NaN that stays NaN has not moved).
bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0 || a == b;
}

// The first stored error number that differs between two reports, or "" (times are not numbers
// of the code under test and always differ).
std::string first_difference(const Report& a, const Report& b) {
  std::map<std::string, const RunResult*> ra;
  for (const auto& run : a.runs) ra[run.id] = &run;
  if (a.runs.size() != b.runs.size()) return fmt::format("{} runs -> {} runs", a.runs.size(), b.runs.size());
  for (const auto& rb : b.runs) {
    const auto it = ra.find(rb.id);
    if (it == ra.end()) return fmt::format("run {} is new", rb.id);
    const RunResult& x = *it->second;
    if (x.nodes.size() != rb.nodes.size())
      return fmt::format("{}: {} nodes -> {}", rb.id, x.nodes.size(), rb.nodes.size());
    for (std::size_t k = 0; k < rb.nodes.size(); ++k) {
      const NodeResult &p = x.nodes[k], &q = rb.nodes[k];
      if (p.tap != q.tap) return fmt::format("{}: node {} is {} (was {})", rb.id, k, q.tap, p.tap);
      const std::pair<const char*, std::pair<double, double>> fields[] = {
          {"rel_l2", {p.m.rel_l2, q.m.rel_l2}},   {"max_abs", {p.m.max_abs, q.m.max_abs}},
          {"cosine", {p.m.cosine, q.m.cosine}},   {"nonfinite", {double(p.m.nonfinite), double(q.m.nonfinite)}},
          {"headroom", {p.headroom, q.headroom}}, {"naive_rel_l2", {p.naive_rel_l2, q.naive_rel_l2}}};
      for (const auto& [name, v] : fields)
        if (!same(v.first, v.second))
          return fmt::format("{} / {} / {}: {:.17g} -> {:.17g}", rb.id, q.tap, name, v.first, v.second);
    }
    if (x.logits.has_value() != rb.logits.has_value()) return fmt::format("{}: logits appeared or vanished", rb.id);
    if (x.logits && (!same(x.logits->kl_mean, rb.logits->kl_mean) || !same(x.logits->top1, rb.logits->top1)))
      return fmt::format("{} / logits: KL {} -> {}, top-1 {} -> {}", rb.id, sci(x.logits->kl_mean),
                         sci(rb.logits->kl_mean), fmtx::pct(x.logits->top1), fmtx::pct(rb.logits->top1));
    if (x.moe && rb.moe && x.moe->routing_flips != rb.moe->routing_flips)
      return fmt::format("{} / moe: routing flips {} -> {}", rb.id, x.moe->routing_flips, rb.moe->routing_flips);
  }
  return "";
}

}  // namespace

std::vector<BandExit> bisect_band(const Report& r) {
  std::vector<BandExit> out;
  for (const auto& run : r.runs) {
    if (run.mode != "free-running") continue;
    BandExit e;
    e.run_id = run.id;
    double closest = -1;
    for (std::size_t k = 0; k < run.nodes.size(); ++k) {
      const NodeResult& n = run.nodes[k];
      if (!ranked(n)) continue;
      if (outside(n)) {
        e.left = true;
        e.node = static_cast<std::ptrdiff_t>(k);
        break;
      }
      const double frac = std::isnan(n.bound) || n.bound <= 0 ? -1 : n.m.rel_l2 / n.bound;
      if (frac > closest) closest = frac, e.node = static_cast<std::ptrdiff_t>(k);
    }
    if (e.node >= 0) {
      const NodeResult& n = run.nodes[static_cast<std::size_t>(e.node)];
      e.tap = n.tap;
      e.layer = fmtx::tap_layer(n.tap);
      e.op = fmtx::tap_op(n.tap);
      e.rel_l2 = n.m.rel_l2;
      e.bound = n.bound;
      e.nonfinite = n.m.nonfinite;
      for (const auto& t : r.runs)
        if (t.mode == "teacher-forced" && t.source == run.source && t.policy == run.policy)
          for (const auto& tn : t.nodes)
            if (tn.tap == n.tap) e.teacher_rel_l2 = tn.m.rel_l2;
    }
    out.push_back(e);
  }
  return out;
}

std::string bisect_band_text(const std::vector<BandExit>& exits) {
  if (exits.empty()) return "no free-running runs in the report\n";
  std::string out;
  std::size_t left = 0;
  for (const auto& e : exits) {
    left += e.left;
    const std::string where = e.layer >= 0 ? fmt::format("layer {} op {}", e.layer, e.op)
                                           : fmt::format("outside the layers, {}", e.op);
    const std::string tf = std::isnan(e.teacher_rel_l2) ? "no teacher-forced twin"
                                                        : fmt::format("teacher-forced rel_l2 {} here", sci(e.teacher_rel_l2));
    if (e.left) {
      const std::string why = e.nonfinite > 0 ? fmt::format("{} non-finite values", e.nonfinite)
                                              : fmt::format("rel_l2 {} > bound {}", sci(e.rel_l2), sci(e.bound));
      out += fmt::format("{}: leaves the band at {} ({}): {}; {} ({})\n", e.run_id, where, e.tap, why, tf,
                         !std::isnan(e.teacher_rel_l2) && !std::isnan(e.bound) && e.teacher_rel_l2 > e.bound
                             ? "the op itself is out of bounds"
                             : "the error accumulated upstream");
    } else if (e.node >= 0) {
      out += fmt::format("{}: stays in the band; closest at {} ({}): rel_l2 {} = {} of bound {}\n", e.run_id, where,
                         e.tap, sci(e.rel_l2), fmtx::pct(e.rel_l2 / e.bound), sci(e.bound));
    } else {
      out += fmt::format("{}: stays in the band (no gated node)\n", e.run_id);
    }
  }
  out += fmt::format("{} of {} free-running runs leave the band\n", left, exits.size());
  return out;
}

std::vector<SeriesStep> bisect_series(const std::vector<Report>& reports, const std::vector<std::string>& paths,
                                      const GateRules& rules) {
  std::vector<SeriesStep> steps;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    SeriesStep s;
    s.path = paths[i];
    s.commit = reports[i].provenance.commit;
    if (i > 0) {
      s.first_difference = first_difference(reports[i - 1], reports[i]);
      s.identical_to_previous = s.first_difference.empty();
      const GateResult g = gate_reports(reports[0], reports[i], rules);
      s.gate_pass = g.pass;
      for (const auto& f : g.findings)
        if (f.fail) s.failures.push_back(f);
    }
    steps.push_back(std::move(s));
  }
  return steps;
}

std::string bisect_series_text(const std::vector<SeriesStep>& steps) {
  std::string out;
  std::ptrdiff_t first_moved = -1, first_failed = -1;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    std::string what = i == 0 ? "the known-good start"
                       : s.identical_to_previous ? "numbers identical to the previous"
                                                 : "moved: " + s.first_difference;
    out += fmt::format("{:>3}. {} (commit {}): {}; gate vs #1 {}\n", i + 1, s.path, s.commit, what,
                       s.gate_pass ? "pass" : fmt::format("FAIL ({} findings)", s.failures.size()));
    if (i > 0 && !s.identical_to_previous && first_moved < 0) first_moved = static_cast<std::ptrdiff_t>(i);
    if (i > 0 && !s.gate_pass && first_failed < 0) first_failed = static_cast<std::ptrdiff_t>(i);
  }
  out += "\n";
  if (first_moved < 0) out += "no report's numbers differ from their predecessor's\n";
  else
    out += fmt::format("first commit where a number moved: #{} {} (commit {}): {}\n", first_moved + 1,
                       steps[first_moved].path, steps[first_moved].commit, steps[first_moved].first_difference);
  if (first_failed < 0) out += "every report passes the gate against the first\n";
  else {
    const auto& s = steps[first_failed];
    out += fmt::format("first commit the gate fails (against #1): #{} {} (commit {}):\n", first_failed + 1, s.path,
                       s.commit);
    for (std::size_t k = 0; k < s.failures.size() && k < 10; ++k) out += "  " + s.failures[k].message + "\n";
    if (s.failures.size() > 10) out += fmt::format("  ... {} more\n", s.failures.size() - 10);
  }
  return out;
}

}  // namespace g4::harness
