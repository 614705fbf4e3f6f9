// nvcc launchers of the small kernels (bodies: elementwise_launch.inl).
#include "optimized/cuda/launch/cuda_launch.cuh"
#include "optimized/cuda/elementwise_launch.inl"
