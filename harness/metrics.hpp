#pragma once
// Per-tap error metrics (DESIGN.md section 5), computed in float64 over the elements marked valid.
//
//   rel_l2  = ‖x − r‖₂ / ‖r‖₂          (0 if both are 0; +inf if r = 0 and x ≠ 0)
//   max_abs = max |x − r|, and the flat index where it occurs
//   max_rel = max |x − r| / |r| over elements with |r| > 0
//   cosine  = x·r / (‖x‖ ‖r‖)
//   nmse    = ‖x − r‖² / ‖r‖²          (llama.cpp test-backend-ops' metric)
//   nonfinite = count of NaN/Inf in x
// r is the expected tensor (a golden, or the float64 reference); x the one under test.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace g4::harness {

struct TapMetrics {
  double rel_l2 = 0, max_abs = 0, max_rel = 0, cosine = 1, nmse = 0, ref_norm = 0;
  std::int64_t max_abs_index = -1;  // flat index into the tensor
  std::int64_t nonfinite = 0;
  std::int64_t compared = 0;        // elements compared (valid ones)
};

// valid: one flag per element, or nullptr for all.
TapMetrics compare(const double* ref, const double* x, std::size_t n, const std::uint8_t* valid);

// The harness's own cost (issue #4: under 10 % of a run), accumulated over the process: seconds
// spent computing metrics (compare(), logit and MoE metrics) and reading goldens / writing
// reports, each in the scopes holding an OverheadTimer of that kind (nested scopes of one kind
// count once). The run command prints both against the run's wall time. kBoundary: the CPU
// executor's conversions between the graph's float64 values and the policy's formats around the
// timed kernels of free-running runs (harness/timing.hpp), added by add_overhead.
enum class Overhead { kMetrics, kIo, kBoundary };
double overhead_seconds(Overhead kind);
void add_overhead(Overhead kind, double seconds);
class OverheadTimer {
 public:
  explicit OverheadTimer(Overhead kind);
  ~OverheadTimer();
  OverheadTimer(const OverheadTimer&) = delete;
  OverheadTimer& operator=(const OverheadTimer&) = delete;

 private:
  Overhead kind_;
  double t0_;
  bool outer_;
};
struct MetricsTimer : OverheadTimer {
  MetricsTimer() : OverheadTimer(Overhead::kMetrics) {}
};

// Flat index -> "[i, j, k]" for a shape.
std::string coord(std::int64_t flat, const std::vector<std::int64_t>& shape);

// Element validity from the token layout of a tap (golden/README.md): elements belonging to a
// padding token (attention_mask 0) are not compared; "BS"/"T": leading [B, S] (or B·S);
// "BNS": [B, N, S, ...] with the query token on axis 2.
std::vector<std::uint8_t> token_validity(const std::vector<std::int64_t>& shape, const std::string& layout,
                                         const std::vector<std::int64_t>& attention_mask, std::int64_t B,
                                         std::int64_t S);

}  // namespace g4::harness
