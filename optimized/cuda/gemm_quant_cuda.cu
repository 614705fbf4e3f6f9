// nvcc launchers of the quantised GEMMs (bodies: gemm_quant_launch.inl).
#include "optimized/cuda/launch/cuda_launch.cuh"
#include "optimized/cuda/gemm_quant_launch.inl"
