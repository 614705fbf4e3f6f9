// Simulator launchers of the graph's remaining nodes (bodies: graph_ops_launch.inl).
#include "optimized/cuda/launch/sim_launch.hpp"
#include "optimized/cuda/graph_ops_launch.inl"
