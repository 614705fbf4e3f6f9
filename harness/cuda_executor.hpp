#pragma once
// The CUDA executor (issue #7): the text graph's nodes (and the vision tower's, and the audio
// tower's linears / norms / adds, which go through the same interface) computed by the CUDA
// kernels of optimized/cuda under a precision policy. One source (cuda_executor_impl.cpp),
// compiled twice against the two builds of the kernels (optimized/cuda/backend.hpp):
//   cuda-sim  the g++ launchers into the SIMT simulator (gemma4_cuda_sim): "device" buffers are
//             host memory poisoned with NaN; never timed (simulated time is not a measurement);
//   cuda      the nvcc launchers on the GPU (gemma4_cuda, built when nvcc is found): device-
//             resident buffers on one stream; each node's kernels timed with CUDA events after a
//             warm-up, the L2 flushed before every timed repeat (KernelTimed, harness/timing.hpp).
// Like the CPU executor (harness/cpu_executor.hpp), it adapts between the graph's float64
// matrices and the kernels' buffers: every input is converted to the policy's storage format on
// the host and copied to the device (the boundary, in no node's time), every kernel writes the
// storage format (rounded once, in the kernel), and outputs are copied back and widened exactly.
//
// Policies: fp32 (float32 storage, K and V; the SIMT fp32 GEMM), bf16 (bf16 storage, K and
// V, weights and GEMM inputs; the tensor-core GEMM with fp32 accumulation), the quantised
// ones with bf16 storage and KV — int8 (W8A8: mma.sync s8, per-token activation scales),
// int8-w8a16, int4-g32, int4-g128, fp8-e4m3 (weights decoded to bf16 in the GEMM's load path) —
// with the CPU executor's semantics: weights quantised as pack_weight does (quant_weight.hpp),
// activations quantised per token on the device from the stored bf16 values; their experts run
// per expert like fp32's, through the quantised GEMMs; and fp16 (fp16 storage, K and V, weights
// and GEMM inputs: the fp16 tensor-core GEMM; overflow beyond ±65504 is ±inf, as on the CPU).
//
// Node -> kernel: linear -> gemm_f32 / gemm_bf16 / gemm_f16 (tensor cores; K zero-padded to a multiple of
// 8, which adds exact zeros); rms_norm -> add_rms_norm (no residual); rope -> rope (float32
// cos/sin table over the distinct positions, cpu::rope_table_at); attention -> flash attention;
// gelu, add, mul, scale -> graph_ops kernels; softcap -> softcap; route -> route (float32 in every
// policy); experts -> bf16: moe_experts (plan, fused gated grouped GEMM, down GEMM, combine; D
// and Fe zero-padded to multiples of 8: the padded gate/up rows give gelu(0)·0 = 0 and the
// padded down columns multiply zeros, so the padding is exact) and the bf16 rounding of the
// float32 sum (to_16bit); fp32, fp16 and the quantised policies: per expert, the gate and up
// GEMMs, gelu_tanh, mul, (16-bit: the hidden stored by to_16bit), the down GEMM and axpy_rows
// into the float32 sum, experts in increasing index (the CPU executor's order); the gather of an
// expert's tokens is a host copy before the timed region (moe_experts gathers on the device).
#include <memory>
#include <string>
#include <vector>

#include "harness/run_result.hpp"
#include "optimized/cpu/policy.hpp"
#include "reference/text/executor.hpp"

namespace g4::harness {

// Deliberate kernel faults, for tests that the run's gate catches a broken kernel:
//   drop_softcap  the final-logit softcap launch is skipped (logits pass through uncapped);
//   widen_window  the attention kernel gets a mask allowing one key more on the old side of
//                 every query's window, among the keys some query sees (an off-by-one sliding
//                 window; causal full attention and padded keys are unchanged).
struct CudaFaults {
  bool drop_softcap = false;
  bool widen_window = false;
};

// Whether this build links the simulator (gemma4_cuda_sim: the CUDA Toolkit headers were found).
bool cuda_sim_built();
// Whether this build links the GPU kernels (gemma4_cuda: nvcc was found when configuring).
bool cuda_gpu_built();
// Whether the CUDA kernels implement a policy: all-fp32, all-bf16, all-fp16, or the quantised
// GEMMs' (weights, GEMM input) pairs with bf16 storage and KV (int4: symmetric, groups a
// multiple of 32).
bool cuda_supports(const cpu::Policy& policy);
// ConfigError naming the policy when the CUDA kernels do not implement it (or it is unknown).
void check_cuda_policy(const std::string& policy);
// The presets the CUDA kernels implement, in preset order (every preset).
std::vector<std::string> cuda_policies();
// The executor under test for `run --executor cuda-sim`. ConfigError when the simulator is not
// built in, or for a policy check_cuda_policy rejects.
std::unique_ptr<text::Executor> make_cuda_sim_executor(const std::string& policy, const CudaFaults& faults = {});

// `run --executor cuda`: the GPU's name, compute capability, SMs and memory, one line.
// ConfigError (one line) when the GPU executor is not built in or no CUDA device is usable.
std::string cuda_gpu_device();
// The GPU's own ceilings (cuBLAS GEMM rates, device-to-device copy bandwidth as
// stream_read_gbs), measured now, with `device` set to cuda_gpu_device().
MachineCeilings measure_gpu_ceilings();
// The executor under test for `run --executor cuda`; ConfigError as cuda_gpu_device().
std::unique_ptr<text::Executor> make_cuda_gpu_executor(const std::string& policy, const CudaFaults& faults = {});

}  // namespace g4::harness
