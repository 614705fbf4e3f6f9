#pragma once
// The runner of `gemma4-harness run`: the graph executed by the float64 reference and by an
// executor under a precision policy, in both modes (DESIGN.md section 2):
//   teacher-forced  every node of the executor gets the reference's inputs (ShadowExecutor):
//                   each number is that op's own error;
//   free-running    the executor feeds itself: each tap's number is the accumulated error.
// Every node is gated by the ratio rule against the executor's naive same-precision twin, and
// by the policy's ceiling (harness/tolerances.json).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/run_result.hpp"
#include "reference/text/executor.hpp"
#include "reference/text/model.hpp"

namespace g4::harness {

struct Tolerances {
  int version = 0;
  std::string path;
  double ratio_k = 2, ratio_k_tanh = 3, ratio_k_free = 4, floor = 8 * 0x1.0p-24;
  std::map<std::string, std::map<std::string, double>> ceilings;  // policy -> mode -> ceiling
  static Tolerances load(const std::string& path);                // ConfigError naming the field
  double ceiling(const std::string& policy, const std::string& mode) const;
};

struct RunnerContext {
  // Makes the executor under test for a policy; naive = its plain same-precision twin.
  std::function<std::unique_ptr<text::Executor>(const std::string& policy, bool naive)> make_executor;
  std::function<double(const std::string& policy)> storage_max;  // largest finite storage value
  std::function<double(const std::string& policy)> weight_bytes;  // bytes per stored weight (scales included)
  std::function<double(const std::string& policy)> act_bytes;     // bytes per stored activation
  Tolerances tolerances;
  int repeats = 3;          // timed repeats per node in free-running mode (after one warm-up)
  // Called when a policy's runs on one source are done (e.g. to drop its packed weights: a
  // real-size 26B-A4B layer holds 6 GB of float64 experts, and every policy's packs beside them
  // would not fit in 24 GiB).
  std::function<void(const std::string& policy)> release_policy;
  bool naive_baseline = true;
};

struct Modes {
  bool teacher = true, free = true;
};

// Every policy × mode on one golden bundle (its inputs and weights; the reference is run once).
std::vector<RunResult> run_golden(const std::string& bundle_dir, const std::vector<std::string>& policies,
                                  Modes modes, const RunnerContext& ctx);

// The vision tower + embed_vision of a vision bundle (golden.h5 kind "vision") through every
// policy in the selected modes.
std::vector<RunResult> run_vision_golden(const std::string& bundle_dir, const std::vector<std::string>& policies,
                                         Modes modes, const RunnerContext& ctx);

// The audio tower + embed_audio of an audio bundle (kind "audio") through every policy in the
// selected modes; the tower's own ops (convolutions, chunked attention, SiLU, GLU) stay float64.
std::vector<RunResult> run_audio_golden(const std::string& bundle_dir, const std::vector<std::string>& policies,
                                        Modes modes, const RunnerContext& ctx);

// One real-size decoder layer with seeded random weights (reference/text/random_weights.hpp),
// every policy × mode × step. A step is a prefill of `tokens` tokens (past = 0), or `tokens`
// decode steps after `past` cached tokens (a KV cache of seeded random keys and values with the
// magnitudes the layer's norms give them: K ~ N(0, Dh^-1/2), V ~ N(0, 1)). The layer a
// kv-shared layer reads is run by the reference first. The reference runs once per step; the
// policies run one after another, each over every step, so a policy's weights are packed once.
struct RealLayer {
  std::string variant;   // e2b, e4b, 31b, 26b-a4b
  index_t layer = 0;
  std::string kind;      // sliding, full, kv-shared, moe (for the run id)
};
struct RealStep {
  index_t tokens = 0;
  index_t past = 0;
};
// weights: the variant's seeded random weights; null: made here from the seed.
std::vector<RunResult> run_real_layer(const RealLayer& which, const std::vector<RealStep>& steps, std::uint64_t seed,
                                      const std::vector<std::string>& policies, Modes modes,
                                      const RunnerContext& ctx, text::WeightSource* weights = nullptr);

// KL(ref ‖ x) per token from logits (softmax over the vocabulary), top-1 and top-5 agreement.
LogitResult logit_metrics(const Mat& ref_logits, const Mat& x_logits, const std::vector<std::uint8_t>& row_valid);

// Applies the gate to one node (sets bound and pass): rel_l2 <= min(ceiling, k·naive + floor),
// no non-finite value. Expert-id taps are not gated; taps after a routing flip skip the ceiling.
void gate(NodeResult& n, const std::string& policy, const std::string& mode, const Tolerances& t);

}  // namespace g4::harness
