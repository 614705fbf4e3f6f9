#pragma once
// Tensor aliases for the float64 reference (xtensor).
//
// The reference keeps every activation as a 2-D row-major matrix: [T, D] for the residual
// stream, [T, Nq*Dh] for per-head values (head-major columns, so it is bit-for-bit the layout
// of transformers' [B, S, Nq, Dh]). Weights are [out, in] matrices or [n] vectors.
#include <xtensor/xtensor.hpp>

#include "reference/common/dims.hpp"

namespace g4 {
using Mat = xt::xtensor<double, 2>;  // row-major [rows, cols]
using Vec = xt::xtensor<double, 1>;  // [n]
using IdMat = xt::xtensor<std::int64_t, 2>;  // row-major [B, S] token ids / masks

inline index_t rows(const Mat& m) { return static_cast<index_t>(m.shape(0)); }
inline index_t cols(const Mat& m) { return static_cast<index_t>(m.shape(1)); }
}  // namespace g4
