#include "harness/shadow.hpp"

#include <algorithm>
#include <cmath>

namespace g4::harness {

std::vector<std::uint8_t> rows_to_elements(const std::vector<std::uint8_t>& row_valid, std::size_t cols) {
  std::vector<std::uint8_t> v(row_valid.size() * cols);
  for (std::size_t r = 0; r < row_valid.size(); ++r) std::fill_n(v.begin() + r * cols, cols, row_valid[r]);
  return v;
}

ShadowExecutor::ShadowExecutor(text::Executor& reference, text::Executor& test, text::Executor* naive,
                               std::vector<std::uint8_t> row_valid, double storage_max)
    : ref_(reference), test_(test), naive_(naive), row_valid_(std::move(row_valid)), storage_max_(storage_max) {}

MoeResult ShadowExecutor::moe() const {
  MoeResult m = moe_;
  if (m.decisions > 0) m.expert_set_agreement = agreement_sum_ / double(m.decisions);
  return m;
}

void ShadowExecutor::begin_layer(index_t layer) {
  ref_.begin_layer(layer);
  test_.begin_layer(layer);
  if (naive_) naive_->begin_layer(layer);
}

Mat ShadowExecutor::node(const std::string& name, const char* kind, const std::function<Mat(text::Executor&)>& op) {
  const Mat r = op(ref_);
  const Mat t = op(test_);
  const Mat b = naive_ ? op(*naive_) : Mat{};
  record(name, kind, r, t, naive_ ? &b : nullptr, row_valid_);
  return r;
}

void ShadowExecutor::record(const std::string& name, const char* kind, const Mat& r, const Mat& t, const Mat* b,
                            const std::vector<std::uint8_t>& rows_valid) {
  const MetricsTimer timer;
  NodeResult n;
  n.tap = name;
  n.op = kind;
  n.kind = kind;
  n.shape = {static_cast<std::int64_t>(r.shape(0)), static_cast<std::int64_t>(r.shape(1))};
  const bool rows_are_tokens = r.shape(0) == rows_valid.size();
  const std::vector<std::uint8_t> valid = rows_are_tokens ? rows_to_elements(rows_valid, r.shape(1))
                                                          : std::vector<std::uint8_t>(r.size(), 1);
  n.m = compare(r.data(), t.data(), r.size(), valid.data());
  if (b) n.naive_rel_l2 = compare(r.data(), b->data(), r.size(), valid.data()).rel_l2;
  double amax = 0;
  for (std::size_t i = 0; i < r.size(); ++i)
    if (valid[i]) amax = std::max(amax, std::abs(r.data()[i]));
  n.headroom = amax / storage_max_;
  nodes_.push_back(std::move(n));
}

Mat ShadowExecutor::linear(const std::string& name, const Mat& x, const Mat& w) {
  return node(name, "linear", [&](text::Executor& e) { return e.linear(name, x, w); });
}
Mat ShadowExecutor::rms_norm(const std::string& name, const Mat& x, const Vec* w, double eps, index_t dim) {
  return node(name, "rms_norm", [&](text::Executor& e) { return e.rms_norm(name, x, w, eps, dim); });
}
Mat ShadowExecutor::rope(const std::string& name, const Mat& x, const std::vector<index_t>& positions,
                         const Vec& inv_freq, index_t head_dim) {
  return node(name, "rope", [&](text::Executor& e) { return e.rope(name, x, positions, inv_freq, head_dim); });
}
Mat ShadowExecutor::attention(const std::string& name, const Mat& q, const Mat& k, const Mat& v,
                              const std::vector<std::uint8_t>& allowed, const ops::AttentionShape& shape,
                              Mat* probs) {
  // The reference also fills the probabilities the graph asked for; the others do not.
  bool first = true;
  return node(name, "attention", [&](text::Executor& e) {
    Mat* p = first ? probs : nullptr;
    first = false;
    return e.attention(name, q, k, v, allowed, shape, p);
  });
}
Mat ShadowExecutor::gelu(const std::string& name, const Mat& x) {
  return node(name, "gelu", [&](text::Executor& e) { return e.gelu(name, x); });
}
Mat ShadowExecutor::mul(const std::string& name, const Mat& a, const Mat& b) {
  return node(name, "mul", [&](text::Executor& e) { return e.mul(name, a, b); });
}
Mat ShadowExecutor::add(const std::string& name, const Mat& a, const Mat& b) {
  return node(name, "add", [&](text::Executor& e) { return e.add(name, a, b); });
}
Mat ShadowExecutor::scale(const std::string& name, const Mat& x, double s) {
  return node(name, "scale", [&](text::Executor& e) { return e.scale(name, x, s); });
}
Mat ShadowExecutor::softcap(const std::string& name, const Mat& x, double cap) {
  return node(name, "softcap", [&](text::Executor& e) { return e.softcap(name, x, cap); });
}

// The router: expert choices feed the MoE agreement (flips near ties are discontinuous, so they
// are counted, not measured); the routing weights are compared on the tokens whose expert set
// matches the reference's (for the baseline too), where they are a continuous function.
ops::RouterOutput ShadowExecutor::route(const std::string& name, const Mat& logits, const Vec& per_expert_scale,
                                        index_t top_k) {
  const ops::RouterOutput r = ref_.route(name, logits, per_expert_scale, top_k);
  const ops::RouterOutput t = test_.route(name, logits, per_expert_scale, top_k);
  auto same_set = [&](const ops::RouterOutput& o, std::size_t tok) {
    std::int64_t same = 0;
    for (std::size_t j = 0; j < o.index.shape(1); ++j)
      for (std::size_t i = 0; i < r.index.shape(1); ++i) same += o.index(tok, j) == r.index(tok, i);
    return same;
  };
  std::vector<std::uint8_t> agree(r.index.shape(0), 1);
  for (std::size_t tok = 0; tok < agree.size(); ++tok) {
    if (tok < row_valid_.size() && !row_valid_[tok]) {
      agree[tok] = 0;
      continue;
    }
    const std::int64_t same = same_set(t, tok);
    agreement_sum_ += double(same) / double(top_k);
    moe_.routing_flips += same != top_k;
    ++moe_.decisions;
    agree[tok] = same == top_k;
  }
  ops::RouterOutput b;
  if (naive_) {
    b = naive_->route(name, logits, per_expert_scale, top_k);
    for (std::size_t tok = 0; tok < agree.size(); ++tok) agree[tok] = agree[tok] && same_set(b, tok) == top_k;
  }
  // Weights scattered to [T, E] by expert id, so the order inside the top-k does not matter.
  const std::size_t E = r.probs.shape(1);
  auto dense = [&](const ops::RouterOutput& o) {
    Mat d = xt::zeros<double>({o.index.shape(0), E});
    for (std::size_t tok = 0; tok < o.index.shape(0); ++tok)
      for (std::size_t j = 0; j < o.index.shape(1); ++j) d(tok, static_cast<std::size_t>(o.index(tok, j))) = o.weights(tok, j);
    return d;
  };
  const Mat rd = dense(r), td = dense(t), bd = naive_ ? dense(b) : Mat{};
  record(name, "route", rd, td, naive_ ? &bd : nullptr, agree);
  return r;
}

Mat ShadowExecutor::experts(const std::string& name, const Mat& xe, const ops::RouterOutput& r,
                            const std::vector<double>& gate_up, const std::vector<double>& down, index_t E,
                            index_t Fe) {
  return node(name, "experts", [&](text::Executor& e) { return e.experts(name, xe, r, gate_up, down, E, Fe); });
}

}  // namespace g4::harness
