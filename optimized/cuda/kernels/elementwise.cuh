#pragma once
// Small kernels of the text graph (one formula each; float32 arithmetic unless stated):
//
//   softcap             y = c · tanh(x / c)                      final logits, c = 30
//                       (reference/ops/activations.hpp; tanhf, correctly rounded to ~1 ulp);
//                       T = float, bf16 or fp16 storage, the float32 result rounded once (RN)
//   convert             y = RN(x) to bf16 / fp16 (cuda_bf16.h / cuda_fp16.h conversions: the same
//                       code as the CPU formats, bit for bit), and back (exact)
//   quantize_rows       per row r of [rows, cols]: amax = max_j |x|, scale = float(amax / F)
//                       (double division; F = 127 int8, 448 e4m3, 57344 e5m2; a non-finite row
//                       gets a NaN scale), code = Q(x / scale) with the quotient in DOUBLE, so
//                       the codes are bit-identical to optimized/formats (int8: round half even,
//                       clamp ±127, NaN -> 0; fp8: RN with __NV_SATFINITE, NaN -> 0x7F); scale 0
//                       -> code 0.
//   dequantize_rows     y = float(double(value(code)) · double(scale))     (one rounding)
//   int4 groups         weight-only int4 along K (optimized/formats/int4.hpp layout, bit for bit):
//                       per group of `group` values of a row, symmetric: scale = float(amax / 7),
//                       q = clamp(rne(w / scale), −7, 7); asymmetric (GPTQ): lo = min(min w, 0),
//                       hi = max(max w, 0), scale = float((hi − lo) / 15), z = clamp(rne(−lo /
//                       scale), 0, 15), q = clamp(rne(w / scale) + z, 0, 15); quotients in double,
//                       scale 0 or NaN -> code 0 (z), a non-finite group -> NaN scale. Two nibbles
//                       per byte, low nibble first. Dequantised: float(double(q − z) · scale).
//   route (MoE router)  p = softmax(logits[t, :]) (float32: max, exp, sum, divide);
//                       top-K by descending p, ties to the lower expert index; w = p_top / Σ p_top,
//                       then w_j · per_expert_scale[i_j] (reference/ops/moe.hpp route)
//   ple_combine         per-layer inputs (reference text model per_layer_inputs), per token t and
//                       layer l over P values:  c = ctx[t, l·P + p] · D^(-1/2);
//                       n = c · (mean(c²) + eps)^(-1/2) · w[p];
//                       e = embed_tokens_per_layer[ids[t], l·P + p] · √P   (the gather is fused);
//                       out = (n + e) · 2^(-1/2)
#include "optimized/cuda/kernels/common.cuh"
#include "optimized/cuda/kernels/rms_norm.cuh"

namespace g4::cuda::inline G4_CUDA_BACKEND {

constexpr int kEwThreads = 256;

template <class T>
__global__ void __launch_bounds__(kEwThreads) softcap_kernel(const T* x, T* y, long long n, float cap) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    y[i] = from_f32<T>(cap * tanhf(to_f32(x[i]) / cap));
}

// 16-bit storage formats: Fmt 0 = bf16, 1 = fp16 (raw bit patterns in uint16_t).
template <int Fmt>
__global__ void __launch_bounds__(kEwThreads) to_16bit_kernel(const float* x, uint16_t* y, long long n) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    if constexpr (Fmt == 0) y[i] = __bfloat16_as_ushort(__float2bfloat16_rn(x[i]));
    else y[i] = __half_as_ushort(__float2half_rn(x[i]));
  }
}
template <int Fmt>
__global__ void __launch_bounds__(kEwThreads) from_16bit_kernel(const uint16_t* x, float* y, long long n) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    if constexpr (Fmt == 0) y[i] = __bfloat162float(__ushort_as_bfloat16(x[i]));
    else y[i] = __half2float(__ushort_as_half(x[i]));
  }
}

// Row formats: 0 = int8, 1 = fp8 e4m3, 2 = fp8 e5m2.
template <int Fmt>
__device__ __forceinline__ double row_format_max() {
  return Fmt == 0 ? 127.0 : (Fmt == 1 ? 448.0 : 57344.0);
}
template <int Fmt>
__device__ __forceinline__ uint8_t row_code(double quotient) {
  if constexpr (Fmt == 0) {
    if (quotient != quotient) return 0;
    int c = __double2int_rn(quotient);
    c = c > 127 ? 127 : (c < -127 ? -127 : c);
    return static_cast<uint8_t>(static_cast<int8_t>(c));
  } else {
    if (quotient != quotient) return 0x7F;
    return static_cast<uint8_t>(__nv_cvt_double_to_fp8(quotient, __NV_SATFINITE, Fmt == 1 ? __NV_E4M3 : __NV_E5M2));
  }
}
template <int Fmt>
__device__ __forceinline__ double row_value(uint8_t code) {
  if constexpr (Fmt == 0) {
    return static_cast<double>(static_cast<int8_t>(code));
  } else {
    const __half_raw h = __nv_cvt_fp8_to_halfraw(code, Fmt == 1 ? __NV_E4M3 : __NV_E5M2);
    return static_cast<double>(__half2float(__half(h)));
  }
}

// One block per row: scale[r] and the row's codes.
template <int Fmt>
__global__ void __launch_bounds__(kEwThreads)
    quantize_rows_kernel(const float* __restrict__ x, uint8_t* __restrict__ q, float* __restrict__ scale, int cols) {
  G4_SHARED(float, partial, [32]);
  const long long base = static_cast<long long>(blockIdx.x) * cols;
  float amax = 0.0f;
  int finite = 1;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = x[base + j];
    finite &= isfinite(v) ? 1 : 0;
    amax = fmaxf(amax, fabsf(v));
  }
  // Block max through the shared partials (max is exact, so the order does not matter).
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(kFullMask, amax, o));
  const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = (blockDim.x + 31) / 32;
  if (lane == 0) partial[warp] = amax;
  const int all_finite = __syncthreads_and(finite);
  float m = lane < nwarps ? partial[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(kFullMask, m, o));
  const float s = all_finite ? static_cast<float>(static_cast<double>(m) / row_format_max<Fmt>()) : NAN;
  if (threadIdx.x == 0) scale[blockIdx.x] = s;
  for (int j = threadIdx.x; j < cols; j += blockDim.x)
    q[base + j] = s == 0.0f ? 0 : row_code<Fmt>(static_cast<double>(x[base + j]) / static_cast<double>(s));
}

template <int Fmt>
__global__ void __launch_bounds__(kEwThreads)
    dequantize_rows_kernel(const uint8_t* __restrict__ q, const float* __restrict__ scale, float* __restrict__ y,
                           long long rows, int cols) {
  const long long n = rows * cols;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    y[i] = static_cast<float>(row_value<Fmt>(q[i]) * static_cast<double>(scale[i / cols]));
}

// int4: one block per row. Phase 1, a thread per group: scale (and zero point). Phase 2, a
// thread per packed byte: both nibbles (their groups may differ when `group` is odd).
__device__ __forceinline__ int rne_clamp(double v, int lo, int hi) {
  const int c = __double2int_rn(v);  // saturating; v is never NaN here
  return c < lo ? lo : (c > hi ? hi : c);
}
__global__ void __launch_bounds__(kEwThreads)
    quantize_int4_kernel(const float* __restrict__ w, uint8_t* __restrict__ packed, float* __restrict__ scales,
                         uint8_t* __restrict__ zeros, int k, int group, bool asymmetric) {
  const long long r = blockIdx.x;
  const int groups = (k + group - 1) / group, row_bytes = (k + 1) / 2;
  const float* wr = w + r * k;
  for (int g = threadIdx.x; g < groups; g += blockDim.x) {
    const int j1 = (g + 1) * group < k ? (g + 1) * group : k;
    double amax = 0.0, lo = 0.0, hi = 0.0;
    bool finite = true;
    for (int j = g * group; j < j1; ++j) {
      const double v = wr[j];
      if (!isfinite(v)) {
        finite = false;
        continue;
      }
      amax = fmax(amax, fabs(v));
      lo = fmin(lo, v);
      hi = fmax(hi, v);
    }
    const float sc = !finite ? NAN : static_cast<float>(asymmetric ? (hi - lo) / 15.0 : amax / 7.0);
    scales[r * groups + g] = sc;
    if (asymmetric) zeros[r * groups + g] = static_cast<uint8_t>(sc > 0.0f ? rne_clamp(-lo / static_cast<double>(sc), 0, 15) : 0);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < row_bytes; b += blockDim.x) {
    unsigned byte = 0;
    for (int h = 0; h < 2; ++h) {
      const int j = 2 * b + h;
      if (j >= k) break;  // odd K: the padding nibble is 0
      const int g = j / group;
      const float sc = scales[r * groups + g];
      const int z = asymmetric ? zeros[r * groups + g] : 0;
      int q;
      if (!(sc > 0.0f)) {
        q = z;
      } else {
        const double v = static_cast<double>(wr[j]) / static_cast<double>(sc);
        if (!asymmetric) q = rne_clamp(v, -7, 7);
        else q = v != v ? z : rne_clamp(v, -z, 15 - z) + z;
      }
      byte |= (static_cast<unsigned>(q) & 0xFu) << (4 * h);
    }
    packed[r * row_bytes + b] = static_cast<uint8_t>(byte);
  }
}

__global__ void __launch_bounds__(kEwThreads)
    dequantize_int4_kernel(const uint8_t* __restrict__ packed, const float* __restrict__ scales,
                           const uint8_t* __restrict__ zeros, float* __restrict__ w, long long n, int k, int group,
                           bool asymmetric) {
  const int groups = (k + group - 1) / group, row_bytes = (k + 1) / 2;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n * k;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long r = i / k;
    const int j = static_cast<int>(i % k), g = j / group;
    const unsigned nib = (packed[r * row_bytes + j / 2] >> (4 * (j & 1))) & 0xFu;
    const int q = asymmetric ? static_cast<int>(nib) - zeros[r * groups + g]
                             : (nib >= 8 ? static_cast<int>(nib) - 16 : static_cast<int>(nib));
    w[i] = static_cast<float>(q * static_cast<double>(scales[r * groups + g]));
  }
}

// MoE router: one warp per token. E <= 32·kRouteMaxPerLane experts; K <= E.
constexpr int kRouteMaxPerLane = 8, kRouteWarps = 4;
__global__ void __launch_bounds__(32 * kRouteWarps)
    route_kernel(const float* __restrict__ logits, const float* __restrict__ per_expert_scale,
                 float* __restrict__ probs, float* __restrict__ weights, int* __restrict__ index, int T, int E, int K) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int t = blockIdx.x * kRouteWarps + warp;
  if (t >= T) return;  // uniform per warp: whole warps leave, no block barrier follows
  float p[kRouteMaxPerLane];
  float mx = -INFINITY;
#pragma unroll
  for (int c = 0; c < kRouteMaxPerLane; ++c) {
    const int e = c * 32 + lane;
    p[c] = e < E ? logits[static_cast<long long>(t) * E + e] : -INFINITY;
    mx = fmaxf(mx, p[c]);
  }
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(kFullMask, mx, o));
  float sum = 0.0f;
#pragma unroll
  for (int c = 0; c < kRouteMaxPerLane; ++c) {
    const int e = c * 32 + lane;
    p[c] = e < E ? expf(p[c] - mx) : 0.0f;
    sum += p[c];
  }
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(kFullMask, sum, o);
#pragma unroll
  for (int c = 0; c < kRouteMaxPerLane; ++c) {
    const int e = c * 32 + lane;
    p[c] = p[c] / sum;
    if (probs && e < E) probs[static_cast<long long>(t) * E + e] = p[c];
  }
  // Top-K by repeated warp arg-max: larger p first, then the lower expert index.
  float top_sum = 0.0f, my_w = 0.0f;
  int my_i = 0;
  unsigned taken = 0;  // bit c: this lane's expert c·32 + lane already chosen
  for (int k = 0; k < K; ++k) {
    float bv = -1.0f;
    int bi = 0x7fffffff;
#pragma unroll
    for (int c = 0; c < kRouteMaxPerLane; ++c) {
      const int e = c * 32 + lane;
      if (e < E && !(taken >> c & 1u) && (p[c] > bv || (p[c] == bv && e < bi))) bv = p[c], bi = e;
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(kFullMask, bv, o);
      const int oi = __shfl_xor_sync(kFullMask, bi, o);
      if (ov > bv || (ov == bv && oi < bi)) bv = ov, bi = oi;
    }
    if (bi % 32 == lane) taken |= 1u << (bi / 32);
    top_sum += bv;
    if (lane == k) my_w = bv, my_i = bi;  // lane k keeps slot k (K <= 32)
  }
  if (lane < K) {
    weights[static_cast<long long>(t) * K + lane] = my_w / top_sum * per_expert_scale[my_i];
    index[static_cast<long long>(t) * K + lane] = my_i;
  }
}

// Per-layer inputs: one block per (token t, layer l).
template <class T>
__global__ void __launch_bounds__(kEwThreads)
    ple_combine_kernel(const float* __restrict__ ctx, const T* __restrict__ tok_table, const long long* __restrict__ ids,
                       const float* __restrict__ norm_w, float* __restrict__ out, int L, int P, float ctx_scale,
                       float tok_scale, float eps) {
  G4_SHARED(float, partial, [32]);
  const long long base = static_cast<long long>(blockIdx.x) * P;  // (t·L + l)·P
  const long long t = blockIdx.x / L, l = blockIdx.x % L;
  const T* tok = tok_table + ids[t] * L * P + l * P;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < P; i += blockDim.x) {
    const float c = ctx[base + i] * ctx_scale;
    ss += c * c;
  }
  const float inv = 1.0f / sqrtf(block_sum_f32(ss, partial) / static_cast<float>(P) + eps);
  for (int i = threadIdx.x; i < P; i += blockDim.x) {
    const float n = ctx[base + i] * ctx_scale * inv * norm_w[i];
    const float e = to_f32(tok[i]) * tok_scale;
    out[base + i] = (n + e) * 0.70710678118654752f;
  }
}

}  // namespace g4::cuda
