// Fuzz target: a transformers config.json parsed into a TextConfig (reference/text/config_json.cpp)
// and then described, as `gemma4-harness config PATH` does.
#include <cstddef>
#include <cstdint>
#include <string>

#include "reference/text/config.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  G4_FUZZ_BODY({
    const auto c = g4::text::text_config_from_json(text, "fuzz/config.json");
    (void)g4::text::describe(c);
  });
  return 0;
}
