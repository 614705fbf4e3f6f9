#pragma once
// Tensor-core and async-copy wrappers: the ONLY place with inline PTX. Under nvcc each wrapper is
// the real instruction (sm_80+); in the simulator (G4_CUDA_SIM) it is an emulation with the PTX
// ISA's documented per-lane fragment layouts (sim/tensor_core_sim.hpp), so a kernel that puts a
// value in the wrong register or lane computes a wrong product in CI too.
//
// Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k16 / mma.m16n8k32"; lane 0..31,
// g = lane >> 2, t = lane & 3). Registers are 32-bit; 16-bit elements pack two per register
// (lower k in the low half), 8-bit elements four per register (lower k in the low byte).
//   m16n8k16 (bf16 / f16):  A 16x16 row-major, a[4]:  a[0] = (g,   2t..2t+1)  a[1] = (g+8, 2t..2t+1)
//                                                      a[2] = (g,   2t+8..+9)  a[3] = (g+8, 2t+8..+9)
//                           B 16x8 (k x n), b[2]:      b[0] = (k = 2t..2t+1, n = g)  b[1] = (k = 2t+8..+9, n = g)
//                           C/D 16x8 fp32, c[4]:       c[0..1] = (g, 2t..2t+1)  c[2..3] = (g+8, 2t..2t+1)
//   m16n8k32 (s8):          A a[4]: a[0] = (g, 4t..4t+3) a[1] = (g+8, 4t..) a[2] = (g, 16+4t..) a[3] = (g+8, 16+4t..)
//                           B b[2]: b[0] = (k = 4t..4t+3, n = g)  b[1] = (k = 16+4t..+3, n = g)
//                           C/D int32 as the fp32 C above.
//   ldmatrix.m8n8.x{1,2,4}[.trans].b16: lanes 8j..8j+7 give the row addresses (16-byte aligned,
//     shared memory) of 8x8 matrix j; every lane receives r[j] = row lane/4, columns 2(lane%4)
//     and 2(lane%4)+1 of matrix j (.trans: the transposed matrix, i.e. rows 2(lane%4), +1 of
//     column lane/4).
//   cp.async.cg 16 bytes global -> shared; commit_group closes a group; wait_group<N> waits until
//     at most N groups are pending. The simulator poisons the destination at issue and copies at
//     the wait, so reading before the wait (or without a barrier after it) shows up.
// Numerics: the products of the hardware are exact; its fp32 accumulation is not IEEE
// round-to-nearest (Fasi et al. 2021). The emulation sums the exact products and c in double and
// rounds once to fp32 ("perfect tensor core"); the int8 form is exact int32 arithmetic.
#include "optimized/cuda/kernels/common.cuh"

#if defined(G4_CUDA_SIM)
#include "optimized/cuda/sim/tensor_core_sim.hpp"
#endif

namespace g4::cuda::inline G4_CUDA_BACKEND::tc {

// Two 16-bit values into one register, `lo` in bits 0..15.
__device__ __forceinline__ uint32_t pack2(__nv_bfloat16 lo, __nv_bfloat16 hi) {
  return static_cast<uint32_t>(__bfloat16_as_ushort(lo)) | (static_cast<uint32_t>(__bfloat16_as_ushort(hi)) << 16);
}
__device__ __forceinline__ uint32_t pack2(__half lo, __half hi) {
  return static_cast<uint32_t>(__half_as_ushort(lo)) | (static_cast<uint32_t>(__half_as_ushort(hi)) << 16);
}
__device__ __forceinline__ uint32_t pack4(int8_t b0, int8_t b1, int8_t b2, int8_t b3) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b0)) | (static_cast<uint32_t>(static_cast<uint8_t>(b1)) << 8) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b2)) << 16) | (static_cast<uint32_t>(static_cast<uint8_t>(b3)) << 24);
}

#if !defined(G4_CUDA_SIM)

// D = A·B + C, m16n8k16, bf16 inputs, fp32 accumulate.
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                                                  const float (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
}

// D = A·B + C, m16n8k16, fp16 inputs, fp32 accumulate.
__device__ __forceinline__ void mma_m16n8k16_f16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                                                 const float (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
}

// D = A·B + C, m16n8k32, int8 inputs, int32 accumulate (wrapping, no .satfinite).
__device__ __forceinline__ void mma_m16n8k32_s8(int (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                                                const int (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(c[0]), "r"(c[1]), "r"(c[2]),
        "r"(c[3]));
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row)));
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t (&r)[2], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_addr(row)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row)));
}
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t (&r)[2], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_addr(row)));
}

// 16 bytes global -> shared, bypassing L1 (.cg). Both addresses 16-byte aligned.
__device__ __forceinline__ void cp_async_16(void* smem_dst, const void* gmem_src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(smem_dst)), "l"(gmem_src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

#else  // simulator bodies

using g4sim::tc::cp_async_16;
using g4sim::tc::cp_async_commit;
using g4sim::tc::cp_async_wait;
using g4sim::tc::ldmatrix_x2;
using g4sim::tc::ldmatrix_x2_trans;
using g4sim::tc::ldmatrix_x4;
using g4sim::tc::ldmatrix_x4_trans;
using g4sim::tc::mma_m16n8k16_bf16;
using g4sim::tc::mma_m16n8k16_f16;
using g4sim::tc::mma_m16n8k32_s8;

#endif

}  // namespace g4::cuda::tc
