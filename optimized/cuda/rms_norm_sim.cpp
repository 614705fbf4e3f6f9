// Simulator launchers of add_rms_norm / rope (bodies: rms_norm_launch.inl).
#include "optimized/cuda/launch/sim_launch.hpp"
#include "optimized/cuda/rms_norm_launch.inl"
