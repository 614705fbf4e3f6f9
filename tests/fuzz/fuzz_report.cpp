// Fuzz target: a report file read back by read_report (harness/report.cpp), then summarised as
// `gemma4-harness` prints it (markdown and terminal).
#include <cstddef>
#include <cstdint>

#include "golden/limits.hpp"
#include "harness/report.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool init = [] {
    g4::golden::set_read_limit(std::uint64_t{64} << 20);
    return true;
  }();
  (void)init;
  const auto path = g4::fuzz::scratch() / "report.h5";
  g4::fuzz::write_file(path, data, size);
  G4_FUZZ_BODY({
    const auto r = g4::harness::read_report(path.string());
    (void)g4::harness::report_markdown(r);
    (void)g4::harness::report_terminal(r);
  });
  return 0;
}
