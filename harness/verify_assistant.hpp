#pragma once
// `gemma4-harness verify` on an assistant bundle (golden.h5 root attribute kind = "assistant", written
// by golden/exporter/export_assistant.py): the drafting loop of Gemma4AssistantForCausalLM from the
// target's recorded shared K/V, last hidden state and embedding table, every tap of every step
// compared (all elements), the drafted tokens exactly.
#include "harness/verify.hpp"

namespace g4::harness {

VerifyResult verify_assistant(const VerifyOptions& opt);

}  // namespace g4::harness
