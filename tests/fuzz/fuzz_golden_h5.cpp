// Fuzz target: golden.h5 of a bundle (golden/bundle.cpp over golden/h5.cpp). The input is the
// HDF5 file; config.json and model.safetensors beside it are the committed e2b_tiny ones. Every
// tap is read, as `gemma4-harness verify` does, plus the generic H5Reader calls on each member.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "golden/bundle.hpp"
#include "golden/limits.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#ifndef GEMMA4_SOURCE_DIR
#error "GEMMA4_SOURCE_DIR must be defined"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  static const fs::path dir = [] {
    g4::golden::set_read_limit(std::uint64_t{64} << 20);
    const fs::path d = g4::fuzz::scratch() / "bundle";
    fs::create_directories(d);
    const fs::path src = fs::path(GEMMA4_SOURCE_DIR) / "golden/data/e2b_tiny";
    for (const char* f : {"config.json", "model.safetensors"}) g4::fuzz::copy_file(src / f, d / f);
    return d;
  }();
  g4::fuzz::write_file(dir / "golden.h5", data, size);
  G4_FUZZ_BODY({
    const g4::golden::GoldenBundle b(dir.string());
    for (const auto& name : b.tap_names()) G4_FUZZ_BODY(b.tap(name));
    (void)b.attr("transformers_version");
    const auto& h5 = b.h5();
    for (const char* g : {"/", "/inputs", "/taps"}) {
      G4_FUZZ_BODY({
        for (const auto& a : h5.attr_names(g)) G4_FUZZ_BODY(h5.attr_string(g, a));
      });
    }
  });
  return 0;
}
