// Precision policy presets (DESIGN.md section 4). See policy.hpp for what each field means.
#include "optimized/cpu/policy.hpp"

#include <string>
#include <vector>

#include "reference/common/check.hpp"

namespace g4::cpu {

const char* fmt_name(Fmt f) {
  switch (f) {
    case Fmt::kF32: return "f32";
    case Fmt::kBF16: return "bf16";
    case Fmt::kF16: return "f16";
    case Fmt::kFP8E4M3: return "fp8e4m3";
    case Fmt::kFP8E5M2: return "fp8e5m2";
    case Fmt::kInt8: return "int8";
    case Fmt::kInt4: return "int4";
  }
  return "?";
}

namespace {

Policy make(std::string name, Fmt weights, int group, Fmt gemm_in, Fmt storage, Fmt kv) {
  Policy p;
  p.name = std::move(name);
  p.weights = weights;
  p.weight_group = group;
  p.weight_asym = false;
  p.gemm_in = gemm_in;
  p.storage = storage;
  p.kv = kv;
  return p;
}

}  // namespace

std::vector<Policy> policy_presets() {
  using F = Fmt;
  return {
      // name          weights     group  gemm_in      storage  kv
      make("fp32",       F::kF32,     0,  F::kF32,     F::kF32,  F::kF32),
      make("bf16",       F::kBF16,    0,  F::kBF16,    F::kBF16, F::kBF16),
      make("fp16",       F::kF16,     0,  F::kF16,     F::kF16,  F::kF16),
      // fp8: weights per output channel (row of W) scale = amax / 448, activations per token
      // (row of A) dynamic scale = amax / 448, both saturating e4m3.
      make("fp8-e4m3",   F::kFP8E4M3, 0,  F::kFP8E4M3, F::kBF16, F::kBF16),
      // W8A8: int8 weights per channel, int8 activations per token (dynamic), int32 accumulation.
      make("int8",       F::kInt8,    0,  F::kInt8,    F::kBF16, F::kBF16),
      // W8A16: int8 weights per channel, bf16 activations.
      make("int8-w8a16", F::kInt8,    0,  F::kBF16,    F::kBF16, F::kBF16),
      // Weight-only int4, symmetric groups along K, bf16 activations.
      make("int4-g32",   F::kInt4,   32,  F::kBF16,    F::kBF16, F::kBF16),
      make("int4-g128",  F::kInt4,  128,  F::kBF16,    F::kBF16, F::kBF16),
  };
}

Policy policy_by_name(const std::string& name) {
  std::string names;
  for (const Policy& p : policy_presets()) {
    if (p.name == name) return p;
    names += names.empty() ? p.name : ", " + p.name;
  }
  throw ConfigError("unknown precision policy '" + name + "' (expected one of: " + names + ")");
}

}  // namespace g4::cpu
