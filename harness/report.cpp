#include "harness/report.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "golden/h5.hpp"
#include "reference/common/check.hpp"

namespace g4::harness {
namespace {

// A node with error numbers of its own (not a timing-only node, not expert ids).
bool ranked(const NodeResult& n) { return n.m.compared > 0 && n.op != "indices"; }


using golden::H5Reader;
using golden::H5Writer;
using golden::NonFinite;

// ---------------------------------------------------------------------------------------------
// The schema's fields, as tables, so writer and reader cannot drift apart.

struct ProvString {
  const char* name;
  std::string Provenance::*member;
};
constexpr std::array<ProvString, 9> kProvStrings{{
    {"commit", &Provenance::commit},
    {"time_utc", &Provenance::time_utc},
    {"hostname", &Provenance::hostname},
    {"cpu_model", &Provenance::cpu_model},
    {"cpu_flags", &Provenance::cpu_flags},
    {"compiler", &Provenance::compiler},
    {"command_line", &Provenance::command_line},
    {"library_versions", &Provenance::library_versions},
    {"tolerance_file", &Provenance::tolerance_file},
}};

struct CeilingField {
  const char* name;
  double MachineCeilings::*member;
};
constexpr std::array<CeilingField, 5> kCeilings{{
    {"dgemm_gflops", &MachineCeilings::dgemm_gflops},
    {"sgemm_gflops", &MachineCeilings::sgemm_gflops},
    {"bf16_gflops", &MachineCeilings::bf16_gflops},
    {"int8_gops", &MachineCeilings::int8_gops},
    {"stream_read_gbs", &MachineCeilings::stream_read_gbs},
}};

// Per-node float64 columns under /runs/<id>/nodes/.
struct F64Column {
  const char* name;
  double (*get)(const NodeResult&);
  void (*set)(NodeResult&, double);
};
#define G4_F64_COL(NAME, EXPR)                                   \
  F64Column {                                                    \
    NAME, [](const NodeResult& n) -> double { return n.EXPR; },  \
        [](NodeResult& n, double v) { n.EXPR = v; }              \
  }
const std::array<F64Column, 12> kF64Columns{{
    G4_F64_COL("rel_l2", m.rel_l2),
    G4_F64_COL("max_abs", m.max_abs),
    G4_F64_COL("max_rel", m.max_rel),
    G4_F64_COL("cosine", m.cosine),
    G4_F64_COL("nmse", m.nmse),
    G4_F64_COL("ref_norm", m.ref_norm),
    G4_F64_COL("naive_rel_l2", naive_rel_l2),
    G4_F64_COL("bound", bound),
    G4_F64_COL("headroom", headroom),
    G4_F64_COL("time_median_s", time_median_s),
    G4_F64_COL("flops", flops),
    G4_F64_COL("bytes", bytes),
}};
#undef G4_F64_COL

// Per-node int64 columns; pass is 0/1, repeats must fit an int.
struct I64Column {
  const char* name;
  std::int64_t (*get)(const NodeResult&);
  void (*set)(NodeResult&, std::int64_t);
  std::int64_t lo, hi;  // accepted range on read
};
constexpr std::int64_t kI64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();
const std::array<I64Column, 5> kI64Columns{{
    {"max_abs_index", [](const NodeResult& n) -> std::int64_t { return n.m.max_abs_index; },
     [](NodeResult& n, std::int64_t v) { n.m.max_abs_index = v; }, kI64Min, kI64Max},
    {"nonfinite", [](const NodeResult& n) -> std::int64_t { return n.m.nonfinite; },
     [](NodeResult& n, std::int64_t v) { n.m.nonfinite = v; }, kI64Min, kI64Max},
    {"compared", [](const NodeResult& n) -> std::int64_t { return n.m.compared; },
     [](NodeResult& n, std::int64_t v) { n.m.compared = v; }, kI64Min, kI64Max},
    {"pass", [](const NodeResult& n) -> std::int64_t { return n.pass ? 1 : 0; },
     [](NodeResult& n, std::int64_t v) { n.pass = v != 0; }, 0, 1},
    {"repeats", [](const NodeResult& n) -> std::int64_t { return n.repeats; },
     [](NodeResult& n, std::int64_t v) { n.repeats = static_cast<int>(v); },
     std::numeric_limits<int>::min(), std::numeric_limits<int>::max()},
}};

struct LogitF64 {
  const char* name;
  double LogitResult::*member;
};
constexpr std::array<LogitF64, 5> kLogitF64{{
    {"kl_mean", &LogitResult::kl_mean},
    {"kl_p99", &LogitResult::kl_p99},
    {"kl_max", &LogitResult::kl_max},
    {"top1", &LogitResult::top1},
    {"top5", &LogitResult::top5},
}};

std::string run_group(const std::string& id) { return "/runs/" + id; }

// ---------------------------------------------------------------------------------------------
// Shapes as "2x13x48" ("" for a scalar).

std::string shape_string(const std::vector<std::int64_t>& shape) {
  return fmt::format("{}", fmt::join(shape, "x"));
}

bool parse_shape(const std::string& s, std::vector<std::int64_t>& out) {
  out.clear();
  if (s.empty()) return true;
  std::size_t i = 0;
  while (true) {
    const std::size_t j = std::min(s.find('x', i), s.size());
    if (j == i) return false;
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data() + i, s.data() + j, v);
    if (ec != std::errc() || p != s.data() + j || v < 0) return false;
    out.push_back(v);
    if (j == s.size()) return true;
    i = j + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

void check_text(const std::string& path, const std::string& what, const std::string& s) {
  G4_CHECK(s.find('\0') == std::string::npos, g4::ConfigError,
           "{}: cannot write report: {} contains a NUL byte (HDF5 strings end at NUL)", path, what);
}

// Everything that would make the file differ from r is refused before the temp file exists.
void validate(const Report& r, const std::string& path) {
  for (const auto& f : kProvStrings)
    check_text(path, fmt::format("provenance.{}", f.name), r.provenance.*f.member);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < r.runs.size(); ++i) {
    const RunResult& run = r.runs[i];
    G4_CHECK(!run.id.empty(), g4::ConfigError, "{}: cannot write report: run {} has an empty id",
             path, i);
    G4_CHECK(run.id.find('/') == std::string::npos && run.id != "." && run.id != "..",
             g4::ConfigError,
             "{}: cannot write report: run id '{}' is not a usable HDF5 group name (no '/', not "
             "'.' or '..')",
             path, run.id);
    check_text(path, fmt::format("run {} id", i), run.id);
    G4_CHECK(ids.insert(run.id).second, g4::ConfigError,
             "{}: cannot write report: run id '{}' appears twice (ids must be unique)", path,
             run.id);
    check_text(path, fmt::format("run '{}' source", run.id), run.source);
    check_text(path, fmt::format("run '{}' variant", run.id), run.variant);
    check_text(path, fmt::format("run '{}' policy", run.id), run.policy);
    check_text(path, fmt::format("run '{}' mode", run.id), run.mode);
    for (std::size_t k = 0; k < run.nodes.size(); ++k) {
      const NodeResult& n = run.nodes[k];
      check_text(path, fmt::format("run '{}' node {} tap", run.id, k), n.tap);
      check_text(path, fmt::format("run '{}' node {} op", run.id, k), n.op);
      check_text(path, fmt::format("run '{}' node {} kind", run.id, k), n.kind);
      for (const auto d : n.shape)
        G4_CHECK(d >= 0, g4::ShapeError,
                 "{}: cannot write report: run '{}' node {} ('{}') has shape [{}], expected "
                 "non-negative dimensions",
                 path, run.id, k, n.tap, fmt::join(n.shape, ", "));
    }
  }
}

void write_run(H5Writer& w, const RunResult& run) {
  const std::string g = run_group(run.id);
  w.create_group(g);
  w.set_attr_string(g, "id", run.id);
  w.set_attr_string(g, "source", run.source);
  w.set_attr_string(g, "variant", run.variant);
  w.set_attr_string(g, "policy", run.policy);
  w.set_attr_string(g, "mode", run.mode);
  w.set_attr_i64(g, "pass", run.pass ? 1 : 0);
  w.set_attr_f64(g, "seconds", run.seconds);

  const std::string nodes = g + "/nodes";
  w.create_group(nodes);
  const auto n = static_cast<std::int64_t>(run.nodes.size());
  std::vector<std::string> taps, ops, kinds, shapes;
  for (const auto& node : run.nodes) {
    taps.push_back(node.tap);
    ops.push_back(node.op);
    kinds.push_back(node.kind);
    shapes.push_back(shape_string(node.shape));
  }
  w.write_strings(nodes + "/tap", taps);
  w.write_strings(nodes + "/op", ops);
  w.write_strings(nodes + "/kind", kinds);
  w.write_strings(nodes + "/shape", shapes);
  std::vector<double> f(run.nodes.size());
  for (const auto& c : kF64Columns) {
    std::transform(run.nodes.begin(), run.nodes.end(), f.begin(), c.get);
    w.write_f64(nodes + "/" + c.name, f, {n});
  }
  std::vector<std::int64_t> iv(run.nodes.size());
  for (const auto& c : kI64Columns) {
    std::transform(run.nodes.begin(), run.nodes.end(), iv.begin(), c.get);
    w.write_i64(nodes + "/" + c.name, iv, {n});
  }

  if (run.logits) {
    const std::string lg = g + "/logits";
    w.create_group(lg);
    for (const auto& c : kLogitF64) w.set_attr_f64(lg, c.name, (*run.logits).*c.member);
    w.set_attr_i64(lg, "tokens", run.logits->tokens);
  }
  if (run.moe) {
    const std::string mg = g + "/moe";
    w.create_group(mg);
    w.set_attr_f64(mg, "expert_set_agreement", run.moe->expert_set_agreement);
    w.set_attr_i64(mg, "routing_flips", run.moe->routing_flips);
    w.set_attr_i64(mg, "decisions", run.moe->decisions);
  }
}

void write_impl(const Report& r, const std::string& path, const detail::AfterRunHook* after_run) {
  validate(r, path);
  H5Writer w(path);  // the temp file; removed by ~H5Writer unless commit() ran
  w.set_attr_string("/", "schema", kReportSchema);
  w.set_attr_i64("/", "schema_version", kReportSchemaVersion);
  for (const auto& f : kProvStrings) w.set_attr_string("/", f.name, r.provenance.*f.member);
  w.set_attr_string("/", "seed", std::to_string(r.provenance.seed));
  w.set_attr_i64("/", "threads", r.provenance.threads);

  w.create_group("/machine");
  for (const auto& c : kCeilings) w.set_attr_f64("/machine", c.name, r.machine.*c.member);
  if (!r.machine.device.empty()) w.set_attr_string("/machine", "device", r.machine.device);

  w.create_group("/runs");
  std::vector<std::string> id, source, variant, policy, mode, worst_tap;
  std::vector<std::int64_t> pass, n_nodes;
  std::vector<double> worst_rel_l2, seconds;
  for (const auto& run : r.runs) {
    write_run(w, run);
    const WorstNode wn = worst_node(run);
    id.push_back(run.id);
    source.push_back(run.source);
    variant.push_back(run.variant);
    policy.push_back(run.policy);
    mode.push_back(run.mode);
    pass.push_back(run.pass ? 1 : 0);
    worst_rel_l2.push_back(wn.rel_l2);
    worst_tap.push_back(wn.tap);
    n_nodes.push_back(static_cast<std::int64_t>(run.nodes.size()));
    seconds.push_back(run.seconds);
    if (after_run && *after_run) (*after_run)(run.id);
  }

  const auto rows = static_cast<std::int64_t>(r.runs.size());
  w.create_group("/index");
  w.write_strings("/index/id", id);
  w.write_strings("/index/source", source);
  w.write_strings("/index/variant", variant);
  w.write_strings("/index/policy", policy);
  w.write_strings("/index/mode", mode);
  w.write_i64("/index/pass", pass, {rows});
  w.write_f64("/index/worst_rel_l2", worst_rel_l2, {rows});
  w.write_strings("/index/worst_tap", worst_tap);
  w.write_i64("/index/n_nodes", n_nodes, {rows});
  w.write_f64("/index/seconds", seconds, {rows});
  w.commit();
}

// ---------------------------------------------------------------------------------------------
// Reading

class ReportReader {
 public:
  explicit ReportReader(const std::string& path) : path_(path), h_(path) {}

  Report read() {
    check_schema();
    Report r;
    for (const auto& f : kProvStrings) r.provenance.*f.member = h_.attr_string("/", f.name);
    const std::string seed = h_.attr_string("/", "seed");
    const auto [p, ec] =
        std::from_chars(seed.data(), seed.data() + seed.size(), r.provenance.seed);
    G4_CHECK(!seed.empty() && ec == std::errc() && p == seed.data() + seed.size(), g4::IoError,
             "{}: root attribute 'seed' is '{}', expected a decimal unsigned 64-bit integer",
             path_, seed);
    r.provenance.threads = int_attr("/", "threads");

    require_group("/machine");
    for (const auto& c : kCeilings) r.machine.*c.member = h_.attr_f64("/machine", c.name);
    if (h_.has_attr("/machine", "device")) r.machine.device = h_.attr_string("/machine", "device");

    require_group("/index");
    const auto ids = strings_1d("/index/id");
    const auto rows = static_cast<std::int64_t>(ids.size());
    for (const char* col : {"source", "variant", "policy", "mode", "worst_tap"})
      strings_col(fmt::format("/index/{}", col), rows, "/index/id");
    i64_col("/index/pass", rows, "/index/id");
    i64_col("/index/n_nodes", rows, "/index/id");
    f64_col("/index/worst_rel_l2", rows, "/index/id");
    f64_col("/index/seconds", rows, "/index/id");

    require_group("/runs");
    std::set<std::string> listed;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      G4_CHECK(listed.insert(ids[i]).second, g4::IoError,
               "{}: dataset '/index/id' lists run '{}' twice, expected unique ids", path_, ids[i]);
      G4_CHECK(h_.is_group(run_group(ids[i])), g4::IoError,
               "{}: no group '{}' (run listed in /index/id row {})", path_, run_group(ids[i]), i);
    }
    for (const auto& name : h_.list("/runs"))
      G4_CHECK(listed.count(name) == 1, g4::IoError,
               "{}: group '/runs/{}' is not listed in /index/id, expected every run indexed",
               path_, name);
    for (const auto& id : ids) r.runs.push_back(read_run(id));
    return r;
  }

 private:
  void check_schema() {
    G4_CHECK(h_.has_attr("/", "schema"), g4::IoError,
             "{}: not a gemma4-harness report (no root attribute 'schema', expected '{}')", path_,
             kReportSchema);
    const std::string schema = h_.attr_string("/", "schema");
    G4_CHECK(schema == kReportSchema, g4::IoError,
             "{}: not a gemma4-harness report (root attribute 'schema' is '{}', expected '{}')",
             path_, schema, kReportSchema);
    G4_CHECK(h_.has_attr("/", "schema_version"), g4::IoError,
             "{}: report has no root attribute 'schema_version', expected {}", path_,
             kReportSchemaVersion);
    const std::int64_t version = h_.attr_i64("/", "schema_version");
    G4_CHECK(version == kReportSchemaVersion, g4::IoError,
             "{}: report schema_version is {}, expected {} (this build reads version {} only; "
             "see reports/SCHEMA.md)",
             path_, version, kReportSchemaVersion, kReportSchemaVersion);
  }

  void require_group(const std::string& g) const {
    G4_CHECK(h_.is_group(g), g4::IoError, "{}: no group '{}', expected one in a report", path_, g);
  }

  std::int64_t ranged_attr(const std::string& obj, const std::string& name, std::int64_t lo,
                           std::int64_t hi, const char* expected) const {
    const std::int64_t v = h_.attr_i64(obj, name);
    G4_CHECK(v >= lo && v <= hi, g4::IoError, "{}: attribute '{}' of '{}' is {}, expected {}",
             path_, name, obj, v, expected);
    return v;
  }
  int int_attr(const std::string& obj, const std::string& name) const {
    return static_cast<int>(ranged_attr(obj, name, std::numeric_limits<int>::min(),
                                        std::numeric_limits<int>::max(), "an int"));
  }
  bool bool_attr(const std::string& obj, const std::string& name) const {
    return ranged_attr(obj, name, 0, 1, "0 or 1") == 1;
  }

  // A 1-D dataset of `rows` rows; `like` names the dataset that set the row count.
  void require_dataset(const std::string& ds, const char* kind) const {
    G4_CHECK(h_.is_dataset(ds), g4::IoError, "{}: no dataset '{}', expected a 1-D {} dataset",
             path_, ds, kind);
  }
  void check_rows(const std::string& ds, std::int64_t rows, const std::string& like,
                  const char* kind) const {
    require_dataset(ds, kind);
    const auto s = h_.shape(ds);
    G4_CHECK(s.size() == 1 && s[0] == rows, g4::IoError,
             "{}: dataset '{}' has shape [{}], expected [{}] (one row per entry of '{}')", path_,
             ds, fmt::join(s, ", "), rows, like);
  }
  std::vector<std::string> strings_1d(const std::string& ds) const {
    require_dataset(ds, "string");
    const auto s = h_.shape(ds);
    G4_CHECK(s.size() == 1, g4::IoError, "{}: dataset '{}' has shape [{}], expected 1-D", path_,
             ds, fmt::join(s, ", "));
    return h_.read_strings(ds);
  }
  std::vector<std::string> strings_col(const std::string& ds, std::int64_t rows,
                                       const std::string& like) const {
    check_rows(ds, rows, like, "string");
    return h_.read_strings(ds);
  }
  std::vector<double> f64_col(const std::string& ds, std::int64_t rows,
                              const std::string& like) const {
    check_rows(ds, rows, like, "float64");
    return h_.read_f64(ds, NonFinite::allow);
  }
  std::vector<std::int64_t> i64_col(const std::string& ds, std::int64_t rows,
                                    const std::string& like) const {
    check_rows(ds, rows, like, "int64");
    return h_.read_i64(ds);
  }

  RunResult read_run(const std::string& id) const {
    const std::string g = run_group(id);
    RunResult run;
    run.id = id;
    const std::string stored_id = h_.attr_string(g, "id");
    G4_CHECK(stored_id == id, g4::IoError, "{}: attribute 'id' of '{}' is '{}', expected '{}'",
             path_, g, stored_id, id);
    run.source = h_.attr_string(g, "source");
    run.variant = h_.attr_string(g, "variant");
    run.policy = h_.attr_string(g, "policy");
    run.mode = h_.attr_string(g, "mode");
    run.pass = bool_attr(g, "pass");
    run.seconds = h_.attr_f64(g, "seconds");

    const std::string nodes = g + "/nodes";
    require_group(nodes);
    const std::string tap_ds = nodes + "/tap";
    const auto taps = strings_1d(tap_ds);
    const auto n = static_cast<std::int64_t>(taps.size());
    run.nodes.resize(taps.size());
    const auto ops = strings_col(nodes + "/op", n, tap_ds);
    const auto shapes = strings_col(nodes + "/shape", n, tap_ds);
    // `kind` is newer than the first reports: absent means unknown ("").
    const auto kinds = h_.has(nodes + "/kind") ? strings_col(nodes + "/kind", n, tap_ds)
                                               : std::vector<std::string>(taps.size());
    for (std::size_t k = 0; k < taps.size(); ++k) {
      NodeResult& node = run.nodes[k];
      node.tap = taps[k];
      node.op = ops[k];
      node.kind = kinds[k];
      G4_CHECK(parse_shape(shapes[k], node.shape), g4::IoError,
               "{}: dataset '{}/shape' row {} is '{}', expected non-negative dimensions joined "
               "by 'x' (e.g. '2x13x48'; '' for a scalar)",
               path_, nodes, k, shapes[k]);
    }
    for (const auto& c : kF64Columns) {
      const auto v = f64_col(nodes + "/" + c.name, n, tap_ds);
      for (std::size_t k = 0; k < v.size(); ++k) c.set(run.nodes[k], v[k]);
    }
    for (const auto& c : kI64Columns) {
      const std::string ds = nodes + "/" + c.name;
      const auto v = i64_col(ds, n, tap_ds);
      for (std::size_t k = 0; k < v.size(); ++k) {
        G4_CHECK(v[k] >= c.lo && v[k] <= c.hi, g4::IoError,
                 "{}: dataset '{}' row {} is {}, expected a value in [{}, {}]", path_, ds, k, v[k],
                 c.lo, c.hi);
        c.set(run.nodes[k], v[k]);
      }
    }

    const std::string lg = g + "/logits";
    if (h_.has(lg)) {
      require_group(lg);
      LogitResult l;
      for (const auto& c : kLogitF64) l.*c.member = h_.attr_f64(lg, c.name);
      l.tokens = h_.attr_i64(lg, "tokens");
      run.logits = l;
    }
    const std::string mg = g + "/moe";
    if (h_.has(mg)) {
      require_group(mg);
      MoeResult m;
      m.expert_set_agreement = h_.attr_f64(mg, "expert_set_agreement");
      m.routing_flips = h_.attr_i64(mg, "routing_flips");
      m.decisions = h_.attr_i64(mg, "decisions");
      run.moe = m;
    }
    return run;
  }

  std::string path_;
  H5Reader h_;
};

// ---------------------------------------------------------------------------------------------
// Text helpers shared by the markdown and terminal summaries

// true when a ranks strictly worse than b (NaN above everything, then larger first).
bool worse(double a, double b) {
  if (std::isnan(a)) return !std::isnan(b);
  if (std::isnan(b)) return false;
  return a > b;
}

std::string sci(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.3e}", v);
}
std::string pct(double frac) {
  if (!std::isfinite(frac)) return "n/a";
  return fmt::format("{:.1f}%", 100.0 * frac);
}
std::string rate(double v) {  // GFLOP/s, GB/s
  if (!std::isfinite(v)) return "n/a";
  if (std::abs(v) >= 100) return fmt::format("{:.0f}", v);
  if (std::abs(v) >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3g}", v);
}
std::string dur(double s) {
  if (!std::isfinite(s)) return "n/a";
  if (s >= 0.1 || s == 0) return fmt::format("{:.3f} s", s);
  if (s >= 1e-4) return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.3f} us", s * 1e6);
}
std::string verdict(bool pass) { return pass ? "pass" : "FAIL"; }

// Markdown: no table breaks from '|' or newlines inside a cell.
std::string md(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}
// An inline code span that survives backticks inside s.
std::string code(std::string_view s) {
  if (s.empty()) return "(none)";
  std::size_t longest = 0, run = 0;
  for (char c : s) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(longest + 1, '`');
  const bool pad = s.front() == '`' || s.back() == '`';
  return fence + (pad ? " " : "") + md(s) + (pad ? " " : "") + fence;
}

std::string ceiling_text(const MachineCeilings& m, const char* sep) {
  const auto one = [](const char* name, double v, const char* unit) {
    return std::isfinite(v) ? fmt::format("{} {} {}", name, rate(v), unit)
                            : fmt::format("{} not measured", name);
  };
  return fmt::format("{}{}{}{}{}{}{}{}{}", one("dgemm", m.dgemm_gflops, "GFLOP/s"), sep,
                     one("sgemm", m.sgemm_gflops, "GFLOP/s"), sep,
                     one("bf16", m.bf16_gflops, "GFLOP/s"), sep, one("int8", m.int8_gops, "GOP/s"),
                     sep, one(m.device.empty() ? "stream read" : "device copy", m.stream_read_gbs, "GB/s")) +
         (m.device.empty() ? std::string() : fmt::format("{}measured on {}", sep, m.device));
}

std::string ceiling_fraction_text(const Throughput& t) {
  if (!std::isfinite(t.ceiling_fraction)) return fmt::format("n/a ({})", ceiling_name(t.ceiling));
  return fmt::format("{} of {}", pct(t.ceiling_fraction), ceiling_name(t.ceiling));
}

// (run, node) pairs ordered worst first by rel_l2; ties keep report order. Nodes without error
// numbers (untimed-only "untapped" nodes, compared == 0) and expert-id taps are not ranked.
std::vector<std::pair<std::size_t, std::size_t>> worst_nodes(const Report& r, std::size_t k) {
  std::vector<std::pair<std::size_t, std::size_t>> all;
  for (std::size_t i = 0; i < r.runs.size(); ++i)
    for (std::size_t j = 0; j < r.runs[i].nodes.size(); ++j)
      if (ranked(r.runs[i].nodes[j])) all.emplace_back(i, j);
  std::stable_sort(all.begin(), all.end(), [&](const auto& a, const auto& b) {
    return worse(r.runs[a.first].nodes[a.second].m.rel_l2, r.runs[b.first].nodes[b.second].m.rel_l2);
  });
  if (all.size() > k) all.resize(k);
  return all;
}

std::string max_abs_text(const NodeResult& n) {
  if (n.m.max_abs_index < 0) return sci(n.m.max_abs);
  return fmt::format("{} at {}", sci(n.m.max_abs), coord(n.m.max_abs_index, n.shape));
}

std::size_t failed_runs(const Report& r) {
  return static_cast<std::size_t>(
      std::count_if(r.runs.begin(), r.runs.end(), [](const RunResult& x) { return !x.pass; }));
}

std::string headline(const Report& r) {
  const std::size_t failed = failed_runs(r);
  if (r.runs.empty()) return "no runs";
  if (failed == 0) return fmt::format("PASS: {} run{}, all pass", r.runs.size(), r.runs.size() == 1 ? "" : "s");
  return fmt::format("FAIL: {} of {} runs failed", failed, r.runs.size());
}

// Fixed-width text table: columns left-aligned unless right[c].
std::string text_table(const std::vector<std::vector<std::string>>& rows,
                       const std::vector<bool>& right, const std::string& indent) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      const bool r = c < right.size() && right[c];
      const std::string pad(width[c] - row[c].size(), ' ');
      line += r ? pad + row[c] : row[c] + (c + 1 < row.size() ? pad : "");
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void write_report(const Report& r, const std::string& path) { write_impl(r, path, nullptr); }

namespace detail {
void write_report(const Report& r, const std::string& path, const AfterRunHook& after_run) {
  write_impl(r, path, &after_run);
}
}  // namespace detail

Report read_report(const std::string& path) {
  try {
    ReportReader reader(path);
    return reader.read();
  } catch (const g4::IoError&) {
    throw;
  } catch (const g4::Error& e) {  // e.g. a DataError from an int column: still a bad file
    throw g4::IoError(e.what());
  }
}

WorstNode worst_node(const RunResult& run) {
  WorstNode w;
  for (std::size_t i = 0; i < run.nodes.size(); ++i) {
    if (!ranked(run.nodes[i])) continue;
    if (w.index < 0 || worse(run.nodes[i].m.rel_l2, w.rel_l2)) {
      w.index = static_cast<std::ptrdiff_t>(i);
      w.rel_l2 = run.nodes[i].m.rel_l2;
      w.tap = run.nodes[i].tap;
    }
  }
  return w;
}

Ceiling ceiling_for_policy(std::string_view policy) {
  std::string p(policy);
  for (char& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto has = [&](std::string_view s) { return p.find(s) != std::string::npos; };
  if (has("fp64") || has("f64") || has("float64") || p == "reference") return Ceiling::dgemm;
  if (has("a16")) return Ceiling::bf16;  // weight-only int8 with 16-bit activations
  if (p.rfind("int8", 0) == 0) return Ceiling::int8;
  if (has("bf16") || has("fp16") || has("f16") || has("fp8")) return Ceiling::bf16;
  return Ceiling::sgemm;
}

std::string_view ceiling_name(Ceiling c) {
  switch (c) {
    case Ceiling::dgemm: return "dgemm";
    case Ceiling::sgemm: return "sgemm";
    case Ceiling::bf16: return "bf16";
    case Ceiling::int8: return "int8";
  }
  return "?";
}

double ceiling_value(const MachineCeilings& m, Ceiling c) {
  switch (c) {
    case Ceiling::dgemm: return m.dgemm_gflops;
    case Ceiling::sgemm: return m.sgemm_gflops;
    case Ceiling::bf16: return m.bf16_gflops;
    case Ceiling::int8: return m.int8_gops;
  }
  return kNaN;
}

Throughput run_throughput(const RunResult& run, const MachineCeilings& m) {
  Throughput t;
  t.ceiling = ceiling_for_policy(run.policy);
  const double peak = ceiling_value(m, t.ceiling) * 1e9;  // FLOP/s
  const double bw = m.stream_read_gbs * 1e9;              // B/s
  double roof = 0;
  for (const auto& n : run.nodes) {
    if (!std::isfinite(n.time_median_s) || n.time_median_s < 0) continue;
    ++t.timed_nodes;
    t.seconds += n.time_median_s;
    t.flops += n.flops;
    t.bytes += n.bytes;
    roof += std::max(n.flops / peak, n.bytes / bw);  // NaN propagates when a ceiling is NaN
    if (n.kind == "linear" || n.kind == "experts") {
      ++t.matmul_nodes;
      t.matmul_seconds += n.time_median_s;
      t.matmul_flops += n.flops;
      t.matmul_bytes += n.bytes;
    }
  }
  if (t.matmul_nodes > 0 && t.matmul_seconds > 0) {
    t.matmul_gflops = t.matmul_flops / t.matmul_seconds / 1e9;
    t.matmul_gbs = t.matmul_bytes / t.matmul_seconds / 1e9;
    t.matmul_ceiling_fraction = t.matmul_gflops / ceiling_value(m, t.ceiling);
    t.matmul_stream_fraction = t.matmul_gbs / m.stream_read_gbs;
  }
  if (t.timed_nodes == 0 || !(t.seconds > 0)) return t;
  t.gflops = t.flops / t.seconds / 1e9;
  t.gbs = t.bytes / t.seconds / 1e9;
  t.ceiling_fraction = t.gflops / ceiling_value(m, t.ceiling);
  t.stream_fraction = t.gbs / m.stream_read_gbs;
  t.roofline_fraction = std::isfinite(peak) && std::isfinite(bw) ? roof / t.seconds : kNaN;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Markdown

std::string report_markdown(const Report& r) {
  const Provenance& p = r.provenance;
  std::string out;
  out += fmt::format("## gemma4-harness report: {}\n\n", headline(r));
  if (const std::size_t failed = failed_runs(r); failed > 0) {
    std::vector<std::string> ids;
    for (const auto& run : r.runs)
      if (!run.pass) ids.push_back(code(run.id));
    out += fmt::format("Failed: {}\n\n", fmt::join(ids, ", "));
  }
  out += fmt::format("Commit {} on {} ({}, {} threads) at {}; command {}\n\n", code(p.commit),
                     code(p.hostname), md(p.cpu_model.empty() ? "unknown CPU" : p.cpu_model),
                     p.threads, md(p.time_utc.empty() ? "unknown time" : p.time_utc),
                     code(p.command_line));
  out += "<details><summary>Provenance</summary>\n\n| field | value |\n|---|---|\n";
  for (const auto& f : kProvStrings) out += fmt::format("| {} | {} |\n", f.name, md(p.*f.member));
  out += fmt::format("| seed | {} |\n| threads | {} |\n\n</details>\n\n", p.seed, p.threads);
  out += fmt::format("**Machine ceilings** (measured at start-up): {}\n\n",
                     ceiling_text(r.machine, ", "));

  // One table per source: policies (with the variant when a source has several) x modes.
  std::vector<std::string> sources;
  for (const auto& run : r.runs)
    if (std::find(sources.begin(), sources.end(), run.source) == sources.end())
      sources.push_back(run.source);
  if (!sources.empty()) out += "### Drift\n\n";
  for (const auto& src : sources) {
    std::vector<std::size_t> runs;
    std::vector<std::string> modes, variants;
    for (std::size_t i = 0; i < r.runs.size(); ++i) {
      const RunResult& run = r.runs[i];
      if (run.source != src) continue;
      runs.push_back(i);
      if (std::find(modes.begin(), modes.end(), run.mode) == modes.end()) modes.push_back(run.mode);
      if (std::find(variants.begin(), variants.end(), run.variant) == variants.end())
        variants.push_back(run.variant);
    }
    const auto row_label = [&](const RunResult& run) {
      return variants.size() > 1 ? fmt::format("{} / {}", run.variant, run.policy) : run.policy;
    };
    std::vector<std::string> rows;
    for (std::size_t i : runs)
      if (std::find(rows.begin(), rows.end(), row_label(r.runs[i])) == rows.end())
        rows.push_back(row_label(r.runs[i]));

    out += fmt::format("#### {}{}\n\n", code(src),
                       variants.size() == 1 && !variants[0].empty()
                           ? fmt::format(" ({})", md(variants[0]))
                           : std::string());
    out += fmt::format("| {} |", variants.size() > 1 ? "variant / policy" : "policy");
    for (const auto& m : modes) out += fmt::format(" {} |", md(m.empty() ? "(mode)" : m));
    out += "\n|---|";
    for (std::size_t k = 0; k < modes.size(); ++k) out += "---|";
    out += "\n";
    for (const auto& row : rows) {
      out += fmt::format("| {} |", md(row));
      for (const auto& mode : modes) {
        std::vector<std::string> cell;
        for (std::size_t i : runs) {
          const RunResult& run = r.runs[i];
          if (row_label(run) != row || run.mode != mode) continue;
          const WorstNode w = worst_node(run);
          std::string c = run.pass ? "pass" : "**FAIL**";
          c += w.index >= 0 ? fmt::format(": rel_l2 {} at {}", sci(w.rel_l2), code(w.tap))
                            : ": no nodes";
          if (run.logits)
            c += fmt::format("<br>KL {}, top-1 {}", sci(run.logits->kl_mean), pct(run.logits->top1));
          if (run.moe)
            c += fmt::format("<br>experts {}, {} flips", pct(run.moe->expert_set_agreement),
                             run.moe->routing_flips);
          c += fmt::format("<br>{}", dur(run.seconds));
          cell.push_back(c);
        }
        out += fmt::format(" {} |", cell.empty() ? "-" : fmt::format("{}", fmt::join(cell, "<hr>")));
      }
      out += "\n";
    }
    out += "\n";
  }

  const auto worst = worst_nodes(r, 10);
  if (!worst.empty()) {
    out += fmt::format("### Worst {} nodes\n\n", worst.size());
    out += "| # | run | tap | op | shape | rel_l2 | bound | max_abs | nonfinite | result |\n"
           "|---:|---|---|---|---|---:|---:|---|---:|---|\n";
    for (std::size_t k = 0; k < worst.size(); ++k) {
      const RunResult& run = r.runs[worst[k].first];
      const NodeResult& n = run.nodes[worst[k].second];
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", k + 1,
                         code(run.id), code(n.tap), md(n.op),
                         n.shape.empty() ? std::string("scalar") : shape_string(n.shape),
                         sci(n.m.rel_l2), std::isnan(n.bound) ? "-" : sci(n.bound),
                         md(max_abs_text(n)), n.m.nonfinite, n.pass ? "pass" : "**FAIL**");
    }
    out += "\n";
  }

  if (!r.runs.empty()) {
    out += "### Throughput\n\n"
           "| run | timed nodes | node time | GFLOP | GFLOP/s | of ceiling | GB/s | of stream | "
           "roofline |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& run : r.runs) {
      const Throughput t = run_throughput(run, r.machine);
      if (t.timed_nodes == 0) {
        out += fmt::format("| {} | 0 | not timed | | | | | | |\n", code(run.id));
        continue;
      }
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", code(run.id),
                         t.timed_nodes, dur(t.seconds), rate(t.flops / 1e9), rate(t.gflops),
                         ceiling_fraction_text(t), rate(t.gbs), pct(t.stream_fraction),
                         pct(t.roofline_fraction));
    }
    out += "\n";
    // The matmul nodes alone: a prefill's matmul efficiency (of the compute ceiling) and a decode
    // step's weight streaming (of stream bandwidth).
    std::string mm;
    for (const auto& run : r.runs) {
      const Throughput t = run_throughput(run, r.machine);
      if (t.matmul_nodes == 0 || !(t.matmul_seconds > 0)) continue;
      mm += fmt::format("| {} | {} | {} | {} | {} | {} of {} | {} | {} |\n", code(run.id), t.matmul_nodes,
                        dur(t.matmul_seconds), pct(t.matmul_seconds / t.seconds), rate(t.matmul_gflops),
                        pct(t.matmul_ceiling_fraction), ceiling_name(t.ceiling), rate(t.matmul_gbs),
                        pct(t.matmul_stream_fraction));
    }
    if (!mm.empty())
      out += "### Matmuls (prefill: of the compute ceiling; decode: weight streaming, of stream)\n\n"
             "| run | matmul nodes | time | of node time | GFLOP/s | of ceiling | GB/s | of stream |\n"
             "|---|---:|---:|---:|---:|---:|---:|---:|\n" + mm + "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Terminal

std::string report_terminal(const Report& r) {
  const Provenance& p = r.provenance;
  std::string out;
  out += fmt::format("gemma4-harness report: {}\n", headline(r));
  out += fmt::format("commit {}  host {} ({}, {} threads)  {}\n", p.commit, p.hostname,
                     p.cpu_model.empty() ? "unknown CPU" : p.cpu_model, p.threads, p.time_utc);
  out += fmt::format("command: {}\n", p.command_line);
  out += fmt::format("ceilings: {}\n", ceiling_text(r.machine, ", "));
  if (r.runs.empty()) return out;

  std::vector<std::vector<std::string>> rows;
  rows.push_back({"run", "result", "worst rel_l2", "at tap", "KL mean", "top-1", "time",
                  "GFLOP/s", "of ceiling"});
  for (const auto& run : r.runs) {
    const WorstNode w = worst_node(run);
    const Throughput t = run_throughput(run, r.machine);
    rows.push_back({run.id, verdict(run.pass), w.index >= 0 ? sci(w.rel_l2) : "-",
                    w.index >= 0 ? w.tap : "(no nodes)",
                    run.logits ? sci(run.logits->kl_mean) : "-",
                    run.logits ? pct(run.logits->top1) : "-", dur(run.seconds),
                    t.timed_nodes > 0 ? rate(t.gflops) : "-",
                    t.timed_nodes > 0 ? ceiling_fraction_text(t) : "-"});
  }
  out += fmt::format("\n{}", text_table(rows, {false, false, true, false, true, true, true, true, true}, ""));

  const auto worst = worst_nodes(r, 10);
  if (!worst.empty()) {
    out += fmt::format("\nworst {} nodes:\n", worst.size());
    std::vector<std::vector<std::string>> wr;
    for (std::size_t k = 0; k < worst.size(); ++k) {
      const RunResult& run = r.runs[worst[k].first];
      const NodeResult& n = run.nodes[worst[k].second];
      wr.push_back({fmt::format("{}.", k + 1), sci(n.m.rel_l2),
                    std::isnan(n.bound) ? std::string("(no bound)") : fmt::format("<= {}", sci(n.bound)), verdict(n.pass),
                    run.id, n.tap, n.op, fmt::format("[{}]", shape_string(n.shape))});
    }
    out += text_table(wr, {true, true, false, false, false, false, false, false}, "  ");
  }
  return out;
}

}  // namespace g4::harness
