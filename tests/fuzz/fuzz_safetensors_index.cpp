// Fuzz target: a sharded checkpoint's model.safetensors.index.json. The input is the index text;
// the shards beside it are the committed golden/data/e2b_tiny_sharded ones (copied once), so
// weight_map entries can name real shards, missing shards, paths, or tensors a shard lacks.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "golden/limits.hpp"
#include "golden/safetensors.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#ifndef GEMMA4_SOURCE_DIR
#error "GEMMA4_SOURCE_DIR must be defined"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  static const fs::path dir = [] {
    g4::golden::set_read_limit(std::uint64_t{64} << 20);
    const fs::path d = g4::fuzz::scratch() / "sharded";
    fs::create_directories(d);
    const fs::path src = fs::path(GEMMA4_SOURCE_DIR) / "golden/data/e2b_tiny_sharded";
    for (const auto& e : fs::directory_iterator(src))
      if (e.path().extension() == ".safetensors") g4::fuzz::copy_file(e.path(), d / e.path().filename());
    return d;
  }();
  const fs::path index = dir / "model.safetensors.index.json";
  g4::fuzz::write_file(index, data, size);
  G4_FUZZ_BODY({
    const g4::golden::Checkpoint ck(index);
    for (const auto& name : ck.names()) G4_FUZZ_BODY(ck.read(name));
  });
  // The directory form resolves to the same index.
  G4_FUZZ_BODY(g4::golden::Checkpoint{dir});
  return 0;
}
