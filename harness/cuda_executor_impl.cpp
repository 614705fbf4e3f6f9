// The CUDA executor's body (harness/cuda_executor.hpp), compiled twice: against the simulator
// build of the kernels (in gemma4_harness) and, with G4_CUDA_GPU=1, against the GPU build
// (gemma4_harness_cuda_gpu). The namespace g4::harness::<backend> keeps the two apart.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <tuple>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "harness/cpu_executor.hpp"
#include "harness/cuda_executor_backends.hpp"
#include "harness/timing.hpp"
#include "optimized/cpu/norm_rope.hpp"
#include "optimized/cuda/device.hpp"
#include "optimized/cuda/ops.hpp"
#include "optimized/cuda/quant_weight.hpp"
#include "optimized/formats/bf16.hpp"
#include "optimized/formats/fp16.hpp"
#include "reference/common/check.hpp"

namespace g4::harness::G4_CUDA_BACKEND {

namespace {

using bf16 = __nv_bfloat16;
using f16 = __half;
static_assert(sizeof(bf16) == sizeof(std::uint16_t) && sizeof(f16) == sizeof(std::uint16_t), "16-bit patterns");
template <class T>
using Buf = cuda::DeviceBuffer<T>;
// The executors run our kernels (GemmBackend::tensor_core; for gemm_f32 the SIMT kernel); cuBLAS
// is the benchmarks' and tests' baseline.
constexpr cuda::GemmBackend kTC = cuda::GemmBackend::tensor_core;
// This compilation drives the simulator (never timed: its wall time is no GPU's) or the GPU.
constexpr bool kSimulated = !G4_CUDA_BACKEND_IS_GPU;

std::size_t sz(index_t n) { return static_cast<std::size_t>(n); }

// A float64 matrix [r, c] in the storage type T on the host (float: RN to float32; bf16, fp16:
// RN to the format, the CPU executor's load: optimized/formats), rows padded to cp >= c with zeros.
template <class T>
std::vector<T> to_host(const double* x, index_t r, index_t c, index_t cp) {
  if constexpr (std::is_same_v<T, float>) {
    std::vector<float> y(sz(r * cp), 0.f);
    for (index_t i = 0; i < r; ++i)
      for (index_t j = 0; j < c; ++j) y[sz(i * cp + j)] = static_cast<float>(x[i * c + j]);
    return y;
  } else {
    std::vector<std::uint16_t> bits(sz(r * cp), 0);
    for (index_t i = 0; i < r; ++i) {
      if constexpr (std::is_same_v<T, bf16>) formats::quantize_bf16(x + i * c, &bits[sz(i * cp)], sz(c));
      else formats::quantize_fp16(x + i * c, &bits[sz(i * cp)], sz(c));
    }
    std::vector<T> y(bits.size());
    std::memcpy(static_cast<void*>(y.data()), bits.data(), bits.size() * 2);
    return y;
  }
}
template <class T>
std::vector<T> to_host(const Mat& x, index_t cols_padded = 0) {
  return to_host<T>(x.data(), rows(x), cols(x), cols_padded ? cols_padded : cols(x));
}

// The host vector on the device.
template <class T>
Buf<T> up(const std::vector<T>& h) {
  return Buf<T>(h.data(), h.size());
}
template <class T>
Buf<T> to_device(const Mat& x, index_t cols_padded = 0) {
  return up(to_host<T>(x, cols_padded));
}

// Columns [0, c) of a device [r, ld] buffer of T, copied back and widened exactly to float64.
template <class T>
Mat to_mat(const Buf<T>& d, index_t r, index_t c, index_t ld = 0) {
  if (!ld) ld = c;
  std::vector<T> y(sz(r * ld));
  d.download(y.data(), y.size());
  Mat m = Mat::from_shape({sz(r), sz(c)});
  for (index_t i = 0; i < r; ++i)
    for (index_t j = 0; j < c; ++j) {
      if constexpr (std::is_same_v<T, float>) m(sz(i), sz(j)) = y[sz(i * ld + j)];
      else if constexpr (std::is_same_v<T, bf16>) m(sz(i), sz(j)) = static_cast<double>(__bfloat162float(y[sz(i * ld + j)]));
      else m(sz(i), sz(j)) = static_cast<double>(__half2float(y[sz(i * ld + j)]));
    }
  return m;
}

index_t round8(index_t n) { return (n + 7) / 8 * 8; }
index_t round16(index_t n) { return (n + 15) / 16 * 16; }

template <class T>
std::uint16_t* bits(T* p) {
  static_assert(sizeof(T) == 2);
  return reinterpret_cast<std::uint16_t*>(p);
}
template <class T>
const std::uint16_t* bits(const T* p) {
  static_assert(sizeof(T) == 2);
  return reinterpret_cast<const std::uint16_t*>(p);
}
template <class T>
constexpr cuda::Fmt16 fmt16() {
  return std::is_same_v<T, bf16> ? cuda::Fmt16::bf16 : cuda::Fmt16::fp16;
}

// A quantised weight on the device (codes and scales as quantize_weight makes them).
struct DevQuantWeight {
  cuda::QuantFmt fmt = cuda::QuantFmt::int8;
  index_t N = 0, K = 0, group = 0;
  Buf<std::uint8_t> data;
  Buf<float> scales;
  cuda::QuantWeight view() const { return cuda::QuantWeight{fmt, data.data(), scales.data(), group}; }
  const std::int8_t* s8() const { return reinterpret_cast<const std::int8_t*>(data.data()); }
};

// Scratch of one quantised GEMM call with M rows of Kp: the activations widened to float32,
// their int8 / e4m3 codes and per-token scales.
struct QuantScratch {
  QuantScratch() = default;
  QuantScratch(index_t M, index_t Kp) : af(sz(M * Kp)), q(sz(M * Kp)), sa(sz(M)) {}
  Buf<float> af;
  Buf<std::uint8_t> q;
  Buf<float> sa;
};

class CudaExecutor : public text::Executor, public KernelTimed {
 public:
  CudaExecutor(cpu::Policy policy, CudaFaults faults)
      : policy_(std::move(policy)),
        store_(policy_.storage == cpu::Fmt::kF32 ? Store::f32 : policy_.storage == cpu::Fmt::kBF16 ? Store::bf16 : Store::f16),
        quant_(policy_.weights != cpu::Fmt::kF32 && policy_.weights != cpu::Fmt::kBF16 &&
               policy_.weights != cpu::Fmt::kF16),
        faults_(faults),
        stream_(cuda::create_stream()) {
    if (!kSimulated) start_ = cuda::create_event(), stop_ = cuda::create_event();
  }
  ~CudaExecutor() override {
    cuda::destroy_event(start_);
    cuda::destroy_event(stop_);
    cuda::destroy_stream(stream_);
  }
  CudaExecutor(const CudaExecutor&) = delete;
  CudaExecutor& operator=(const CudaExecutor&) = delete;

  // KernelTimed. The simulator never times (its wall time is no GPU's): repeats are ignored.
  void time_kernels(int repeats) override {
    repeats_ = kSimulated ? 0 : repeats;
    last_ = {};
  }
  Times last_kernel() const override { return last_; }

  void begin_layer(index_t) override {
    w32_.clear();
    w16_.clear();
    wh_.clear();
    wq_.clear();
    moe16_.clear();
  }

  Mat linear(const std::string&, const Mat& x, const Mat& w) override {
    G4_CHECK(cols(x) == cols(w), ShapeError, "linear: [{}, {}] · [{}, {}]ᵀ", rows(x), cols(x), rows(w), cols(w));
    const index_t M = rows(x), N = rows(w), K = cols(w);
    if (store_ == Store::f32) {
      const Buf<float> a = to_device<float>(x);
      const Buf<float>& wd = weight32(w.data(), N, K);
      Buf<float> c(sz(M * N));
      kernel([&] { cuda::gemm_f32(kTC, a.data(), wd.data(), c.data(), cuda::GemmShape{M, N, K}, stream_); });
      return to_mat(c, M, N);
    }
    if (quant_) {  // bf16 storage: the stored activations, the GEMM rounding its output to bf16 once
      const index_t Kp = padded_k(K);
      const Buf<bf16> a = to_device<bf16>(x, Kp);
      const DevQuantWeight& wq = weightq(w.data(), N, K, Kp);
      QuantScratch scratch = quant_scratch(M, Kp);
      Buf<bf16> c(sz(M * N));
      kernel([&] { qgemm(a.data(), M, wq, c.data(), N, scratch); });
      return to_mat(c, M, N);
    }
    return stored([&]<class T>() -> Mat {  // bf16 / fp16: the tensor-core GEMM, output rounded once to T
      if constexpr (std::is_same_v<T, float>) {
        throw Error("cuda executor: fp32 linear reached the 16-bit path");
      } else {
        const index_t Kp = round8(K);  // the tensor-core GEMM's 16-byte cp.async chunks
        const Buf<T> a = to_device<T>(x, Kp);
        const Buf<T>& wd = weight16<T>(w.data(), N, K, Kp);
        Buf<T> c(sz(M * N));
        kernel([&] { gemm16<T>(a.data(), wd.data(), c.data(), cuda::GemmShape{M, N, Kp}); });
        return to_mat(c, M, N);
      }
    });
  }

  Mat rms_norm(const std::string&, const Mat& x, const Vec* w, double eps, index_t dim) override {
    return stored([&]<class T>() { return rms_norm_t<T>(x, w, eps, dim); });
  }
  Mat rope(const std::string&, const Mat& x, const std::vector<index_t>& positions, const Vec& inv_freq,
           index_t head_dim) override {
    return stored([&]<class T>() { return rope_t<T>(x, positions, inv_freq, head_dim); });
  }
  Mat attention(const std::string&, const Mat& q, const Mat& k, const Mat& v, const std::vector<std::uint8_t>& allowed,
                const ops::AttentionShape& a, Mat*) override {
    return stored([&]<class T>() { return attention_t<T>(q, k, v, allowed, a); });
  }
  Mat gelu(const std::string&, const Mat& x) override {
    return unary(x, [this](const auto* in, auto* out, std::int64_t n) { cuda::gelu_tanh(in, out, n, stream_); });
  }
  Mat scale(const std::string&, const Mat& x, double s) override {
    const auto f = static_cast<float>(s);
    return unary(x, [this, f](const auto* in, auto* out, std::int64_t n) { cuda::scale(in, out, n, f, stream_); });
  }
  Mat softcap(const std::string&, const Mat& x, double cap) override {
    const auto c = static_cast<float>(cap);
    if (faults_.drop_softcap)  // the fault: no launch; the output is the stored input
      return stored([&]<class T>() { return to_mat(to_device<T>(x), rows(x), cols(x)); });
    return unary(x, [this, c](const auto* in, auto* out, std::int64_t n) { cuda::softcap(in, out, n, c, stream_); });
  }
  Mat mul(const std::string&, const Mat& a, const Mat& b) override {
    return binary(a, b, [this](const auto* x, const auto* y, auto* out, std::int64_t n) { cuda::mul(x, y, out, n, stream_); });
  }
  Mat add(const std::string&, const Mat& a, const Mat& b) override {
    return binary(a, b, [this](const auto* x, const auto* y, auto* out, std::int64_t n) { cuda::add(x, y, out, n, stream_); });
  }

  // Router in float32 (a "wide" op in every policy), on the storage-format logits.
  ops::RouterOutput route(const std::string&, const Mat& logits, const Vec& per_expert_scale, index_t top_k) override {
    const index_t T = rows(logits), E = cols(logits);
    const Buf<float> z = up(CpuExecutor::load(logits, policy_.storage));
    const Buf<float> pes = up(std::vector<float>(per_expert_scale.begin(), per_expert_scale.end()));
    Buf<float> probs(sz(T * E)), weights(sz(T * top_k));
    Buf<int> index(sz(T * top_k));
    kernel([&] {
      cuda::route(z.data(), pes.data(), probs.data(), weights.data(), index.data(), T, E, top_k, stream_);
    });
    ops::RouterOutput r;
    r.probs = to_mat(probs, T, E);
    r.weights = to_mat(weights, T, top_k);
    std::vector<int> idx(index.size());
    index.download(idx.data(), idx.size());
    r.index = xt::xtensor<std::int64_t, 2>::from_shape({sz(T), sz(top_k)});
    std::copy(idx.begin(), idx.end(), r.index.begin());
    return r;
  }

  Mat experts(const std::string&, const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
              const std::vector<double>& down, index_t E, index_t Fe) override {
    if (store_ == Store::bf16 && !quant_) return experts_bf16(xe, r, gate_up, down, E, Fe);
    return experts_per_expert(xe, r, gate_up, down, E, Fe);
  }

 private:
  // Runs the node's launches once, or (time_kernels(r), r > 0) once to warm up and r times timed
  // with CUDA events, the L2 flushed before each timed repeat (outside the events).
  template <class F>
  void kernel(F&& f) {
    if (repeats_ <= 0) {
      f();
      return;
    }
    using Clock = std::chrono::steady_clock;
    const auto t_all = Clock::now();
    f();  // warm-up
    std::vector<double> t(static_cast<std::size_t>(repeats_));
    for (double& ti : t) {
      cuda::flush_l2(stream_);
      cuda::record_event(start_, stream_);
      f();
      cuda::record_event(stop_, stream_);
      ti = cuda::elapsed_ms(start_, stop_) * 1e-3;
    }
    last_.median_s = median(std::move(t));
    last_.total_s = std::chrono::duration<double>(Clock::now() - t_all).count();
  }

  using Key = std::tuple<const double*, index_t, index_t, std::uint64_t>;
  Key key(const double* w, index_t N, index_t K) const { return {w, N, K, weight_fingerprint(w, sz(N * K))}; }

  // Weights converted and copied once per layer (float32 [N, K]; bf16 [N, Kp], zero-padded).
  const Buf<float>& weight32(const double* w, index_t N, index_t K) {
    auto [it, fresh] = w32_.try_emplace(key(w, N, K));
    if (fresh) it->second = up(to_host<float>(w, N, K, K));
    return it->second;
  }
  template <class T>
  const Buf<T>& weight16(const double* w, index_t N, index_t K, index_t Kp) {
    auto& cache = [this]() -> auto& {
      if constexpr (std::is_same_v<T, bf16>) return w16_;
      else return wh_;
    }();
    auto [it, fresh] = cache.try_emplace(key(w, N, K));
    if (fresh) it->second = up(to_host<T>(w, N, K, Kp));
    return it->second;
  }
  // C = A·Wᵀ on the tensor cores, 16-bit inputs T (bf16 or fp16), output OutT (float or T).
  template <class T, class OutT>
  void gemm16(const T* a, const T* w, OutT* c, const cuda::GemmShape& s) {
    if constexpr (std::is_same_v<T, bf16>) cuda::gemm_bf16<OutT>(kTC, a, w, c, s, stream_);
    else cuda::gemm_f16<OutT>(kTC, a, w, c, s, stream_);
  }

  // Quantised policies: row length the kernels need (W8A8: 16 int8 per cp.async chunk; the
  // decoding kernels: 8 values), zero columns appended (exact: see quant_weight.hpp).
  index_t padded_k(index_t K) const { return policy_.gemm_in == cpu::Fmt::kInt8 ? round16(K) : round8(K); }
  cuda::QuantFmt quant_fmt() const {
    if (policy_.weights == cpu::Fmt::kInt4) return cuda::QuantFmt::int4;
    return policy_.weights == cpu::Fmt::kFP8E4M3 ? cuda::QuantFmt::fp8_e4m3 : cuda::QuantFmt::int8;
  }
  // Weights quantised once per layer as the CPU executor's pack_weight does, then copied.
  const DevQuantWeight& weightq(const double* w, index_t N, index_t K, index_t Kp) {
    auto [it, fresh] = wq_.try_emplace(key(w, N, K));
    if (fresh) {
      const cuda::HostQuantWeight h = cuda::quantize_weight(w, N, K, Kp, quant_fmt(), policy_.weight_group);
      DevQuantWeight& d = it->second;
      d.fmt = h.fmt;
      d.N = h.N;
      d.K = h.K;
      d.group = h.group;
      d.data = up(h.data);
      d.scales = up(h.scales);
    }
    return it->second;
  }
  // The scratch of qgemm for M rows of Kp (none when the GEMM takes the bf16 activations).
  QuantScratch quant_scratch(index_t M, index_t Kp) const {
    if (!quant_ || policy_.gemm_in == cpu::Fmt::kBF16) return {};
    return QuantScratch(M, Kp);
  }
  // C [M, N] (row stride ldc, 0 = N) = A · Wᵀ under the policy: a holds the stored (bf16)
  // activations [M, Kp]; int8 / fp8 GEMM inputs are quantised per token on the device
  // (quantize_rows, from the widened bf16 values, as the CPU's convert_activation_row does), bf16
  // inputs go to the kernel as they are.
  template <class OutT>
  void qgemm(const bf16* a, index_t M, const DevQuantWeight& w, OutT* c, index_t ldc, QuantScratch& s) {
    const index_t N = w.N, Kp = w.K;
    const cuda::GemmShape shape{M, N, Kp, 0, 0, ldc};
    if (policy_.gemm_in == cpu::Fmt::kBF16) {
      cuda::gemm_dequant<OutT>(kTC, a, nullptr, w.view(), c, shape, stream_);
      return;
    }
    cuda::from_16bit(fmt16<bf16>(), bits(a), s.af.data(), M * Kp, stream_);
    if (policy_.gemm_in == cpu::Fmt::kInt8) {
      cuda::quantize_rows(cuda::RowFmt::int8, s.af.data(), s.q.data(), s.sa.data(), M, Kp, stream_);
      cuda::gemm_w8a8<OutT>(kTC, reinterpret_cast<const std::int8_t*>(s.q.data()), s.sa.data(), w.s8(),
                            w.scales.data(), c, shape, stream_);
    } else {
      cuda::quantize_rows(cuda::RowFmt::fp8_e4m3, s.af.data(), s.q.data(), s.sa.data(), M, Kp, stream_);
      cuda::gemm_dequant<OutT>(kTC, s.q.data(), s.sa.data(), w.view(), c, shape, stream_);
    }
  }

  // f.operator()<T>() with T the storage type.
  template <class F>
  Mat stored(F&& f) {
    switch (store_) {
      case Store::f32: return f.template operator()<float>();
      case Store::bf16: return f.template operator()<bf16>();
      case Store::f16: return f.template operator()<f16>();
    }
    throw Error("cuda executor: unknown storage format");
  }

  // Element-wise ops, out of place (a repeated in-place kernel would change its own input).
  template <class F>
  Mat unary(const Mat& x, F&& launch) {
    return stored([&]<class T>() { return unary_t<T>(x, launch); });
  }
  template <class T, class F>
  Mat unary_t(const Mat& x, F& launch) {
    const auto n = static_cast<std::int64_t>(x.size());
    const Buf<T> in = to_device<T>(x);
    Buf<T> out(sz(n));
    kernel([&] { launch(in.data(), out.data(), n); });
    return to_mat(out, rows(x), cols(x));
  }
  template <class F>
  Mat binary(const Mat& a, const Mat& b, F&& launch) {
    G4_CHECK(a.size() == b.size(), ShapeError, "element-wise op: {} vs {} elements", a.size(), b.size());
    return stored([&]<class T>() { return binary_t<T>(a, b, launch); });
  }
  template <class T, class F>
  Mat binary_t(const Mat& a, const Mat& b, F& launch) {
    const auto n = static_cast<std::int64_t>(a.size());
    const Buf<T> x = to_device<T>(a), y = to_device<T>(b);
    Buf<T> out(sz(n));
    kernel([&] { launch(x.data(), y.data(), out.data(), n); });
    return to_mat(out, rows(a), cols(a));
  }

  template <class T>
  Mat rms_norm_t(const Mat& x, const Vec* w, double eps, index_t dim) {
    const Buf<T> in = to_device<T>(x);
    Buf<T> out(in.size());
    const Buf<float> wd = w ? up(std::vector<float>(w->begin(), w->end())) : Buf<float>{};
    const cuda::RmsNormShape s{rows(x), cols(x) / dim, dim, static_cast<float>(eps)};
    kernel([&] { cuda::add_rms_norm<T>(in.data(), nullptr, w ? wd.data() : nullptr, nullptr, out.data(), s, stream_); });
    return to_mat(out, rows(x), cols(x));
  }

  // cos/sin rounded once to float32 from angles pos·inv_freq in double, over the distinct
  // positions present (the CPU executor's table, cpu::rope_table_at).
  template <class T>
  Mat rope_t(const Mat& x, const std::vector<index_t>& positions, const Vec& inv_freq, index_t head_dim) {
    const Buf<T> in = to_device<T>(x);
    Buf<T> out(in.size());
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
    const Buf<float> cd = up(cos_t), sd = up(sin_t);
    const Buf<long long> rd = up(row);
    const cuda::RopeShape s{rows(x), cols(x) / head_dim, head_dim, n_pos};
    kernel([&] { cuda::rope<T>(in.data(), out.data(), rd.data(), cd.data(), sd.data(), s, stream_); });
    return to_mat(out, rows(x), cols(x));
  }

  template <class T>
  Mat attention_t(const Mat& q, const Mat& k, const Mat& v, const std::vector<std::uint8_t>& allowed,
                  const ops::AttentionShape& a) {
    const Buf<T> qd = to_device<T>(q), kd = to_device<T>(k), vd = to_device<T>(v);
    Buf<T> out(sz(a.B * a.S * a.Nq * a.Dh));
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
    const Buf<unsigned char> md = up(mask);
    const cuda::AttentionShape s{a.B, a.S, Skv, a.Nq, a.Nkv, a.Dh, static_cast<float>(a.scaling)};
    kernel([&] {
      cuda::attention<T>(qd.data(), kd.data(), vd.data(), out.data(), mask.empty() ? nullptr : md.data(), s, stream_);
    });
    return to_mat(out, a.B * a.S, a.Nq * a.Dh);
  }

  // bf16: the grouped tensor-core MoE (optimized/cuda moe_experts), D and Fe zero-padded to
  // multiples of 8 (exact: see the header), then the float32 sum rounded to bf16 (to_16bit).
  Mat experts_bf16(const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
                   const std::vector<double>& down, index_t E, index_t Fe) {
    const index_t T = rows(xe), D = cols(xe), K = cols(r.weights);
    const index_t Dp = round8(D), Fp = round8(Fe);
    const Buf<bf16> x = to_device<bf16>(xe, Dp);
    auto [it, fresh] = moe16_.try_emplace(key(gate_up.data(), E * 2 * Fe, D));
    if (fresh) {  // gate rows -> [0, Fe), up rows -> [Fp, Fp + Fe) of each expert's [2Fp, Dp]
      std::vector<bf16> gu(sz(E * 2 * Fp * Dp), __float2bfloat16_rn(0.f)), dn(sz(E * Dp * Fp), __float2bfloat16_rn(0.f));
      for (index_t e = 0; e < E; ++e) {
        const double* g = &gate_up[sz(e * 2 * Fe * D)];
        const std::vector<bf16> gate = to_host<bf16>(g, Fe, D, Dp), upw = to_host<bf16>(g + Fe * D, Fe, D, Dp);
        std::copy(gate.begin(), gate.end(), gu.begin() + e * 2 * Fp * Dp);
        std::copy(upw.begin(), upw.end(), gu.begin() + (e * 2 * Fp + Fp) * Dp);
        const std::vector<bf16> d = to_host<bf16>(&down[sz(e * D * Fe)], D, Fe, Fp);
        std::copy(d.begin(), d.end(), dn.begin() + e * Dp * Fp);
      }
      it->second = {up(gu), up(dn)};
    }
    std::vector<int> index(sz(T * K));
    std::vector<float> weights(sz(T * K));
    std::copy(r.index.begin(), r.index.end(), index.begin());
    std::copy(r.weights.begin(), r.weights.end(), weights.begin());
    const Buf<int> index_d = up(index);
    const Buf<float> weights_d = up(weights);
    Buf<int> offsets(sz(E + 1)), slot_rows(sz(T * K)), slot_row(sz(T * K));
    Buf<bf16> h(sz(T * K * Fp)), out16(sz(T * Dp));
    Buf<float> y(sz(T * K * Dp)), out(sz(T * Dp));
    const cuda::MoeScratch scratch{offsets.data(), slot_rows.data(), slot_row.data(), h.data(), y.data()};
    kernel([&] {
      cuda::moe_experts(x.data(), index_d.data(), weights_d.data(), it->second.first.data(), it->second.second.data(),
                        out.data(), cuda::MoeShape{T, Dp, Fp, E, K}, scratch, stream_);
      cuda::to_16bit(fmt16<bf16>(), out.data(), bits(out16.data()), T * Dp, stream_);
    });
    return to_mat(out16, T, D, Dp);
  }

  // fp32, fp16 and the quantised policies: per expert, the gathered tokens (a host copy, before
  // the timed region) through the gate and up GEMMs (float32 output), gelu_tanh(gate) · up in
  // float32, the hidden stored in the storage format (16-bit: to_16bit) as the CPU executor
  // stores it, the down GEMM (float32), axpy_rows into the float32 sum, experts in increasing
  // index; the node's output in the storage format (16-bit: to_16bit). Gate and up are separate
  // weights ([Fe, D] each): per-row quantisation makes them the halves of the [2Fe, D] matrix,
  // and every output element is the same dot product either way.
  Mat experts_per_expert(const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
                         const std::vector<double>& down, index_t E, index_t Fe) {
    return stored([&]<class T>() { return experts_t<T>(xe, r, gate_up, down, E, Fe); });
  }
  // T: float (fp32: gemm_f32, no padding), bf16 (the quantised policies: qgemm; bf16 without
  // quantisation takes moe_experts), fp16 (the fp16 tensor-core GEMM).
  template <class T>
  Mat experts_t(const Mat& xe, const ops::RouterOutput& r, const std::vector<double>& gate_up,
                const std::vector<double>& down, index_t E, index_t Fe) {
    constexpr bool f32 = std::is_same_v<T, float>, quant = std::is_same_v<T, bf16>;
    const index_t T_ = rows(xe), D = cols(xe);
    const auto pad = [this](index_t k) { return f32 ? k : quant ? padded_k(k) : round8(k); };
    const index_t Dp = pad(D), Fp = pad(Fe);
    struct Weights {  // one expert's gate, up ([Fe, Dp]) and down ([D, Fp])
      const Buf<T>* dense[3] = {nullptr, nullptr, nullptr};
      const DevQuantWeight* q[3] = {nullptr, nullptr, nullptr};
    };
    struct Group {
      index_t n = 0;
      Buf<T> x;  // [n, Dp]
      Buf<int> tok;
      Buf<float> wt;
      Weights w;
    };
    std::vector<Group> groups;
    const std::vector<T> x = to_host<T>(xe, Dp);
    index_t n_max = 0;
    for (index_t e = 0; e < E; ++e) {
      const auto [tok, wt] = ops::tokens_of_expert<int, float>(r, e);
      if (tok.empty()) continue;
      Group g;
      g.n = static_cast<index_t>(tok.size());
      std::vector<T> xs(sz(g.n * Dp));
      for (index_t i = 0; i < g.n; ++i) std::copy_n(&x[sz(tok[sz(i)] * Dp)], Dp, &xs[sz(i * Dp)]);
      g.x = up(xs);
      g.tok = up(tok);
      g.wt = up(wt);
      const double* gu = &gate_up[sz(e * 2 * Fe * D)];
      const double* dn = &down[sz(e * D * Fe)];
      const struct {
        const double* w;
        index_t N, K, Kp;
      } mats[3] = {{gu, Fe, D, Dp}, {gu + Fe * D, Fe, D, Dp}, {dn, D, Fe, Fp}};
      for (int m = 0; m < 3; ++m) {  // converted once per layer
        if constexpr (f32) g.w.dense[m] = &weight32(mats[m].w, mats[m].N, mats[m].K);
        else if constexpr (quant) g.w.q[m] = &weightq(mats[m].w, mats[m].N, mats[m].K, mats[m].Kp);
        else g.w.dense[m] = &weight16<T>(mats[m].w, mats[m].N, mats[m].K, mats[m].Kp);
      }
      n_max = std::max(n_max, g.n);
      groups.push_back(std::move(g));
    }
    // Scratch sized for the largest group. The hidden's padding columns [Fe, Fp) are zeroed once:
    // the GEMMs never write them and gelu(0)·0 = 0 keeps them zero.
    Buf<float> gate(sz(n_max * Fp)), upv(sz(n_max * Fp)), y(sz(n_max * D)), out(sz(T_ * D));
    Buf<T> h(f32 ? 0 : sz(n_max * Fp)), out16(f32 ? 0 : sz(T_ * D));
    gate.zero(stream_);
    upv.zero(stream_);
    QuantScratch qs_in = quant_scratch(n_max, Dp), qs_h = quant_scratch(n_max, Fp);
    // c [M, N] (row stride ldc, 0 = N) = a · weight m ᵀ in float32.
    const auto gemm = [&](const Group& g, int m, const T* a, float* c, index_t ldc, QuantScratch& qs) {
      const index_t N = m < 2 ? Fe : D, K = m < 2 ? Dp : Fp;
      if constexpr (f32) cuda::gemm_f32(kTC, a, g.w.dense[m]->data(), c, cuda::GemmShape{g.n, N, K, 0, 0, ldc}, stream_);
      else if constexpr (quant) qgemm(a, g.n, *g.w.q[m], c, ldc, qs);
      else gemm16<T, float>(a, g.w.dense[m]->data(), c, cuda::GemmShape{g.n, N, K, 0, 0, ldc});
    };
    kernel([&] {
      out.zero(stream_);
      for (const Group& g : groups) {
        gemm(g, 0, g.x.data(), gate.data(), Fp, qs_in);
        gemm(g, 1, g.x.data(), upv.data(), Fp, qs_in);
        cuda::gelu_tanh(gate.data(), gate.data(), g.n * Fp, stream_);
        cuda::mul(gate.data(), upv.data(), gate.data(), g.n * Fp, stream_);
        if constexpr (f32) {
          gemm(g, 2, gate.data(), y.data(), 0, qs_h);
        } else {
          cuda::to_16bit(fmt16<T>(), gate.data(), bits(h.data()), g.n * Fp, stream_);
          gemm(g, 2, h.data(), y.data(), 0, qs_h);
        }
        cuda::axpy_rows(y.data(), g.tok.data(), g.wt.data(), out.data(), g.n, D, stream_);
      }
      if constexpr (!f32) cuda::to_16bit(fmt16<T>(), out.data(), bits(out16.data()), T_ * D, stream_);
    });
    if constexpr (f32) return to_mat(out, T_, D);
    else return to_mat(out16, T_, D);
  }

  cpu::Policy policy_;
  // The storage format of activations and K/V: float32, bf16 or fp16 (check_cuda_policy).
  enum class Store { f32, bf16, f16 };
  Store store_;
  bool quant_;  // int8 / fp8 / int4 weights: the quantised GEMMs
  CudaFaults faults_;
  cuda::Stream stream_ = nullptr;
  cuda::Event start_ = nullptr, stop_ = nullptr;
  int repeats_ = 0;
  Times last_;
  std::map<Key, Buf<float>> w32_;
  std::map<Key, Buf<bf16>> w16_;
  std::map<Key, Buf<f16>> wh_;
  std::map<Key, DevQuantWeight> wq_;
  std::map<Key, std::pair<Buf<bf16>, Buf<bf16>>> moe16_;
};

}  // namespace

std::unique_ptr<text::Executor> make_executor(const cpu::Policy& policy, const CudaFaults& faults) {
  return std::make_unique<CudaExecutor>(policy, faults);
}

std::string device_description() {
  const cuda::DeviceInfo d = cuda::device_info();
  if (d.simulated) return d.name;
  return fmt::format("{} (sm_{}{}, {} SMs, {:.0f} GiB, L2 {:.0f} MiB)", d.name, d.cc_major, d.cc_minor, d.sm_count,
                     static_cast<double>(d.memory_bytes) / (1 << 30), static_cast<double>(d.l2_bytes) / (1 << 20));
}

MachineCeilings device_ceilings() {
  const cuda::DeviceCeilings c = cuda::measure_device_ceilings();
  MachineCeilings m;
  m.dgemm_gflops = c.dgemm_gflops;
  m.sgemm_gflops = c.sgemm_gflops;
  m.bf16_gflops = c.bf16_gflops;
  m.int8_gops = c.int8_gops;
  m.stream_read_gbs = c.copy_gbs;
  m.device = device_description();
  return m;
}

}  // namespace g4::harness::G4_CUDA_BACKEND
