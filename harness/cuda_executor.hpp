#pragma once
// The CUDA executor (issue #7): the text graph's nodes computed by the CUDA kernels of
// optimized/cuda, launched through the g++ launchers into the SIMT simulator (gemma4_cuda_sim),
// under a precision policy. Like the CPU executor (harness/cpu_executor.hpp), it adapts between
// the graph's float64 matrices and the kernels' buffers: every input is converted to the
// policy's storage format, every kernel writes the storage format (rounded once, in the kernel).
//
// Policies: fp32 (float32 storage, K and V; the SIMT fp32 GEMM), bf16 (bf16 storage, K and
// V, weights and GEMM inputs; the tensor-core GEMM with fp32 accumulation), and the quantised
// ones with bf16 storage and KV — int8 (W8A8: mma.sync s8, per-token activation scales),
// int8-w8a16, int4-g32, int4-g128, fp8-e4m3 (weights decoded to bf16 in the GEMM's load path) —
// with the CPU executor's semantics: weights quantised as pack_weight does (quant_weight.hpp),
// activations quantised per token on the device from the stored bf16 values; their experts run
// per expert like fp32's, through the quantised GEMMs. The kernels have no fp16 storage, so fp16
// is a ConfigError naming the policy (check_cuda_policy).
//
// Node -> kernel: linear -> gemm_f32 / gemm_bf16 (tensor cores; K zero-padded to a multiple of
// 8, which adds exact zeros); rms_norm -> add_rms_norm (no residual); rope -> rope (float32
// cos/sin table over the distinct positions, cpu::rope_table_at); attention -> flash attention;
// gelu, add, mul, scale -> graph_ops kernels; softcap -> softcap; route -> route (float32 in every
// policy); experts -> bf16: moe_experts (plan, fused gated grouped GEMM, down GEMM, combine; D
// and Fe zero-padded to multiples of 8: the padded gate/up rows give gelu(0)·0 = 0 and the
// padded down columns multiply zeros, so the padding is exact), fp32: per expert gemm_f32 (gate,
// up), gelu_tanh, mul, gemm_f32 (down), axpy_rows (the token gather is a host copy).
//
// The simulator runs kernels on host memory, one block after another: its wall time is not a
// GPU's, so `run --executor cuda-sim` does not time nodes (harness/run_command.cpp).
#include <memory>
#include <string>
#include <vector>

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
// ConfigError naming the policy when the CUDA kernels do not implement it (or it is unknown).
void check_cuda_policy(const std::string& policy);
// The presets the CUDA kernels implement, in preset order (every preset but fp16).
std::vector<std::string> cuda_policies();
// The executor under test for `run --executor cuda-sim`. ConfigError when the simulator is not
// built in, or for a policy check_cuda_policy rejects.
std::unique_ptr<text::Executor> make_cuda_sim_executor(const std::string& policy, const CudaFaults& faults = {});

}  // namespace g4::harness
