// gemma4-harness: the command line.
//
//   gemma4-harness verify --golden BUNDLE [--taps REGEX] [--tolerance X] [--matmul naive|blas] [--all]
//   gemma4-harness run [--golden B1,B2] [--policies P1,P2] [--variants V1,V2] [--layers K1,K2] [--tokens N]
//                      [--modes teacher,free] [--no-real] [--no-golden] [--seed N] [--threads N]
//                      [--repeats N] [--out PATH.h5] [--tolerances FILE] [--quiet]
//   gemma4-harness tables params
//   gemma4-harness config VARIANT|config.json
//
// Exit codes (DESIGN.md section 9): 0 ok, 1 a tolerance exceeded, 2 bad input or usage.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "harness/run_command.hpp"
#include "harness/tables.hpp"
#include "harness/verify.hpp"
#include "reference/common/check.hpp"
#include "reference/text/config.hpp"

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  gemma4-harness verify --golden BUNDLE [--taps REGEX] [--tolerance X] [--matmul naive|blas] [--failures-only]\n"
    "  gemma4-harness run [--golden B1,B2] [--policies P1,P2] [--variants V1,V2] [--layers sliding,full,kv-shared,moe]\n"
    "                     [--tokens N] [--context N] [--modes teacher,free] [--no-real] [--no-golden] [--seed N] [--threads N]\n"
    "                     [--repeats N] [--out PATH.h5] [--tolerances FILE] [--quiet]\n"
    "  gemma4-harness tables params\n"
    "  gemma4-harness config VARIANT|PATH/config.json\n";

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
           "--seed", "--threads", "--repeats", "--out", "--tolerances", "--quiet"});
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
  return g4::harness::run_command(o, argc, argv);
}

int cmd_tables(const Args& a) {
  a.allow({});
  if (a.positional.size() != 1 || a.positional[0] != "params")
    throw UsageError("tables takes one table name: params");
  fmt::print("{}", g4::harness::params_table());
  return 0;
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
    const Args args(argc, argv, 2, {"--failures-only", "--no-real", "--no-golden", "--quiet"});
    if (cmd == "verify") return cmd_verify(args);
    if (cmd == "run") return cmd_run(args, argc, argv);
    if (cmd == "tables") return cmd_tables(args);
    if (cmd == "config") return cmd_config(args);
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
