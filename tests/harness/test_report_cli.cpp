// `gemma4-harness report ...` and `tables` end to end through the CLI binary (GEMMA4_CLI): exit
// codes (0 pass, 1 a regression, 2 bad input with one line on stderr), the gate's CI files, the
// HTML page (parsed, its plots decoded), and the python-missing path.
#define BOOST_TEST_MODULE test_report_cli
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "golden/h5.hpp"
#include "report_fixture.hpp"

namespace fs = std::filesystem;
using namespace g4::harness;
using g4::harness::testing::node_of;
using g4::harness::testing::ScratchDir;
using g4::harness::testing::synthetic_report;

namespace {

const std::string kCli = GEMMA4_CLI;

struct Run {
  int code;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Run run(const ScratchDir& s, const std::string& args, const std::string& env = "") {
  const std::string cmd = env + " " + kCli + " " + args + " >" + s.path("stdout") + " 2>" + s.path("stderr");
  const int st = std::system(cmd.c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(s.path("stdout")), slurp(s.path("stderr"))};
}

// Bad input: exit 2 and exactly one line on stderr containing needle.
void expect_one_line_error(const Run& r, const std::string& needle) {
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.err.find("gemma4-harness: error: ") == 0u, r.err);
  BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
  BOOST_TEST(r.err.find(needle) != std::string::npos, "'" << needle << "' not in: " << r.err);
}

}  // namespace

BOOST_AUTO_TEST_CASE(show_prints_tables_and_markdown) {
  ScratchDir s("rcli_show");
  write_report(synthetic_report(), s.path("r.h5"));
  const Run t = run(s, "report show " + s.path("r.h5"));
  BOOST_TEST(t.code == 0, t.err);
  BOOST_TEST(t.out.find("per-layer drift") != std::string::npos);
  BOOST_TEST(t.out.find("roofline") != std::string::npos);
  const Run m = run(s, "report show " + s.path("r.h5") + " --markdown");
  BOOST_TEST(m.code == 0);
  BOOST_TEST(m.out.find("## gemma4-harness report: PASS") == 0u);
  BOOST_TEST(m.out.find("### Per-layer drift") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(gate_exit_codes_and_ci_files) {
  ScratchDir s("rcli_gate");
  const Report base = synthetic_report();
  write_report(base, s.path("base.h5"));
  const Run same = run(s, "report gate " + s.path("base.h5") + " " + s.path("base.h5") + " --junit " +
                              s.path("same.xml") + " --json " + s.path("same.json"));
  BOOST_TEST(same.code == 0, same.out + same.err);
  BOOST_TEST(nlohmann::json::parse(slurp(s.path("same.json")))["pass"] == true);
  BOOST_TEST(slurp(s.path("same.xml")).find("failures=\"0\"") != std::string::npos);

  Report now = base;
  node_of(now, "golden.synth.bf16.free", "model.layers.2.self_attn.q_proj").m.rel_l2 *= 8;
  write_report(now, s.path("new.h5"));
  const Run bad = run(s, "report gate " + s.path("base.h5") + " " + s.path("new.h5") + " --junit " + s.path("g.xml") +
                             " --json " + s.path("g.json"));
  BOOST_TEST(bad.code == 1);
  BOOST_TEST(bad.out.find("FAIL [numerics/error_growth_factor] golden.synth.bf16.free: tap "
                          "model.layers.2.self_attn.q_proj") != std::string::npos,
             bad.out);
  const auto j = nlohmann::json::parse(slurp(s.path("g.json")));
  BOOST_TEST(j["findings"][0]["tap"] == "model.layers.2.self_attn.q_proj");
  BOOST_TEST(slurp(s.path("g.xml")).find("failures=\"1\"") != std::string::npos);

  // compare lists it first among the nodes
  const Run c = run(s, "report compare " + s.path("base.h5") + " " + s.path("new.h5"));
  BOOST_TEST(c.code == 0);
  const auto nodes_at = c.out.find("nodes, regressions first");
  BOOST_TEST_REQUIRE(nodes_at != std::string::npos);
  const auto first_row = c.out.find('\n', c.out.find('\n', nodes_at) + 1) + 1;
  BOOST_TEST(c.out.substr(first_row, 200).find("model.layers.2.self_attn.q_proj") != std::string::npos, c.out);
}

BOOST_AUTO_TEST_CASE(bisect_through_the_cli) {
  ScratchDir s("rcli_bisect");
  Report r = synthetic_report();
  node_of(r, "golden.synth.fp32.free", "model.layers.1.mlp.down_proj").m.rel_l2 = 1;
  node_of(r, "golden.synth.fp32.free", "model.layers.1.mlp.down_proj").pass = false;
  write_report(r, s.path("r.h5"));
  const Run b = run(s, "report bisect " + s.path("r.h5"));
  BOOST_TEST(b.code == 0);
  BOOST_TEST(b.out.find("golden.synth.fp32.free: leaves the band at layer 1 op mlp.down_proj") != std::string::npos,
             b.out);
  write_report(synthetic_report(), s.path("r0.h5"));
  const Run series = run(s, "report bisect " + s.path("r0.h5") + " " + s.path("r0.h5") + " " + s.path("r.h5"));
  BOOST_TEST(series.code == 0);
  BOOST_TEST(series.out.find("first commit the gate fails (against #1): #3") != std::string::npos, series.out);
}

BOOST_AUTO_TEST_CASE(malformed_and_old_schema_reports_are_one_line_errors) {
  ScratchDir s("rcli_bad");
  write_report(synthetic_report(), s.path("good.h5"));
  // not HDF5 at all
  std::ofstream(s.path("text.h5")) << "this is not an HDF5 file\n";
  expect_one_line_error(run(s, "report show " + s.path("text.h5")), s.path("text.h5"));
  // truncated: the first half of a valid report
  {
    const std::string bytes = slurp(s.path("good.h5"));
    std::ofstream(s.path("trunc.h5"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  expect_one_line_error(run(s, "report gate " + s.path("good.h5") + " " + s.path("trunc.h5")), s.path("trunc.h5"));
  // an older schema version, and a file of another schema (hand-made: the writer only writes v1)
  {
    g4::golden::H5Writer w(s.path("old.h5"));
    w.set_attr_string("/", "schema", "gemma4-harness-report");
    w.set_attr_i64("/", "schema_version", 0);
    w.commit();
  }
  expect_one_line_error(run(s, "report compare " + s.path("good.h5") + " " + s.path("old.h5")),
                        "report schema_version is 0, expected 1");
  {
    g4::golden::H5Writer w(s.path("other.h5"));
    w.set_attr_string("/", "schema", "something-else");
    w.commit();
  }
  expect_one_line_error(run(s, "report bisect " + s.path("other.h5")), "not a gemma4-harness report");
  expect_one_line_error(run(s, "report html " + s.path("old.h5") + " --out " + s.path("x.html")),
                        "schema_version is 0");
  expect_one_line_error(run(s, "report show " + s.path("missing.h5")), s.path("missing.h5"));
  // a bad rules file
  std::ofstream(s.path("rules.json")) << "{\"version\": 1}";
  expect_one_line_error(run(s, "report gate " + s.path("good.h5") + " " + s.path("good.h5") + " --rules " +
                                   s.path("rules.json")),
                        "rules.json");
  // usage errors are exit 2 too
  BOOST_TEST(run(s, "report").code == 2);
  BOOST_TEST(run(s, "report gate " + s.path("good.h5")).code == 2);
  BOOST_TEST(run(s, "report frobnicate").code == 2);
}

BOOST_AUTO_TEST_CASE(html_is_well_formed_and_holds_its_plots) {
  ScratchDir s("rcli_html");
  write_report(synthetic_report(), s.path("r.h5"));
  const Run h = run(s, "report html " + s.path("r.h5") + " --out " + s.path("r.html"));
  BOOST_TEST_REQUIRE(h.code == 0, h.err);
  // Parse it with Python's HTML parser: every non-void element closed in order, and every image
  // a base64 PNG that decodes to a PNG signature. Prints the number of images.
  const std::string checker = s.path("check.py");
  std::ofstream(checker) << R"PY(
import base64, sys
from html.parser import HTMLParser
VOID = {"meta", "img", "br", "hr", "link", "input"}
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.stack = []; self.images = 0; self.doctype = False
    def handle_decl(self, d): self.doctype = self.doctype or d.lower() == "doctype html"
    def handle_starttag(self, tag, attrs):
        if tag == "img":
            src = dict(attrs)["src"]
            assert src.startswith("data:image/png;base64,"), src[:40]
            assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
            self.images += 1
        if tag not in VOID: self.stack.append(tag)
    def handle_startendtag(self, tag, attrs): self.handle_starttag(tag, attrs); (tag in VOID) or self.stack.pop()
    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
p = P(); p.feed(open(sys.argv[1], encoding="utf-8").read()); p.close()
assert p.doctype and not p.stack, p.stack
print(p.images)
)PY";
  const std::string cmd = "/usr/bin/python3 " + checker + " " + s.path("r.html") + " >" + s.path("n") + " 2>&1";
  BOOST_TEST_REQUIRE(std::system(cmd.c_str()) == 0, slurp(s.path("n")));
  // one source: drift per layer, drift vs position, headroom; plus the roofline
  BOOST_TEST(std::stoi(slurp(s.path("n"))) == 4);
}

BOOST_AUTO_TEST_CASE(html_without_python_is_a_one_line_error) {
  ScratchDir s("rcli_nopy");
  write_report(synthetic_report(), s.path("r.h5"));
  const Run r = run(s, "report html " + s.path("r.h5") + " --out " + s.path("r.html"),
                    "GEMMA4_PYTHON=/nonexistent/python3");
  expect_one_line_error(r, "report html needs /nonexistent/python3 with matplotlib");
  BOOST_TEST(!fs::exists(s.path("r.html")));
}

BOOST_AUTO_TEST_CASE(tables_variants) {
  ScratchDir s("rcli_tables");
  const Run all = run(s, "tables");
  BOOST_TEST(all.code == 0);
  for (const char* needle : {"Model specs", "Text-decoder parameters", "Memory of the base weights", "KV-cache bytes",
                             "FLOP per decoded token"})
    BOOST_TEST(all.out.find(needle) != std::string::npos, needle);
  for (const char* t : {"specs", "params", "memory", "kv", "flops"}) BOOST_TEST(run(s, std::string("tables ") + t).code == 0);
  BOOST_TEST(run(s, "tables nope").code == 2);
}
