#pragma once
// Per-node timing (DESIGN.md section 6): an Executor decorator that records, under each node's
// name, the median time of `repeats` runs after one warm-up run.
//
// What is timed is the node's kernel. An executor whose ops adapt the graph's float64 values to
// its own formats (the CPU executor: float64 -> float32/bf16 inputs, K/V converted to the policy's
// KV format, float32 outputs widened back to float64) implements KernelTimed: the decorator calls
// the op once and the executor repeats only its kernel (inputs converted once, output rounded to
// the storage format inside the timed region, as a real kernel's epilogue would). The boundary's
// cost is measured too (wall time of the op minus every kernel run in it) and reported as the
// run's executor-boundary time, never inside a node's time: the decode step at a context of 4096
// spent 82 ms of an 84 ms attention node converting the float64 K/V cache to bf16, which made the
// node read as 0.8 GB/s. Other executors are timed whole (the op called warm-up + repeats times).
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "reference/text/executor.hpp"

namespace g4::harness {

// Each node's median time and its analytic work: FLOPs, and bytes moved (weights in their stored
// format, activations in the storage format; read once, written once).
struct NodeTiming {
  double median_s = 0;
  int repeats = 0;
  double flops = 0, bytes = 0;
  std::string kind;  // op kind: linear, rms_norm, rope, attention, gelu, mul, add, scale, softcap, route, experts
};

// The median of a sample (the mean of the two middle values for an even count); NaN if empty.
double median(std::vector<double> v);

// An executor that times its own kernels (see the top of this file).
class KernelTimed {
 public:
  struct Times {
    double median_s = std::numeric_limits<double>::quiet_NaN();  // median of the timed runs
    double total_s = 0;  // all of it: warm-up, timed runs, cache evictions between them
  };
  virtual ~KernelTimed() = default;
  // repeats > 0: each following op runs its kernel once to warm up, then `repeats` timed times;
  // 0: once, untimed. Resets last_kernel().
  virtual void time_kernels(int repeats) = 0;
  // The kernel of the last op since time_kernels() (median NaN: that op did not time one).
  virtual Times last_kernel() const = 0;
};

class TimingExecutor : public text::Executor {
 public:
  // weight_bytes / act_bytes: bytes per weight and per activation element under the policy.
  TimingExecutor(text::Executor& inner, int repeats, double weight_bytes, double act_bytes)
      : inner_(inner), kernel_timed_(dynamic_cast<KernelTimed*>(&inner)), repeats_(repeats), wb_(weight_bytes),
        ab_(act_bytes) {}
  // By node name (names carry the layer index, so each call site is distinct).
  const std::map<std::string, NodeTiming>& timings() const { return timings_; }
  // Seconds the timed ops spent outside their kernels (the executor's format boundary).
  double boundary_seconds() const { return boundary_s_; }

  void begin_layer(index_t layer) override { inner_.begin_layer(layer); }
  Mat linear(const std::string& n, const Mat& x, const Mat& w) override;
  Mat rms_norm(const std::string& n, const Mat& x, const Vec* w, double eps, index_t dim) override;
  Mat rope(const std::string& n, const Mat& x, const std::vector<index_t>& p, const Vec& f, index_t d) override;
  Mat attention(const std::string& n, const Mat& q, const Mat& k, const Mat& v, const std::vector<std::uint8_t>& a,
                const ops::AttentionShape& s, Mat* probs) override;
  Mat gelu(const std::string& n, const Mat& x) override;
  Mat mul(const std::string& n, const Mat& a, const Mat& b) override;
  Mat add(const std::string& n, const Mat& a, const Mat& b) override;
  Mat scale(const std::string& n, const Mat& x, double s) override;
  Mat softcap(const std::string& n, const Mat& x, double cap) override;
  ops::RouterOutput route(const std::string& n, const Mat& logits, const Vec& pes, index_t k) override;
  Mat experts(const std::string& n, const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gu,
              const std::vector<double>& dn, index_t E, index_t Fe) override;

 private:
  template <class F>
  auto timed(const std::string& name, const char* kind, double flops, double bytes, F&& f) -> decltype(f());
  text::Executor& inner_;
  KernelTimed* kernel_timed_;  // null: the inner executor is timed whole
  int repeats_;
  double wb_, ab_;
  double boundary_s_ = 0;
  std::map<std::string, NodeTiming> timings_;
};

}  // namespace g4::harness
