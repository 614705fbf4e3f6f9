#pragma once
// Common prelude of every kernel header: the numeric types and the two shared-memory macros that
// differ between nvcc and the g++ simulator (sim/cusim.h, which a simulator TU includes first).
//
//   G4_DYNAMIC_SMEM(T, name)   T* name = the launch's dynamic shared memory (extern __shared__)
//   G4_SHARED(T, name, [dims]) a static shared array (the simulator poisons it per block)
//
// Kernel headers hold __global__/__device__ code only: no launch syntax, no raw inline PTX (the
// tensor-core wrappers in tensor_core.cuh are the one place with PTX), no __CUDA_ARCH__ tests.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "optimized/cuda/backend.hpp"

#if !defined(G4_CUDA_SIM)
#if !defined(__CUDACC__)
#error "include optimized/cuda/sim/cusim.h before the kernel headers in a g++ translation unit"
#endif
#define G4_DYNAMIC_SMEM(T, name)                                 \
  extern __shared__ __align__(16) unsigned char g4_dyn_smem_[]; \
  T* name = reinterpret_cast<T*>(g4_dyn_smem_)
#define G4_SHARED(T, name, dims) __shared__ T name dims
#endif

namespace g4::cuda::inline G4_CUDA_BACKEND {
constexpr unsigned kFullMask = 0xffffffffu;
}  // namespace g4::cuda
