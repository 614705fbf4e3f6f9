#include "harness/report_show.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "harness/report.hpp"
#include "harness/report_format.hpp"

namespace g4::harness {
namespace {

using fmtx::sci;

bool ranked(const NodeResult& n) { return n.m.compared > 0 && n.op != "indices"; }

// NaN ranks above everything (the comparison broke), then larger.
bool worse(double a, double b) {
  if (std::isnan(a)) return !std::isnan(b);
  if (std::isnan(b)) return false;
  return a > b;
}

// Sources in report order, and per source the runs of one mode keyed by a column label (the
// policy, with the variant when a source holds several).
struct Grid {
  std::vector<std::string> sources;
  std::map<std::string, std::vector<std::size_t>> runs;  // source -> run indices
};
Grid grid(const Report& r) {
  Grid g;
  for (std::size_t i = 0; i < r.runs.size(); ++i) {
    const auto& s = r.runs[i].source;
    if (!g.runs.count(s)) g.sources.push_back(s);
    g.runs[s].push_back(i);
  }
  return g;
}

std::string column(const RunResult& run, bool several_variants) {
  return several_variants ? fmt::format("{}/{}", run.variant, run.policy) : run.policy;
}

// Per source and mode: rows = layers (labels in graph order), columns = policies.
struct DriftTable {
  std::string source, mode;
  std::vector<std::string> columns, rows;
  std::map<std::pair<std::string, std::string>, LayerDrift> cells;  // (row, column)
};
std::vector<DriftTable> drift_tables(const Report& r) {
  std::vector<DriftTable> out;
  const Grid g = grid(r);
  for (const auto& src : g.sources) {
    std::vector<std::string> modes, variants;
    for (std::size_t i : g.runs.at(src)) {
      const auto& run = r.runs[i];
      if (std::find(modes.begin(), modes.end(), run.mode) == modes.end()) modes.push_back(run.mode);
      if (std::find(variants.begin(), variants.end(), run.variant) == variants.end()) variants.push_back(run.variant);
    }
    for (const auto& mode : modes) {
      DriftTable t;
      t.source = src;
      t.mode = mode;
      for (std::size_t i : g.runs.at(src)) {
        const auto& run = r.runs[i];
        if (run.mode != mode) continue;
        const std::string col = column(run, variants.size() > 1);
        t.columns.push_back(col);
        for (const auto& d : layer_drift(run)) {
          if (std::find(t.rows.begin(), t.rows.end(), d.label) == t.rows.end()) t.rows.push_back(d.label);
          t.cells[{d.label, col}] = d;
        }
      }
      // "in" first, layers in order, "out" last (runs may list layers in different orders).
      std::stable_sort(t.rows.begin(), t.rows.end(), [](const std::string& a, const std::string& b) {
        auto key = [](const std::string& s) { return s == "in" ? -1 : s == "out" ? 1 << 30 : std::stoi(s); };
        return key(a) < key(b);
      });
      if (!t.rows.empty()) out.push_back(std::move(t));
    }
  }
  return out;
}

std::string cell_text(const DriftTable& t, const std::string& row, const std::string& col, bool markdown) {
  const auto it = t.cells.find({row, col});
  if (it == t.cells.end()) return "-";
  const std::string v = sci(it->second.max_rel_l2);
  if (it->second.pass) return v;
  return markdown ? "**" + v + "**" : v + "!";
}

struct WorstRow {
  std::size_t run, node;
};
std::vector<WorstRow> worst_in_run(const RunResult& run, std::size_t run_index, std::size_t k) {
  std::vector<WorstRow> all;
  for (std::size_t j = 0; j < run.nodes.size(); ++j)
    if (ranked(run.nodes[j])) all.push_back({run_index, j});
  std::stable_sort(all.begin(), all.end(), [&](const WorstRow& a, const WorstRow& b) {
    return worse(run.nodes[a.node].m.rel_l2, run.nodes[b.node].m.rel_l2);
  });
  if (all.size() > k) all.resize(k);
  return all;
}

}  // namespace

std::vector<LayerDrift> layer_drift(const RunResult& run) {
  std::vector<LayerDrift> out;
  std::map<std::string, std::size_t> at;
  bool seen_layer = false;
  for (const auto& n : run.nodes) {
    const int layer = fmtx::tap_layer(n.tap);
    seen_layer = seen_layer || layer >= 0;
    if (!ranked(n)) continue;
    const std::string label = layer >= 0 ? std::to_string(layer) : seen_layer ? "out" : "in";
    auto it = at.find(label);
    if (it == at.end()) {
      it = at.emplace(label, out.size()).first;
      LayerDrift d;
      d.label = label;
      d.layer = layer;
      out.push_back(d);
    }
    LayerDrift& d = out[it->second];
    if (d.worst_tap.empty() || worse(n.m.rel_l2, d.max_rel_l2)) {
      d.max_rel_l2 = n.m.rel_l2;
      d.worst_tap = n.tap;
    }
    d.pass = d.pass && n.pass;
  }
  return out;
}

std::string report_show_text(const Report& r) {
  std::string out = report_terminal(r);
  if (r.runs.empty()) return out;

  out += "\nthroughput and roofline (timed nodes only; fractions of this run's own ceilings):\n";
  std::vector<std::vector<std::string>> rows{
      {"run", "timed", "node time s", "GFLOP/s", "of ceiling", "GB/s", "of stream", "roofline"}};
  for (const auto& run : r.runs) {
    const Throughput t = run_throughput(run, r.machine);
    if (t.timed_nodes == 0) {
      rows.push_back({run.id, "0", "-", "-", "-", "-", "-", "-"});
      continue;
    }
    rows.push_back({run.id, std::to_string(t.timed_nodes), sci(t.seconds), fmtx::rate(t.gflops),
                    fmt::format("{} {}", fmtx::pct(t.ceiling_fraction), ceiling_name(t.ceiling)), fmtx::rate(t.gbs),
                    fmtx::pct(t.stream_fraction), fmtx::pct(t.roofline_fraction)});
  }
  out += fmtx::table(rows, {false, true, true, true, true, true, true, true}, "  ");

  for (const auto& t : drift_tables(r)) {
    out += fmt::format("\nper-layer drift, {} {} (max rel_l2 over the layer's taps; '!' = a node failed its bound):\n",
                       t.source, t.mode);
    std::vector<std::vector<std::string>> rows2;
    std::vector<std::string> head{"layer"};
    head.insert(head.end(), t.columns.begin(), t.columns.end());
    rows2.push_back(head);
    for (const auto& row : t.rows) {
      std::vector<std::string> line{row};
      for (const auto& col : t.columns) line.push_back(cell_text(t, row, col, false));
      rows2.push_back(line);
    }
    std::vector<bool> right(head.size(), true);
    right[0] = false;
    out += fmtx::table(rows2, right, "  ");
  }

  out += "\nworst 3 taps per run:\n";
  std::vector<std::vector<std::string>> wr;
  for (std::size_t i = 0; i < r.runs.size(); ++i)
    for (const auto& w : worst_in_run(r.runs[i], i, 3)) {
      const NodeResult& n = r.runs[i].nodes[w.node];
      wr.push_back({r.runs[i].id, sci(n.m.rel_l2), std::isnan(n.bound) ? "(no bound)" : "<= " + sci(n.bound),
                    n.pass ? "pass" : "FAIL", n.tap});
    }
  out += fmtx::table(wr, {false, true, false, false, false}, "  ");
  return out;
}

std::string report_show_markdown(const Report& r) {
  std::string out = report_markdown(r);
  const auto tables = drift_tables(r);
  if (!tables.empty()) out += "### Per-layer drift\n\nLargest rel_l2 over each layer's taps; **bold** = a node failed its bound.\n\n";
  for (const auto& t : tables) {
    out += fmt::format("<details><summary>{} {}</summary>\n\n| layer |", fmtx::code(t.source), fmtx::md(t.mode));
    for (const auto& c : t.columns) out += fmt::format(" {} |", fmtx::md(c));
    out += "\n|---|";
    for (std::size_t k = 0; k < t.columns.size(); ++k) out += "---:|";
    out += "\n";
    for (const auto& row : t.rows) {
      out += fmt::format("| {} |", row);
      for (const auto& col : t.columns) out += fmt::format(" {} |", cell_text(t, row, col, true));
      out += "\n";
    }
    out += "\n</details>\n\n";
  }
  if (!r.runs.empty()) {
    out += "### Worst taps per run\n\n| run | rel_l2 | bound | result | tap |\n|---|---:|---:|---|---|\n";
    for (std::size_t i = 0; i < r.runs.size(); ++i)
      for (const auto& w : worst_in_run(r.runs[i], i, 3)) {
        const NodeResult& n = r.runs[i].nodes[w.node];
        out += fmt::format("| {} | {} | {} | {} | {} |\n", fmtx::code(r.runs[i].id), sci(n.m.rel_l2),
                           std::isnan(n.bound) ? "-" : sci(n.bound), n.pass ? "pass" : "**FAIL**", fmtx::code(n.tap));
      }
    out += "\n";
  }
  return out;
}

}  // namespace g4::harness
