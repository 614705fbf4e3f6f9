#pragma once
// The two compilations of harness/cuda_executor_impl.cpp (the simulator build and the GPU build
// of the kernels: optimized/cuda/backend.hpp); harness/cuda_executor.cpp picks one.
#include <memory>
#include <string>

#include "harness/cuda_executor.hpp"
#include "harness/run_result.hpp"
#include "optimized/cpu/policy.hpp"
#include "reference/text/executor.hpp"

namespace g4::harness {
namespace sim {
std::unique_ptr<text::Executor> make_executor(const cpu::Policy& policy, const CudaFaults& faults);
std::string device_description();
MachineCeilings device_ceilings();
}  // namespace sim
namespace gpu {
std::unique_ptr<text::Executor> make_executor(const cpu::Policy& policy, const CudaFaults& faults);
std::string device_description();
MachineCeilings device_ceilings();
}  // namespace gpu
}  // namespace g4::harness
