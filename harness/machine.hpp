#pragma once
// This machine: its ceilings measured at start-up in the same run (DESIGN.md section 6), and the
// provenance a report carries (section 7).
#include <string>

#include "harness/run_result.hpp"

namespace g4::harness {

// dgemm and sgemm (OpenBLAS), bf16 and int8 GEMM (optimized/cpu kernels), stream read bandwidth;
// each the median of a few repeats at a fixed shape. About 5-10 s.
MachineCeilings measure_ceilings();

Provenance collect_provenance(int argc, char** argv, std::uint64_t seed, const std::string& tolerance_file);

}  // namespace g4::harness
