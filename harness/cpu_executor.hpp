#pragma once
// The CPU executor: the text graph's nodes computed by optimized/cpu kernels under a precision
// policy (optimized/cpu/policy.hpp). It adapts between the graph's float64 matrices and the
// kernels' raw float32 buffers (optimized/ never sees xtensor):
//   - every input is converted to the policy's storage format (so in teacher-forced mode the
//     node sees the reference's values as it would have stored them);
//   - every output is rounded to the storage format;
//   - linear weights are quantised/packed once per layer (cached by content fingerprint,
//     dropped at begin_layer);
//   - with time_kernels(r) (harness/timing.hpp KernelTimed), each op converts its inputs once and
//     repeats only its kernel (the cpu:: call and the rounding of its output to the storage
//     format): node times are the kernels', not the float64 boundary's;
//   - naive = true is the ratio rule's same-precision baseline: the same formats and roundings,
//     matmuls with exact accumulation of the quantised inputs (cpu::gemm_exact), attention in
//     two plain passes (cpu::attention_naive), element-wise ops as written here.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "optimized/cpu/gemm.hpp"
#include "optimized/cpu/policy.hpp"
#include "harness/timing.hpp"
#include "reference/text/executor.hpp"

namespace g4::harness {

// Sampled FNV-1a over a weight's n values: with its address and shape, the key of the executors'
// per-layer weight caches (an address freed and reused within one layer for other values must
// not hit).
std::uint64_t weight_fingerprint(const double* w, std::size_t n);

// Packed weights by (address, N, K, content fingerprint). Executors of one policy may share one
// (a policy's teacher-forced, baseline and free-running executors pack identical weights).
using PackCache = std::map<std::tuple<const double*, index_t, index_t, std::uint64_t>, cpu::PackedWeight>;

class CpuExecutor : public text::Executor, public KernelTimed {
 public:
  // shared: a cache shared with other executors of the same policy over the same weights (never
  // cleared here: its owner drops it when the weights change); null: a private cache, dropped at
  // every begin_layer.
  CpuExecutor(cpu::Policy policy, bool naive, std::shared_ptr<PackCache> shared = nullptr);
  const cpu::Policy& policy() const { return policy_; }

  void time_kernels(int repeats) override { kernel_repeats_ = repeats, last_kernel_ = {}; }
  Times last_kernel() const override { return last_kernel_; }

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

  // Float32 buffer of a matrix after storage in format `f` (F32, BF16 or F16).
  static std::vector<float> load(const Mat& x, cpu::Fmt f);
  // Widens a float32 buffer (already in the storage format) to a Mat [r, c].
  static Mat widen(const std::vector<float>& y, index_t r, index_t c);

 private:
  const cpu::PackedWeight& packed(const double* w, index_t N, index_t K);
  void matmul(const std::vector<float>& a, index_t M, const cpu::PackedWeight& w, float* c) const;
  // Runs f, the op's kernel: once, or (time_kernels) once + `kernel_repeats_` timed times.
  // cold_bytes: the op reads that many bytes of weights, which a real decode streams from memory
  // (a model is far larger than the caches); at >= 1 MiB the caches are evicted before each run,
  // so repeats do not read the weights from L2/L3.
  template <class F>
  void kernel(F&& f, std::size_t cold_bytes = 0);

  cpu::Policy policy_;
  bool naive_;
  bool shared_;
  std::shared_ptr<PackCache> cache_;
  int kernel_repeats_ = 0;
  Times last_kernel_;
};

// Largest finite value of a policy's storage format (headroom denominators).
double storage_max(const cpu::Policy& p);
// Bytes per stored weight (int4: half a byte plus its group's float32 scale) and per stored
// activation: the byte counts of throughput (GB/s).
double weight_bytes(const cpu::Policy& p);
double act_bytes(const cpu::Policy& p);

}  // namespace g4::harness
