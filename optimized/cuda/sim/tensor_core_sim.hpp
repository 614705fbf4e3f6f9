#pragma once
// Simulator bodies of the tensor-core wrappers (kernels/tensor_core.cuh holds the layouts and the
// PTX). mma and ldmatrix are warp collectives over all 32 lanes: each lane contributes its
// registers (or row address); at release every lane's result is assembled from the other lanes'
// contributions using the fragment layouts, so the data movement between lanes is the hardware's.
#include <array>
#include <cstdint>
#include <cstring>
#include <source_location>

#include "optimized/cuda/sim/runtime.hpp"

namespace g4sim::tc {

namespace detail_tc {

inline double bf16_bits_to_double(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline double f16_bits_to_double(uint16_t h) {
  __half_raw r;
  r.x = h;
  return static_cast<double>(__half2float(__half(r)));
}
inline uint16_t half_of(uint32_t reg, int which) { return static_cast<uint16_t>(which ? reg >> 16 : reg & 0xffffu); }
inline int8_t byte_of(uint32_t reg, int which) { return static_cast<int8_t>(static_cast<uint8_t>(reg >> (8 * which))); }

struct MmaIn16 {
  uint32_t a[4], b[2];
};

// Element (row, k) of the 16x16 A tile and (k, n) of the 16x8 B tile, fetched from the lane and
// register the m16n8k16 layout assigns them to (tensor_core.cuh).
inline uint16_t a16(const void* const* lanes, int row, int k) {
  const auto* in = static_cast<const MmaIn16*>(lanes[4 * (row % 8) + (k % 8) / 2]);
  return half_of(in->a[(row >= 8) + 2 * (k >= 8)], k % 2);
}
inline uint16_t b16(const void* const* lanes, int k, int n) {
  const auto* in = static_cast<const MmaIn16*>(lanes[4 * n + (k % 8) / 2]);
  return half_of(in->b[k >= 8], k % 2);
}
// Same for m16n8k32 with 8-bit elements.
inline int8_t a8(const void* const* lanes, int row, int k) {
  const auto* in = static_cast<const MmaIn16*>(lanes[4 * (row % 8) + (k % 16) / 4]);
  return byte_of(in->a[(row >= 8) + 2 * (k >= 16)], k % 4);
}
inline int8_t b8(const void* const* lanes, int k, int n) {
  const auto* in = static_cast<const MmaIn16*>(lanes[4 * n + (k % 16) / 4]);
  return byte_of(in->b[k >= 16], k % 4);
}
// Output element i of this lane: (row, col) in the 16x8 C tile.
inline int c_row(unsigned lane, int i) { return static_cast<int>(lane >> 2) + 8 * (i >= 2); }
inline int c_col(unsigned lane, int i) { return 2 * static_cast<int>(lane & 3u) + (i & 1); }

template <double (*Widen)(uint16_t)>
void mma16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4],
           const std::source_location& loc) {
  MmaIn16 mine{{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
  const std::array<float, 4> cc{c[0], c[1], c[2], c[3]};
  const auto r = ::g4sim::detail::warp_op<std::array<float, 4>>(
      0xffffffffu, &mine, loc, [&](unsigned lane, const void* const* lanes) {
        std::array<float, 4> out{};
        for (int i = 0; i < 4; ++i) {
          const int row = c_row(lane, i), col = c_col(lane, i);
          double acc = cc[i];
          for (int k = 0; k < 16; ++k) acc += Widen(a16(lanes, row, k)) * Widen(b16(lanes, k, col));
          out[i] = static_cast<float>(acc);
        }
        return out;
      });
  for (int i = 0; i < 4; ++i) d[i] = r[i];
}

}  // namespace detail_tc

inline void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4],
                              std::source_location loc = std::source_location::current()) {
  detail_tc::mma16<detail_tc::bf16_bits_to_double>(d, a, b, c, loc);
}
inline void mma_m16n8k16_f16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4],
                             std::source_location loc = std::source_location::current()) {
  detail_tc::mma16<detail_tc::f16_bits_to_double>(d, a, b, c, loc);
}
inline void mma_m16n8k32_s8(int (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const int (&c)[4],
                            std::source_location loc = std::source_location::current()) {
  detail_tc::MmaIn16 mine{{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
  const std::array<int, 4> cc{c[0], c[1], c[2], c[3]};
  const auto r = ::g4sim::detail::warp_op<std::array<int, 4>>(
      0xffffffffu, &mine, loc, [&](unsigned lane, const void* const* lanes) {
        std::array<int, 4> out{};
        for (int i = 0; i < 4; ++i) {
          const int row = detail_tc::c_row(lane, i), col = detail_tc::c_col(lane, i);
          uint32_t acc = static_cast<uint32_t>(cc[i]);  // s32 accumulate wraps (two's complement)
          for (int k = 0; k < 32; ++k)
            acc += static_cast<uint32_t>(int(detail_tc::a8(lanes, row, k)) * int(detail_tc::b8(lanes, k, col)));
          out[i] = static_cast<int>(acc);
        }
        return out;
      });
  for (int i = 0; i < 4; ++i) d[i] = r[i];
}

namespace detail_tc {
// ldmatrix with `count` 8x8 matrices: lanes 8j..8j+7 hold the row addresses of matrix j.
template <int count>
std::array<uint32_t, count> ldmatrix(const void* row, bool trans, const std::source_location& loc) {
  if (reinterpret_cast<std::uintptr_t>(row) % 16 != 0 && ::g4sim::detail::tl_thread->lane < 8 * count)
    ::g4sim::detail::kernel_fault(::g4sim::detail::site_of(loc), "ldmatrix row address is not 16-byte aligned");
  return ::g4sim::detail::warp_op<std::array<uint32_t, count>>(
      0xffffffffu, &row, loc, [&](unsigned lane, const void* const* lanes) {
        auto row_ptr = [&](int m, int r) {
          return *static_cast<const unsigned char* const*>(lanes[8 * m + r]);
        };
        std::array<uint32_t, count> out{};
        for (int m = 0; m < count; ++m) {
          uint16_t lo, hi;
          if (!trans) {
            const unsigned char* p = row_ptr(m, static_cast<int>(lane / 4)) + 4 * (lane % 4);
            std::memcpy(&lo, p, 2);
            std::memcpy(&hi, p + 2, 2);
          } else {
            const int col = static_cast<int>(lane / 4);
            std::memcpy(&lo, row_ptr(m, 2 * static_cast<int>(lane % 4)) + 2 * col, 2);
            std::memcpy(&hi, row_ptr(m, 2 * static_cast<int>(lane % 4) + 1) + 2 * col, 2);
          }
          out[m] = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
        }
        return out;
      });
}
}  // namespace detail_tc

inline void ldmatrix_x4(uint32_t (&r)[4], const void* row, std::source_location loc = std::source_location::current()) {
  const auto v = detail_tc::ldmatrix<4>(row, false, loc);
  for (int i = 0; i < 4; ++i) r[i] = v[i];
}
inline void ldmatrix_x2(uint32_t (&r)[2], const void* row, std::source_location loc = std::source_location::current()) {
  const auto v = detail_tc::ldmatrix<2>(row, false, loc);
  for (int i = 0; i < 2; ++i) r[i] = v[i];
}
inline void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row,
                              std::source_location loc = std::source_location::current()) {
  const auto v = detail_tc::ldmatrix<4>(row, true, loc);
  for (int i = 0; i < 4; ++i) r[i] = v[i];
}
inline void ldmatrix_x2_trans(uint32_t (&r)[2], const void* row,
                              std::source_location loc = std::source_location::current()) {
  const auto v = detail_tc::ldmatrix<2>(row, true, loc);
  for (int i = 0; i < 2; ++i) r[i] = v[i];
}

// cp.async: poison the destination now, copy at the wait (see tensor_core.cuh).
inline void cp_async_16(void* smem_dst, const void* gmem_src,
                        std::source_location loc = std::source_location::current()) {
  if (reinterpret_cast<std::uintptr_t>(smem_dst) % 16 || reinterpret_cast<std::uintptr_t>(gmem_src) % 16)
    ::g4sim::detail::kernel_fault(::g4sim::detail::site_of(loc), "cp.async 16-byte copy with a misaligned address");
  auto* t = ::g4sim::detail::tl_thread;
  std::memset(smem_dst, 0xFF, 16);
  t->cp_pending.push_back({smem_dst, gmem_src, 16u, ::g4sim::detail::ThreadCtx::kUncommitted});
}
inline void cp_async_commit() {
  auto* t = ::g4sim::detail::tl_thread;
  for (auto& c : t->cp_pending)
    if (c.group == ::g4sim::detail::ThreadCtx::kUncommitted) c.group = t->cp_committed;
  ++t->cp_committed;
}
template <int N>
void cp_async_wait() {
  auto* t = ::g4sim::detail::tl_thread;
  // Groups numbered < committed - N are complete after the wait.
  const unsigned done_below = t->cp_committed >= static_cast<unsigned>(N) ? t->cp_committed - N : 0;
  auto& q = t->cp_pending;
  std::size_t keep = 0;
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (q[i].group != ::g4sim::detail::ThreadCtx::kUncommitted && q[i].group < done_below)
      std::memcpy(q[i].dst, q[i].src, q[i].bytes);
    else
      q[keep++] = q[i];
  }
  q.resize(keep);
}

}  // namespace g4sim::tc
