// Simulator launchers of the quantised GEMMs (bodies: gemm_quant_launch.inl); their cublas
// backend's GEMMs are gemm_sim.cpp's (cublas_backend.hpp).
#include "optimized/cuda/launch/sim_launch.hpp"
#include "optimized/cuda/gemm_quant_launch.inl"
