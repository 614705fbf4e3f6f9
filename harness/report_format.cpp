#include "harness/report_format.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace g4::harness::fmtx {

std::string sci(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.3e}", v);
}

std::string pct(double frac) {
  if (!std::isfinite(frac)) return "n/a";
  return fmt::format("{:.1f}%", 100.0 * frac);
}

std::string ratio(double r) {
  if (std::isnan(r)) return "nan";
  if (std::isinf(r)) return r > 0 ? "inf" : "-inf";
  if (r != 0 && (r >= 1e3 || r < 1e-2)) return fmt::format("x{:.2e}", r);
  return fmt::format("x{:.3f}", r);
}

std::string rate(double v) {
  if (!std::isfinite(v)) return "n/a";
  if (std::abs(v) >= 100) return fmt::format("{:.0f}", v);
  if (std::abs(v) >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3g}", v);
}

std::string table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right,
                  const std::string& indent) {
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

std::string md(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

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

namespace {
// Position just after "layers.<digits>" and the number, or npos.
std::size_t layer_end(std::string_view tap, int& layer) {
  std::size_t from = 0;
  while (true) {
    const std::size_t p = tap.find("layers.", from);
    if (p == std::string_view::npos) return p;
    if (p == 0 || tap[p - 1] == '.') {
      std::size_t q = p + 7;
      int v = 0;
      bool digits = false;
      while (q < tap.size() && tap[q] >= '0' && tap[q] <= '9' && v < 100000) {
        v = v * 10 + (tap[q] - '0');
        ++q;
        digits = true;
      }
      if (digits && (q == tap.size() || tap[q] == '.')) {
        layer = v;
        return q;
      }
    }
    from = p + 1;
  }
}
}  // namespace

int tap_layer(std::string_view tap) {
  int layer = -1;
  return layer_end(tap, layer) == std::string_view::npos ? -1 : layer;
}

std::string tap_op(std::string_view tap) {
  int layer = -1;
  const std::size_t e = layer_end(tap, layer);
  if (e == std::string_view::npos) return std::string(tap);
  if (e >= tap.size()) return "(layer output)";
  return std::string(tap.substr(e + 1));
}

}  // namespace g4::harness::fmtx
