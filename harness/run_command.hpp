#pragma once
// `gemma4-harness run`: the main job (issue #4). With no options, the embedded default: every
// committed golden through every policy in both modes, plus real-size layers of the four
// variants (one of each kind: sliding, full, kv-shared, MoE) at prefill 512.
#include <cstdint>
#include <string>
#include <vector>

namespace g4::harness {

struct RunCommandOptions {
  std::vector<std::string> goldens;    // bundle directories; empty = every golden/data/* bundle
  std::vector<std::string> policies;   // empty = every preset on goldens; fp32, bf16, fp16, int8,
                                       // int4-g128 on real-size layers
  std::vector<std::string> variants;   // real-size variants; empty = all four
  std::vector<std::string> kinds;      // real-size layer kinds: sliding, full, kv-shared, moe; empty = all
  bool teacher = true, free = true;
  bool real = true, golden = true;
  std::int64_t tokens = 512;           // prefill tokens of the real-size layers
  std::int64_t context = 4096;         // KV-cache length of the real-size decode step (0: no decode step)
  std::uint64_t seed = 1234;
  int repeats = -1;                    // timed repeats per node: -1 = 3 on goldens, 2 on real-size layers
  int threads = 0;                     // 0 = all cores
  std::string out;                     // report path (.h5); the markdown summary goes beside it
  std::string tolerances;              // tolerance file; empty = harness/tolerances.json
  bool quiet = false;
};

// Returns the exit code: 0 every gate passed, 1 a gate failed.
int run_command(const RunCommandOptions& o, int argc, char** argv);

}  // namespace g4::harness
