// Simulator launchers of the quantised GEMMs (bodies: gemm_quant_launch.inl).
#include "optimized/cuda/launch/sim_launch.hpp"
#include "optimized/cuda/gemm_quant_launch.inl"
