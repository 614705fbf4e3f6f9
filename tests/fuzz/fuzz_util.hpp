#pragma once
// Shared pieces of the fuzz targets (tests/fuzz/README.md).
//
// Every loader takes a path, so each input is written to a file in a per-process scratch
// directory and opened from there. The property checked on every input: the loader either
// succeeds or throws a g4::Error whose message is one non-empty line (what the CLI prints before
// exiting 2). Any other exception, a crash, a sanitizer report, a leak or an allocation over the
// fuzzer's -malloc_limit_mb is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "reference/common/check.hpp"

namespace g4::fuzz {

// A scratch directory for this process, removed at exit.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/g4fuzz.XXXXXX";
    if (!::mkdtemp(tmpl.data())) std::abort();
    static const std::string keep = tmpl;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(keep, ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& p, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) std::abort();
}

inline void copy_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

// The error contract: one non-empty line. Aborts (a finding) otherwise.
inline void check_message(const g4::Error& e) {
  const std::string_view m = e.what();
  if (m.empty() || m.find('\n') != std::string_view::npos) {
    std::fprintf(stderr, "error message breaks the one-line contract: [%s]\n", e.what());
    std::abort();
  }
}

}  // namespace g4::fuzz

// Runs body; a g4::Error is an accepted outcome (checked for one line), anything else escapes to
// libFuzzer as an uncaught exception, i.e. a crash.
#define G4_FUZZ_BODY(...)                \
  try {                                  \
    __VA_ARGS__;                         \
  } catch (const g4::Error& e) {         \
    g4::fuzz::check_message(e);          \
  }
