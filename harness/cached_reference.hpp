#pragma once
// The float64 reference with its outputs remembered by node name: the first forward computes and
// stores every node's output; later forwards over the SAME inputs (teacher forcing replays the
// reference's inputs node by node, once per policy) get the stored outputs back instead of
// recomputing them. Call clear() before a forward over different inputs.
#include <map>
#include <string>

#include "reference/text/executor.hpp"

namespace g4::harness {

class CachedReference : public text::ReferenceExecutor {
 public:
  void clear() { mats_.clear(), probs_.clear(), routes_.clear(); }

  Mat linear(const std::string& n, const Mat& x, const Mat& w) override {
    return memo(n, [&] { return ReferenceExecutor::linear(n, x, w); });
  }
  Mat rms_norm(const std::string& n, const Mat& x, const Vec* w, double eps, index_t dim) override {
    return memo(n, [&] { return ReferenceExecutor::rms_norm(n, x, w, eps, dim); });
  }
  Mat rope(const std::string& n, const Mat& x, const std::vector<index_t>& p, const Vec& f, index_t d) override {
    return memo(n, [&] { return ReferenceExecutor::rope(n, x, p, f, d); });
  }
  Mat attention(const std::string& n, const Mat& q, const Mat& k, const Mat& v, const std::vector<std::uint8_t>& a,
                const ops::AttentionShape& s, Mat* probs) override {
    if (probs && !probs_.count(n)) mats_.erase(n);  // recompute once to get the probabilities too
    Mat out = memo(n, [&] {
      Mat p;
      Mat o = ReferenceExecutor::attention(n, q, k, v, a, s, probs ? &p : nullptr);
      if (probs) probs_[n] = std::move(p);
      return o;
    });
    if (probs) *probs = probs_.at(n);
    return out;
  }
  Mat gelu(const std::string& n, const Mat& x) override { return memo(n, [&] { return ReferenceExecutor::gelu(n, x); }); }
  Mat mul(const std::string& n, const Mat& a, const Mat& b) override {
    return memo(n, [&] { return ReferenceExecutor::mul(n, a, b); });
  }
  Mat add(const std::string& n, const Mat& a, const Mat& b) override {
    return memo(n, [&] { return ReferenceExecutor::add(n, a, b); });
  }
  Mat scale(const std::string& n, const Mat& x, double s) override {
    return memo(n, [&] { return ReferenceExecutor::scale(n, x, s); });
  }
  Mat softcap(const std::string& n, const Mat& x, double cap) override {
    return memo(n, [&] { return ReferenceExecutor::softcap(n, x, cap); });
  }
  ops::RouterOutput route(const std::string& n, const Mat& logits, const Vec& pes, index_t k) override {
    auto it = routes_.find(n);
    if (it == routes_.end()) it = routes_.emplace(n, ReferenceExecutor::route(n, logits, pes, k)).first;
    return it->second;
  }
  Mat experts(const std::string& n, const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gu,
              const std::vector<double>& dn, index_t E, index_t Fe) override {
    return memo(n, [&] { return ReferenceExecutor::experts(n, xe, r, gu, dn, E, Fe); });
  }

 private:
  template <class F>
  Mat memo(const std::string& n, F&& f) {
    auto it = mats_.find(n);
    if (it == mats_.end()) it = mats_.emplace(n, f()).first;
    return it->second;
  }
  std::map<std::string, Mat> mats_, probs_;
  std::map<std::string, ops::RouterOutput> routes_;
};

}  // namespace g4::harness
