#pragma once
// The executor interface: every numerical node of the text graph is one call here, and the
// graph (reference/text/model.cpp) is written once against it (DESIGN.md section 2).
//
// `name` is the node's tap (its transformers module path). The float64 reference executor below
// calls reference/ops; an optimized executor implements the same calls under a precision
// policy; a teacher-forcing wrapper can run two executors on the same inputs node by node.
#include <cstdint>
#include <string>
#include <vector>

#include "reference/common/tensor.hpp"
#include "reference/ops/attention.hpp"
#include "reference/ops/moe.hpp"

namespace g4::text {

class Executor {
 public:
  virtual ~Executor() = default;
  // Called before each decoder layer's nodes (and with -1 before the embedding and the head):
  // an executor that prepares weights (quantises, packs) may drop what it prepared for the
  // previous layer, since weights are held one layer at a time.
  virtual void begin_layer(index_t layer) {}
  virtual Mat linear(const std::string& name, const Mat& x, const Mat& w) = 0;             // x·Wᵀ
  virtual Mat rms_norm(const std::string& name, const Mat& x, const Vec* w, double eps, index_t dim) = 0;
  virtual Mat rope(const std::string& name, const Mat& x, const std::vector<index_t>& positions,
                   const Vec& inv_freq, index_t head_dim) = 0;
  virtual Mat attention(const std::string& name, const Mat& q, const Mat& k, const Mat& v,
                        const std::vector<std::uint8_t>& allowed, const ops::AttentionShape& shape,
                        Mat* probs) = 0;
  virtual Mat gelu(const std::string& name, const Mat& x) = 0;                           // gelu_tanh
  virtual Mat mul(const std::string& name, const Mat& a, const Mat& b) = 0;              // a ⊙ b
  virtual Mat add(const std::string& name, const Mat& a, const Mat& b) = 0;              // a + b
  virtual Mat scale(const std::string& name, const Mat& x, double s) = 0;                // s·x
  virtual Mat softcap(const std::string& name, const Mat& x, double cap) = 0;            // cap·tanh(x/cap)
  virtual ops::RouterOutput route(const std::string& name, const Mat& logits, const Vec& per_expert_scale,
                                  index_t top_k) = 0;
  virtual Mat experts(const std::string& name, const Mat& xe, const ops::RouterOutput& r,
                      const std::vector<double>& gate_up, const std::vector<double>& down, index_t E,
                      index_t Fe) = 0;
};

// The float64 reference: each call is the reference op of the same name.
class ReferenceExecutor : public Executor {
 public:
  Mat linear(const std::string&, const Mat& x, const Mat& w) override;
  Mat rms_norm(const std::string&, const Mat& x, const Vec* w, double eps, index_t dim) override;
  Mat rope(const std::string&, const Mat& x, const std::vector<index_t>& positions, const Vec& inv_freq,
           index_t head_dim) override;
  Mat attention(const std::string&, const Mat& q, const Mat& k, const Mat& v,
                const std::vector<std::uint8_t>& allowed, const ops::AttentionShape& shape, Mat* probs) override;
  Mat gelu(const std::string&, const Mat& x) override;
  Mat mul(const std::string&, const Mat& a, const Mat& b) override;
  Mat add(const std::string&, const Mat& a, const Mat& b) override;
  Mat scale(const std::string&, const Mat& x, double s) override;
  Mat softcap(const std::string&, const Mat& x, double cap) override;
  ops::RouterOutput route(const std::string&, const Mat& logits, const Vec& per_expert_scale,
                          index_t top_k) override;
  Mat experts(const std::string&, const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
              const std::vector<double>& down, index_t E, index_t Fe) override;
};

}  // namespace g4::text
