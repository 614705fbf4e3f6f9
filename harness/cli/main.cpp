// gemma4-harness: the command line.
//
//   gemma4-harness verify --golden BUNDLE [--taps REGEX] [--tolerance X] [--matmul naive|blas] [--all]
//   gemma4-harness run [--golden B1,B2] [--policies P1,P2] [--variants V1,V2] [--layers K1,K2] [--tokens N]
//                      [--modes teacher,free] [--no-real] [--no-golden] [--seed N] [--threads N]
//                      [--repeats N] [--out PATH.h5] [--tolerances FILE] [--quiet] [--memory-budget 8G]
//                      [--executor cpu|cuda-sim|cuda]
//   gemma4-harness tables [specs|params|memory|kv|flops]
//   gemma4-harness report show R.h5 [--markdown] | html R.h5 --out R.html | compare BASE.h5 NEW.h5 [--all]
//                  | gate BASE.h5 NEW.h5 [--rules F] [--junit F.xml] [--json F.json] | bisect R.h5 [R2.h5 ...]
//   gemma4-harness config VARIANT|config.json
//   gemma4-harness audio-features WAV [WAV ...] [--preprocessor preprocessor_config.json] [--out F.h5]
//   gemma4-harness vision-preprocess IMAGE [--budget 70|140|280|560|1120]
//
// Exit codes (DESIGN.md section 9): 0 ok, 1 a tolerance exceeded, 2 bad input or usage.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "harness/report.hpp"
#include "harness/report_bisect.hpp"
#include "harness/report_compare.hpp"
#include "harness/report_html.hpp"
#include "harness/report_show.hpp"
#include "harness/run_command.hpp"
#include "harness/tables.hpp"
#include "harness/verify.hpp"
#include "harness/verify_audio.hpp"
#include "harness/verify_vision.hpp"
#include "reference/common/check.hpp"
#include "reference/text/config.hpp"

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  gemma4-harness verify --golden BUNDLE [--taps REGEX] [--tolerance X] [--matmul naive|blas] [--failures-only]\n"
    "  gemma4-harness run [--golden B1,B2] [--policies P1,P2] [--variants V1,V2] [--layers sliding,full,kv-shared,moe]\n"
    "                     [--tokens N] [--context N] [--modes teacher,free] [--no-real] [--no-golden] [--seed N] [--threads N]\n"
    "                     [--repeats N] [--out PATH.h5] [--tolerances FILE] [--quiet] [--memory-budget BYTES[K|M|G]]\n"
    "                     [--executor cpu|cuda-sim|cuda]   (cuda-sim: CUDA kernels in the simulator, untimed; cuda: on the GPU)\n"
    "  gemma4-harness tables [specs|params|memory|kv|flops]   (no name: all of them)\n"
    "  gemma4-harness report show R.h5 [--markdown]\n"
    "  gemma4-harness report html R.h5 --out R.html\n"
    "  gemma4-harness report compare BASE.h5 NEW.h5 [--all]\n"
    "  gemma4-harness report gate BASE.h5 NEW.h5 [--rules reports/gate.json] [--junit F.xml] [--json F.json]\n"
    "  gemma4-harness report bisect R.h5 | R1.h5 R2.h5 ... [--rules F]\n"
    "  gemma4-harness config VARIANT|PATH/config.json\n"
    "  gemma4-harness audio-features WAV [WAV ...] [--preprocessor preprocessor_config.json] [--out F.h5]\n"
    "  gemma4-harness vision-preprocess IMAGE [--budget 70|140|280|560|1120]   (PNG/JPEG: target size, grid, tokens)\n";

struct UsageError : g4::Error {
  using g4::Error::Error;
};

// --key value pairs and bare flags after the subcommand.
struct Args {
  std::map<std::string, std::string> kv;
  std::vector<std::string> positional;
  Args(int argc, char** argv, int first, const std::vector<std::string>& flags) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) == 0) {
        bool is_flag = false;
        for (const auto& f : flags) is_flag |= (a == f);
        if (is_flag) {
          kv[a] = "1";
        } else {
          if (i + 1 >= argc) throw UsageError(fmt::format("option {} needs a value", a));
          kv[a] = argv[++i];
        }
      } else {
        positional.push_back(a);
      }
    }
  }
  void allow(const std::vector<std::string>& keys) const {
    for (const auto& [k, v] : kv) {
      bool ok = false;
      for (const auto& a : keys) ok |= (k == a);
      if (!ok) throw UsageError(fmt::format("unknown option {}", k));
    }
  }
};

double parse_double(const std::string& key, const std::string& v) {
  try {
    size_t pos = 0;
    const double d = std::stod(v, &pos);
    if (pos == v.size() && d > 0) return d;
  } catch (...) {
  }
  throw UsageError(fmt::format("option {} = '{}': expected a positive number", key, v));
}

int cmd_verify(const Args& a) {
  a.allow({"--golden", "--taps", "--tolerance", "--matmul", "--failures-only"});
  if (!a.kv.count("--golden")) throw UsageError("verify needs --golden BUNDLE");
  if (!a.positional.empty()) throw UsageError(fmt::format("unexpected argument '{}'", a.positional[0]));
  g4::harness::VerifyOptions o;
  o.bundle = a.kv.at("--golden");
  if (a.kv.count("--taps")) o.taps_pattern = a.kv.at("--taps");
  if (a.kv.count("--tolerance")) o.tolerance = parse_double("--tolerance", a.kv.at("--tolerance"));
  if (a.kv.count("--matmul")) {
    const std::string m = a.kv.at("--matmul");
    if (m != "naive" && m != "blas") throw UsageError("--matmul takes 'naive' or 'blas'");
    o.naive_matmul = m == "naive";
  }
  const auto r = g4::harness::verify(o);
  fmt::print("golden {} ({} taps in the bundle)\n", o.bundle, r.rows.size() + r.golden_only.size());
  g4::harness::print_verify(r, o, !a.kv.count("--failures-only"));
  return r.pass ? 0 : 1;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

// "8G", "512M", "1048576": a byte count with an optional binary K/M/G/T suffix, > 0.
std::uint64_t parse_bytes(const std::string& key, const std::string& v) {
  std::uint64_t x = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  const std::string suffix(p, v.data() + v.size());
  int shift = -1;
  if (suffix.empty()) shift = 0;
  else if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (suffix == "T" || suffix == "t") shift = 40;
  if (ec == std::errc() && p != v.data() && shift >= 0 && x > 0 && x <= (~std::uint64_t{0} >> shift)) return x << shift;
  throw UsageError(fmt::format("option {} = '{}': expected a positive byte count, e.g. 8G, 512M or 1048576", key, v));
}

long long parse_int(const std::string& key, const std::string& v, long long lo, long long hi) {
  try {
    size_t pos = 0;
    const long long x = std::stoll(v, &pos);
    if (pos == v.size() && x >= lo && x <= hi) return x;
  } catch (...) {
  }
  throw UsageError(fmt::format("option {} = '{}': expected an integer in [{}, {}]", key, v, lo, hi));
}

int cmd_run(const Args& a, int argc, char** argv) {
  a.allow({"--golden", "--policies", "--variants", "--layers", "--tokens", "--context", "--modes", "--no-real", "--no-golden",
           "--seed", "--threads", "--repeats", "--out", "--tolerances", "--quiet", "--memory-budget", "--executor"});
  if (!a.positional.empty()) throw UsageError(fmt::format("unexpected argument '{}'", a.positional[0]));
  g4::harness::RunCommandOptions o;
  auto get = [&](const char* k) { return a.kv.count(k) ? a.kv.at(k) : std::string(); };
  o.goldens = split(get("--golden"));
  o.policies = split(get("--policies"));
  o.variants = split(get("--variants"));
  o.kinds = split(get("--layers"));
  for (const auto& k : o.kinds)
    if (k != "sliding" && k != "full" && k != "kv-shared" && k != "moe")
      throw UsageError(fmt::format("--layers: unknown kind '{}' (sliding, full, kv-shared, moe)", k));
  if (a.kv.count("--modes")) {
    o.teacher = o.free = false;
    for (const auto& m : split(get("--modes"))) {
      if (m == "teacher") o.teacher = true;
      else if (m == "free") o.free = true;
      else throw UsageError(fmt::format("--modes: unknown mode '{}' (teacher, free)", m));
    }
  }
  o.real = !a.kv.count("--no-real");
  o.golden = !a.kv.count("--no-golden");
  if (a.kv.count("--tokens")) o.tokens = parse_int("--tokens", get("--tokens"), 1, 1 << 16);
  if (a.kv.count("--context")) o.context = parse_int("--context", get("--context"), 0, 1 << 20);
  if (a.kv.count("--seed")) o.seed = static_cast<std::uint64_t>(parse_int("--seed", get("--seed"), 0, 1LL << 62));
  if (a.kv.count("--threads")) o.threads = static_cast<int>(parse_int("--threads", get("--threads"), 1, 1024));
  if (a.kv.count("--repeats")) o.repeats = static_cast<int>(parse_int("--repeats", get("--repeats"), 0, 1000));
  o.out = get("--out");
  o.tolerances = get("--tolerances");
  o.quiet = a.kv.count("--quiet");
  if (a.kv.count("--memory-budget")) o.memory_budget = parse_bytes("--memory-budget", get("--memory-budget"));
  if (a.kv.count("--executor")) {
    o.executor = get("--executor");
    if (o.executor != "cpu" && o.executor != "cuda-sim" && o.executor != "cuda")
      throw UsageError(fmt::format("--executor: unknown executor '{}' (cpu, cuda-sim, cuda)", o.executor));
  }
  return g4::harness::run_command(o, argc, argv);
}

int cmd_tables(const Args& a) {
  a.allow({});
  if (a.positional.size() > 1) throw UsageError("tables takes at most one table name");
  const std::string which = a.positional.empty() ? "all" : a.positional[0];
  const std::string text = g4::harness::model_card_tables(which);
  if (text.empty()) throw UsageError(fmt::format("tables: unknown table '{}' (specs, params, memory, kv, flops)", which));
  fmt::print("{}", text);
  return 0;
}

// Writes text to path through a temp file renamed into place.
void write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw g4::IoError(fmt::format("{}: cannot write", path));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path.c_str()) != 0)
    throw g4::IoError(fmt::format("{}: cannot write", path));
}

int cmd_report(const Args& a) {
  if (a.positional.empty()) throw UsageError("report needs a subcommand: show, html, compare, gate, bisect");
  const std::string sub = a.positional[0];
  const std::vector<std::string> files(a.positional.begin() + 1, a.positional.end());
  auto rules = [&] {
    return g4::harness::GateRules::load(a.kv.count("--rules") ? a.kv.at("--rules")
                                                              : g4::harness::default_gate_rules_path());
  };
  if (sub == "show") {
    a.allow({"--markdown"});
    if (files.size() != 1) throw UsageError("report show takes one report");
    const auto r = g4::harness::read_report(files[0]);
    fmt::print("{}", a.kv.count("--markdown") ? g4::harness::report_show_markdown(r) : g4::harness::report_show_text(r));
    return 0;
  }
  if (sub == "html") {
    a.allow({"--out"});
    if (files.size() != 1) throw UsageError("report html takes one report");
    std::string out = a.kv.count("--out") ? a.kv.at("--out") : std::string();
    if (out.empty()) out = (files[0].ends_with(".h5") ? files[0].substr(0, files[0].size() - 3) : files[0]) + ".html";
    g4::harness::render_html(files[0], out);
    fmt::print("{} written\n", out);
    return 0;
  }
  if (sub == "compare") {
    a.allow({"--all"});
    if (files.size() != 2) throw UsageError("report compare takes BASE.h5 NEW.h5");
    const auto c = g4::harness::compare_reports(g4::harness::read_report(files[0]), g4::harness::read_report(files[1]));
    fmt::print("compare {} (BASE) -> {} (NEW)\n{}", files[0], files[1],
               g4::harness::comparison_text(c, a.kv.count("--all") ? 0 : 40));
    return 0;
  }
  if (sub == "gate") {
    a.allow({"--rules", "--junit", "--json"});
    if (files.size() != 2) throw UsageError("report gate takes BASE.h5 NEW.h5");
    const auto rl = rules();
    const auto g = g4::harness::gate_reports(g4::harness::read_report(files[0]), g4::harness::read_report(files[1]), rl);
    if (a.kv.count("--junit")) write_text(a.kv.at("--junit"), g4::harness::gate_junit(g, files[0], files[1]));
    if (a.kv.count("--json")) write_text(a.kv.at("--json"), g4::harness::gate_json(g, rl, files[0], files[1]));
    fmt::print("{}", g4::harness::gate_text(g, rl));
    return g.pass ? 0 : 1;
  }
  if (sub == "bisect") {
    a.allow({"--rules"});
    if (files.empty()) throw UsageError("report bisect takes one report, or several in commit order");
    if (files.size() == 1) {
      fmt::print("{}", g4::harness::bisect_band_text(g4::harness::bisect_band(g4::harness::read_report(files[0]))));
      return 0;
    }
    std::vector<g4::harness::Report> reports;
    for (const auto& f : files) reports.push_back(g4::harness::read_report(f));
    fmt::print("{}", g4::harness::bisect_series_text(g4::harness::bisect_series(reports, files, rules())));
    return 0;
  }
  throw UsageError(fmt::format("report: unknown subcommand '{}' (show, html, compare, gate, bisect)", sub));
}

// Log-mel features of 16 kHz mono WAV files (a batch, padded like the feature extractor pads it).
int cmd_audio_features(const Args& a) {
  a.allow({"--preprocessor", "--out"});
  if (a.positional.empty()) throw UsageError("audio-features needs at least one WAV file");
  g4::harness::AudioFeaturesOptions o;
  o.wavs = a.positional;
  if (a.kv.count("--preprocessor")) o.preprocessor = a.kv.at("--preprocessor");
  if (a.kv.count("--out")) o.out = a.kv.at("--out");
  return g4::harness::audio_features_command(o);
}

// Image geometry of a PNG/JPEG under a soft-token budget (default 280, transformers' default).
int cmd_vision_preprocess(const Args& a) {
  a.allow({"--budget"});
  if (a.positional.size() != 1) throw UsageError("vision-preprocess takes one PNG or JPEG file");
  const long long budget = a.kv.count("--budget") ? parse_int("--budget", a.kv.at("--budget"), 0, 1 << 30) : 280;
  return g4::harness::vision_preprocess_command(a.positional[0], budget);
}

int cmd_config(const Args& a) {
  a.allow({});
  if (a.positional.size() != 1) throw UsageError("config takes one variant name or config.json path");
  const std::string& what = a.positional[0];
  bool released = false;
  for (const auto& v : g4::text::released_variants()) released |= (v == what);
  const auto c = released ? g4::text::released_text_config(what) : g4::text::load_text_config(what);
  fmt::print("{}", g4::text::describe(c));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw UsageError("missing command");
    const std::string cmd = argv[1];
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      fmt::print("{}", kUsage);
      return 0;
    }
    const Args args(argc, argv, 2, {"--failures-only", "--no-real", "--no-golden", "--quiet", "--markdown", "--all"});
    if (cmd == "verify") return cmd_verify(args);
    if (cmd == "run") return cmd_run(args, argc, argv);
    if (cmd == "tables") return cmd_tables(args);
    if (cmd == "report") return cmd_report(args);
    if (cmd == "config") return cmd_config(args);
    if (cmd == "audio-features") return cmd_audio_features(args);
    if (cmd == "vision-preprocess") return cmd_vision_preprocess(args);
    throw UsageError(fmt::format("unknown command '{}'", cmd));
  } catch (const UsageError& e) {
    std::fflush(stdout);
    fmt::print(stderr, "gemma4-harness: {}\n{}", e.what(), kUsage);
    return 2;
  } catch (const g4::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "gemma4-harness: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "gemma4-harness: error: {}\n", e.what());
    return 2;
  }
}
