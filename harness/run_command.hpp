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
  // --memory-budget: bytes this run may use (0: no budget). Every golden bundle and real-size
  // layer is estimated before any work (estimate_layer_bytes); one over the budget stops the run
  // with a g4::ConfigError naming it (exit 2) instead of the machine killing it. Every single
  // tensor/dataset read is also held to it (golden/limits.hpp).
  std::uint64_t memory_budget = 0;
  // --executor: what runs the policies' nodes. cpu: the CPU executor (harness/cpu_executor.hpp);
  // cuda-sim: the CUDA kernels in the SIMT simulator (harness/cuda_executor.hpp; every
  // preset, goldens only; nodes are not timed: simulated time is no measurement, times are
  // NaN); cuda: the same kernels on the GPU, timed with CUDA events against the GPU's own
  // ceilings (a ConfigError, exit 2, when nvcc was not found at configure time or no device is
  // usable).
  std::string executor = "cpu";
};

// The peak memory one real-size layer run needs, estimated from its config: its weights (and
// those of the layer it takes K/V from) as float64 and packed by the widest policy, the KV cache
// of `past` + `tokens` positions, and the activations both executors keep (every tap of a
// prefill, the attention scores [heads, tokens, past + tokens]), reference and policy side.
struct LayerMemory {
  double weights = 0, packed = 0, kv_cache = 0, activations = 0;
  double total() const { return weights + packed + kv_cache + activations; }
};
LayerMemory estimate_layer_bytes(const std::string& variant, std::int64_t layer, std::int64_t tokens,
                                 std::int64_t past, double packed_bytes_per_weight);

// Returns the exit code: 0 every gate passed, 1 a gate failed.
int run_command(const RunCommandOptions& o, int argc, char** argv);

}  // namespace g4::harness
