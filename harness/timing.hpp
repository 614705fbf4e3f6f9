#pragma once
// Per-node timing (DESIGN.md section 6): an Executor decorator that runs each node once to warm
// up, then `repeats` more times, and records the median wall time under the node's name. The
// result handed back is the last run's (nodes are pure functions of their inputs).
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
};

class TimingExecutor : public text::Executor {
 public:
  // weight_bytes / act_bytes: bytes per weight and per activation element under the policy.
  TimingExecutor(text::Executor& inner, int repeats, double weight_bytes, double act_bytes)
      : inner_(inner), repeats_(repeats), wb_(weight_bytes), ab_(act_bytes) {}
  // By node name (names carry the layer index, so each call site is distinct).
  const std::map<std::string, NodeTiming>& timings() const { return timings_; }

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
  auto timed(const std::string& name, double flops, double bytes, F&& f) -> decltype(f());
  text::Executor& inner_;
  int repeats_;
  double wb_, ab_;
  std::map<std::string, NodeTiming> timings_;
};

}  // namespace g4::harness
