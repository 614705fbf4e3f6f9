// GEMM / GEMV of the CPU executor (gemm.hpp): packing, dispatch, the portable path, and the
// naive oracle. The AVX-512 kernels live in gemm_avx512.cpp, the thread pool in gemm_threads.cpp.
//
// Versions (DESIGN.md section 10, rule 5):
//   v1 gemm_naive       the definition: A and W quantised exactly as below, plain loops, float32
//                       accumulation in increasing k (int32 for int8 × int8), one thread.
//   v2 portable         M > 1: weights widened to float32 (float64 for int8 × int8, exact) in row
//                       chunks, then OpenBLAS sgemm (dgemm); M == 1: a plain-C++ GEMV over the
//                       packed panels (both threads), sgemv for F32 / F16. Runs on any x86-64;
//                       also the "widen to f32 + sgemm" candidate of the measurements below.
//   v3 avx512           own kernels: GEMV (M == 1) streaming the packed weights once, decoding
//                       them in registers, N split over the threads; GEMM micro-kernels (12 × 32
//                       tiles of vdpbf16ps / vpdpbusd, 6 × 32 with per-group int4 scales) on
//                       weights decoded panel by panel into L1.
//
// What each format computes (identical in all three versions up to summation order):
//   F32      fp32 × fp32, fp32 accumulation. M > 1: OpenBLAS sgemm; M == 1: own AVX-512 GEMV.
//   F16      A and W rounded to fp16 (RNE), fp32 accumulation. M > 1: W widened to fp32 in row
//            chunks + sgemm (no AVX512-FP16 on this CPU; oneDNN 2.6 has no f16 matmul for it).
//            M == 1: own GEMV with vcvtph2ps.
//   BF16     A and W rounded to bf16, products exact in fp32, fp32 accumulation (vdpbf16ps).
//   INT8     W8A8: W per output channel, A per token (dynamic): q = rne(x / (amax/127)) clamped
//            to ±127 (optimized/formats/int8.hpp); int32 accumulation (vpdpbusd on A + 128, with
//            the 128·Σq compensation), then c = float(acc) · a_scale[m] · w_scale[n].
//   INT8-W8A16  W as above, A bf16: c = w_scale[n] · Σ bf16(a)·q (q exact in bf16, fp32 acc).
//   INT4     W symmetric (or asymmetric) groups along K (optimized/formats/int4.hpp), A bf16:
//            c = Σ_g scale[n, g] · (Σ_{k in g} bf16(a)·q), group sums in fp32.
//   FP8E4M3  W per channel, A per token, saturating e4m3 with scale = amax/448 (formats/fp8.hpp).
//            CPUs have no fp8 units: the e4m3 values are exact in bf16, so the bf16 kernels run
//            on them and c = acc · a_scale[m] · w_scale[n]: the numerics of an fp8 tensor-core
//            GEMM with fp32 accumulation, up to summation order.
// vdpbf16ps flushes denormal inputs and outputs to zero (Intel SDM); bf16 values below 2^-126
// therefore differ from the naive loop, far below any tolerance used here.
//
// Which implementation won, by measurement on the dev VM (table at the end of this file):
//   prefill: own AVX512-BF16 kernel (bf16, fp8, int8-w8a16, int4) ~2.0-2.6x sgemm, at parity with
//   oneDNN's bf16 matmul and 2.6-2.8x widen+sgemm; own VNNI kernel (int8) ~3.8-4.3x sgemm,
//   0.87-0.98x oneDNN's int8 matmul; fp16 widen+sgemm ~1x sgemm. Decode: own GEMVs, mostly
//   0.7-1.2x of the stream read bandwidth measured beside them.
#include "optimized/cpu/gemm.hpp"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "optimized/cpu/gemm_internal.hpp"
#include "optimized/cpu/gemm_isa.hpp"
#include "optimized/formats/bf16.hpp"
#include "optimized/formats/fp16.hpp"
#include "optimized/formats/fp8.hpp"
#include "optimized/formats/int4.hpp"
#include "optimized/formats/int8.hpp"
#include "reference/common/check.hpp"

namespace g4::cpu {

using detail::AIn;
using detail::Layout;
using detail::WeightView;
using detail::kNR;

namespace detail {

bool cpu_has_avx512_kernels() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16") &&
         __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

}  // namespace detail

namespace {

// ---- ISA selection --------------------------------------------------------------------------

std::atomic<int> g_isa{-1};

GemmIsa current_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* env = std::getenv("G4_GEMM_ISA");
    const bool force_portable = env && std::string(env) == "portable";
    v = static_cast<int>(!force_portable && detail::cpu_has_avx512_kernels() ? GemmIsa::kAvx512
                                                                             : GemmIsa::kPortable);
    g_isa.store(v);
  }
  return static_cast<GemmIsa>(v);
}

// ---- Packed-weight bookkeeping ----------------------------------------------------------------

// Extra per-weight state (PackedWeight::backend): int8 × int8 compensation sums, int4 asymmetric
// decode offsets.
struct Aux {
  std::vector<std::int32_t> wsum;
  std::vector<std::int16_t> zoff;
};

AIn ain_of(Fmt f) {
  switch (f) {
    case Fmt::kF32: return AIn::kF32;
    case Fmt::kF16: return AIn::kF16;
    case Fmt::kBF16: return AIn::kBf16;
    case Fmt::kFP8E4M3: return AIn::kFp8;
    case Fmt::kInt8: return AIn::kInt8;
    default: break;
  }
  throw ConfigError(std::string("CPU GEMM: activation format '") + fmt_name(f) +
                    "' is not supported (expected f32, f16, bf16, fp8e4m3 or int8)");
}

// The (weights, gemm_in) pairs the kernels implement, and the layout each one uses.
Layout layout_of(Fmt weights, Fmt input) {
  if (weights == Fmt::kF32 && input == Fmt::kF32) return Layout::kF32Rows;
  if (weights == Fmt::kF16 && input == Fmt::kF16) return Layout::kF16Rows;
  if (weights == Fmt::kBF16 && input == Fmt::kBF16) return Layout::kBf16Pairs;
  if (weights == Fmt::kFP8E4M3 && input == Fmt::kFP8E4M3) return Layout::kFp8Pairs;
  if (weights == Fmt::kInt8 && input == Fmt::kInt8) return Layout::kInt8Quads;
  if (weights == Fmt::kInt8 && input == Fmt::kBF16) return Layout::kInt8Pairs;
  if (weights == Fmt::kInt4 && input == Fmt::kBF16) return Layout::kInt4Quads;
  throw ConfigError(std::string("CPU GEMM: weights '") + fmt_name(weights) + "' with activations '" +
                    fmt_name(input) +
                    "' is not supported (expected f32/f32, f16/f16, bf16/bf16, fp8e4m3/fp8e4m3, int8/int8, "
                    "int8/bf16 or int4/bf16)");
}

bool is_panel(Layout l) { return l != Layout::kF32Rows && l != Layout::kF16Rows; }

std::int64_t padded_k(Layout l, std::int64_t K, std::int64_t group) {
  if (l == Layout::kF32Rows || l == Layout::kF16Rows) return K;
  if (l == Layout::kInt4Quads) return detail::ceil_div(K, group) * group;
  return detail::ceil_div(K, 4) * 4;
}

std::size_t data_bytes(Layout l, std::int64_t N, std::int64_t Kp) {
  const std::int64_t NP = detail::ceil_div(N, kNR);
  switch (l) {
    case Layout::kF32Rows: return static_cast<std::size_t>(N * Kp * 4);
    case Layout::kF16Rows: return static_cast<std::size_t>(N * Kp * 2);
    case Layout::kBf16Pairs: return static_cast<std::size_t>(NP * kNR * Kp * 2);
    case Layout::kInt8Pairs:
    case Layout::kFp8Pairs:
    case Layout::kInt8Quads: return static_cast<std::size_t>(NP * kNR * Kp);
    case Layout::kInt4Quads: return static_cast<std::size_t>(NP * kNR * Kp / 2);
  }
  return 0;
}

WeightView view_of(const PackedWeight& w) {
  WeightView v{};
  v.layout = layout_of(w.fmt, w.input);
  v.input = ain_of(w.input);
  v.N = w.N;
  v.K = w.K;
  v.group = v.layout == Layout::kInt4Quads ? w.group : 0;
  G4_CHECK(v.layout != Layout::kInt4Quads || (w.group > 0 && w.group % 4 == 0), ConfigError,
           "CPU GEMM: int4 group size must be a positive multiple of 4, got {}", w.group);
  v.Kp = padded_k(v.layout, w.K, v.group);
  v.NP = is_panel(v.layout) ? detail::ceil_div(w.N, kNR) : 0;
  v.G = v.group ? v.Kp / v.group : 0;
  v.asym = v.layout == Layout::kInt4Quads && w.asym;
  G4_CHECK(w.data.size() == data_bytes(v.layout, w.N, v.Kp), ShapeError,
           "CPU GEMM: packed weight [{}, {}] ({} weights) holds {} bytes, expected {} (not made by pack_weight?)",
           w.N, w.K, fmt_name(w.fmt), w.data.size(), data_bytes(v.layout, w.N, v.Kp));
  v.data = w.data.data();
  v.scales = w.scales.empty() ? nullptr : w.scales.data();
  v.zeros = w.zeros.empty() ? nullptr : w.zeros.data();
  const Aux* aux = static_cast<const Aux*>(w.backend.get());
  v.wsum = aux && !aux->wsum.empty() ? aux->wsum.data() : nullptr;
  v.zoff = aux && !aux->zoff.empty() ? aux->zoff.data() : nullptr;
  G4_CHECK(v.layout != Layout::kInt8Quads || v.wsum, ShapeError, "CPU GEMM: int8 weight without its sums");
  G4_CHECK(!v.asym || v.zoff, ShapeError, "CPU GEMM: asymmetric int4 weight without its zero points");
  return v;
}

// ---- Scalar decoding of the packed weights (naive and portable paths) -----------------------

// Every fp16 / e4m3 code's value (formats::fp16_to_float / fp8_to_float), built once: the scalar
// conversions go through double and are too slow to call per weight on the portable path.
const float* fp16_table() {
  static const std::vector<float> t = [] {
    std::vector<float> v(65536);
    for (std::uint32_t i = 0; i < 65536; ++i) v[i] = formats::fp16_to_float(static_cast<std::uint16_t>(i));
    return v;
  }();
  return t.data();
}
const float* fp8_table() {
  static const std::vector<float> t = [] {
    std::vector<float> v(256);
    for (std::uint32_t i = 0; i < 256; ++i) v[i] = formats::fp8_to_float(static_cast<std::uint8_t>(i), formats::Fp8Format::e4m3);
    return v;
  }();
  return t.data();
}

// Row n of W as the stored values before scaling (bf16 / fp16 / e4m3 value, int8 q, int4 q − z),
// k < K.
void decode_row(const WeightView& v, std::int64_t n, float* out) {
  const std::uint8_t* d = v.data;
  const std::int64_t K = v.K, Kp = v.Kp;
  switch (v.layout) {
    case Layout::kF32Rows:
      std::memcpy(out, d + n * K * 4, static_cast<std::size_t>(K) * 4);
      return;
    case Layout::kF16Rows: {
      const auto* h = reinterpret_cast<const std::uint16_t*>(d) + n * K;
      const float* lut = fp16_table();
      for (std::int64_t k = 0; k < K; ++k) out[k] = lut[h[k]];
      return;
    }
    case Layout::kBf16Pairs: {
      const auto* b = reinterpret_cast<const std::uint16_t*>(d);
      for (std::int64_t k = 0; k < K; ++k) out[k] = formats::bf16_to_float(b[detail::pair_index(n, k, Kp)]);
      return;
    }
    case Layout::kInt8Pairs:
      for (std::int64_t k = 0; k < K; ++k) out[k] = static_cast<std::int8_t>(d[detail::pair_index(n, k, Kp)]);
      return;
    case Layout::kFp8Pairs: {
      const float* lut = fp8_table();
      for (std::int64_t k = 0; k < K; ++k) out[k] = lut[d[detail::pair_index(n, k, Kp)]];
      return;
    }
    case Layout::kInt8Quads:
      for (std::int64_t k = 0; k < K; ++k) out[k] = static_cast<std::int8_t>(d[detail::quad_index(n, k, Kp)]);
      return;
    case Layout::kInt4Quads:
      for (std::int64_t k = 0; k < K; ++k) {
        int shift = 0;
        const std::int64_t byte = detail::int4_byte(n, k, Kp, &shift);
        const int nib = (d[byte] >> shift) & 0xF;
        const float z = v.asym ? v.zeros[detail::group_index(n, k / v.group, v.G)] : 8.0f;
        out[k] = static_cast<float>(nib) - z;
      }
      return;
  }
}

float row_scale(const WeightView& v, std::int64_t n) { return v.scales[n / kNR * kNR + n % kNR]; }

// ---- Scalar activation conversion: the definition (optimized/formats) --------------------------

void convert_row_scalar(const float* a, std::int64_t K, AIn in, float* values, float* scale) {
  const auto n = static_cast<std::size_t>(K);
  *scale = 1.0f;
  switch (in) {
    case AIn::kF32:
      std::memcpy(values, a, n * 4);
      return;
    case AIn::kBf16:
      for (std::size_t k = 0; k < n; ++k) values[k] = formats::bf16_to_float(formats::float_to_bf16(a[k]));
      return;
    case AIn::kF16:
      for (std::size_t k = 0; k < n; ++k) values[k] = formats::fp16_to_float(formats::float_to_fp16(a[k]));
      return;
    case AIn::kFp8: {
      formats::fp8_row_scales(a, scale, 1, n, formats::Fp8Format::e4m3);
      std::vector<std::uint8_t> q(n);
      formats::quantize_fp8_rows(a, scale, q.data(), 1, n, formats::Fp8Format::e4m3, formats::Saturation::finite);
      for (std::size_t k = 0; k < n; ++k) values[k] = formats::fp8_to_float(q[k], formats::Fp8Format::e4m3);
      return;
    }
    case AIn::kInt8: {
      formats::int8_row_scales(a, scale, 1, n);
      std::vector<std::int8_t> q(n);
      formats::quantize_int8_rows(a, scale, q.data(), 1, n);
      for (std::size_t k = 0; k < n; ++k) values[k] = q[k];
      return;
    }
  }
}

// ---- Portable path (v2) -----------------------------------------------------------------------

// Rows [n0, n1) of W widened to float32 (row-major [n1 − n0, K]); int4 with its group scales
// applied (one float32 rounding of (q − z)·scale), the per-row scales of int8 / fp8 left to the
// caller.
void decode_rows_f32(const WeightView& v, std::int64_t n0, std::int64_t n1, float* out) {
  for (std::int64_t n = n0; n < n1; ++n) {
    float* o = out + (n - n0) * v.K;
    decode_row(v, n, o);
    if (v.layout == Layout::kInt4Quads)
      for (std::int64_t k = 0; k < v.K; ++k) o[k] *= v.scales[detail::group_index(n, k / v.group, v.G)];
  }
}

// Portable GEMV (M == 1) on the panel layouts: the packed weights are read once, in order, panel
// by panel (32 rows at a time, float32 sums per row; int32 for int8 × int8), the threads claiming
// chunks of panels. Plain C++ for the baseline ISA.
struct PortableGemv {
  const WeightView* v;
  const float* av;  // converted activations, zero-padded to Kp
  float sa;
  float* c;
  std::int64_t next = 0;
};

// Pair layouts: the stored value of element (row nn, k = 2p + h) of panel j.
template <Layout L>
void portable_gemv_pairs(const WeightView& v, const float* av, std::int64_t j, float* acc) {
  const std::int64_t K2 = v.Kp / 2;
  const float* lut = fp8_table();
  for (std::int64_t p = 0; p < K2; ++p) {
    const float a0 = av[2 * p], a1 = av[2 * p + 1];
    const std::int64_t base = (j * K2 + p) * 64;
    for (int nn = 0; nn < kNR; ++nn) {
      float w0, w1;
      if constexpr (L == Layout::kBf16Pairs) {
        const auto* b = reinterpret_cast<const std::uint16_t*>(v.data) + base + 2 * nn;
        w0 = formats::bf16_to_float(b[0]), w1 = formats::bf16_to_float(b[1]);
      } else if constexpr (L == Layout::kInt8Pairs) {
        const auto* b = reinterpret_cast<const std::int8_t*>(v.data) + base + 2 * nn;
        w0 = b[0], w1 = b[1];
      } else {
        const std::uint8_t* b = v.data + base + 2 * nn;
        w0 = lut[b[0]], w1 = lut[b[1]];
      }
      acc[nn] += a0 * w0 + a1 * w1;
    }
  }
}

void portable_gemv_panel(const WeightView& v, const float* av, float sa, std::int64_t j, float* out) {
  const std::int64_t K4 = v.Kp / 4;
  float acc[kNR] = {};
  switch (v.layout) {
    case Layout::kBf16Pairs: portable_gemv_pairs<Layout::kBf16Pairs>(v, av, j, acc); break;
    case Layout::kInt8Pairs: portable_gemv_pairs<Layout::kInt8Pairs>(v, av, j, acc); break;
    case Layout::kFp8Pairs: portable_gemv_pairs<Layout::kFp8Pairs>(v, av, j, acc); break;
    case Layout::kInt8Quads: {
      std::int32_t iacc[kNR] = {};
      const auto* w8 = reinterpret_cast<const std::int8_t*>(v.data) + j * K4 * 128;
      for (std::int64_t q = 0; q < K4; ++q) {
        const auto a0 = static_cast<std::int32_t>(av[4 * q]), a1 = static_cast<std::int32_t>(av[4 * q + 1]),
                   a2 = static_cast<std::int32_t>(av[4 * q + 2]), a3 = static_cast<std::int32_t>(av[4 * q + 3]);
        for (int nn = 0; nn < kNR; ++nn) {
          const std::int8_t* w = w8 + q * 128 + 4 * nn;
          iacc[nn] += a0 * w[0] + a1 * w[1] + a2 * w[2] + a3 * w[3];
        }
      }
      for (int nn = 0; nn < kNR; ++nn) acc[nn] = static_cast<float>(iacc[nn]) * sa;
      break;
    }
    case Layout::kInt4Quads: {
      // Chunk (j, q): word i holds in nibble t the element (pair 2q + t/2, row 16·(t%2) + i/2,
      // parity i%2), i.e. byte 2i + t/2, bits 4·(t%2).
      const std::int64_t gq = v.group / 4;
      for (std::int64_t g = 0; g < v.G; ++g) {
        float gacc[kNR] = {}, z[kNR];
        for (int nn = 0; nn < kNR; ++nn) z[nn] = v.asym ? v.zeros[(j * v.G + g) * kNR + nn] : 8.0f;
        for (std::int64_t q = g * gq; q < (g + 1) * gq; ++q) {
          const std::uint8_t* chunk = v.data + (j * K4 + q) * 64;
          const float* a = av + 4 * q;
          for (int r = 0; r < 16; ++r) {  // rows r (nibbles t = 0, 2) and 16 + r (t = 1, 3)
            const std::uint8_t b0 = chunk[4 * r], b1 = chunk[4 * r + 1], b2 = chunk[4 * r + 2], b3 = chunk[4 * r + 3];
            // word 2r: bytes 4r, 4r+1 (parity 0); word 2r + 1: bytes 4r+2, 4r+3 (parity 1)
            gacc[r] += a[0] * ((b0 & 0xF) - z[r]) + a[1] * ((b2 & 0xF) - z[r]) + a[2] * ((b1 & 0xF) - z[r]) +
                       a[3] * ((b3 & 0xF) - z[r]);
            gacc[16 + r] += a[0] * ((b0 >> 4) - z[16 + r]) + a[1] * ((b2 >> 4) - z[16 + r]) +
                            a[2] * ((b1 >> 4) - z[16 + r]) + a[3] * ((b3 >> 4) - z[16 + r]);
          }
        }
        for (int nn = 0; nn < kNR; ++nn) acc[nn] += gacc[nn] * v.scales[(j * v.G + g) * kNR + nn];
      }
      break;
    }
    default: break;
  }
  for (int nn = 0; nn < kNR; ++nn) {
    const std::int64_t n = j * kNR + nn;
    if (n >= v.N) break;
    float x = acc[nn];
    if (v.layout == Layout::kInt8Pairs || v.layout == Layout::kInt8Quads) x *= row_scale(v, n);
    if (v.layout == Layout::kFp8Pairs) x = x * sa * row_scale(v, n);
    out[n] = x;
  }
}

void portable_gemv_worker(void* ctx, int, int) {
  auto& x = *static_cast<PortableGemv*>(ctx);
  constexpr std::int64_t kPanelsPerChunk = 4;
  for (std::int64_t ch; (ch = detail::claim_chunk(&x.next)) * kPanelsPerChunk < x.v->NP;)
    for (std::int64_t j = ch * kPanelsPerChunk; j < std::min(x.v->NP, (ch + 1) * kPanelsPerChunk); ++j)
      portable_gemv_panel(*x.v, x.av, x.sa, j, x.c);
}

void portable_gemm(const float* a, std::int64_t M, const WeightView& v, float* c) {
  const std::int64_t N = v.N, K = v.K;
  if (v.layout == Layout::kF32Rows) {
    const auto* w = reinterpret_cast<const float*>(v.data);
    if (M == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, w, K, a, 1, 0.0f, c, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, w, K, 0.0f, c, N);
    return;
  }
  // Activations converted once: values [M, K] and per-row scales.
  std::vector<float> av(static_cast<std::size_t>(M * K)), sa(static_cast<std::size_t>(M));
  for (std::int64_t m = 0; m < M; ++m) convert_row_scalar(a + m * K, K, v.input, av.data() + m * K, &sa[m]);
  if (M == 1 && is_panel(v.layout)) {
    av.resize(static_cast<std::size_t>(v.Kp), 0.0f);
    PortableGemv x{&v, av.data(), sa[0], c};
    detail::pool_run(portable_gemv_worker, &x);
    return;
  }
  // Rows of W per chunk: about 4 MiB of widened weights.
  const std::int64_t chunk = std::max<std::int64_t>(kNR, std::min<std::int64_t>(N, (1 << 20) / std::max<std::int64_t>(K, 1)));
  std::vector<float> wf;
  if (v.layout == Layout::kInt8Quads) {
    // int8 × int8 in float64: every product and partial sum is an integer below 2^53, so dgemm
    // returns the exact int32 result the VNNI kernel and the naive loop compute.
    std::vector<double> ad(av.begin(), av.end()), wd(static_cast<std::size_t>(chunk * K)),
        cd(static_cast<std::size_t>(M * chunk));
    wf.resize(static_cast<std::size_t>(chunk * K));
    for (std::int64_t n0 = 0; n0 < N; n0 += chunk) {
      const std::int64_t nc = std::min(chunk, N - n0);
      decode_rows_f32(v, n0, n0 + nc, wf.data());
      std::copy(wf.begin(), wf.begin() + nc * K, wd.begin());
      if (M == 1)
        cblas_dgemv(CblasRowMajor, CblasNoTrans, nc, K, 1.0, wd.data(), K, ad.data(), 1, 0.0, cd.data(), 1);
      else
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nc, K, 1.0, ad.data(), K, wd.data(), K, 0.0,
                    cd.data(), nc);
      for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t j = 0; j < nc; ++j)
          c[m * N + n0 + j] = static_cast<float>(cd[m * nc + j]) * sa[m] * row_scale(v, n0 + j);
    }
    return;
  }
  wf.resize(static_cast<std::size_t>(chunk * K));
  for (std::int64_t n0 = 0; n0 < N; n0 += chunk) {
    const std::int64_t nc = std::min(chunk, N - n0);
    decode_rows_f32(v, n0, n0 + nc, wf.data());
    if (M == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, nc, K, 1.0f, wf.data(), K, av.data(), 1, 0.0f, c + n0, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nc, K, 1.0f, av.data(), K, wf.data(), K, 0.0f, c + n0,
                  N);
    if (v.layout == Layout::kInt8Pairs || v.layout == Layout::kFp8Pairs)
      for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t j = 0; j < nc; ++j) {
          float& x = c[m * N + n0 + j];
          x = v.layout == Layout::kFp8Pairs ? x * sa[m] * row_scale(v, n0 + j) : x * row_scale(v, n0 + j);
        }
  }
}

// F16, M > 1 on the AVX-512 path: W widened to float32 with vcvtph2ps in row chunks + sgemm.
void f16_widen_sgemm(const float* a, std::int64_t M, const WeightView& v, float* c) {
  const std::int64_t N = v.N, K = v.K;
  std::vector<float> av(static_cast<std::size_t>(M * K));
  float s = 1;
  for (std::int64_t m = 0; m < M; ++m) detail::avx512_convert_row(a + m * K, K, AIn::kF16, av.data() + m * K, &s);
  // Rows per sgemm call: 16 MiB of widened weights (OpenBLAS re-packs A on every call, so fewer,
  // wider calls are faster: 4 MiB chunks ran at 0.72x sgemm on E2B q_proj, whole-W at ~0.95x).
  const std::int64_t chunk = std::max<std::int64_t>(kNR, std::min<std::int64_t>(N, (1 << 22) / std::max<std::int64_t>(K, 1)));
  float* wf = static_cast<float*>(detail::thread_scratch(3, static_cast<std::size_t>(chunk * K) * 4));
  const auto* h = reinterpret_cast<const std::uint16_t*>(v.data);
  for (std::int64_t n0 = 0; n0 < N; n0 += chunk) {
    const std::int64_t nc = std::min(chunk, N - n0);
    detail::avx512_f16_to_f32(h + n0 * K, wf, nc * K);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nc, K, 1.0f, av.data(), K, wf, K, 0.0f, c + n0, N);
  }
}

}  // namespace

// ---- ISA switch (gemm_isa.hpp) ----------------------------------------------------------------

const char* gemm_isa_name(GemmIsa isa) { return isa == GemmIsa::kAvx512 ? "avx512" : "portable"; }
GemmIsa gemm_isa() { return current_isa(); }
GemmIsa set_gemm_isa(GemmIsa isa) {
  const GemmIsa v = isa == GemmIsa::kAvx512 && detail::cpu_has_avx512_kernels() ? GemmIsa::kAvx512 : GemmIsa::kPortable;
  g_isa.store(static_cast<int>(v));
  return v;
}

void convert_activation_row_scalar(const float* a, std::int64_t K, Fmt input, float* values, float* scale) {
  convert_row_scalar(a, K, ain_of(input), values, scale);
}

void convert_activation_row(const float* a, std::int64_t K, Fmt input, float* values, float* scale) {
  if (current_isa() == GemmIsa::kAvx512)
    detail::avx512_convert_row(a, K, ain_of(input), values, scale);
  else
    convert_row_scalar(a, K, ain_of(input), values, scale);
}

// ---- Packing --------------------------------------------------------------------------------

// ORs a 4-bit code into element (n, k) of a kInt4Quads buffer (zero-initialised). The byte index
// is computed first: in `d[int4_byte(.., &shift)] |= code << shift` C++17 evaluates the right
// side, reading shift, before the call that sets it.
namespace {
void put_nibble(std::uint8_t* d, std::int64_t n, std::int64_t k, std::int64_t Kp, int code) {
  int shift = 0;
  const std::int64_t byte = detail::int4_byte(n, k, Kp, &shift);
  d[byte] = static_cast<std::uint8_t>(d[byte] | (code << shift));
}

// Runs body(n0, n1) over the rows [0, N) of W in chunks of `rows` (a multiple of kNR, so two
// chunks never share a packed panel, hence never a byte) on the kernels' threads. Packing a
// 31B MLP matrix (115M weights) is seconds of work per policy; one thread left the other idle.
template <class Body>
void parallel_rows(std::int64_t N, std::int64_t rows, const Body& body) {
  struct Job {
    std::int64_t next, chunks, N, rows;
    const Body* body;
  } job{0, detail::ceil_div(N, rows), N, rows, &body};
  detail::pool_run(
      [](void* ctx, int, int) {
        Job& j = *static_cast<Job*>(ctx);
        for (std::int64_t c; (c = detail::claim_chunk(&j.next)) < j.chunks;)
          (*j.body)(c * j.rows, std::min(j.N, (c + 1) * j.rows));
      },
      &job);
}
constexpr std::int64_t kPackRows = 8 * kNR;
}  // namespace

PackedWeight pack_weight(const double* w, std::int64_t N, std::int64_t K, const Policy& policy) {
  G4_CHECK(N >= 0 && K >= 0, ShapeError, "pack_weight: negative shape [{}, {}]", N, K);
  PackedWeight p;
  p.fmt = policy.weights;
  p.input = policy.gemm_in;
  p.N = N;
  p.K = K;
  p.group = policy.weights == Fmt::kInt4 ? policy.weight_group : 0;
  p.asym = policy.weights == Fmt::kInt4 && policy.weight_asym;
  const Layout layout = layout_of(p.fmt, p.input);
  G4_CHECK(layout != Layout::kInt4Quads || (p.group > 0 && p.group % 4 == 0), ConfigError,
           "pack_weight: int4 group size must be a positive multiple of 4 (policy '{}' has {})", policy.name,
           p.group);
  const std::int64_t Kp = padded_k(layout, K, p.group);
  const std::int64_t NP = detail::ceil_div(N, kNR);
  p.data.assign(data_bytes(layout, N, Kp), 0);
  const auto nz = static_cast<std::size_t>(N), kz = static_cast<std::size_t>(K);
  std::uint8_t* d = p.data.data();

  switch (layout) {
    case Layout::kF32Rows: {
      auto* f = reinterpret_cast<float*>(d);
      parallel_rows(N, kPackRows, [&](std::int64_t n0, std::int64_t n1) {
        for (std::int64_t i = n0 * K; i < n1 * K; ++i) f[i] = static_cast<float>(w[i]);  // one RNE rounding
      });
      break;
    }
    case Layout::kF16Rows: {
      auto* h = reinterpret_cast<std::uint16_t*>(d);
      parallel_rows(N, kPackRows, [&](std::int64_t n0, std::int64_t n1) {
        formats::quantize_fp16(w + n0 * K, h + n0 * K, static_cast<std::size_t>((n1 - n0) * K));
      });
      break;
    }
    case Layout::kBf16Pairs: {
      auto* b = reinterpret_cast<std::uint16_t*>(d);
      parallel_rows(N, kPackRows, [&](std::int64_t n0, std::int64_t n1) {
        for (std::int64_t n = n0; n < n1; ++n)
          for (std::int64_t k = 0; k < K; ++k) b[detail::pair_index(n, k, Kp)] = formats::double_to_bf16(w[n * K + k]);
      });
      break;
    }
    case Layout::kInt8Pairs:
    case Layout::kInt8Quads:
    case Layout::kFp8Pairs: {
      p.scales.assign(static_cast<std::size_t>(NP * kNR), 0.0f);
      auto aux = std::make_shared<Aux>();
      if (layout == Layout::kInt8Quads) aux->wsum.assign(static_cast<std::size_t>(NP * kNR), 0);
      parallel_rows(N, kPackRows, [&](std::int64_t n0, std::int64_t n1) {
      std::vector<std::uint8_t> q(kz);
      for (std::int64_t n = n0; n < n1; ++n) {
        const double* wr = w + n * K;
        float& s = p.scales[static_cast<std::size_t>(n)];
        if (layout == Layout::kFp8Pairs) {
          formats::fp8_row_scales(wr, &s, 1, kz, formats::Fp8Format::e4m3);
          formats::quantize_fp8_rows(wr, &s, q.data(), 1, kz, formats::Fp8Format::e4m3, formats::Saturation::finite);
        } else {
          formats::int8_row_scales(wr, &s, 1, kz);
          formats::quantize_int8_rows(wr, &s, reinterpret_cast<std::int8_t*>(q.data()), 1, kz);
        }
        for (std::int64_t k = 0; k < K; ++k) {
          if (layout == Layout::kInt8Quads) {
            d[detail::quad_index(n, k, Kp)] = q[k];
            aux->wsum[n] += static_cast<std::int8_t>(q[k]);
          } else {
            d[detail::pair_index(n, k, Kp)] = q[k];
          }
        }
      }
      });
      if (layout == Layout::kInt8Quads) p.backend = aux;
      break;
    }
    case Layout::kInt4Quads: {
      const std::int64_t group = p.group, G = Kp / group;
      const auto mode = p.asym ? formats::Int4Mode::asymmetric : formats::Int4Mode::symmetric;
      const std::size_t row_bytes = formats::int4_row_bytes(kz);
      p.scales.assign(static_cast<std::size_t>(NP * G * kNR), 0.0f);
      auto aux = std::make_shared<Aux>();
      if (p.asym) {
        p.zeros.assign(static_cast<std::size_t>(NP * G * kNR), 0.0f);
        aux->zoff.assign(static_cast<std::size_t>(NP * G * 2 * kNR), 16);
      }
      parallel_rows(N, kPackRows, [&](std::int64_t n0, std::int64_t n1) {
      std::vector<std::uint8_t> packed(row_bytes), zeros(static_cast<std::size_t>(G));
      std::vector<float> scales(static_cast<std::size_t>(G));
      for (std::int64_t n = n0; n < n1; ++n) {
        formats::quantize_int4(w + n * K, packed.data(), scales.data(), zeros.data(), 1, kz,
                               static_cast<std::size_t>(group), mode);
        for (std::int64_t g = 0; g < G; ++g) {
          p.scales[detail::group_index(n, g, G)] = scales[g];
          if (p.asym) {
            p.zeros[detail::group_index(n, g, G)] = zeros[g];
            // Decode offsets 16 − z as the words of the two zmm halves (rows 0-15, 16-31), each
            // row's value repeated for its two k-parities.
            const std::int64_t nn = n % kNR;
            std::int16_t* zo = aux->zoff.data() + ((n / kNR) * G + g) * 2 * kNR + (nn / 16) * kNR;
            zo[(nn % 16) * 2] = zo[(nn % 16) * 2 + 1] = static_cast<std::int16_t>(16 - zeros[g]);
          }
        }
        for (std::int64_t k = 0; k < K; ++k) {
          const int code = p.asym ? static_cast<int>(formats::int4_nibble(packed.data(), static_cast<std::size_t>(k)))
                                  : formats::int4_signed(packed.data(), static_cast<std::size_t>(k)) + 8;
          put_nibble(d, n, k, Kp, code);
        }
        // Padding of a row (k >= K) must decode to 0: symmetric code 8; asymmetric q = z.
        for (std::int64_t k = K; k < Kp; ++k) {
          const int code = p.asym ? zeros[k / group] : 8;
          put_nibble(d, n, k, Kp, code);
        }
      }
      });
      // Padding rows (n >= N): symmetric code 8 = 0 (scale 0 anyway).
      if (!p.asym)
        for (std::int64_t n = N; n < NP * kNR; ++n)
          for (std::int64_t k = 0; k < Kp; ++k) {
            put_nibble(d, n, k, Kp, 8);
          }
      if (p.asym) p.backend = aux;
      break;
    }
  }
  return p;
}

// ---- GEMM -----------------------------------------------------------------------------------

void gemm(const float* a, std::int64_t M, const PackedWeight& w, float* c) {
  G4_CHECK(M >= 0, ShapeError, "gemm: negative M = {}", M);
  const WeightView v = view_of(w);
  if (M == 0 || v.N == 0) return;
  if (v.K == 0) {
    std::fill(c, c + M * v.N, 0.0f);
    return;
  }
  if (current_isa() == GemmIsa::kAvx512) {
    if (is_panel(v.layout) || M == 1) {
      detail::avx512_gemm(a, M, v, c);
      return;
    }
    if (v.layout == Layout::kF16Rows) {
      f16_widen_sgemm(a, M, v, c);
      return;
    }
  }
  portable_gemm(a, M, v, c);
}

void gemm_naive(const float* a, std::int64_t M, const PackedWeight& w, float* c) {
  G4_CHECK(M >= 0, ShapeError, "gemm_naive: negative M = {}", M);
  const WeightView v = view_of(w);
  const std::int64_t N = v.N, K = v.K;
  std::vector<float> av(static_cast<std::size_t>(M * K)), sa(static_cast<std::size_t>(M)), wv(static_cast<std::size_t>(K));
  for (std::int64_t m = 0; m < M; ++m) convert_row_scalar(a + m * K, K, v.input, av.data() + m * K, &sa[m]);
  for (std::int64_t n = 0; n < N; ++n) {
    decode_row(v, n, wv.data());
    for (std::int64_t m = 0; m < M; ++m) {
      const float* x = av.data() + m * K;
      float& out = c[m * N + n];
      switch (v.layout) {
        case Layout::kInt8Quads: {
          std::int32_t acc = 0;
          for (std::int64_t k = 0; k < K; ++k) acc += static_cast<std::int32_t>(x[k]) * static_cast<std::int32_t>(wv[k]);
          out = static_cast<float>(acc) * sa[m] * row_scale(v, n);
          break;
        }
        case Layout::kInt4Quads: {
          float acc = 0;
          for (std::int64_t k0 = 0; k0 < K; k0 += v.group) {
            float gs = 0;
            for (std::int64_t k = k0; k < std::min(K, k0 + v.group); ++k) gs += x[k] * wv[k];
            acc += gs * v.scales[detail::group_index(n, k0 / v.group, v.G)];
          }
          out = acc;
          break;
        }
        default: {
          float acc = 0;
          for (std::int64_t k = 0; k < K; ++k) acc += x[k] * wv[k];
          if (v.layout == Layout::kInt8Pairs) acc *= row_scale(v, n);
          if (v.layout == Layout::kFp8Pairs) acc = acc * sa[m] * row_scale(v, n);
          out = acc;
        }
      }
    }
  }
}

std::string gemm_impl(const PackedWeight& w, std::int64_t M) {
  const WeightView v = view_of(w);
  const bool gemv = M == 1;
  if (current_isa() == GemmIsa::kPortable) {
    if (v.layout == Layout::kF32Rows) return gemv ? "openblas-sgemv" : "openblas-sgemm";
    if (gemv) return v.layout == Layout::kF16Rows ? "portable-widen-f32+openblas-sgemv" : "portable-gemv";
    if (v.layout == Layout::kInt8Quads) return "portable-widen-f64+openblas-dgemm";
    return "portable-widen-f32+openblas-sgemm";
  }
  switch (v.layout) {
    case Layout::kF32Rows: return gemv ? "avx512-gemv-f32" : "openblas-sgemm";
    case Layout::kF16Rows: return gemv ? "avx512-gemv-f16" : "avx512-widen-f16+openblas-sgemm";
    case Layout::kBf16Pairs: return gemv ? "avx512bf16-gemv-bf16" : "avx512bf16-gemm-bf16";
    case Layout::kInt8Pairs: return gemv ? "avx512bf16-gemv-int8w" : "avx512bf16-gemm-int8w";
    case Layout::kFp8Pairs: return gemv ? "avx512bf16-gemv-fp8e4m3" : "avx512bf16-gemm-fp8e4m3";
    case Layout::kInt8Quads: return gemv ? "avx512vnni-gemv-int8" : "avx512vnni-gemm-int8";
    case Layout::kInt4Quads:
      return std::string(gemv ? "avx512bf16-gemv-int4-g" : "avx512bf16-gemm-int4-g") + std::to_string(v.group) +
             (v.asym ? "-asym" : "");
  }
  return "?";
}

// ---- Exact accumulation on the same quantised inputs ------------------------------------------

// C = A · Wᵀ with A and W quantised exactly as gemm() does, each product and sum exact to float64
// (the dequantised values are exact in double; OpenBLAS dgemm accumulates them), then one rounding
// to float32. The error of this against the float64 reference is the policy's input quantisation
// alone, so a kernel's extra error over it is its accumulation order and intermediate roundings.
// At real sizes it runs at dgemm speed, where gemm_naive's plain loops would take minutes.
void gemm_exact(const float* a, std::int64_t M, const PackedWeight& w, float* c) {
  G4_CHECK(M >= 0, ShapeError, "gemm_exact: negative M = {}", M);
  const WeightView v = view_of(w);
  const std::int64_t N = v.N, K = v.K;
  if (M == 0 || N == 0) return;
  const bool a_scaled = v.layout == Layout::kInt8Quads || v.layout == Layout::kFp8Pairs;
  // A once, W in blocks of rows dequantised to float64 on both threads, one dgemm per block
  // (a whole 31B MLP matrix in float64 is 925 MB; a block of 512 rows is at most ~90 MB and is
  // reused, so the baseline no longer spends a fifth of its time faulting in fresh pages).
  const std::int64_t block = std::min<std::int64_t>(N, 16 * kNR);
  auto* ad = static_cast<double*>(detail::thread_scratch(4, static_cast<std::size_t>(M * K) * 8));
  auto* wd = static_cast<double*>(detail::thread_scratch(5, static_cast<std::size_t>(block * K) * 8));
  auto* cd = static_cast<double*>(detail::thread_scratch(6, static_cast<std::size_t>(M * block) * 8));
  std::vector<float> row(static_cast<std::size_t>(K));
  for (std::int64_t m = 0; m < M; ++m) {
    float sa = 1.0f;
    convert_row_scalar(a + m * K, K, v.input, row.data(), &sa);
    for (std::int64_t k = 0; k < K; ++k) ad[m * K + k] = double(row[k]) * (a_scaled ? double(sa) : 1.0);
  }
  for (std::int64_t b0 = 0; b0 < N; b0 += block) {
    const std::int64_t nb = std::min(block, N - b0);
    parallel_rows(nb, kNR, [&](std::int64_t r0, std::int64_t r1) {
      std::vector<float> wrow(static_cast<std::size_t>(K));
      for (std::int64_t n = b0 + r0; n < b0 + r1; ++n) {
        decode_row(v, n, wrow.data());
        double* out = wd + (n - b0) * K;
        for (std::int64_t k = 0; k < K; ++k) {
          double s = 1.0;
          if (v.layout == Layout::kInt4Quads) s = v.scales[detail::group_index(n, k / v.group, v.G)];
          else if (v.layout == Layout::kInt8Pairs || v.layout == Layout::kInt8Quads || v.layout == Layout::kFp8Pairs)
            s = row_scale(v, n);
          out[k] = double(wrow[k]) * s;
        }
      }
    });
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(nb), static_cast<int>(K),
                1.0, ad, static_cast<int>(K), wd, static_cast<int>(K), 0.0, cd, static_cast<int>(nb));
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t j = 0; j < nb; ++j) c[m * N + b0 + j] = static_cast<float>(cd[m * nb + j]);
  }
}

}  // namespace g4::cpu

// ---- Measurements (dev VM: AMD EPYC Zen 4, 2 vCPUs under KVM, 1 MiB L2 / 32 MiB L3 visible,
// OpenBLAS 0.3.21 "Cooperlake" kernels, GCC 12 -O3). The VM shared its two cores with other jobs
// during all of this (load average 2.5-7), so single numbers move by ±30 %; the ratios below
// come from baselines timed in the same run, minutes or seconds apart (bench/bench_gemm.cpp,
// interleaved probes for the candidates). Register peaks measured alone on one core: vfmadd
// 69-90 GFLOP/s, vdpbf16ps 135-197, vpdpbusd 285-388 GOP/s: bf16 = 2x, int8 = 4x float32.
//
// Prefill M = 512, GFLOP/s (x sgemm), 2 threads:
//   (N, K)                 E2B q_proj 2048x1536   E2B gate 6144x1536   31B q_proj 16384x5376
//   OpenBLAS sgemm         81.0                   77.5                 72.4
//   OpenBLAS dgemm         42.7 (0.53)            43.0 (0.53)          38.6 (0.52)
//   fp32 (sgemm)           80.9                   78.6                 74.1
//   bf16                   160  (2.08)            191  (2.50)          164  (2.20)
//   fp16 (widen + sgemm)   67.3 (0.84)            76.1 (0.99)          66.1 (1.08)
//   fp8-e4m3               164  (2.03)            170  (2.19)          161  (2.60)
//   int8 (W8A8, VNNI)      322  (3.91)            317  (3.77)          341  (4.30)
//   int8-w8a16             95*  (2.01)            160  (2.14)          169  (2.40)
//   int4-g32               93*  (1.96)            165  (2.10)          116  (1.88)
//   int4-g128              168  (2.45)            191  (2.21)          159  (2.21)
//   (* a loaded moment: the sgemm timed beside it fell by the same factor.)
// Candidates, interleaved round robin in one process (OMP_WAIT_POLICY=passive so oneDNN's
// OpenMP threads do not spin into the next candidate), GFLOP/s at the three shapes:
//   bf16: own 12x32 vdpbf16ps kernel 168 / 171 / 169; oneDNN 2.6 matmul bf16 (brg:avx512_core_bf16)
//         174 / 165 / 172 (parity); widen to f32 + sgemm 61 / 65 / 65 (own kernel 2.6-2.8x faster).
//   int8: own 12x32 vpdpbusd kernel 312 / 301 / 349 (A quantisation and the scale epilogue
//         included); oneDNN u8s8->s32 357 / 338 / 356 and s8s8->s32 329 / 324 / 350 (matmul only):
//         own kernel 0.87-0.98x of oneDNN's; widen to f64 + dgemm (exact) 26 / 32 / 33.
//   f16: oneDNN 2.6 has no f16 matmul without AVX512-FP16 ("could not create a primitive
//        descriptor"); widen + sgemm is 0.84-1.08x sgemm.
//   -> no oneDNN dependency: bf16 at parity, int8 within ~10 % while doing more, and the fused
//      decoders (fp8 / int8 / int4 weights into the bf16 kernel) have no oneDNN 2.6 equivalent.
//   Single-thread tuning (thread CPU time, E2B q_proj): K block of 64 / 128 / 256 / 768 pairs
//   gave 154 / 169 / 182 / 196 GFLOP/s (bf16); 64-byte aligned weight copies +15 % over split-line
//   loads; GCC's _mm512_dpbusd_epi32 in the tiled loop ran at half speed (register copies and
//   spills per instruction) -> inline asm, 100 -> 191 GFLOP/s on one core.
//
// Decode M = 1, GB/s of packed weights (fraction of the stream read bandwidth measured around
// the same case; x OpenBLAS sgemv on float32 weights). Weights rotated over >= 256 MiB of copies
// so every call reads DRAM. Stream read (2 threads, 1 GiB, SSE2 loads): 15-33 GB/s over the runs.
//   fp32 (own GEMV)        20.9 (1.07; 1.39)      11.9 (0.57; 0.92)    26.2 (0.80; 1.01)
//   bf16                   18.9 (0.83; 2.78)      22.6 (0.83; 4.91)    25.9 (0.93; 3.38)
//   fp16                   11.9 (0.41; 1.81)      11.5 (0.47; 1.56)    24.7 (0.79; 2.00)
//   fp8-e4m3               12.5 (0.61; 3.77)      29.2 (0.89; 4.35)    29.7 (0.93; 4.62)
//   int8 (W8A8)            20.8 (0.86; 6.14)      23.2 (0.80; 6.09)    24.5 (1.26; 6.59)
//   int8-w8a16             22.7 (0.92; 6.18)      17.8 (0.74; 5.03)    20.0 (0.73; 5.39)
//   int4-g32               21.1 (1.15; 9.42)      17.8 (0.66; 7.53)    18.0 (0.83; 6.84)
//   int4-g128              11.3 (0.54; 6.55)      20.0 (0.77; 15.7)    32.1 (1.20; 15.7)
//   portable bf16 GEMV      8.2 (0.38)             8.8 (0.41)          19.2 (0.62)
// In cache (one thread, thread CPU time, E2B q_proj, weights L3-resident): bf16 87-90 GB/s,
// int8 83-86, int8-w8a16 26-27 (float32-FMA route; 21 via bf16 decode), int4 31-36 (nibble
// decode by vpermw without masks; 22-27 with), fp8 18-19, fp16 51-54, fp32 65-68 (= sgemv):
// every kernel but fp8's outruns one core's DRAM share (~14 GB/s), so decode is memory-bound.
// The row layouts (fp32, fp16, OpenBLAS sgemv) stream less well than the panel layouts: four
// short row streams per thread instead of one long run.
