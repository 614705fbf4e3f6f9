#pragma once
// One project exception type, with subclasses per kind of failure (DESIGN.md section 9).
//
// Every error carries the thing it is about (a file, a dataset, a config field) and what was
// expected, so the CLI can print one line and exit 2. Library code throws; only main() exits.
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace g4 {

class Error : public std::runtime_error {
 public:
  explicit Error(std::string what) : std::runtime_error(one_line(std::move(what))) {}

  // Messages quote names and values read from files (tensor names, config keys, attributes),
  // which may hold control characters: they are escaped ("\n" -> "\\n", other bytes < 0x20 ->
  // "\\xHH"), so a message is one line by construction.
  static std::string one_line(std::string s) {
    bool clean = true;
    for (const char c : s) clean = clean && static_cast<unsigned char>(c) >= 0x20;
    if (clean) return s;
    std::string out;
    out.reserve(s.size() + 8);
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x20) out += c;
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else out += fmt::format("\\x{:02x}", u);
    }
    return out;
  }
};

// Bad configuration: unknown or inconsistent field, unsupported feature.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// Shapes that do not fit together at an API boundary.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// Missing, truncated or malformed file; missing dataset; wrong dtype.
class IoError : public Error {
 public:
  using Error::Error;
};

// Non-finite or otherwise invalid numbers in an input (weights, goldens).
class DataError : public Error {
 public:
  using Error::Error;
};

}  // namespace g4

// G4_CHECK(cond, ErrorType, fmt, args...): throws ErrorType with the formatted message.
#define G4_CHECK(cond, Type, ...)                      \
  do {                                                 \
    if (!(cond)) throw Type(fmt::format(__VA_ARGS__)); \
  } while (0)
