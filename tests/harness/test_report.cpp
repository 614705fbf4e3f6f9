#define BOOST_TEST_MODULE test_report
#include <boost/test/unit_test.hpp>

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "golden/h5.hpp"
#include "harness/report.hpp"
#include "reference/common/check.hpp"

using namespace g4::harness;
namespace fs = std::filesystem;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A private scratch folder per test case, removed afterwards.
struct Scratch {
  fs::path dir;
  Scratch() {
    dir = fs::temp_directory_path() /
          fmt::format("g4_test_report_{}_{}", static_cast<long>(::getpid()),
                      boost::unit_test::framework::current_test_case().p_name.get());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

NodeResult node(std::string tap, std::string op, std::vector<std::int64_t> shape, double rel_l2) {
  NodeResult n;
  n.tap = std::move(tap);
  n.op = std::move(op);
  n.kind = n.op == "tap" ? "linear" : n.op;
  n.shape = std::move(shape);
  n.m.rel_l2 = rel_l2;
  n.m.max_abs = 0.125;
  n.m.max_abs_index = 5;
  n.m.max_rel = 0.5;
  n.m.cosine = 0.999;
  n.m.nmse = rel_l2 * rel_l2;
  n.m.ref_norm = 42.0;
  n.m.nonfinite = 0;
  n.m.compared = 1248;
  n.naive_rel_l2 = rel_l2 / 2;
  n.bound = 1e-2;
  n.pass = true;
  n.headroom = 1e-3;
  n.time_median_s = kNaN;
  n.repeats = 0;
  n.flops = 0;
  n.bytes = 0;
  return n;
}

// Three runs: A (logits + moe, NaN fields, a scalar node), B (failed: +inf rel_l2, a zero-size
// shape), C (another source, timed nodes, no logits/moe).
Report sample_report() {
  Report r;
  r.provenance.commit = "abc1234";
  r.provenance.time_utc = "2025-06-01T12:00:00Z";
  r.provenance.hostname = "ci-runner-7";
  r.provenance.cpu_model = "Intel Xeon Platinum 8480+";
  r.provenance.cpu_flags = "avx2 avx512f amx_bf16 amx_int8";
  r.provenance.compiler = "GCC 12.2.0";
  r.provenance.command_line = "gemma4-harness run --golden golden/data/e2b_tiny --out r.h5";
  r.provenance.library_versions = "openblas 0.3.21; hdf5 1.10.8";
  r.provenance.tolerance_file = "harness/tolerances.json v1";
  r.provenance.seed = 18446744073709551615ull;  // above INT64_MAX: must survive the round trip
  r.provenance.threads = 16;
  r.machine.dgemm_gflops = 170.25;
  r.machine.sgemm_gflops = 100.0;
  r.machine.bf16_gflops = kNaN;  // not measured
  r.machine.int8_gops = 6380.5;
  r.machine.stream_read_gbs = 20.0;

  RunResult a;
  a.id = "golden.e2b_tiny.bf16.teacher-forced";
  a.source = "golden:golden/data/e2b_tiny";
  a.variant = "e2b_tiny";
  a.policy = "bf16";
  a.mode = "teacher-forced";
  a.pass = true;
  a.seconds = 1.5;
  a.nodes.push_back(node("model.language_model.embed_tokens", "embedding", {2, 13, 48}, 2.0e-3));
  a.nodes.back().time_median_s = 0.25;
  a.nodes.back().repeats = 5;
  a.nodes.back().bytes = 1e6;
  a.nodes.push_back(node("model.language_model.layers.0.mlp", "mlp", {2, 13, 48}, 1.234e-3));
  NodeResult broken = node("model.language_model.norm", "rms_norm", {}, kNaN);
  broken.m.cosine = kNaN;
  broken.m.nmse = kNaN;
  broken.m.max_abs_index = -1;
  broken.naive_rel_l2 = kNaN;
  broken.bound = kNaN;
  broken.headroom = kNaN;
  a.nodes.push_back(broken);
  a.logits = LogitResult{2.5e-4, 1e-3, 4e-3, 0.995, 0.98, 26};
  a.moe = MoeResult{0.975, 3, 120};
  r.runs.push_back(a);

  RunResult b;
  b.id = "golden.e2b_tiny.bf16.free-running";
  b.source = a.source;
  b.variant = a.variant;
  b.policy = "bf16";
  b.mode = "free-running";
  b.pass = false;
  b.seconds = 2.25;
  NodeResult attn = node("model.language_model.layers.0.self_attn", "attention", {2, 0, 48}, kInf);
  attn.m.nonfinite = 7;
  attn.m.max_abs = kInf;
  attn.m.max_rel = -kInf;
  attn.bound = 5e-2;
  attn.pass = false;
  b.nodes.push_back(attn);
  b.nodes.push_back(node("model.language_model.layers.0.mlp", "mlp", {2, 13, 48}, 0.0321));
  b.nodes.back().pass = false;
  b.logits = LogitResult{0.5, 2.0, 7.5, 0.75, 0.6, 26};
  r.runs.push_back(b);

  RunResult c;
  c.id = "real.e2b.layer0.fp32.teacher-forced";
  c.source = "real:e2b:layer0:prefill512";
  c.variant = "e2b";
  c.policy = "fp32";
  c.mode = "teacher-forced";
  c.pass = true;
  c.seconds = 0.75;
  for (const char* proj : {"q_proj", "o_proj"}) {
    c.nodes.push_back(node(fmt::format("model.language_model.layers.0.self_attn.{}", proj),
                           "linear", {512, 2048}, proj[0] == 'q' ? 4.5e-7 : 3.0e-7));
    c.nodes.back().time_median_s = 0.5;
    c.nodes.back().repeats = 7;
    c.nodes.back().flops = 2e9;
    c.nodes.back().bytes = 4e8;
  }
  r.runs.push_back(c);
  return r;
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

#define CHECK_SAME(A, B) BOOST_TEST(same((A), (B)), #A " = " << (A) << ", read back " << (B))

void check_equal(const Report& x, const Report& y) {
  const Provenance &p = x.provenance, &q = y.provenance;
  BOOST_TEST(p.commit == q.commit);
  BOOST_TEST(p.time_utc == q.time_utc);
  BOOST_TEST(p.hostname == q.hostname);
  BOOST_TEST(p.cpu_model == q.cpu_model);
  BOOST_TEST(p.cpu_flags == q.cpu_flags);
  BOOST_TEST(p.compiler == q.compiler);
  BOOST_TEST(p.command_line == q.command_line);
  BOOST_TEST(p.library_versions == q.library_versions);
  BOOST_TEST(p.tolerance_file == q.tolerance_file);
  BOOST_TEST(p.seed == q.seed);
  BOOST_TEST(p.threads == q.threads);
  CHECK_SAME(x.machine.dgemm_gflops, y.machine.dgemm_gflops);
  CHECK_SAME(x.machine.sgemm_gflops, y.machine.sgemm_gflops);
  CHECK_SAME(x.machine.bf16_gflops, y.machine.bf16_gflops);
  CHECK_SAME(x.machine.int8_gops, y.machine.int8_gops);
  CHECK_SAME(x.machine.stream_read_gbs, y.machine.stream_read_gbs);
  BOOST_TEST_REQUIRE(x.runs.size() == y.runs.size());
  for (std::size_t i = 0; i < x.runs.size(); ++i) {
    const RunResult &a = x.runs[i], &b = y.runs[i];
    BOOST_TEST_CONTEXT("run " << a.id) {
      BOOST_TEST(a.id == b.id);
      BOOST_TEST(a.source == b.source);
      BOOST_TEST(a.variant == b.variant);
      BOOST_TEST(a.policy == b.policy);
      BOOST_TEST(a.mode == b.mode);
      BOOST_TEST(a.pass == b.pass);
      CHECK_SAME(a.seconds, b.seconds);
      BOOST_TEST_REQUIRE(a.nodes.size() == b.nodes.size());
      for (std::size_t k = 0; k < a.nodes.size(); ++k) {
        const NodeResult &n = a.nodes[k], &m = b.nodes[k];
        BOOST_TEST_CONTEXT("node " << k << " " << n.tap) {
          BOOST_TEST(n.tap == m.tap);
          BOOST_TEST(n.op == m.op);
          BOOST_TEST(n.kind == m.kind);
          BOOST_TEST(n.shape == m.shape);
          CHECK_SAME(n.m.rel_l2, m.m.rel_l2);
          CHECK_SAME(n.m.max_abs, m.m.max_abs);
          CHECK_SAME(n.m.max_rel, m.m.max_rel);
          CHECK_SAME(n.m.cosine, m.m.cosine);
          CHECK_SAME(n.m.nmse, m.m.nmse);
          CHECK_SAME(n.m.ref_norm, m.m.ref_norm);
          BOOST_TEST(n.m.max_abs_index == m.m.max_abs_index);
          BOOST_TEST(n.m.nonfinite == m.m.nonfinite);
          BOOST_TEST(n.m.compared == m.m.compared);
          CHECK_SAME(n.naive_rel_l2, m.naive_rel_l2);
          CHECK_SAME(n.bound, m.bound);
          BOOST_TEST(n.pass == m.pass);
          CHECK_SAME(n.headroom, m.headroom);
          CHECK_SAME(n.time_median_s, m.time_median_s);
          BOOST_TEST(n.repeats == m.repeats);
          CHECK_SAME(n.flops, m.flops);
          CHECK_SAME(n.bytes, m.bytes);
        }
      }
      BOOST_TEST(a.logits.has_value() == b.logits.has_value());
      if (a.logits && b.logits) {
        CHECK_SAME(a.logits->kl_mean, b.logits->kl_mean);
        CHECK_SAME(a.logits->kl_p99, b.logits->kl_p99);
        CHECK_SAME(a.logits->kl_max, b.logits->kl_max);
        CHECK_SAME(a.logits->top1, b.logits->top1);
        CHECK_SAME(a.logits->top5, b.logits->top5);
        BOOST_TEST(a.logits->tokens == b.logits->tokens);
      }
      BOOST_TEST(a.moe.has_value() == b.moe.has_value());
      if (a.moe && b.moe) {
        CHECK_SAME(a.moe->expert_set_agreement, b.moe->expert_set_agreement);
        BOOST_TEST(a.moe->routing_flips == b.moe->routing_flips);
        BOOST_TEST(a.moe->decisions == b.moe->decisions);
      }
    }
  }
}

// Runs f, which must throw g4::IoError; returns its message.
template <class F>
std::string io_error(F&& f) {
  try {
    f();
  } catch (const g4::IoError& e) {
    BOOST_TEST_MESSAGE("IoError: " << e.what());
    return e.what();
  } catch (const std::exception& e) {
    BOOST_ERROR("expected g4::IoError, got another exception: " << e.what());
    return {};
  }
  BOOST_ERROR("expected g4::IoError, nothing was thrown");
  return {};
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
#define CHECK_CONTAINS(S, PART)                                                 \
  do {                                                                          \
    const std::string check_s_ = (S);                                           \
    BOOST_TEST(contains(check_s_, (PART)), "missing '" << (PART) << "' in:\n" << check_s_); \
  } while (0)

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_every_field) {
  Scratch s;
  const Report r = sample_report();
  const std::string path = s.path("report.h5");
  write_report(r, path);
  BOOST_TEST(s.files() == std::vector<std::string>{"report.h5"});  // no temp left behind
  check_equal(r, read_report(path));

  // The layout promised by reports/SCHEMA.md, read with the plain reader.
  g4::golden::H5Reader h(path);
  BOOST_TEST(h.attr_string("/", "schema") == "gemma4-harness-report");
  BOOST_TEST(h.attr_i64("/", "schema_version") == 1);
  BOOST_TEST(h.attr_string("/", "seed") == "18446744073709551615");
  BOOST_TEST(h.attr_f64("/machine", "dgemm_gflops") == 170.25);
  BOOST_TEST(h.read_strings("/index/id") ==
             (std::vector<std::string>{r.runs[0].id, r.runs[1].id, r.runs[2].id}));
  BOOST_TEST(h.read_strings("/index/worst_tap") ==
             (std::vector<std::string>{"model.language_model.norm",  // NaN ranks worst
                                       "model.language_model.layers.0.self_attn",  // +inf
                                       "model.language_model.layers.0.self_attn.q_proj"}));
  const auto worst = h.read_f64("/index/worst_rel_l2", g4::golden::NonFinite::allow);
  BOOST_TEST(std::isnan(worst[0]));
  BOOST_TEST(worst[1] == kInf);
  BOOST_TEST(worst[2] == 4.5e-7);
  BOOST_TEST(h.read_i64("/index/pass") == (std::vector<std::int64_t>{1, 0, 1}));
  BOOST_TEST(h.read_i64("/index/n_nodes") == (std::vector<std::int64_t>{3, 2, 2}));
  const std::string nodes = "/runs/" + r.runs[0].id + "/nodes";
  BOOST_TEST(h.read_strings(nodes + "/shape") ==
             (std::vector<std::string>{"2x13x48", "2x13x48", ""}));
  BOOST_TEST(h.shape(nodes + "/rel_l2") == (std::vector<std::int64_t>{3}));
  BOOST_TEST(h.is_group("/runs/" + r.runs[0].id + "/moe"));
  BOOST_TEST(!h.has("/runs/" + r.runs[2].id + "/logits"));
  BOOST_TEST(h.attr_f64("/runs/" + r.runs[1].id, "seconds") == 2.25);
}

BOOST_AUTO_TEST_CASE(round_trip_edge_cases) {
  Scratch s;
  Report empty;  // no runs at all
  write_report(empty, s.path("empty.h5"));
  check_equal(empty, read_report(s.path("empty.h5")));

  Report r;
  RunResult run;  // a run with no nodes, odd but legal characters in the id
  run.id = "a run, with spaces: (1) [x] .h5";
  run.pass = false;
  run.seconds = kNaN;
  r.runs.push_back(run);
  run.id = "second";
  run.nodes.push_back(node("t", "op", {0}, 0.0));
  run.nodes.push_back(node("t", "op", {1, 1, 1, 1, 1, 1, 1, 1}, -0.0));
  r.runs.push_back(run);
  write_report(r, s.path("edge.h5"));
  const Report back = read_report(s.path("edge.h5"));
  check_equal(r, back);
  BOOST_TEST(worst_node(r.runs[0]).index == -1);
  // Overwriting an existing report replaces it.
  write_report(empty, s.path("edge.h5"));
  BOOST_TEST(read_report(s.path("edge.h5")).runs.empty());
}

BOOST_AUTO_TEST_CASE(interrupted_write_leaves_previous_report) {
  Scratch s;
  const std::string path = s.path("report.h5");
  Report previous = sample_report();
  previous.runs.resize(1);
  write_report(previous, path);

  // An exception after two runs are in the temp file, before commit.
  int seen = 0;
  bool temp_existed = false;
  const auto hook = [&](const std::string& id) {
    ++seen;
    for (const auto& f : s.files()) temp_existed = temp_existed || contains(f, "report.h5.tmp.");
    if (seen == 2) throw std::runtime_error("simulated crash after " + id);
  };
  BOOST_CHECK_THROW(detail::write_report(sample_report(), path, hook), std::runtime_error);
  BOOST_TEST(seen == 2);
  BOOST_TEST(temp_existed);                                              // it did write a temp
  BOOST_TEST(s.files() == std::vector<std::string>{"report.h5"});        // and removed it
  check_equal(previous, read_report(path));                              // previous intact

  // Same with no previous report: nothing appears at the target.
  const std::string fresh = s.path("fresh.h5");
  seen = 0;
  BOOST_CHECK_THROW(detail::write_report(sample_report(), fresh, hook), std::runtime_error);
  BOOST_TEST(!fs::exists(fresh));
  BOOST_TEST(s.files() == std::vector<std::string>{"report.h5"});
}

BOOST_AUTO_TEST_CASE(invalid_reports_are_refused_before_writing) {
  Scratch s;
  const std::string path = s.path("report.h5");
  write_report(sample_report(), path);

  Report dup = sample_report();
  dup.runs[2].id = dup.runs[0].id;
  BOOST_CHECK_THROW(write_report(dup, path), g4::ConfigError);
  Report slash = sample_report();
  slash.runs[1].id = "a/b";
  BOOST_CHECK_THROW(write_report(slash, path), g4::ConfigError);
  Report unnamed = sample_report();
  unnamed.runs[1].id.clear();
  BOOST_CHECK_THROW(write_report(unnamed, path), g4::ConfigError);
  Report nul = sample_report();
  nul.runs[0].nodes[1].tap = std::string("ab\0cd", 5);
  BOOST_CHECK_THROW(write_report(nul, path), g4::ConfigError);
  Report negative = sample_report();
  negative.runs[2].nodes[0].shape = {512, -1};
  try {
    write_report(negative, path);
    BOOST_ERROR("a negative dimension was accepted");
  } catch (const g4::ShapeError& e) {
    CHECK_CONTAINS(std::string(e.what()), path);
    CHECK_CONTAINS(std::string(e.what()), "q_proj");
  }
  BOOST_TEST(s.files() == std::vector<std::string>{"report.h5"});
  check_equal(sample_report(), read_report(path));

  const std::string nodir = s.path("no/such/dir/report.h5");
  CHECK_CONTAINS(io_error([&] { write_report(sample_report(), nodir); }), nodir);
}

BOOST_AUTO_TEST_CASE(bad_files_name_the_file) {
  Scratch s;
  // Missing file, and a file that is not HDF5.
  const std::string missing = s.path("missing.h5");
  CHECK_CONTAINS(io_error([&] { read_report(missing); }), missing);
  const std::string text = s.path("text.h5");
  std::ofstream(text) << "not an HDF5 file\n";
  CHECK_CONTAINS(io_error([&] { read_report(text); }), text);

  // HDF5, but not a report.
  const std::string other = s.path("other.h5");
  {
    g4::golden::H5Writer w(other);
    const std::vector<double> v{1, 2, 3};
    w.write_f64("/x", v, {3});
    w.commit();
  }
  std::string msg = io_error([&] { read_report(other); });
  CHECK_CONTAINS(msg, other);
  CHECK_CONTAINS(msg, "not a gemma4-harness report");
  CHECK_CONTAINS(msg, "'schema'");

  // Another schema name.
  const std::string named = s.path("named.h5");
  {
    g4::golden::H5Writer w(named);
    w.set_attr_string("/", "schema", "something-else");
    w.set_attr_i64("/", "schema_version", 1);
    w.commit();
  }
  msg = io_error([&] { read_report(named); });
  CHECK_CONTAINS(msg, named);
  CHECK_CONTAINS(msg, "'something-else', expected 'gemma4-harness-report'");

  // A real report whose schema_version was changed to 99.
  const std::string v99 = s.path("v99.h5");
  write_report(sample_report(), v99);
  {
    const hid_t f = H5Fopen(v99.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_TEST_REQUIRE(f >= 0);
    const hid_t a = H5Aopen_by_name(f, "/", "schema_version", H5P_DEFAULT, H5P_DEFAULT);
    const std::int64_t v = 99;
    BOOST_TEST(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a);
    H5Fclose(f);
  }
  msg = io_error([&] { read_report(v99); });
  CHECK_CONTAINS(msg, v99);
  CHECK_CONTAINS(msg, "schema_version is 99, expected 1");

  // A truncated report (the first half of a good one).
  const std::string good = s.path("good.h5");
  write_report(sample_report(), good);
  const std::string cut = s.path("cut.h5");
  {
    std::ifstream in(good, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string bytes = buf.str();
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  CHECK_CONTAINS(io_error([&] { read_report(cut); }), cut);

  // A report missing one dataset, and one with a column of the wrong length.
  const std::string holed = s.path("holed.h5");
  write_report(sample_report(), holed);
  const std::string run_b = "/runs/golden.e2b_tiny.bf16.free-running";
  {
    const hid_t f = H5Fopen(holed.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_TEST_REQUIRE(f >= 0);
    BOOST_TEST(H5Ldelete(f, (run_b + "/nodes/cosine").c_str(), H5P_DEFAULT) >= 0);
    H5Fclose(f);
  }
  msg = io_error([&] { read_report(holed); });
  CHECK_CONTAINS(msg, holed);
  CHECK_CONTAINS(msg, "no dataset '" + run_b + "/nodes/cosine', expected a 1-D float64 dataset");

  const std::string ragged = s.path("ragged.h5");
  write_report(sample_report(), ragged);
  {
    const hid_t f = H5Fopen(ragged.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_TEST_REQUIRE(f >= 0);
    BOOST_TEST(H5Ldelete(f, (run_b + "/nodes/repeats").c_str(), H5P_DEFAULT) >= 0);
    const hsize_t dims[1] = {3};
    const hid_t space = H5Screate_simple(1, dims, nullptr);
    const hid_t d = H5Dcreate2(f, (run_b + "/nodes/repeats").c_str(), H5T_STD_I64LE, space,
                               H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const std::int64_t v[3] = {1, 2, 3};
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(space);
    H5Fclose(f);
  }
  msg = io_error([&] { read_report(ragged); });
  CHECK_CONTAINS(msg, ragged);
  CHECK_CONTAINS(msg, run_b + "/nodes/repeats' has shape [3], expected [2]");
}

BOOST_AUTO_TEST_CASE(markdown_summary) {
  const std::string md = report_markdown(sample_report());
  BOOST_TEST_MESSAGE(md);
  CHECK_CONTAINS(md, "## gemma4-harness report: FAIL: 1 of 3 runs failed");
  CHECK_CONTAINS(md, "Failed: `golden.e2b_tiny.bf16.free-running`");
  CHECK_CONTAINS(md, "Commit `abc1234` on `ci-runner-7` (Intel Xeon Platinum 8480+, 16 threads) "
                     "at 2025-06-01T12:00:00Z; command `gemma4-harness run");
  CHECK_CONTAINS(md, "| seed | 18446744073709551615 |");
  CHECK_CONTAINS(md, "dgemm 170 GFLOP/s, sgemm 100 GFLOP/s, bf16 not measured, int8 6380 GOP/s, "
                     "stream read 20.00 GB/s");
  // One table per source, policies as rows, modes as columns.
  CHECK_CONTAINS(md, "#### `golden:golden/data/e2b_tiny` (e2b_tiny)\n\n"
                     "| policy | teacher-forced | free-running |\n|---|---|---|\n| bf16 | pass: ");
  CHECK_CONTAINS(md, "pass: rel_l2 nan at `model.language_model.norm`<br>KL 2.500e-04, top-1 "
                     "99.5%<br>experts 97.5%, 3 flips<br>1.500 s");
  CHECK_CONTAINS(md, "**FAIL**: rel_l2 inf at `model.language_model.layers.0.self_attn`<br>KL "
                     "5.000e-01, top-1 75.0%<br>2.250 s |");
  CHECK_CONTAINS(md, "#### `real:e2b:layer0:prefill512` (e2b)\n\n| policy | teacher-forced |");
  CHECK_CONTAINS(md, "| fp32 | pass: rel_l2 4.500e-07 at "
                     "`model.language_model.layers.0.self_attn.q_proj`<br>0.750 s |");
  // Worst nodes: NaN, then +inf, then 3.21e-2, ...
  CHECK_CONTAINS(md, "| 1 | `golden.e2b_tiny.bf16.teacher-forced` | `model.language_model.norm` | "
                     "rms_norm | scalar | nan | - | 1.250e-01 |");
  CHECK_CONTAINS(md, "| 2 | `golden.e2b_tiny.bf16.free-running` | "
                     "`model.language_model.layers.0.self_attn` | attention | 2x0x48 | inf | "
                     "5.000e-02 | inf at [");
  CHECK_CONTAINS(md, "| 3 | `golden.e2b_tiny.bf16.free-running` | `model.language_model.layers.0.mlp` "
                     "| mlp | 2x13x48 | 3.210e-02 | 1.000e-02 | 1.250e-01 at [0,0,5] | 0 | **FAIL** |");
  BOOST_TEST(!contains(md, "| 8 |"));  // only 7 nodes in all
  // Throughput: 2 x 2 GFLOP in 2 x 0.5 s = 4 GFLOP/s = 4% of sgemm's 100; 0.8 GB/s = 4% of 20.
  CHECK_CONTAINS(md, "| `real.e2b.layer0.fp32.teacher-forced` | 2 | 1.000 s | 4.00 | 4.00 | 4.0% "
                     "of sgemm | 0.8 | 4.0% | 4.0% |");
  CHECK_CONTAINS(md, "| `golden.e2b_tiny.bf16.teacher-forced` | 1 | 0.250 s | 0 | 0 | n/a (bf16) "
                     "| 0.004 | 0.0% | n/a |");
  CHECK_CONTAINS(md, "| `golden.e2b_tiny.bf16.free-running` | 0 | not timed |");
}

BOOST_AUTO_TEST_CASE(terminal_summary) {
  const std::string t = report_terminal(sample_report());
  BOOST_TEST_MESSAGE(t);
  std::vector<std::string> lines;
  std::istringstream in(t);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  BOOST_TEST_REQUIRE(lines.size() >= 9u);
  BOOST_TEST(lines[0] == "gemma4-harness report: FAIL: 1 of 3 runs failed");
  CHECK_CONTAINS(lines[1], "commit abc1234  host ci-runner-7");
  CHECK_CONTAINS(lines[3], "sgemm 100 GFLOP/s");
  // Header and one line per run, columns aligned.
  std::size_t header = 0;
  while (header < lines.size() && lines[header].rfind("run ", 0) != 0) ++header;
  BOOST_TEST_REQUIRE(header + 3 < lines.size());
  const std::string& a = lines[header + 1];
  const std::string& b = lines[header + 2];
  const std::string& c = lines[header + 3];
  BOOST_TEST(a.rfind("golden.e2b_tiny.bf16.teacher-forced ", 0) == 0u);
  BOOST_TEST(b.rfind("golden.e2b_tiny.bf16.free-running ", 0) == 0u);
  BOOST_TEST(c.rfind("real.e2b.layer0.fp32.teacher-forced ", 0) == 0u);
  const std::size_t col = lines[header].find("result");
  BOOST_TEST(a.substr(col, 4) == "pass");
  BOOST_TEST(b.substr(col, 4) == "FAIL");
  BOOST_TEST(c.substr(col, 4) == "pass");
  CHECK_CONTAINS(a, "nan  model.language_model.norm");
  CHECK_CONTAINS(a, "2.500e-04  99.5%");
  CHECK_CONTAINS(b, "inf  model.language_model.layers.0.self_attn ");
  CHECK_CONTAINS(c, "4.500e-07  model.language_model.layers.0.self_attn.q_proj");
  CHECK_CONTAINS(c, "0.750 s     4.00  4.0% of sgemm");
  BOOST_TEST(lines[header + 4].empty());
  BOOST_TEST(lines[header + 5] == "worst 7 nodes:");
  CHECK_CONTAINS(lines[header + 6], "1.        nan  (no bound)    pass  golden.e2b_tiny.bf16.teacher-forced");
  CHECK_CONTAINS(lines[header + 8], "3.  3.210e-02  <= 1.000e-02  FAIL");
}

BOOST_AUTO_TEST_CASE(ceilings_and_throughput) {
  BOOST_TEST(ceiling_name(ceiling_for_policy("fp32")) == "sgemm");
  BOOST_TEST(ceiling_name(ceiling_for_policy("bf16")) == "bf16");
  BOOST_TEST(ceiling_name(ceiling_for_policy("fp16")) == "bf16");
  BOOST_TEST(ceiling_name(ceiling_for_policy("fp8-e4m3")) == "bf16");
  BOOST_TEST(ceiling_name(ceiling_for_policy("int8")) == "int8");
  BOOST_TEST(ceiling_name(ceiling_for_policy("int8-w8a16")) == "bf16");
  BOOST_TEST(ceiling_name(ceiling_for_policy("int4-g128")) == "sgemm");
  BOOST_TEST(ceiling_name(ceiling_for_policy("fp64")) == "dgemm");
  const Report r = sample_report();
  const Throughput t = run_throughput(r.runs[2], r.machine);
  BOOST_TEST(t.timed_nodes == 2);
  BOOST_TEST(t.seconds == 1.0);
  BOOST_TEST(t.gflops == 4.0);
  BOOST_TEST(std::abs(t.ceiling_fraction - 0.04) < 1e-15);
  BOOST_TEST(std::abs(t.stream_fraction - 0.04) < 1e-15);
  BOOST_TEST(std::abs(t.roofline_fraction - 0.04) < 1e-15);
  const Throughput none = run_throughput(r.runs[1], r.machine);
  BOOST_TEST(none.timed_nodes == 0);
  BOOST_TEST(std::isnan(none.gflops));
}
