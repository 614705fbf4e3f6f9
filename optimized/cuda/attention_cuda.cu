// nvcc launchers of attention (bodies: attention_launch.inl).
#include "optimized/cuda/launch/cuda_launch.cuh"
#include "optimized/cuda/attention_launch.inl"
