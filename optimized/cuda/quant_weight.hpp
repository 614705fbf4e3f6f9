#pragma once
// Host-side weight quantisation for the quantised CUDA GEMMs (ops.hpp gemm_w8a8 / gemm_dequant):
// the float64 weights quantised exactly as the CPU executor's pack_weight does
// (optimized/cpu/gemm.cpp: per-channel int8 / e4m3 scales from formats/int8.hpp / fp8.hpp,
// symmetric int4 groups from formats/int4.hpp, all on the float64 values), in the kernels' plain
// row-major layout. Quantisation is the boundary's work (once per layer), like the CPU's packing.
// Header-only: link gemma4_formats.
#include <cstdint>
#include <vector>

#include "optimized/cuda/ops.hpp"
#include "optimized/formats/fp8.hpp"
#include "optimized/formats/int4.hpp"
#include "optimized/formats/int8.hpp"

namespace g4::cuda::inline G4_CUDA_BACKEND {

struct HostQuantWeight {
  QuantFmt fmt = QuantFmt::int8;
  std::int64_t N = 0, K = 0, group = 0;  // K: the padded row length the kernels see
  std::vector<std::uint8_t> data;        // [N, K] codes, int4: [N, K/2] (16-byte aligned: operator new)
  std::vector<float> scales;             // [N] or [N, ceil(K/group)]
  QuantWeight view() const { return QuantWeight{fmt, data.data(), scales.data(), group}; }
  const std::int8_t* s8() const { return reinterpret_cast<const std::int8_t*>(data.data()); }
};

// w: [N, K] row-major; Kp >= K: the row length stored (zero columns appended, which change no
// scale and store code 0, so the product is unchanged). int4: group along K (symmetric mode).
inline HostQuantWeight quantize_weight(const double* w, std::int64_t N, std::int64_t K, std::int64_t Kp, QuantFmt fmt,
                                       std::int64_t group = 0) {
  HostQuantWeight q;
  q.fmt = fmt;
  q.N = N;
  q.K = Kp;
  q.group = fmt == QuantFmt::int4 ? group : 0;
  std::vector<double> row(static_cast<std::size_t>(Kp), 0.0);
  const auto kz = static_cast<std::size_t>(Kp);
  if (fmt == QuantFmt::int4) {
    const auto G = formats::int4_groups(kz, static_cast<std::size_t>(group));
    q.data.assign(static_cast<std::size_t>(N) * formats::int4_row_bytes(kz), 0);
    q.scales.assign(static_cast<std::size_t>(N) * G, 0.0f);
  } else {
    q.data.assign(static_cast<std::size_t>(N * Kp), 0);
    q.scales.assign(static_cast<std::size_t>(N), 0.0f);
  }
  for (std::int64_t n = 0; n < N; ++n) {
    std::copy(w + n * K, w + (n + 1) * K, row.begin());
    const auto nz = static_cast<std::size_t>(n);
    switch (fmt) {
      case QuantFmt::int8:
        formats::int8_row_scales(row.data(), &q.scales[nz], 1, kz);
        formats::quantize_int8_rows(row.data(), &q.scales[nz], reinterpret_cast<std::int8_t*>(&q.data[nz * kz]), 1, kz);
        break;
      case QuantFmt::fp8_e4m3:
        formats::fp8_row_scales(row.data(), &q.scales[nz], 1, kz, formats::Fp8Format::e4m3);
        formats::quantize_fp8_rows(row.data(), &q.scales[nz], &q.data[nz * kz], 1, kz, formats::Fp8Format::e4m3,
                                   formats::Saturation::finite);
        break;
      case QuantFmt::int4: {
        const auto G = formats::int4_groups(kz, static_cast<std::size_t>(group));
        formats::quantize_int4(row.data(), &q.data[nz * formats::int4_row_bytes(kz)], &q.scales[nz * G], nullptr, 1,
                               kz, static_cast<std::size_t>(group), formats::Int4Mode::symmetric);
        break;
      }
    }
  }
  return q;
}

}  // namespace g4::cuda
