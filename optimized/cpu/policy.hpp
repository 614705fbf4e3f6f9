#pragma once
// Precision policies (DESIGN.md section 4): data, named. A policy says how each node of the graph
// is computed by the CPU executor:
//   weights   the format linear weights are stored in (quantised once per layer)
//   gemm_in   the format activations are converted to at a matmul's input (int8 / fp8: dynamic
//             per-token quantisation inside the GEMM)
//   storage   the format every activation is stored in between nodes (the executor rounds each
//             node's output to it)
//   kv        the format K and V are stored in for attention
// Accumulation is float32 everywhere (int32 for int8 × int8), and norms, softmax, softcap, the
// router and RoPE angles run in float32 on storage-format inputs ("wide" ops).
#include <string>
#include <vector>

namespace g4::cpu {

enum class Fmt { kF32, kBF16, kF16, kFP8E4M3, kFP8E5M2, kInt8, kInt4 };

struct Policy {
  std::string name;
  Fmt weights = Fmt::kF32;
  int weight_group = 0;       // int4: group size along K (32 or 128); 0 otherwise
  bool weight_asym = false;   // int4: asymmetric (zero point) groups
  Fmt gemm_in = Fmt::kF32;
  Fmt storage = Fmt::kF32;
  Fmt kv = Fmt::kF32;
};

const char* fmt_name(Fmt f);
// The presets: fp32, bf16, fp16, fp8-e4m3, int8 (W8A8), int8-w8a16, int4-g32, int4-g128.
std::vector<Policy> policy_presets();
Policy policy_by_name(const std::string& name);  // ConfigError naming the presets if unknown

}  // namespace g4::cpu
