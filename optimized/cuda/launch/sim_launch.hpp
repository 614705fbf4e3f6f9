#pragma once
// Launch syntax of the simulator launchers (*_sim.cpp): G4_LAUNCH(kernel, grid, block, smem,
// stream)(args...) runs the kernel to completion in the SIMT simulator (stream ignored).
#include "optimized/cuda/sim/cusim.h"

#define G4_LAUNCH(kernel, grid, block, smem, stream) \
  [&](auto&&... args_) { ::g4sim::launch_named(#kernel, grid, block, smem, kernel, args_...); }
