// Fuzz target: one .safetensors file (header parse, then every tensor widened to float64 and a
// row read of every 2-D tensor), through the same Checkpoint API the weight loaders use.
#include <cstddef>
#include <cstdint>

#include "golden/limits.hpp"
#include "golden/safetensors.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool init = [] {
    g4::golden::set_read_limit(std::uint64_t{64} << 20);  // stay far below -malloc_limit_mb
    return true;
  }();
  (void)init;
  const auto path = g4::fuzz::scratch() / "model.safetensors";
  g4::fuzz::write_file(path, data, size);
  G4_FUZZ_BODY({
    const g4::golden::Checkpoint ck(path);
    for (const auto& name : ck.names()) {
      const auto& info = ck.info(name);
      G4_FUZZ_BODY(ck.read(name));
      if (info.shape.size() == 2 && info.shape[0] > 0) {
        G4_FUZZ_BODY(ck.read_rows(name, {0, info.shape[0] - 1}));
        G4_FUZZ_BODY(ck.read_row_block(name, 0, 1));
      }
    }
  });
  return 0;
}
