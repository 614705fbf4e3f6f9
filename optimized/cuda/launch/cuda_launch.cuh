#pragma once
// Launch syntax of the nvcc launchers (*_cuda.cu): G4_LAUNCH(kernel, grid, block, smem,
// stream)(args...) is kernel<<<grid, block, smem, stream>>>(args...) followed by a check of
// cudaGetLastError (launch-configuration errors; asynchronous faults surface at the next sync).
#include <cuda_runtime.h>

#include "optimized/cuda/checks.hpp"

#define G4_LAUNCH(kernel, grid, block, smem, stream)                                          \
  [&](auto&&... args_) {                                                                      \
    kernel<<<grid, block, smem, static_cast<cudaStream_t>(stream)>>>(args_...);               \
    if (const cudaError_t e_ = cudaGetLastError(); e_ != cudaSuccess)                         \
      ::g4::cuda::detail::throw_cuda_error("launch of " #kernel, cudaGetErrorString(e_));     \
  }
