#include "reference/text/executor.hpp"

#include "reference/common/check.hpp"
#include "reference/ops/activations.hpp"
#include "reference/ops/matmul.hpp"
#include "reference/ops/rms_norm.hpp"
#include "reference/ops/rope.hpp"

namespace g4::text {
namespace {
void same_shape(const std::string& name, const Mat& a, const Mat& b) {
  G4_CHECK(a.shape() == b.shape(), ShapeError, "{}: operands [{}, {}] and [{}, {}] differ", name, rows(a), cols(a),
           rows(b), cols(b));
}
}  // namespace

Mat ReferenceExecutor::linear(const std::string&, const Mat& x, const Mat& w) { return ops::linear(x, w); }
Mat ReferenceExecutor::rms_norm(const std::string&, const Mat& x, const Vec* w, double eps, index_t dim) {
  return ops::rms_norm(x, w, eps, dim);
}
Mat ReferenceExecutor::rope(const std::string&, const Mat& x, const std::vector<index_t>& positions,
                            const Vec& inv_freq, index_t head_dim) {
  return ops::rope(x, positions, inv_freq, head_dim);
}
Mat ReferenceExecutor::attention(const std::string&, const Mat& q, const Mat& k, const Mat& v,
                                 const std::vector<std::uint8_t>& allowed, const ops::AttentionShape& shape,
                                 Mat* probs) {
  return ops::attention(q, k, v, allowed, shape, probs);
}
Mat ReferenceExecutor::gelu(const std::string&, const Mat& x) { return ops::gelu_tanh(x); }
Mat ReferenceExecutor::mul(const std::string& name, const Mat& a, const Mat& b) {
  same_shape(name, a, b);
  return a * b;
}
Mat ReferenceExecutor::add(const std::string& name, const Mat& a, const Mat& b) {
  same_shape(name, a, b);
  return a + b;
}
Mat ReferenceExecutor::scale(const std::string&, const Mat& x, double s) { return x * s; }
Mat ReferenceExecutor::softcap(const std::string&, const Mat& x, double cap) { return ops::softcap(x, cap); }
ops::RouterOutput ReferenceExecutor::route(const std::string&, const Mat& logits, const Vec& per_expert_scale,
                                           index_t top_k) {
  return ops::route(logits, per_expert_scale, top_k);
}
Mat ReferenceExecutor::experts(const std::string&, const Mat& xe, const ops::RouterOutput& r,
                               const std::vector<double>& gate_up, const std::vector<double>& down, index_t E,
                               index_t Fe) {
  return ops::experts(xe, r, gate_up, down, E, Fe);
}

}  // namespace g4::text
