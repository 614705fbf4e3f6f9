#define BOOST_TEST_MODULE test_fp16
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "optimized/formats/fp16.hpp"
#include "tests/optimized/formats/format_test_support.hpp"

using namespace g4::formats;
using namespace g4::formats::test;

namespace {

constexpr double kTrap = 1.0 + 0x1p-11 + 0x1p-40;  // above the fp16 tie 1 + 2^-11 by less than float's half ulp

static_assert(float_to_fp16(1.0f) == 0x3C00);
static_assert(float_to_fp16(65504.0f) == 0x7BFF);
static_assert(float_to_fp16(65520.0f) == 0x7C00);
static_assert(double_to_fp16(kTrap) == 0x3C01);
static_assert(float_to_fp16(static_cast<float>(kTrap)) == 0x3C00);
static_assert(fp16_to_double(0x0001) == 0x1p-24);

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_host, *boost::unit_test::precondition(cuda_headers_present))

// All 2^32 float32 bit patterns: 12-28 s measured on the 2-core VM, so the sweep is full.
BOOST_AUTO_TEST_CASE(float_to_fp16_every_float32_pattern) {
#if G4_HAVE_CUDA_NUMERIC_HEADERS
  const auto t0 = std::chrono::steady_clock::now();
  const SweepResult r = sweep(0, 1ull << 32, 1, [](uint64_t p) {
    const float x = bits_to_float(static_cast<uint32_t>(p));
    return float_to_fp16(x) != cuda_float_to_fp16(x);
  });
  BOOST_TEST_MESSAGE("float -> fp16, full 2^32 sweep vs __float2half_rn: "
                     << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
  BOOST_TEST(r.checked == (1ull << 32));
  BOOST_TEST(r.failed == 0u, describe(r));
#endif
}

BOOST_AUTO_TEST_CASE(fp16_to_float_every_pattern) {
#if G4_HAVE_CUDA_NUMERIC_HEADERS
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint32_t mine = std::bit_cast<uint32_t>(fp16_to_float(static_cast<uint16_t>(h)));
    const uint32_t cuda = std::bit_cast<uint32_t>(cuda_fp16_to_float(static_cast<uint16_t>(h)));
    BOOST_TEST(mine == cuda, "fp16 " << hex(h) << ": " << hex(mine) << " vs __half2float " << hex(cuda));
    const double d = fp16_to_double(static_cast<uint16_t>(h));
    if (std::isnan(d)) BOOST_TEST(std::isnan(cuda_fp16_to_float(static_cast<uint16_t>(h))));
    else BOOST_TEST(d == static_cast<double>(cuda_fp16_to_float(static_cast<uint16_t>(h))));
  }
#endif
}

// __double2half (host: pre-rounds to 11 bits in double, then converts) is a single rounding too.
BOOST_AUTO_TEST_CASE(double_to_fp16_boundaries_and_random) {
#if G4_HAVE_CUDA_NUMERIC_HEADERS
  const ReferenceFormat ref(kFp16Format);
  std::vector<double> xs = boundary_doubles(ref);
  const size_t n_boundary = xs.size();
  for (double d : random_doubles(2'000'000, -30, 17, 11)) xs.push_back(d);
  for (double d : random_doubles(200'000, -1022, 1023, 12)) xs.push_back(d);
  size_t bad = 0;
  for (double x : xs) {
    const uint16_t mine = double_to_fp16(x), cuda = cuda_double_to_fp16(x);
    if (mine != cuda && bad++ < 8) BOOST_ERROR("double " << x << ": " << hex(mine) << " vs " << hex(cuda));
  }
  BOOST_TEST_MESSAGE("double -> fp16 vs __double2half: " << n_boundary << " boundary + " << xs.size() - n_boundary
                                                         << " random doubles");
  BOOST_TEST(bad == 0u);
  BOOST_TEST(cuda_double_to_fp16(kTrap) == 0x3C01);
#endif
}

BOOST_AUTO_TEST_SUITE_END()

// Without CUDA too: every 251st float32 pattern and every float boundary point vs the reference.
BOOST_AUTO_TEST_CASE(float_to_fp16_vs_midpoint_reference) {
  const ReferenceFormat ref(kFp16Format);
  const SweepResult r = sweep(0, 1ull << 32, 251, [&](uint64_t p) {
    const float x = bits_to_float(static_cast<uint32_t>(p));
    return float_to_fp16(x) != ref.round(x, Saturation::none);
  });
  BOOST_TEST(r.failed == 0u, describe(r));
  for (double d : boundary_doubles(ref)) {
    const float x = static_cast<float>(d);
    if (static_cast<double>(x) == d || std::isnan(d))
      BOOST_TEST(float_to_fp16(x) == ref.round(x, Saturation::none), "float " << x);
  }
}

BOOST_AUTO_TEST_CASE(double_to_fp16_vs_midpoint_reference) {
  const ReferenceFormat ref(kFp16Format);
  std::vector<double> xs = boundary_doubles(ref);
  for (double d : random_doubles(2'000'000, -30, 17, 13)) xs.push_back(d);
  size_t bad = 0;
  for (double x : xs)
    if (double_to_fp16(x) != ref.round(x, Saturation::none) && bad++ < 8)
      BOOST_ERROR("double " << x << ": " << hex(double_to_fp16(x)) << " vs reference "
                            << hex(ref.round(x, Saturation::none)));
  BOOST_TEST(bad == 0u);
}

// 1 + 2^-11 + 2^-40 -> float gives the fp16 tie 1 + 2^-11 -> even 0x3C00; exact value -> 0x3C01.
BOOST_AUTO_TEST_CASE(double_rounding_through_float_differs) {
  BOOST_TEST(static_cast<double>(static_cast<float>(kTrap)) == 1.0 + 0x1p-11);
  BOOST_TEST(float_to_fp16(static_cast<float>(kTrap)) == 0x3C00);
  BOOST_TEST(double_to_fp16(kTrap) == 0x3C01);
  // In the subnormal range: min subnormal 2^-24; 2^-25 + 2^-60 is above the tie at 2^-25.
  const double tiny = 0x1p-25 + 0x1p-60;
  BOOST_TEST(float_to_fp16(static_cast<float>(tiny)) == 0x0000);
  BOOST_TEST(double_to_fp16(tiny) == 0x0001);
}

BOOST_AUTO_TEST_CASE(ties_to_even_and_boundaries) {
  BOOST_TEST(float_to_fp16(1.0f + 0x1p-11f) == 0x3C00);
  BOOST_TEST(float_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3C02);
  BOOST_TEST(float_to_fp16(-(1.0f + 3 * 0x1p-11f)) == 0xBC02);
  BOOST_TEST(float_to_fp16(std::nextafter(1.0f + 0x1p-11f, 2.0f)) == 0x3C01);
  // Subnormals: 2^-25 ties to 0, 3 * 2^-25 ties to 2 (even), min normal boundary.
  BOOST_TEST(float_to_fp16(0x1p-25f) == 0x0000);
  BOOST_TEST(float_to_fp16(3 * 0x1p-25f) == 0x0002);
  BOOST_TEST(float_to_fp16(std::nextafter(0x1p-25f, 1.0f)) == 0x0001);
  BOOST_TEST(float_to_fp16(0x1p-14f) == 0x0400);
  BOOST_TEST(float_to_fp16(0x1p-14f - 0x1p-25f) == 0x0400);  // tie between 0x03FF and 0x0400 -> even
  BOOST_TEST(fp16_to_float(0x03FF) == 0x1p-14f - 0x1p-24f);
  // Overflow: 65504 max; 65520 is the tie -> inf; just below -> max.
  BOOST_TEST(float_to_fp16(65519.996f) == 0x7BFF);
  BOOST_TEST(float_to_fp16(65520.0f) == 0x7C00);
  BOOST_TEST(float_to_fp16(-65520.0f) == 0xFC00);
  BOOST_TEST(double_to_fp16(std::nextafter(65520.0, 0.0)) == 0x7BFF);
  BOOST_TEST(double_to_fp16(65520.0) == 0x7C00);
  BOOST_TEST(double_to_fp16(1e300) == 0x7C00);
}

BOOST_AUTO_TEST_CASE(specials) {
  BOOST_TEST(float_to_fp16(std::numeric_limits<float>::infinity()) == 0x7C00);
  BOOST_TEST(float_to_fp16(-std::numeric_limits<float>::infinity()) == 0xFC00);
  BOOST_TEST(float_to_fp16(-0.0f) == 0x8000);
  for (uint32_t nan : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFFFFFFFFu})
    BOOST_TEST(float_to_fp16(bits_to_float(nan)) == 0x7FFF, hex(nan));
  BOOST_TEST(double_to_fp16(-std::numeric_limits<double>::quiet_NaN()) == 0x7FFF);
  BOOST_TEST(std::bit_cast<uint32_t>(fp16_to_float(0xFE01)) == 0x7FFFFFFFu);  // canonical NaN
  BOOST_TEST(std::isinf(fp16_to_double(0xFC00)));
  BOOST_TEST(fp16_to_double(0xFC00) < 0);
  BOOST_TEST(std::signbit(fp16_to_float(0x8000)));
}

BOOST_AUTO_TEST_CASE(array_forms) {
  const std::vector<float> xf = {1.0f, 1.0f + 0x1p-11f, -3.14159f, 0.0f, 70000.0f, 1e-8f};
  std::vector<uint16_t> q(xf.size());
  std::vector<float> yf(xf.size()), rt(xf);
  quantize_fp16(xf.data(), q.data(), xf.size());
  dequantize_fp16(q.data(), yf.data(), q.size());
  round_trip_fp16(rt.data(), rt.data(), rt.size());
  for (size_t i = 0; i < xf.size(); ++i) {
    BOOST_TEST(q[i] == float_to_fp16(xf[i]));
    BOOST_TEST((yf[i] == fp16_to_float(q[i])));
    BOOST_TEST((rt[i] == yf[i]));
  }
  BOOST_TEST(std::isinf(rt[4]));
  const std::vector<double> xd = {kTrap, -kTrap, 1e-9, 65519.0};
  std::vector<uint16_t> qd(xd.size());
  std::vector<double> yd(xd.size()), rtd(xd.size());
  quantize_fp16(xd.data(), qd.data(), xd.size());
  dequantize_fp16(qd.data(), yd.data(), qd.size());
  round_trip_fp16(xd.data(), rtd.data(), xd.size());
  for (size_t i = 0; i < xd.size(); ++i) {
    BOOST_TEST(qd[i] == double_to_fp16(xd[i]));
    BOOST_TEST(rtd[i] == yd[i]);
  }
  BOOST_TEST(rtd[0] == 1.0 + 0x1p-10);
  BOOST_TEST(rtd[3] == 65504.0);
}
