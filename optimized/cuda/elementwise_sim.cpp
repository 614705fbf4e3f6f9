// Simulator launchers of the small kernels (bodies: elementwise_launch.inl).
#include "optimized/cuda/launch/sim_launch.hpp"
#include "optimized/cuda/elementwise_launch.inl"
