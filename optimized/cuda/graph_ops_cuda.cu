// nvcc launchers of the graph's remaining nodes (bodies: graph_ops_launch.inl).
#include "optimized/cuda/launch/cuda_launch.cuh"
#include "optimized/cuda/graph_ops_launch.inl"
