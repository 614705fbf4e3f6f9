#include "harness/report_html.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "harness/report.hpp"
#include "reference/common/check.hpp"
#include "reference/text/config.hpp"

#ifndef GEMMA4_SOURCE_DIR
#define GEMMA4_SOURCE_DIR "."
#endif

namespace g4::harness {
namespace {

namespace fs = std::filesystem;

// Single-quoted for /bin/sh.
std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  const auto p = t.rfind('\n');
  return p == std::string::npos ? t : t.substr(p + 1);
}

// Runs a shell command with stdout+stderr captured; returns the exit status (-1: not exited).
int run_captured(const std::string& cmd, const fs::path& log, std::string& output) {
  const int st = std::system((cmd + " >" + sh_quote(log.string()) + " 2>&1").c_str());
  output = slurp(log);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

nlohmann::json source_context(const std::string& source) {
  nlohmann::json j;
  std::optional<text::TextConfig> cfg;
  std::string variant;
  if (source.rfind("golden:", 0) == 0) {
    const std::string dir = source.substr(7);
    for (const fs::path& p : {fs::path(dir) / "config.json", fs::path(GEMMA4_SOURCE_DIR) / dir / "config.json"})
      if (!cfg && fs::exists(p)) {
        try {
          cfg = text::load_text_config(p.string());
        } catch (const g4::Error&) {
          // a bundle whose config this build cannot read: the plots go without window edges
        }
      }
    variant = fs::path(dir).filename().string();
  } else if (source.rfind("real:", 0) == 0) {
    variant = source.substr(5, source.find(':', 5) - 5);
    try {
      cfg = text::released_text_config(variant);
    } catch (const g4::Error&) {
    }
  }
  if (!cfg) return j;
  j["variant"] = variant;
  j["sliding_window"] = cfg->sliding_window;
  j["layer_types"] = nlohmann::json::array();
  for (const auto& l : cfg->layers) j["layer_types"].push_back(l.type == text::LayerType::kFull ? "full" : "sliding");
  return j;
}

}  // namespace

std::string plot_python() {
  const char* env = std::getenv("GEMMA4_PYTHON");
  return env && *env ? env : "/usr/bin/python3";
}

std::string plot_context_json(const std::string& report_path) {
  const Report r = read_report(report_path);
  nlohmann::json j;
  j["sources"] = nlohmann::json::object();
  for (const auto& run : r.runs)
    if (!j["sources"].contains(run.source)) {
      const auto c = source_context(run.source);
      if (!c.is_null()) j["sources"][run.source] = c;
    }
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);  // names from the file may be bad UTF-8
}

void render_html(const std::string& report_path, const std::string& out_path) {
  const std::string context = plot_context_json(report_path);  // validates the report first
  const std::string py = plot_python();
  const fs::path script = fs::path(GEMMA4_SOURCE_DIR) / "reports" / "render" / "plots.py";
  G4_CHECK(fs::exists(script), IoError, "{}: the plot script is missing", script.string());

  const fs::path tmp = fs::temp_directory_path() / fmt::format("g4html.{}", getpid());
  fs::create_directories(tmp);
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{tmp};

  std::string out;
  const int probe = run_captured(sh_quote(py) + " -c 'import matplotlib, h5py, numpy'", tmp / "probe.log", out);
  G4_CHECK(probe == 0, ConfigError,
           "report html needs {} with matplotlib, h5py and numpy (Debian: apt-get install python3-matplotlib "
           "python3-h5py; GEMMA4_PYTHON=... names another interpreter): {}",
           py, out.empty() ? fmt::format("exit status {}", probe) : last_line(out));

  const fs::path ctx = tmp / "context.json";
  {
    std::ofstream f(ctx);
    f << context;
    G4_CHECK(f.good(), IoError, "{}: cannot write the plot context", ctx.string());
  }
  const fs::path dest_tmp = fs::path(out_path + ".tmp." + std::to_string(getpid()));
  const std::string cmd = fmt::format("{} {} {} {} {}", sh_quote(py), sh_quote(script.string()), sh_quote(report_path),
                                      sh_quote(ctx.string()), sh_quote(dest_tmp.string()));
  const int rc = run_captured(cmd, tmp / "plots.log", out);
  if (rc != 0) {
    std::error_code ec;
    fs::remove(dest_tmp, ec);
    throw IoError(fmt::format("{}: the plot script failed (exit status {}): {}", report_path, rc, last_line(out)));
  }
  std::error_code ec;
  fs::rename(dest_tmp, out_path, ec);
  G4_CHECK(!ec, IoError, "{}: cannot write the HTML ({})", out_path, ec.message());
}

}  // namespace g4::harness
