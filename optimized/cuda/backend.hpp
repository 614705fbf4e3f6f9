#pragma once
// Which of the two builds of the CUDA kernels a translation unit belongs to, as an inline
// namespace: g4::cuda::sim (g++ against the SIMT simulator, library gemma4_cuda_sim) or
// g4::cuda::gpu (nvcc, library gemma4_cuda). Code names g4::cuda::gemm_bf16 either way; the
// mangled names differ, so one program can link both builds (gemma4-harness: --executor
// cuda-sim and --executor cuda) without one build's kernels or launchers replacing the other's.
// nvcc translation units are the GPU build; a g++ translation unit of (or calling into) the GPU
// build defines G4_CUDA_GPU=1 (optimized/cuda/CMakeLists.txt sets it on gemma4_cuda's own g++
// sources; consumers set it themselves, so a target can hold both builds).
#if defined(G4_CUDA_GPU) || defined(__CUDACC__)
#define G4_CUDA_BACKEND gpu
#define G4_CUDA_BACKEND_IS_GPU 1
#else
#define G4_CUDA_BACKEND sim
#define G4_CUDA_BACKEND_IS_GPU 0
#endif
