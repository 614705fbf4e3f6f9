#include "harness/cuda_executor.hpp"

#include <fmt/format.h>

#include "harness/cuda_executor_backends.hpp"
#include "optimized/cpu/policy.hpp"
#include "reference/common/check.hpp"

namespace g4::harness {

namespace {
// The quantised GEMMs of optimized/cuda (gemm_w8a8, gemm_dequant) cover these (weights, GEMM
// input) pairs, all with bf16 storage and KV; int4 symmetric with groups a multiple of 32.
bool cuda_quant_gemm(const cpu::Policy& p) {
  using F = cpu::Fmt;
  const bool pair = (p.weights == F::kInt8 && (p.gemm_in == F::kInt8 || p.gemm_in == F::kBF16)) ||
                    (p.weights == F::kInt4 && p.gemm_in == F::kBF16 && !p.weight_asym && p.weight_group > 0 &&
                     p.weight_group % 32 == 0) ||
                    (p.weights == F::kFP8E4M3 && p.gemm_in == F::kFP8E4M3);
  return pair && p.storage == F::kBF16 && p.kv == F::kBF16;
}
}  // namespace

bool cuda_supports(const cpu::Policy& p) {
  const auto all = [&p](cpu::Fmt f) { return p.weights == f && p.gemm_in == f && p.storage == f && p.kv == f; };
  return all(cpu::Fmt::kF32) || all(cpu::Fmt::kBF16) || all(cpu::Fmt::kF16) || cuda_quant_gemm(p);
}

void check_cuda_policy(const std::string& name) {
  const cpu::Policy p = cpu::policy_by_name(name);  // ConfigError for an unknown name
  G4_CHECK(cuda_supports(p), ConfigError,
           "policy '{}' (weights {}, GEMM inputs {}, storage {}, KV {}): the CUDA executor has no kernels for it; "
           "supported: fp32, bf16, fp16, fp8-e4m3, int8, int8-w8a16, int4-g32, int4-g128",
           name, cpu::fmt_name(p.weights), cpu::fmt_name(p.gemm_in), cpu::fmt_name(p.storage), cpu::fmt_name(p.kv));
}

std::vector<std::string> cuda_policies() {
  std::vector<std::string> names;
  for (const cpu::Policy& p : cpu::policy_presets())
    if (cuda_supports(p)) names.push_back(p.name);
  return names;
}

#ifdef GEMMA4_HAVE_CUDA_SIM
bool cuda_sim_built() { return true; }
std::unique_ptr<text::Executor> make_cuda_sim_executor(const std::string& policy, const CudaFaults& faults) {
  check_cuda_policy(policy);
  return sim::make_executor(cpu::policy_by_name(policy), faults);
}
#else
bool cuda_sim_built() { return false; }
std::unique_ptr<text::Executor> make_cuda_sim_executor(const std::string&, const CudaFaults&) {
  throw ConfigError(
      "--executor cuda-sim: this build has no CUDA simulator (the CUDA Toolkit headers were not found when "
      "configuring: optimized/cuda/CMakeLists.txt)");
}
#endif

#ifdef GEMMA4_HAVE_CUDA_GPU
bool cuda_gpu_built() { return true; }
std::string cuda_gpu_device() {
  try {
    return gpu::device_description();
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("--executor cuda: {}", e.what()));
  }
}
MachineCeilings measure_gpu_ceilings() { return gpu::device_ceilings(); }
std::unique_ptr<text::Executor> make_cuda_gpu_executor(const std::string& policy, const CudaFaults& faults) {
  check_cuda_policy(policy);
  cuda_gpu_device();  // one line when there is no usable device
  return gpu::make_executor(cpu::policy_by_name(policy), faults);
}
#else
bool cuda_gpu_built() { return false; }
namespace {
[[noreturn]] void no_gpu_build() {
  throw ConfigError(
      "--executor cuda: this build has no GPU executor (nvcc was not found, or GEMMA4_CUDA_NVCC was OFF, when "
      "configuring: optimized/cuda/CMakeLists.txt)");
}
}  // namespace
std::string cuda_gpu_device() { no_gpu_build(); }
MachineCeilings measure_gpu_ceilings() { no_gpu_build(); }
std::unique_ptr<text::Executor> make_cuda_gpu_executor(const std::string&, const CudaFaults&) { no_gpu_build(); }
#endif

}  // namespace g4::harness
