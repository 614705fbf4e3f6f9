// Simulator launchers of attention (bodies: attention_launch.inl).
#include "optimized/cuda/launch/sim_launch.hpp"
#include "optimized/cuda/attention_launch.inl"
