#pragma once
// Teacher forcing (DESIGN.md section 2): an Executor that runs every node three ways on the SAME
// inputs — the float64 reference, the executor under test, and that executor's naive
// same-precision twin — records how far the latter two are from the reference, and hands the
// reference output to the graph. So each node's number is that op's own (local) error.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/run_result.hpp"
#include "reference/text/executor.hpp"

namespace g4::harness {

class ShadowExecutor : public text::Executor {
 public:
  // row_valid: one flag per token row (T = B·S); padding rows are not compared.
  // storage_max: largest finite value of the policy's storage format (for headroom).
  ShadowExecutor(text::Executor& reference, text::Executor& test, text::Executor* naive,
                 std::vector<std::uint8_t> row_valid, double storage_max);

  const std::vector<NodeResult>& nodes() const { return nodes_; }
  MoeResult moe() const;  // expert-set agreement averaged over the decisions

  void begin_layer(index_t layer) override;
  Mat linear(const std::string& name, const Mat& x, const Mat& w) override;
  Mat rms_norm(const std::string& name, const Mat& x, const Vec* w, double eps, index_t dim) override;
  Mat rope(const std::string& name, const Mat& x, const std::vector<index_t>& positions, const Vec& inv_freq,
           index_t head_dim) override;
  Mat attention(const std::string& name, const Mat& q, const Mat& k, const Mat& v,
                const std::vector<std::uint8_t>& allowed, const ops::AttentionShape& shape, Mat* probs) override;
  Mat gelu(const std::string& name, const Mat& x) override;
  Mat mul(const std::string& name, const Mat& a, const Mat& b) override;
  Mat add(const std::string& name, const Mat& a, const Mat& b) override;
  Mat scale(const std::string& name, const Mat& x, double s) override;
  Mat softcap(const std::string& name, const Mat& x, double cap) override;
  ops::RouterOutput route(const std::string& name, const Mat& logits, const Vec& per_expert_scale,
                          index_t top_k) override;
  Mat experts(const std::string& name, const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
              const std::vector<double>& down, index_t E, index_t Fe) override;

 private:
  // Runs `op` on the three executors, records the node, returns the reference output.
  Mat node(const std::string& name, const char* kind, const std::function<Mat(text::Executor&)>& op);
  // Records one node: reference r, executor t, baseline b (or null), over the valid token rows.
  void record(const std::string& name, const char* kind, const Mat& r, const Mat& t, const Mat* b,
              const std::vector<std::uint8_t>& rows_valid);

  text::Executor& ref_;
  text::Executor& test_;
  text::Executor* naive_;
  std::vector<std::uint8_t> row_valid_;
  double storage_max_;
  std::vector<NodeResult> nodes_;
  MoeResult moe_;
  double agreement_sum_ = 0;
};

// Per-element validity of a [rows, cols] matrix whose rows are tokens.
std::vector<std::uint8_t> rows_to_elements(const std::vector<std::uint8_t>& row_valid, std::size_t cols);

}  // namespace g4::harness
