// nvcc launchers of the quantised GEMMs (bodies: gemm_quant_launch.inl); their cublas backend's
// GEMMs (cublasGemmEx int8 -> int32, bf16 -> fp32) are gemm_cuda.cu's (cublas_backend.hpp).
#include "optimized/cuda/launch/cuda_launch.cuh"
#include "optimized/cuda/gemm_quant_launch.inl"
