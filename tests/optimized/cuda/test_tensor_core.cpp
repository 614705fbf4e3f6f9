// Tensor-core wrappers in the simulator: mma.sync m16n8k16 (bf16, f16) and m16n8k32 (s8) with
// fragments loaded by plain register loads and by ldmatrix(.trans), against a CPU product, and
// cp.async staging. Inputs are small integers (|a|, |b| <= 8, 16 or 32 terms): every product and
// partial sum is exact in fp32, so the comparison is exact and any lane/register mix-up is a
// hard mismatch. A deliberately wrong fragment layout must be caught the same way, and reading
// cp.async data before its wait must show the poison.
#include "optimized/cuda/sim/cusim.h"

#define BOOST_TEST_MODULE test_cuda_tensor_core
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "tests/optimized/cuda/sim_check.hpp"
#include "tests/optimized/cuda/tc_test_kernels.cuh"

namespace {

using namespace g4::cuda::test;

template <class T>
T from_int(int v);
template <>
__nv_bfloat16 from_int<__nv_bfloat16>(int v) { return __float2bfloat16(float(v)); }
template <>
__half from_int<__half>(int v) { return __float2half(float(v)); }

struct Tile16 {
  std::vector<int> a, b, c;  // 16x16, 16x8, 16x8
};

Tile16 make_tile(int seed) {
  Tile16 t;
  for (int i = 0; i < 256; ++i) t.a.push_back((i * 7 + seed * 3) % 17 - 8);
  for (int i = 0; i < 128; ++i) t.b.push_back((i * 5 + seed) % 13 - 6);
  for (int i = 0; i < 128; ++i) t.c.push_back((i * 11) % 9 - 4);
  return t;
}

// Number of elements of D that differ from A·B + C (computed exactly in int).
template <class T, bool kF16>
int mma16_mismatches(int layout) {
  const Tile16 t = make_tile(layout + 1);
  std::vector<T> A, B;
  for (int v : t.a) A.push_back(from_int<T>(v));
  for (int v : t.b) B.push_back(from_int<T>(v));
  std::vector<float> C(t.c.begin(), t.c.end()), D(128, std::numeric_limits<float>::quiet_NaN());
  g4sim::launch(dim3(1), dim3(32), 0, mma16_tile<T, kF16>, A.data(), B.data(), C.data(), D.data(), layout);
  int bad = 0;
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n) {
      int want = t.c[r * 8 + n];
      for (int k = 0; k < 16; ++k) want += t.a[r * 16 + k] * t.b[k * 8 + n];
      bad += D[r * 8 + n] != float(want);
    }
  return bad;
}

int mma8_mismatches(int layout) {
  std::vector<int8_t> A(16 * 32), B(32 * 8);
  std::vector<int> C(128), D(128, INT32_MIN);
  for (int i = 0; i < 16 * 32; ++i) A[i] = static_cast<int8_t>((i * 37) % 255 - 127);  // full s8 range
  for (int i = 0; i < 32 * 8; ++i) B[i] = static_cast<int8_t>((i * 53) % 251 - 125);
  for (int i = 0; i < 128; ++i) C[i] = i * 1000 - 64000;
  g4sim::launch(dim3(1), dim3(32), 0, mma_s8_tile, A.data(), B.data(), C.data(), D.data(), layout);
  int bad = 0;
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n) {
      int want = C[r * 8 + n];
      for (int k = 0; k < 32; ++k) want += int(A[r * 32 + k]) * int(B[k * 8 + n]);
      bad += D[r * 8 + n] != want;
    }
  return bad;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_tensor_core_sim)

BOOST_AUTO_TEST_CASE(mma_bf16_register_and_ldmatrix_layouts_exact) {
  BOOST_TEST((mma16_mismatches<__nv_bfloat16, false>(0)) == 0);
  BOOST_TEST((mma16_mismatches<__nv_bfloat16, false>(1)) == 0);
}

BOOST_AUTO_TEST_CASE(mma_f16_register_and_ldmatrix_layouts_exact) {
  BOOST_TEST((mma16_mismatches<__half, true>(0)) == 0);
  BOOST_TEST((mma16_mismatches<__half, true>(1)) == 0);
}

BOOST_AUTO_TEST_CASE(mma_s8_exact) { BOOST_TEST(mma8_mismatches(0) == 0); }

BOOST_AUTO_TEST_CASE(wrong_fragment_layout_is_caught) {
  const int bf = mma16_mismatches<__nv_bfloat16, false>(2);
  const int s8 = mma8_mismatches(2);
  BOOST_TEST_MESSAGE("wrong layout: " << bf << " of 128 bf16 outputs and " << s8 << " of 128 s8 outputs differ");
  BOOST_TEST(bf > 0);
  BOOST_TEST(s8 > 0);
}

BOOST_AUTO_TEST_CASE(mma_rounds_once_to_fp32) {
  // 16 products of 1 + 2^-7 (exact in bf16) squared plus c = 2^24: the exact sum needs more than
  // 24 bits; the emulation rounds the exact value once (to nearest), never in between.
  std::vector<__nv_bfloat16> A(256, __float2bfloat16(1.0f + 0x1p-7f)), B(128, __float2bfloat16(1.0f + 0x1p-7f));
  std::vector<float> C(128, 0x1p24f), D(128);
  g4sim::launch(dim3(1), dim3(32), 0, mma16_tile<__nv_bfloat16, false>, A.data(), B.data(), C.data(), D.data(), 0);
  const double exact = 0x1p24 + 16.0 * (1.0 + 0x1p-7) * (1.0 + 0x1p-7);
  for (float d : D) BOOST_TEST(d == static_cast<float>(exact));
}

BOOST_AUTO_TEST_CASE(cp_async_read_before_wait_is_caught) {
  const int n = 256;
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) x[i] = float(i % 29);
  auto run = [&](bool wait_first) {
    return g4sim::test::check_schedules([&] {
      std::fill(y.begin(), y.end(), std::numeric_limits<float>::quiet_NaN());
      g4sim::launch(dim3(1), dim3(32), n * sizeof(float), cp_async_scale, x.data(), y.data(), n, wait_first);
      return g4sim::test::bytes_of(y);
    });
  };
  const std::string ok = run(true);
  BOOST_TEST(ok.empty(), ok);
  for (int i = 0; i < n; ++i) BOOST_TEST(y[i] == 2.0f * x[(i + 4) % n]);
  const std::string bad = run(false);
  BOOST_TEST_MESSAGE("read before wait: " << bad);
  BOOST_TEST(!bad.empty());
}

BOOST_AUTO_TEST_SUITE_END()
