#pragma once
// What one `gemma4-harness run` measures (DESIGN.md sections 5-7): per run (a source × policy ×
// mode), per node: the error against the float64 reference, the ratio-rule baseline, the bound,
// headroom, and time. Written to HDF5 by report.cpp; documented path by path in reports/SCHEMA.md.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "harness/metrics.hpp"

namespace g4::harness {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Provenance {
  std::string commit, time_utc, hostname, cpu_model, cpu_flags, compiler, command_line;
  std::string library_versions;   // "openblas 0.3.21; hdf5 1.10.8; ..."
  std::string tolerance_file;     // path and version of the tolerance file used
  std::uint64_t seed = 0;
  int threads = 0;
};

// This machine's ceilings, measured at start-up in the same run (DESIGN.md section 6). For
// `run --executor cuda` they are the GPU's: cuBLAS GEMM rates, and the device-to-device copy
// bandwidth (bytes read + written per second) as stream_read_gbs.
struct MachineCeilings {
  double dgemm_gflops = kNaN, sgemm_gflops = kNaN, bf16_gflops = kNaN, int8_gops = kNaN;
  double stream_read_gbs = kNaN;
  std::string device;  // "" = this host's CPU; else the GPU measured (harness/cuda_executor.hpp)
};

struct NodeResult {
  std::string tap;                 // the node's tap (transformers module path)
  std::string op;                  // teacher-forced: the op kind; free-running: tap, untapped, indices,
                                   // after-routing-flip (how the node was gated: reports/SCHEMA.md)
  std::string kind;                // op kind: linear, rms_norm, rope, attention, gelu, ...; "" for a
                                   // tap that is no single op (a block's output)
  std::vector<std::int64_t> shape;
  TapMetrics m;                    // executor vs float64 reference
  double naive_rel_l2 = kNaN;      // naive same-precision computation vs float64 (ratio rule)
  double bound = kNaN;             // the rel_l2 bound applied (kNaN: not gated)
  bool pass = true;
  double headroom = kNaN;          // max|reference| / largest finite value of the storage format
  double time_median_s = kNaN;     // median over repeats after warm-up (kNaN: not timed)
  int repeats = 0;
  double flops = 0, bytes = 0;     // analytic counts of the node
};

struct LogitResult {
  double kl_mean = kNaN, kl_p99 = kNaN, kl_max = kNaN;  // KL(reference || executor), nats, per token
  double top1 = kNaN, top5 = kNaN;                      // top-1 agreement, mean top-5 overlap (0..1)
  std::int64_t tokens = 0;
};

struct MoeResult {
  double expert_set_agreement = kNaN;  // mean over (layer, token) of |S_ref ∩ S_x| / K
  std::int64_t routing_flips = 0;      // (layer, token) pairs whose expert set differs
  std::int64_t decisions = 0;          // (layer, token) pairs compared
};

struct RunResult {
  std::string id;                  // unique within a report, e.g. "golden.e2b_tiny.bf16.free"
  std::string source;              // "golden:golden/data/e2b_tiny" or "real:e2b:layer0:prefill512"
  std::string variant, policy, mode;  // mode: "teacher-forced" or "free-running"
  std::vector<NodeResult> nodes;   // in graph order
  std::optional<LogitResult> logits;
  std::optional<MoeResult> moe;
  bool pass = true;
  double seconds = 0;              // wall time of the run
};

struct Report {
  Provenance provenance;
  MachineCeilings machine;
  std::vector<RunResult> runs;
};

}  // namespace g4::harness
