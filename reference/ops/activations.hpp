#pragma once
// Element-wise functions of the text decoder.
//
//   gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))     transformers "gelu_pytorch_tanh"
//   softcap(z, c) = c·tanh(z / c)                                   final logits (c = 30)
// Upstream: transformers activations.py PytorchGELUTanh; Gemma4ForCausalLM.forward (softcap).
#include <cmath>

#include "reference/common/tensor.hpp"

namespace g4::ops {

inline double gelu_tanh(double x) {
  const double k = std::sqrt(2.0 / M_PI);
  return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
}

inline Mat gelu_tanh(const Mat& x) {
  Mat y = Mat::from_shape(x.shape());
  for (size_t i = 0; i < x.size(); ++i) y.data()[i] = gelu_tanh(x.data()[i]);
  return y;
}

inline double softcap(double z, double cap) { return cap * std::tanh(z / cap); }

inline Mat softcap(const Mat& x, double cap) {
  Mat y = Mat::from_shape(x.shape());
  for (size_t i = 0; i < x.size(); ++i) y.data()[i] = softcap(x.data()[i], cap);
  return y;
}

}  // namespace g4::ops
