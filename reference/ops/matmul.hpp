#pragma once
// matmul: y = x · Wᵀ, the one matrix-product primitive of the reference.
//
//   x  row-major [T, K]      activations
//   W  row-major [N, K]      weights, stored [out, in] as transformers stores nn.Linear
//   y  row-major [T, N]      y[t, n] = Σ_k x[t, k] · W[n, k]
//
// Two bodies (conventions rule 2): `matmul_naive` is the definition (a triple loop, summing k in
// increasing order), `matmul_blas` is OpenBLAS dgemm (the speed). They are cross-checked in
// tests/reference/ops/test_matmul.cpp to a relative error of 1e-13; the bodies differ only in
// summation order, so their difference is bounded by K·u·Σ|x||W| (Higham, Accuracy and Stability
// of Numerical Algorithms, eq. 3.5), u = 2^-53.
// Upstream: torch.nn.functional.linear (no bias anywhere in the Gemma 4 text decoder).
#include "reference/common/tensor.hpp"

namespace g4::ops {

enum class MatmulBody { kNaive, kBlas };

void matmul_naive(const double* x, const double* w, double* y, index_t T, index_t K, index_t N);
void matmul_blas(const double* x, const double* w, double* y, index_t T, index_t K, index_t N);

// The body every reference op uses; kBlas unless a caller (a test, `verify --matmul naive`)
// asks for the definition.
void set_matmul_body(MatmulBody body);
MatmulBody matmul_body();

// y[T, N] = x[T, K] · W[N, K]ᵀ with the selected body. Throws ShapeError if K differs.
Mat linear(const Mat& x, const Mat& w);
// Same, W given as a raw row-major [N, K] block (an expert slice of a 3-D tensor).
Mat linear(const Mat& x, const double* w, index_t N, index_t K);

}  // namespace g4::ops
