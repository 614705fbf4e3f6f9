#include "harness/cuda_executor.hpp"

#include <fmt/format.h>

#include "optimized/cpu/policy.hpp"
#include "reference/common/check.hpp"

#ifdef GEMMA4_HAVE_CUDA_SIM
#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>
#include <type_traits>
#include <vector>

#include "harness/cpu_executor.hpp"
#include "optimized/cpu/norm_rope.hpp"
#include "optimized/cuda/ops.hpp"
#include "optimized/cuda/quant_weight.hpp"
#include "optimized/formats/bf16.hpp"
#endif

namespace g4::harness {

namespace {
// The quantised GEMMs of optimized/cuda (gemm_w8a8, gemm_dequant) cover these (weights, GEMM
// input) pairs, all with bf16 storage and KV; int4 symmetric with groups a multiple of 32.
bool cuda_quant_gemm(const cpu::Policy& p) {
  using F = cpu::Fmt;
  const bool pair = (p.weights == F::kInt8 && (p.gemm_in == F::kInt8 || p.gemm_in == F::kBF16)) ||
                    (p.weights == F::kInt4 && p.gemm_in == F::kBF16 && !p.weight_asym && p.weight_group > 0 &&
                     p.weight_group % 32 == 0) ||
                    (p.weights == F::kFP8E4M3 && p.gemm_in == F::kFP8E4M3);
  return pair && p.storage == F::kBF16 && p.kv == F::kBF16;
}
}  // namespace

void check_cuda_policy(const std::string& name) {
  const cpu::Policy p = cpu::policy_by_name(name);  // ConfigError for an unknown name
  const bool all_f32 = p.weights == cpu::Fmt::kF32 && p.gemm_in == cpu::Fmt::kF32 && p.storage == cpu::Fmt::kF32 &&
                       p.kv == cpu::Fmt::kF32;
  const bool all_bf16 = p.weights == cpu::Fmt::kBF16 && p.gemm_in == cpu::Fmt::kBF16 &&
                        p.storage == cpu::Fmt::kBF16 && p.kv == cpu::Fmt::kBF16;
  G4_CHECK(all_f32 || all_bf16 || cuda_quant_gemm(p), ConfigError,
           "policy '{}' (weights {}, GEMM inputs {}, storage {}, KV {}): the CUDA executor has no kernels for it "
           "(fp16 storage is not implemented in optimized/cuda); supported: fp32, bf16, fp8-e4m3, int8, int8-w8a16, "
           "int4-g32, int4-g128",
           name, cpu::fmt_name(p.weights), cpu::fmt_name(p.gemm_in), cpu::fmt_name(p.storage), cpu::fmt_name(p.kv));
}

std::vector<std::string> cuda_policies() {
  std::vector<std::string> names;
  for (const cpu::Policy& p : cpu::policy_presets())
    try {
      check_cuda_policy(p.name);
      names.push_back(p.name);
    } catch (const ConfigError&) {
    }
  return names;
}

#ifndef GEMMA4_HAVE_CUDA_SIM

bool cuda_sim_built() { return false; }

std::unique_ptr<text::Executor> make_cuda_sim_executor(const std::string&, const CudaFaults&) {
  throw ConfigError(
      "--executor cuda-sim: this build has no CUDA simulator (the CUDA Toolkit headers were not found when "
      "configuring: optimized/cuda/CMakeLists.txt)");
}

#else

bool cuda_sim_built() { return true; }

namespace {

using bf16 = __nv_bfloat16;
static_assert(sizeof(bf16) == sizeof(std::uint16_t), "bf16 is a 16-bit pattern");

std::size_t sz(index_t n) { return static_cast<std::size_t>(n); }

// Sampled FNV-1a over a weight's values: with the address and shape, the weight cache's key
// (an address freed and reused within one layer for other values must not hit).
std::uint64_t fingerprint(const double* w, std::size_t n) {
  std::uint64_t h = 1469598103934665603ULL ^ n;
  const std::size_t step = std::max<std::size_t>(1, n / 61);
  for (std::size_t i = 0; i < n; i += step) {
    std::uint64_t bits;
    std::memcpy(&bits, &w[i], 8);
    h = (h ^ bits) * 1099511628211ULL;
  }
  std::uint64_t last;
  std::memcpy(&last, &w[n - 1], 8);
  return (h ^ last) * 1099511628211ULL;
}

// A float64 matrix in the storage type T (float: RN to float32; bf16: RN to bf16, the same
// rounding as the CPU executor's load). cols_padded >= c: zero columns appended.
template <class T>
std::vector<T> to_dev(const double* x, index_t r, index_t c, index_t cols_padded);
template <>
std::vector<float> to_dev<float>(const double* x, index_t r, index_t c, index_t cp) {
  std::vector<float> y(sz(r * cp), 0.f);
  for (index_t i = 0; i < r; ++i)
    for (index_t j = 0; j < c; ++j) y[sz(i * cp + j)] = static_cast<float>(x[i * c + j]);
  return y;
}
template <>
std::vector<bf16> to_dev<bf16>(const double* x, index_t r, index_t c, index_t cp) {
  std::vector<std::uint16_t> bits(sz(r * cp), 0);
  for (index_t i = 0; i < r; ++i) formats::quantize_bf16(x + i * c, &bits[sz(i * cp)], sz(c));
  std::vector<bf16> y(bits.size());
  std::memcpy(static_cast<void*>(y.data()), bits.data(), bits.size() * 2);
  return y;
}
template <class T>
std::vector<T> to_dev(const Mat& x, index_t cols_padded = 0) {
  return to_dev<T>(x.data(), rows(x), cols(x), cols_padded ? cols_padded : cols(x));
}

// Columns [0, c) of a [r, ld] buffer of T, widened exactly to float64.
template <class T>
Mat from_dev(const std::vector<T>& y, index_t r, index_t c, index_t ld = 0) {
  if (!ld) ld = c;
  Mat m = Mat::from_shape({sz(r), sz(c)});
  for (index_t i = 0; i < r; ++i)
    for (index_t j = 0; j < c; ++j) {
      if constexpr (std::is_same_v<T, float>) m(sz(i), sz(j)) = y[sz(i * ld + j)];
      else m(sz(i), sz(j)) = static_cast<double>(__bfloat162float(y[sz(i * ld + j)]));
    }
  return m;
}

index_t round8(index_t n) { return (n + 7) / 8 * 8; }
index_t round16(index_t n) { return (n + 15) / 16 * 16; }

class CudaSimExecutor : public text::Executor {
 public:
  CudaSimExecutor(cpu::Policy policy, CudaFaults faults)
      : policy_(std::move(policy)),
        bf16_(policy_.storage == cpu::Fmt::kBF16),
        quant_(policy_.weights != cpu::Fmt::kF32 && policy_.weights != cpu::Fmt::kBF16),
        faults_(faults) {}

  void begin_layer(index_t) override {
    w32_.clear();
    w16_.clear();
    wq_.clear();
    moe16_.clear();
  }

  Mat linear(const std::string&, const Mat& x, const Mat& w) override {
    G4_CHECK(cols(x) == cols(w), ShapeError, "linear: [{}, {}] · [{}, {}]ᵀ", rows(x), cols(x), rows(w), cols(w));
    const index_t M = rows(x), N = rows(w), K = cols(w);
    if (!bf16_) {
      const std::vector<float> a = to_dev<float>(x);
      std::vector<float> c(sz(M * N));
      cuda::gemm_f32(a.data(), weight32(w.data(), N, K).data(), c.data(), cuda::GemmShape{M, N, K});
      return from_dev(c, M, N);
    }
    if (quant_) {  // bf16 storage: the stored activations, the GEMM rounding its output to bf16 once
      const index_t Kp = padded_k(K);
      return from_dev(qgemm<bf16>(to_dev<bf16>(x, Kp), M, weightq(w.data(), N, K, Kp)), M, N);
    }
    const index_t Kp = round8(K);  // the tensor-core GEMM's 16-byte cp.async chunks
    const std::vector<bf16> a = to_dev<bf16>(x, Kp);
    std::vector<bf16> c(sz(M * N));
    cuda::gemm_bf16(cuda::GemmBackend::tensor_core, a.data(), weight16(w.data(), N, K, Kp).data(), c.data(),
                    cuda::GemmShape{M, N, Kp});
    return from_dev(c, M, N);
  }

  Mat rms_norm(const std::string&, const Mat& x, const Vec* w, double eps, index_t dim) override {
    return bf16_ ? rms_norm_t<bf16>(x, w, eps, dim) : rms_norm_t<float>(x, w, eps, dim);
  }
  Mat rope(const std::string&, const Mat& x, const std::vector<index_t>& positions, const Vec& inv_freq,
           index_t head_dim) override {
    return bf16_ ? rope_t<bf16>(x, positions, inv_freq, head_dim) : rope_t<float>(x, positions, inv_freq, head_dim);
  }
  Mat attention(const std::string&, const Mat& q, const Mat& k, const Mat& v, const std::vector<std::uint8_t>& allowed,
                const ops::AttentionShape& a, Mat*) override {
    return bf16_ ? attention_t<bf16>(q, k, v, allowed, a) : attention_t<float>(q, k, v, allowed, a);
  }
  Mat gelu(const std::string&, const Mat& x) override {
    return unary(x, [](const auto* in, auto* out, std::int64_t n) { cuda::gelu_tanh(in, out, n); });
  }
  Mat scale(const std::string&, const Mat& x, double s) override {
    return unary(x, [s](const auto* in, auto* out, std::int64_t n) { cuda::scale(in, out, n, static_cast<float>(s)); });
  }
  Mat softcap(const std::string&, const Mat& x, double cap) override {
    if (faults_.drop_softcap) return unary(x, [](const auto*, auto*, std::int64_t) {});  // the fault: no launch
    return unary(x, [cap](const auto* in, auto* out, std::int64_t n) { cuda::softcap(in, out, n, static_cast<float>(cap)); });
  }
  Mat mul(const std::string&, const Mat& a, const Mat& b) override {
    return binary(a, b, [](const auto* x, const auto* y, auto* out, std::int64_t n) { cuda::mul(x, y, out, n); });
  }
  Mat add(const std::string&, const Mat& a, const Mat& b) override {
    return binary(a, b, [](const auto* x, const auto* y, auto* out, std::int64_t n) { cuda::add(x, y, out, n); });
  }

  // Router in float32 (a "wide" op in every policy), on the storage-format logits.
  ops::RouterOutput route(const std::string&, const Mat& logits, const Vec& per_expert_scale, index_t top_k) override {
    const std::vector<float> z = CpuExecutor::load(logits, policy_.storage);
    const std::vector<float> pes(per_expert_scale.begin(), per_expert_scale.end());
    const index_t T = rows(logits), E = cols(logits);
    std::vector<float> probs(sz(T * E)), weights(sz(T * top_k));
    std::vector<int> index(weights.size());
    cuda::route(z.data(), pes.data(), probs.data(), weights.data(), index.data(), T, E, top_k);
    ops::RouterOutput r;
    r.probs = Mat::from_shape({sz(T), sz(E)});
    r.weights = Mat::from_shape({sz(T), sz(top_k)});
    r.index = xt::xtensor<std::int64_t, 2>::from_shape({sz(T), sz(top_k)});
    std::copy(probs.begin(), probs.end(), r.probs.begin());
    std::copy(weights.begin(), weights.end(), r.weights.begin());
    std::copy(index.begin(), index.end(), r.index.begin());
    return r;
  }

  Mat experts(const std::string&, const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
              const std::vector<double>& down, index_t E, index_t Fe) override {
    if (quant_) return experts_quant(xe, r, gate_up, down, E, Fe);
    return bf16_ ? experts_bf16(xe, r, gate_up, down, E, Fe) : experts_f32(xe, r, gate_up, down, E, Fe);
  }

 private:
  using Key = std::tuple<const double*, index_t, index_t, std::uint64_t>;
  Key key(const double* w, index_t N, index_t K) const { return {w, N, K, fingerprint(w, sz(N * K))}; }

  // Weights converted once per layer (float32 [N, K]; bf16 [N, Kp], zero-padded columns).
  const std::vector<float>& weight32(const double* w, index_t N, index_t K) {
    auto [it, fresh] = w32_.try_emplace(key(w, N, K));
    if (fresh) it->second = to_dev<float>(w, N, K, K);
    return it->second;
  }
  const std::vector<bf16>& weight16(const double* w, index_t N, index_t K, index_t Kp) {
    auto [it, fresh] = w16_.try_emplace(key(w, N, K));
    if (fresh) it->second = to_dev<bf16>(w, N, K, Kp);
    return it->second;
  }

  // Quantised policies: row length the kernels need (W8A8: 16 int8 per cp.async chunk; the
  // decoding kernels: 8 values), zero columns appended (exact: see quant_weight.hpp).
  index_t padded_k(index_t K) const { return policy_.gemm_in == cpu::Fmt::kInt8 ? round16(K) : round8(K); }
  cuda::QuantFmt quant_fmt() const {
    if (policy_.weights == cpu::Fmt::kInt4) return cuda::QuantFmt::int4;
    return policy_.weights == cpu::Fmt::kFP8E4M3 ? cuda::QuantFmt::fp8_e4m3 : cuda::QuantFmt::int8;
  }
  // Weights quantised once per layer as the CPU executor's pack_weight does.
  const cuda::HostQuantWeight& weightq(const double* w, index_t N, index_t K, index_t Kp) {
    auto [it, fresh] = wq_.try_emplace(key(w, N, K));
    if (fresh) it->second = cuda::quantize_weight(w, N, K, Kp, quant_fmt(), policy_.weight_group);
    return it->second;
  }
  // C [M, N] = A · Wᵀ under the policy: a holds the stored (bf16) activations [M, Kp]; int8 / fp8
  // GEMM inputs are quantised per token on the device (quantize_rows, from the widened bf16
  // values, as the CPU's convert_activation_row does), bf16 inputs go to the kernel as they are.
  template <class OutT>
  std::vector<OutT> qgemm(const std::vector<bf16>& a, index_t M, const cuda::HostQuantWeight& w) {
    const index_t N = w.N, Kp = w.K;
    std::vector<OutT> c(sz(M * N));
    const cuda::GemmShape s{M, N, Kp, 0, 0, 0};
    if (policy_.gemm_in == cpu::Fmt::kBF16) {
      cuda::gemm_dequant<OutT>(a.data(), nullptr, w.view(), c.data(), s);
      return c;
    }
    std::vector<float> af(sz(M * Kp)), sa(sz(M));
    cuda::from_16bit(cuda::Fmt16::bf16, reinterpret_cast<const std::uint16_t*>(a.data()), af.data(), M * Kp);
    std::vector<std::uint8_t> q(sz(M * Kp));
    if (policy_.gemm_in == cpu::Fmt::kInt8) {
      cuda::quantize_rows(cuda::RowFmt::int8, af.data(), q.data(), sa.data(), M, Kp);
      cuda::gemm_w8a8<OutT>(reinterpret_cast<const std::int8_t*>(q.data()), sa.data(), w.s8(), w.scales.data(),
                            c.data(), s);
    } else {
      cuda::quantize_rows(cuda::RowFmt::fp8_e4m3, af.data(), q.data(), sa.data(), M, Kp);
      cuda::gemm_dequant<OutT>(q.data(), sa.data(), w.view(), c.data(), s);
    }
    return c;
  }

  template <class F>
  Mat unary(const Mat& x, F&& launch) {
    const auto n = static_cast<std::int64_t>(x.size());
    if (bf16_) {
      std::vector<bf16> v = to_dev<bf16>(x);
      launch(v.data(), v.data(), n);
      return from_dev(v, rows(x), cols(x));
    }
    std::vector<float> v = to_dev<float>(x);
    launch(v.data(), v.data(), n);
    return from_dev(v, rows(x), cols(x));
  }
  template <class F>
  Mat binary(const Mat& a, const Mat& b, F&& launch) {
    G4_CHECK(a.size() == b.size(), ShapeError, "element-wise op: {} vs {} elements", a.size(), b.size());
    const auto n = static_cast<std::int64_t>(a.size());
    if (bf16_) {
      std::vector<bf16> x = to_dev<bf16>(a);
      launch(x.data(), to_dev<bf16>(b).data(), x.data(), n);
      return from_dev(x, rows(a), cols(a));
    }
    std::vector<float> x = to_dev<float>(a);
    launch(x.data(), to_dev<float>(b).data(), x.data(), n);
    return from_dev(x, rows(a), cols(a));
  }

  template <class T>
  Mat rms_norm_t(const Mat& x, const Vec* w, double eps, index_t dim) {
    std::vector<T> v = to_dev<T>(x);
    const std::vector<float> wf = w ? std::vector<float>(w->begin(), w->end()) : std::vector<float>{};
    const cuda::RmsNormShape s{rows(x), cols(x) / dim, dim, static_cast<float>(eps)};
    cuda::add_rms_norm<T>(v.data(), nullptr, w ? wf.data() : nullptr, nullptr, v.data(), s);
    return from_dev(v, rows(x), cols(x));
  }

  // cos/sin rounded once to float32 from angles pos·inv_freq in double, over the distinct
  // positions present (the CPU executor's table, cpu::rope_table_at).
  template <class T>
  Mat rope_t(const Mat& x, const std::vector<index_t>& positions, const Vec& inv_freq, index_t head_dim) {
    std::vector<T> v = to_dev<T>(x);
    const index_t half = head_dim / 2;
    std::vector<index_t> distinct(positions);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    const auto n_pos = static_cast<index_t>(distinct.size());
    std::vector<float> cos_t(sz(n_pos * half)), sin_t(cos_t.size());
    const std::vector<double> freq(inv_freq.begin(), inv_freq.end());
    const std::vector<std::int64_t> at(distinct.begin(), distinct.end());
    cpu::rope_table_at(freq.data(), half, at.data(), n_pos, cos_t.data(), sin_t.data());
    std::vector<long long> row(positions.size());  // each token's row of the table
    for (std::size_t t = 0; t < row.size(); ++t)
      row[t] = std::lower_bound(distinct.begin(), distinct.end(), positions[t]) - distinct.begin();
    const cuda::RopeShape s{rows(x), cols(x) / head_dim, head_dim, n_pos};
    cuda::rope<T>(v.data(), v.data(), row.data(), cos_t.data(), sin_t.data(), s);
    return from_dev(v, rows(x), cols(x));
  }

  template <class T>
  Mat attention_t(const Mat& q, const Mat& k, const Mat& v, const std::vector<std::uint8_t>& allowed,
                  const ops::AttentionShape& a) {
    const std::vector<T> qd = to_dev<T>(q), kd = to_dev<T>(k), vd = to_dev<T>(v);
    std::vector<T> out(sz(a.B * a.S * a.Nq * a.Dh));
    const index_t Skv = a.keys();
    std::vector<unsigned char> mask(allowed.begin(), allowed.end());
    if (faults_.widen_window && !mask.empty())  // the fault: key j also allowed where key j+1 is
      for (index_t b = 0; b < a.B; ++b) {
        std::vector<std::uint8_t> real(sz(Skv), 0);  // keys some query sees (not padding)
        for (index_t i = 0; i < a.S; ++i)
          for (index_t j = 0; j < Skv; ++j) real[sz(j)] |= allowed[sz((b * a.S + i) * Skv + j)];
        for (index_t i = 0; i < a.S; ++i)
          for (index_t j = 0; j + 1 < Skv; ++j) {
            const std::size_t at = sz((b * a.S + i) * Skv + j);
            mask[at] |= real[sz(j)] & allowed[at + 1];
          }
      }
    const cuda::AttentionShape s{a.B, a.S, Skv, a.Nq, a.Nkv, a.Dh, static_cast<float>(a.scaling)};
    cuda::attention<T>(qd.data(), kd.data(), vd.data(), out.data(), mask.empty() ? nullptr : mask.data(), s);
    return from_dev(out, a.B * a.S, a.Nq * a.Dh);
  }

  // bf16: the grouped tensor-core MoE (optimized/cuda moe_experts), D and Fe zero-padded to
  // multiples of 8 (exact: see the header).
  Mat experts_bf16(const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
                   const std::vector<double>& down, index_t E, index_t Fe) {
    const index_t T = rows(xe), D = cols(xe), K = cols(r.weights);
    const index_t Dp = round8(D), Fp = round8(Fe);
    const std::vector<bf16> x = to_dev<bf16>(xe, Dp);
    auto [it, fresh] = moe16_.try_emplace(key(gate_up.data(), E * 2 * Fe, D));
    if (fresh) {  // gate rows -> [0, Fe), up rows -> [Fp, Fp + Fe) of each expert's [2Fp, Dp]
      std::vector<bf16> gu(sz(E * 2 * Fp * Dp), __float2bfloat16_rn(0.f)), dn(sz(E * Dp * Fp), __float2bfloat16_rn(0.f));
      for (index_t e = 0; e < E; ++e) {
        const double* g = &gate_up[sz(e * 2 * Fe * D)];
        const std::vector<bf16> gate = to_dev<bf16>(g, Fe, D, Dp), up = to_dev<bf16>(g + Fe * D, Fe, D, Dp);
        std::copy(gate.begin(), gate.end(), gu.begin() + e * 2 * Fp * Dp);
        std::copy(up.begin(), up.end(), gu.begin() + (e * 2 * Fp + Fp) * Dp);
        const std::vector<bf16> d = to_dev<bf16>(&down[sz(e * D * Fe)], D, Fe, Fp);
        std::copy(d.begin(), d.end(), dn.begin() + e * Dp * Fp);
      }
      it->second = {std::move(gu), std::move(dn)};
    }
    std::vector<int> index(sz(T * K));
    std::vector<float> weights(sz(T * K));
    std::copy(r.index.begin(), r.index.end(), index.begin());
    std::copy(r.weights.begin(), r.weights.end(), weights.begin());
    std::vector<int> offsets(sz(E + 1)), slot_rows(sz(T * K)), slot_row(sz(T * K));
    std::vector<bf16> h(sz(T * K * Fp));
    std::vector<float> y(sz(T * K * Dp)), out(sz(T * Dp));
    const cuda::MoeScratch scratch{offsets.data(), slot_rows.data(), slot_row.data(), h.data(), y.data()};
    cuda::moe_experts(x.data(), index.data(), weights.data(), it->second.first.data(), it->second.second.data(),
                      out.data(), cuda::MoeShape{T, Dp, Fp, E, K}, scratch);
    // The combine is float32; the node's output is stored in bf16 like every node's.
    const Mat y64 = from_dev(out, T, D, Dp);
    return from_dev(to_dev<bf16>(y64), T, D);
  }

  // fp32: per expert, the gathered tokens through gemm_f32 (gate, up), gelu_tanh, mul, gemm_f32
  // (down), then axpy_rows into the output, experts in increasing index (the CPU executor's order).
  Mat experts_f32(const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
                  const std::vector<double>& down, index_t E, index_t Fe) {
    const index_t T = rows(xe), D = cols(xe);
    const std::vector<float> x = to_dev<float>(xe);
    std::vector<float> out(sz(T * D), 0.f);
    for (index_t e = 0; e < E; ++e) {
      const auto [tok, wt] = ops::tokens_of_expert<int, float>(r, e);
      if (tok.empty()) continue;
      const auto n = static_cast<index_t>(tok.size());
      std::vector<float> xs(sz(n * D));
      for (index_t i = 0; i < n; ++i) std::copy_n(&x[sz(tok[sz(i)] * D)], D, &xs[sz(i * D)]);
      const std::vector<float>& gu = weight32(&gate_up[sz(e * 2 * Fe * D)], 2 * Fe, D);
      std::vector<float> g(sz(n * Fe)), u(g.size()), y(sz(n * D));
      cuda::gemm_f32(xs.data(), gu.data(), g.data(), cuda::GemmShape{n, Fe, D});
      cuda::gemm_f32(xs.data(), gu.data() + Fe * D, u.data(), cuda::GemmShape{n, Fe, D});
      cuda::gelu_tanh(g.data(), g.data(), n * Fe);
      cuda::mul(g.data(), u.data(), g.data(), n * Fe);
      cuda::gemm_f32(g.data(), weight32(&down[sz(e * D * Fe)], D, Fe).data(), y.data(), cuda::GemmShape{n, D, Fe});
      cuda::axpy_rows(y.data(), tok.data(), wt.data(), out.data(), n, D);
    }
    return from_dev(out, T, D);
  }

  // Quantised policies (bf16 storage): per expert, as the CPU executor — the gathered tokens
  // through the quantised GEMM of gate_up ([2Fe, D], float32 out), gelu_tanh(gate) and · up in
  // float32, the hidden stored in bf16 (to_16bit), the quantised down GEMM (float32), axpy_rows
  // into the float32 output in increasing expert index, the node's output stored in bf16.
  Mat experts_quant(const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
                    const std::vector<double>& down, index_t E, index_t Fe) {
    const index_t T = rows(xe), D = cols(xe);
    const index_t Dp = padded_k(D), Fp = padded_k(Fe);
    const std::vector<bf16> x = to_dev<bf16>(xe, Dp);
    std::vector<float> out(sz(T * D), 0.f);
    for (index_t e = 0; e < E; ++e) {
      const auto [tok, wt] = ops::tokens_of_expert<int, float>(r, e);
      if (tok.empty()) continue;
      const auto n = static_cast<index_t>(tok.size());
      std::vector<bf16> xs(sz(n * Dp));
      for (index_t i = 0; i < n; ++i) std::copy_n(&x[sz(tok[sz(i)] * Dp)], Dp, &xs[sz(i * Dp)]);
      const std::vector<float> gu = qgemm<float>(xs, n, weightq(&gate_up[sz(e * 2 * Fe * D)], 2 * Fe, D, Dp));
      std::vector<float> g(sz(n * Fe)), u(g.size()), hf(sz(n * Fp), 0.f);
      for (index_t i = 0; i < n; ++i) {  // gate = gu[:, :Fe], up = gu[:, Fe:]
        std::copy_n(&gu[sz(i * 2 * Fe)], Fe, &g[sz(i * Fe)]);
        std::copy_n(&gu[sz(i * 2 * Fe + Fe)], Fe, &u[sz(i * Fe)]);
      }
      cuda::gelu_tanh(g.data(), g.data(), n * Fe);
      cuda::mul(g.data(), u.data(), g.data(), n * Fe);
      for (index_t i = 0; i < n; ++i) std::copy_n(&g[sz(i * Fe)], Fe, &hf[sz(i * Fp)]);
      std::vector<bf16> h(hf.size());
      cuda::to_16bit(cuda::Fmt16::bf16, hf.data(), reinterpret_cast<std::uint16_t*>(h.data()), n * Fp);
      const std::vector<float> y = qgemm<float>(h, n, weightq(&down[sz(e * D * Fe)], D, Fe, Fp));
      cuda::axpy_rows(y.data(), tok.data(), wt.data(), out.data(), n, D);
    }
    return from_dev(to_dev<bf16>(from_dev(out, T, D)), T, D);
  }

  cpu::Policy policy_;
  bool bf16_;
  bool quant_;  // int8 / fp8 / int4 weights: the quantised GEMMs
  CudaFaults faults_;
  std::map<Key, std::vector<float>> w32_;
  std::map<Key, std::vector<bf16>> w16_;
  std::map<Key, cuda::HostQuantWeight> wq_;
  std::map<Key, std::pair<std::vector<bf16>, std::vector<bf16>>> moe16_;
};

}  // namespace

std::unique_ptr<text::Executor> make_cuda_sim_executor(const std::string& policy, const CudaFaults& faults) {
  check_cuda_policy(policy);
  return std::make_unique<CudaSimExecutor>(cpu::policy_by_name(policy), faults);
}

#endif

}  // namespace g4::harness
