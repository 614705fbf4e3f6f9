#include "reference/ops/matmul.hpp"

#include <atomic>

#include <cblas.h>

#include "reference/common/check.hpp"

namespace g4::ops {
namespace {
std::atomic<MatmulBody> g_body{MatmulBody::kBlas};
}

void set_matmul_body(MatmulBody body) { g_body = body; }
MatmulBody matmul_body() { return g_body; }

void matmul_naive(const double* x, const double* w, double* y, index_t T, index_t K, index_t N) {
  for (index_t t = 0; t < T; ++t) {
    for (index_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (index_t k = 0; k < K; ++k) acc += x[t * K + k] * w[n * K + k];
      y[t * N + n] = acc;
    }
  }
}

void matmul_blas(const double* x, const double* w, double* y, index_t T, index_t K, index_t N) {
  if (T == 0 || N == 0) return;
  if (K == 0) {
    for (index_t i = 0; i < T * N; ++i) y[i] = 0.0;
    return;
  }
  // Row-major: y[T,N] = x[T,K] · W[N,K]ᵀ.
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(T), static_cast<int>(N),
              static_cast<int>(K), 1.0, x, static_cast<int>(K), w, static_cast<int>(K), 0.0, y, static_cast<int>(N));
}

Mat linear(const Mat& x, const double* w, index_t N, index_t K) {
  G4_CHECK(cols(x) == K, ShapeError, "linear: input has {} columns but the weight is [{}, {}]", cols(x), N, K);
  Mat y = Mat::from_shape({static_cast<size_t>(rows(x)), static_cast<size_t>(N)});
  if (g_body == MatmulBody::kNaive) matmul_naive(x.data(), w, y.data(), rows(x), K, N);
  else matmul_blas(x.data(), w, y.data(), rows(x), K, N);
  return y;
}

Mat linear(const Mat& x, const Mat& w) { return linear(x, w.data(), rows(w), cols(w)); }

}  // namespace g4::ops
