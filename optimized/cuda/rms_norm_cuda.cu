// nvcc launchers of add_rms_norm / rope (bodies: rms_norm_launch.inl).
#include "optimized/cuda/launch/cuda_launch.cuh"
#include "optimized/cuda/rms_norm_launch.inl"
