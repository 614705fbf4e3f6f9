#pragma once
// Device activation shared by the fused GEMM epilogue (gemm.cuh) and the element-wise GELU
// (graph_ops.cuh):
//   gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))   (reference/ops/activations.hpp),
//   evaluated as x / (1 + exp(−2z)), z = √(2/π)·(x + 0.044715·x³), like the CPU executor's
//   gelu_gate_mul (no cancellation in 1 + tanh z for z ≪ 0).
#include "optimized/cuda/kernels/common.cuh"

namespace g4::cuda::inline G4_CUDA_BACKEND {

__device__ __forceinline__ float gelu_tanh_f32(float x) {
  const float z = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.0f + expf(-2.0f * z));
}

}  // namespace g4::cuda
