// Fuzz target: a gate rules file (`report gate --rules F`, harness/report_compare.cpp).
#include <cstddef>
#include <cstdint>

#include "harness/report_compare.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = g4::fuzz::scratch() / "gate.json";
  g4::fuzz::write_file(path, data, size);
  G4_FUZZ_BODY((void)g4::harness::GateRules::load(path.string()));
  return 0;
}
