// The CLI end to end: every committed golden verifies, and every kind of bad input gets a
// one-line error and exit code 2 (or 1 for numbers over tolerance), never a crash.
#define BOOST_TEST_MODULE test_cli
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "golden/h5.hpp"

namespace fs = std::filesystem;
using g4::golden::H5Reader;
using g4::golden::H5Writer;

namespace {

void expect_bad_input(const std::string& args, const std::string& needle);
const std::string kSrc = GEMMA4_SOURCE_DIR;
const std::string kCli = GEMMA4_CLI;
const char* kBundles[] = {"e2b_tiny", "e4b_tiny", "31b_tiny", "26b_tiny"};
// e2b_tiny with its weights re-saved by transformers as 4 shards + index (golden/exporter/reshard.py).
const char* kSharded = "e2b_tiny_sharded";

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

Run run(const std::string& args) {
  const fs::path dir = fs::temp_directory_path() / ("g4cli." + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string cmd = kCli + " " + args + " >" + (dir / "out").string() + " 2>" + (dir / "err").string();
  const int st = std::system(cmd.c_str());
  Run r{WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(dir / "out"), slurp(dir / "err")};
  fs::remove_all(dir);
  return r;
}

// A scratch copy of a committed bundle, removed at the end of the test.
struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& bundle) {
    dir = fs::temp_directory_path() / ("g4bundle." + std::to_string(getpid()) + "." + bundle);
    fs::remove_all(dir);
    fs::copy(kSrc + "/golden/data/" + bundle, dir);
  }
  ~Scratch() { fs::remove_all(dir); }
  std::string path() const { return dir.string(); }
};

// Rewrites golden.h5 dataset by dataset (inputs and taps, with their layout attribute); `edit`
// may change one dataset's values, or return false to drop it.
using Edit = std::function<bool(const std::string& path, std::vector<double>& values, std::vector<std::int64_t>& shape,
                                bool& as_float)>;
void rewrite_golden(const Scratch& s, const Edit& edit) {
  const std::string file = s.path() + "/golden.h5";
  const std::string tmp = s.path() + "/golden.src.h5";
  fs::rename(file, tmp);
  {
    H5Reader in(tmp);
    H5Writer out(file);
    for (const std::string group : {"/inputs", "/taps"}) {
      out.create_group(group);
      for (const std::string& name : in.list(group)) {
        const std::string p = group + "/" + name;
        std::vector<std::int64_t> shape = in.shape(p);
        const bool is_int = group == "/inputs" || name.ends_with(".indices");
        std::vector<double> v;
        if (is_int) {
          const auto iv = in.read_i64(p);
          v.assign(iv.begin(), iv.end());
        } else {
          v = in.read_f64(p);
        }
        bool as_float = !is_int;
        if (!edit(p, v, shape, as_float)) continue;
        if (as_float) {
          out.write_f64(p, v, shape);
        } else {
          std::vector<std::int64_t> iv(v.begin(), v.end());
          out.write_i64(p, iv, shape);
        }
        if (in.has_attr(p, "layout")) out.set_attr_string(p, "layout", in.attr_string(p, "layout"));
      }
    }
    out.commit();
  }
  fs::remove(tmp);
}

void expect_bad_input(const std::string& args, const std::string& needle) {
  const Run r = run(args);
  BOOST_TEST_MESSAGE(args << " -> " << r.code << ": " << r.err);
  BOOST_TEST(r.code == 2, args << ": exit " << r.code);
  BOOST_TEST(r.err.find(needle) != std::string::npos, "stderr '" << r.err << "' lacks '" << needle << "'");
  // One line (a usage error may add the usage text after it).
  if (r.err.find("usage:") == std::string::npos) BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

}  // namespace

BOOST_AUTO_TEST_CASE(every_committed_golden_verifies) {
  for (const char* b : kBundles) {
    const Run r = run("verify --golden " + kSrc + "/golden/data/" + b);
    BOOST_TEST(r.code == 0, b << ":\n" << r.out << r.err);
    const auto at = r.out.find("worst relative L2 ");
    BOOST_TEST_REQUIRE(at != std::string::npos);
    const double worst = std::stod(r.out.substr(at + 18));
    BOOST_TEST_MESSAGE(b << ": worst relative L2 " << worst);
    BOOST_TEST(worst <= 1e-10);
    BOOST_TEST(r.out.find("PASS") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(sharded_checkpoint_verifies) {
  const Run r = run(std::string("verify --failures-only --golden ") + kSrc + "/golden/data/" + kSharded);
  BOOST_TEST(r.code == 0, r.out << r.err);
  BOOST_TEST(r.out.find("132 taps compared") != std::string::npos, r.out);
  Scratch s(kSharded);  // a shard listed in the index but missing
  fs::remove(s.dir / "model-00002-of-00004.safetensors");
  expect_bad_input("verify --golden " + s.path(), "model-00002-of-00004.safetensors");
}

BOOST_AUTO_TEST_CASE(naive_matmul_body_verifies_too) {
  const Run r = run("verify --matmul naive --failures-only --golden " + kSrc + "/golden/data/26b_tiny");
  BOOST_TEST(r.code == 0, r.out << r.err);
}

// The patches in the exporter change precision, not semantics: without them transformers'
// float32 islands move each tap by at most ~1e-6 relative (float32 unit roundoff 6e-8 grown
// through a few layers), and by more than float64 noise (they matter).
BOOST_AUTO_TEST_CASE(unpatched_goldens_differ_only_at_float32_level) {
  for (const char* b : kBundles) {
    H5Reader h5(kSrc + "/golden/data/" + b + "/golden.h5");
    const auto rel = h5.read_f64("/provenance/unpatched_rel_l2");
    const auto names = h5.read_strings("/provenance/unpatched_tap_names");
    BOOST_TEST_REQUIRE(rel.size() == names.size());
    double worst = 0;
    for (double v : rel) worst = std::max(worst, v);
    BOOST_TEST_MESSAGE(b << ": max unpatched relative L2 " << worst);
    BOOST_TEST(worst > 1e-9);   // the float32 sites are real
    BOOST_TEST(worst < 1e-4);   // float32 level: 6e-8 per rounding, amplified < ~1e3 over 6 layers
  }
}

BOOST_AUTO_TEST_CASE(a_perturbed_tap_fails_with_exit_1_and_is_named) {
  Scratch s("e2b_tiny");
  const std::string victim = "/taps/model.layers.2.self_attn.q_rope";
  rewrite_golden(s, [&](const std::string& p, std::vector<double>& v, auto&, bool&) {
    if (p == victim) v[5 * 16 + 3] *= 1.0 + 1e-7;  // a real token of row 0
    return true;
  });
  const Run r = run("verify --failures-only --golden " + s.path());
  BOOST_TEST(r.code == 1, r.out << r.err);
  BOOST_TEST(r.out.find("model.layers.2.self_attn.q_rope") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("FAIL") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_files) {
  expect_bad_input("verify --golden /nonexistent/bundle", "/nonexistent/bundle");
  {
    Scratch s("e2b_tiny");
    fs::remove(s.dir / "golden.h5");
    expect_bad_input("verify --golden " + s.path(), "golden.h5: missing");
  }
  {
    Scratch s("e2b_tiny");  // truncated safetensors
    fs::resize_file(s.dir / "model.safetensors", fs::file_size(s.dir / "model.safetensors") / 2);
    expect_bad_input("verify --golden " + s.path(), "model.safetensors");
  }
  {
    Scratch s("e4b_tiny");  // not an HDF5 file
    write_text(s.dir / "golden.h5", "hello");
    expect_bad_input("verify --golden " + s.path(), "golden.h5");
  }
  {
    Scratch s("31b_tiny");  // missing dataset
    rewrite_golden(s, [](const std::string& p, auto&, auto&, bool&) { return p != "/inputs/attention_mask"; });
    expect_bad_input("verify --golden " + s.path(), "/inputs/attention_mask");
  }
  {
    Scratch s("26b_tiny");  // missing tap the reference produces
    rewrite_golden(s, [](const std::string& p, auto&, auto&, bool&) { return p != "/taps/model.layers.1.experts"; });
    expect_bad_input("verify --golden " + s.path(), "model.layers.1.experts");
  }
  {
    Scratch s("e2b_tiny");  // wrong dtype: token ids stored as floats
    rewrite_golden(s, [](const std::string& p, auto&, auto&, bool& as_float) {
      if (p == "/inputs/input_ids") as_float = true;
      return true;
    });
    expect_bad_input("verify --golden " + s.path(), "/inputs/input_ids");
  }
  {
    Scratch s("e2b_tiny");  // wrong shape of a tap
    rewrite_golden(s, [](const std::string& p, std::vector<double>& v, std::vector<std::int64_t>& shape, bool&) {
      if (p == "/taps/model.norm") shape = {static_cast<std::int64_t>(v.size())};
      return true;
    });
    expect_bad_input("verify --golden " + s.path(), "model.norm");
  }
  {
    Scratch s("e4b_tiny");  // NaN in a golden
    rewrite_golden(s, [](const std::string& p, std::vector<double>& v, auto&, bool&) {
      if (p == "/taps/model.layers.0.mlp") v[7] = std::nan("");
      return true;
    });
    expect_bad_input("verify --golden " + s.path(), "model.layers.0.mlp");
  }
  {
    Scratch s("e2b_tiny");  // token id outside the vocabulary
    rewrite_golden(s, [](const std::string& p, std::vector<double>& v, auto&, bool&) {
      if (p == "/inputs/input_ids") v[4] = 1e6;
      return true;
    });
    expect_bad_input("verify --golden " + s.path(), "/inputs/input_ids' holds token id 1000000");
  }
}

BOOST_AUTO_TEST_CASE(bad_configs) {
  auto edit_config = [](const Scratch& s, const std::string& from, const std::string& to) {
    std::string text = slurp(s.dir / "config.json");
    const auto at = text.find(from);
    BOOST_TEST_REQUIRE(at != std::string::npos, "config.json lacks " << from);
    text.replace(at, from.size(), to);
    write_text(s.dir / "config.json", text);
  };
  {
    Scratch s("e2b_tiny");
    edit_config(s, "\"vocab_size\"", "\"attention_sinks\": 4, \"vocab_size\"");
    expect_bad_input("verify --golden " + s.path(), "unknown config field 'attention_sinks'");
  }
  {
    Scratch s("e2b_tiny");
    edit_config(s, "\"proportional\"", "\"yarn\"");
    expect_bad_input("verify --golden " + s.path(), "rope_type");
  }
  {
    Scratch s("e2b_tiny");  // inconsistent: 4 query heads over 3 KV heads
    edit_config(s, "\"num_key_value_heads\": 1", "\"num_key_value_heads\": 3");
    expect_bad_input("verify --golden " + s.path(), "num_key_value_heads");
  }
  {
    Scratch s("31b_tiny");
    write_text(s.dir / "config.json", "{\"model_type\": \"gemma4_text\", ");
    expect_bad_input("verify --golden " + s.path(), "config.json: not valid JSON");
  }
}

BOOST_AUTO_TEST_CASE(usage_errors) {
  expect_bad_input("verify", "--golden");
  expect_bad_input("verify --golden " + kSrc + "/golden/data/e2b_tiny --tolerance abc", "--tolerance");
  expect_bad_input("verify --golden " + kSrc + "/golden/data/e2b_tiny --taps '('", "--taps");
  expect_bad_input("frobnicate", "unknown command");
  // `run` drives the text, vision and audio graphs; a multimodal bundle is verify's (one line, exit 2).
  expect_bad_input("run --no-real --golden " + kSrc + "/golden/data/mm_e2b_tiny --out /tmp/g4_never.h5",
                   "drives the text, vision and audio graphs");
  expect_bad_input("tables nope", "params");  // `tables` alone prints every table (issue #5)
  const Run r = run("tables params");
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.find("30.697B") != std::string::npos, r.out);
}
