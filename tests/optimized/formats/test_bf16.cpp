#define BOOST_TEST_MODULE test_bf16
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "optimized/formats/bf16.hpp"
#include "tests/optimized/formats/format_test_support.hpp"

using namespace g4::formats;
using namespace g4::formats::test;

namespace {

constexpr double kTrap = 1.0 + 0x1p-8 + 0x1p-30;  // above the bf16 tie 1 + 2^-8 by less than float's half ulp

// Compile-time facts (the scalar conversions are constexpr).
static_assert(float_to_bf16(1.0f) == 0x3F80);
static_assert(float_to_bf16(1.0f + 0x1p-8f) == 0x3F80);        // tie, even stays
static_assert(float_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82);    // tie, odd rounds up
static_assert(double_to_bf16(kTrap) == 0x3F81);                // single rounding
static_assert(float_to_bf16(static_cast<float>(kTrap)) == 0x3F80);  // double rounding through float
static_assert(bf16_to_float(0x3F81) == 1.0078125f);

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_host, *boost::unit_test::precondition(cuda_headers_present))

// All 2^32 float32 bit patterns: 4-15 s measured on the 2-core VM (well under 60 s), so the sweep is full.
BOOST_AUTO_TEST_CASE(float_to_bf16_every_float32_pattern) {
#if G4_HAVE_CUDA_NUMERIC_HEADERS
  const auto t0 = std::chrono::steady_clock::now();
  const SweepResult r = sweep(0, 1ull << 32, 1, [](uint64_t p) {
    const float x = bits_to_float(static_cast<uint32_t>(p));
    return float_to_bf16(x) != cuda_float_to_bf16(x);
  });
  BOOST_TEST_MESSAGE("float -> bf16, full 2^32 sweep vs __float2bfloat16: "
                     << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
  BOOST_TEST(r.checked == (1ull << 32));
  BOOST_TEST(r.failed == 0u, describe(r));
#endif
}

BOOST_AUTO_TEST_CASE(bf16_to_float_every_pattern) {
#if G4_HAVE_CUDA_NUMERIC_HEADERS
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const uint32_t mine = std::bit_cast<uint32_t>(bf16_to_float(static_cast<uint16_t>(b)));
    const uint32_t cuda = std::bit_cast<uint32_t>(cuda_bf16_to_float(static_cast<uint16_t>(b)));
    BOOST_TEST(mine == cuda, "bf16 " << hex(b) << ": " << hex(mine) << " vs __bfloat162float " << hex(cuda));
    if (!std::isnan(bf16_to_float(static_cast<uint16_t>(b))))
      BOOST_TEST(bf16_to_double(static_cast<uint16_t>(b)) == static_cast<double>(cuda_bf16_to_float(static_cast<uint16_t>(b))));
  }
#endif
}

// __double2bfloat16 (host: round-to-odd to float, then RNE) is a single rounding too.
BOOST_AUTO_TEST_CASE(double_to_bf16_boundaries_and_random) {
#if G4_HAVE_CUDA_NUMERIC_HEADERS
  const ReferenceFormat ref(kBf16Format);
  std::vector<double> xs = boundary_doubles(ref);
  const size_t n_boundary = xs.size();
  for (double d : random_doubles(2'000'000, -140, 130, 1)) xs.push_back(d);
  for (double d : random_doubles(200'000, -1022, 1023, 2)) xs.push_back(d);
  size_t bad = 0;
  for (double x : xs) {
    const uint16_t mine = double_to_bf16(x), cuda = cuda_double_to_bf16(x);
    if (mine != cuda && bad++ < 8) BOOST_ERROR("double " << x << ": " << hex(mine) << " vs " << hex(cuda));
  }
  BOOST_TEST_MESSAGE("double -> bf16 vs __double2bfloat16: " << n_boundary << " boundary + " << xs.size() - n_boundary
                                                             << " random doubles");
  BOOST_TEST(bad == 0u);
  BOOST_TEST(cuda_double_to_bf16(kTrap) == 0x3F81);  // CUDA agrees the trap rounds up
#endif
}

BOOST_AUTO_TEST_SUITE_END()

// Without CUDA too: the float path against the midpoint reference on a strided sample of all
// float32 patterns (every 251st, about 17 million) plus every boundary point that is a float.
BOOST_AUTO_TEST_CASE(float_to_bf16_vs_midpoint_reference) {
  const ReferenceFormat ref(kBf16Format);
  const SweepResult r = sweep(0, 1ull << 32, 251, [&](uint64_t p) {
    const float x = bits_to_float(static_cast<uint32_t>(p));
    return float_to_bf16(x) != ref.round(x, Saturation::none);
  });
  BOOST_TEST(r.failed == 0u, describe(r));
  size_t checked = 0;
  for (double d : boundary_doubles(ref)) {
    const float x = static_cast<float>(d);
    if (static_cast<double>(x) != d) continue;
    ++checked;
    BOOST_TEST(float_to_bf16(x) == ref.round(x, Saturation::none), "float " << x);
  }
  BOOST_TEST(checked > 100000u);
}

BOOST_AUTO_TEST_CASE(double_to_bf16_vs_midpoint_reference) {
  const ReferenceFormat ref(kBf16Format);
  std::vector<double> xs = boundary_doubles(ref);
  for (double d : random_doubles(2'000'000, -140, 130, 3)) xs.push_back(d);
  size_t bad = 0;
  for (double x : xs)
    if (double_to_bf16(x) != ref.round(x, Saturation::none) && bad++ < 8)
      BOOST_ERROR("double " << x << ": " << hex(double_to_bf16(x)) << " vs reference "
                            << hex(ref.round(x, Saturation::none)));
  BOOST_TEST(bad == 0u);
}

// Rounding a double through float first rounds twice. 1 + 2^-8 + 2^-30 becomes the float
// 1 + 2^-8, exactly halfway between bf16 1.0 (0x3F80) and 1.0078125 (0x3F81), and the tie goes to
// even 0x3F80; the exact value is above the tie, so the correct bf16 is 0x3F81.
BOOST_AUTO_TEST_CASE(double_rounding_through_float_differs) {
  const ReferenceFormat ref(kBf16Format);
  BOOST_TEST(static_cast<double>(static_cast<float>(kTrap)) == 1.0 + 0x1p-8);
  BOOST_TEST(float_to_bf16(static_cast<float>(kTrap)) == 0x3F80);
  BOOST_TEST(double_to_bf16(kTrap) == 0x3F81);
  BOOST_TEST(ref.round(kTrap, Saturation::none) == 0x3F81u);
  BOOST_TEST(double_to_bf16(-kTrap) == 0xBF81);
  // Mirror case just below a tie: 1 + 3*2^-8 - 2^-30 goes through float to the tie 1 + 3*2^-8,
  // which rounds up to even 0x3F82; the exact value is below the tie: 0x3F81.
  const double below = 1.0 + 3 * 0x1p-8 - 0x1p-30;
  BOOST_TEST(float_to_bf16(static_cast<float>(below)) == 0x3F82);
  BOOST_TEST(double_to_bf16(below) == 0x3F81);
  // How often it happens on the boundary set (each midpoint +- 2^-30 relative is such a case).
  size_t differ = 0, total = 0;
  for (double x : boundary_doubles(ref)) {
    if (std::isnan(x)) continue;
    ++total;
    differ += double_to_bf16(x) != float_to_bf16(static_cast<float>(x));
  }
  BOOST_TEST_MESSAGE("double -> float -> bf16 differs from double -> bf16 on " << differ << " of " << total
                                                                              << " boundary doubles");
  BOOST_TEST(differ > 0u);
}

BOOST_AUTO_TEST_CASE(ties_to_even_and_boundaries) {
  // Normal range ties: 1 + 2^-8 is halfway between 0x3F80 and 0x3F81.
  BOOST_TEST(float_to_bf16(1.0f + 0x1p-8f) == 0x3F80);
  BOOST_TEST(float_to_bf16(std::nextafter(1.0f + 0x1p-8f, 2.0f)) == 0x3F81);
  BOOST_TEST(float_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82);
  BOOST_TEST(float_to_bf16(-(1.0f + 3 * 0x1p-8f)) == 0xBF82);
  BOOST_TEST(double_to_bf16(1.0 + 0x1p-8) == 0x3F80);
  BOOST_TEST(double_to_bf16(std::nextafter(1.0 + 0x1p-8, 2.0)) == 0x3F81);
  // Subnormals (min subnormal 2^-133): half of it ties to 0, 1.5x ties up to 2 (even).
  BOOST_TEST(float_to_bf16(0x1p-134f) == 0x0000);
  BOOST_TEST(float_to_bf16(std::nextafter(0x1p-134f, 1.0f)) == 0x0001);
  BOOST_TEST(float_to_bf16(3 * 0x1p-134f) == 0x0002);
  BOOST_TEST(float_to_bf16(-0x1p-134f) == 0x8000);
  BOOST_TEST(double_to_bf16(0x1p-134) == 0x0000);
  BOOST_TEST(double_to_bf16(std::nextafter(0x1p-134, 1.0)) == 0x0001);
  BOOST_TEST(double_to_bf16(0x1p-300) == 0x0000);
  BOOST_TEST(bf16_to_double(0x0001) == 0x1p-133);
  // Overflow: max finite 0x7F7F = 0x1.FEp127; the tie 0x1.FFp127 goes to even = inf.
  BOOST_TEST(bf16_to_float(0x7F7F) == 0x1.FEp127f);
  BOOST_TEST(float_to_bf16(0x1.FFp127f) == 0x7F80);
  BOOST_TEST(float_to_bf16(std::nextafter(0x1.FFp127f, 0.0f)) == 0x7F7F);
  BOOST_TEST(float_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);
  BOOST_TEST(double_to_bf16(0x1.FFp127) == 0x7F80);
  BOOST_TEST(double_to_bf16(std::nextafter(0x1.FFp127, 0.0)) == 0x7F7F);
  BOOST_TEST(double_to_bf16(1e300) == 0x7F80);
  BOOST_TEST(double_to_bf16(-1e300) == 0xFF80);
}

BOOST_AUTO_TEST_CASE(specials) {
  const float inf = std::numeric_limits<float>::infinity();
  BOOST_TEST(float_to_bf16(inf) == 0x7F80);
  BOOST_TEST(float_to_bf16(-inf) == 0xFF80);
  BOOST_TEST(float_to_bf16(0.0f) == 0x0000);
  BOOST_TEST(float_to_bf16(-0.0f) == 0x8000);
  // Every NaN (quiet, signalling, negative, any payload) -> canonical 0x7FFF.
  for (uint32_t nan : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFF800001u, 0x7FFFFFFFu, 0x7F810000u})
    BOOST_TEST(float_to_bf16(bits_to_float(nan)) == 0x7FFF, hex(nan));
  BOOST_TEST(double_to_bf16(std::numeric_limits<double>::quiet_NaN()) == 0x7FFF);
  BOOST_TEST(double_to_bf16(-std::numeric_limits<double>::signaling_NaN()) == 0x7FFF);
  BOOST_TEST(double_to_bf16(std::numeric_limits<double>::infinity()) == 0x7F80);
  BOOST_TEST(std::isinf(bf16_to_double(0xFF80)));
  BOOST_TEST(std::isnan(bf16_to_double(0x7FC0)));
  BOOST_TEST(std::signbit(bf16_to_double(0x8000)));
}

BOOST_AUTO_TEST_CASE(array_forms) {
  const std::vector<float> xf = {1.0f, 1.0f + 0x1p-8f, -3.14159f, 0.0f, 65504.0f, 1e-40f};
  std::vector<uint16_t> q(xf.size());
  quantize_bf16(xf.data(), q.data(), xf.size());
  std::vector<float> yf(xf.size()), rt(xf);
  dequantize_bf16(q.data(), yf.data(), q.size());
  round_trip_bf16(rt.data(), rt.data(), rt.size());  // in place
  for (size_t i = 0; i < xf.size(); ++i) {
    BOOST_TEST(q[i] == float_to_bf16(xf[i]));
    BOOST_TEST(yf[i] == bf16_to_float(q[i]));
    BOOST_TEST(rt[i] == yf[i]);
  }
  const std::vector<double> xd = {kTrap, -kTrap, 1e-45, 3.0e38, -0.0};
  std::vector<uint16_t> qd(xd.size());
  std::vector<double> yd(xd.size()), rtd(xd.size());
  quantize_bf16(xd.data(), qd.data(), xd.size());
  dequantize_bf16(qd.data(), yd.data(), qd.size());
  round_trip_bf16(xd.data(), rtd.data(), xd.size());
  for (size_t i = 0; i < xd.size(); ++i) {
    BOOST_TEST(qd[i] == double_to_bf16(xd[i]));
    BOOST_TEST(yd[i] == bf16_to_double(qd[i]));
    BOOST_TEST(rtd[i] == yd[i]);
  }
  BOOST_TEST(rtd[0] == 1.0078125);
  quantize_bf16(xf.data(), q.data(), 0);  // n = 0 is fine
}

// The array forms for double take a branch-free path on bf16's normal range (bf16.cpp); they must
// equal the scalar definition everywhere: random doubles over every exponent from 2^-140 to
// 2^130 (both signs), every bf16 tie ±1 ulp of the double around it, and the range edges.
BOOST_AUTO_TEST_CASE(double_array_forms_equal_the_scalar_definition) {
  std::vector<double> xs;
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  for (int e = -140; e <= 130; ++e)
    for (int i = 0; i < 400; ++i) {
      const double m = 1.0 + double(next() >> 11) * 0x1p-53;  // [1, 2)
      xs.push_back(std::ldexp((next() & 1) ? -m : m, e));
    }
  for (int i = 0; i < 20000; ++i) {  // ties: a bf16 value plus half its ulp, and its neighbours
    const int e = int(next() % 260) - 130;
    const double b = std::ldexp(1.0 + double(next() % 128) / 128.0, e);
    const double tie = b + std::ldexp(1.0, e - 8);
    for (double t : {tie, std::nextafter(tie, 0.0), std::nextafter(tie, INFINITY)}) xs.push_back(t), xs.push_back(-t);
  }
  for (double t : std::initializer_list<double>{0x1p-126, std::nextafter(0x1p-126, 0.0), 0x1p128, std::nextafter(0x1p128, 0.0), 0x1.FEp127,
                   0x1.FFp127, std::nextafter(0x1.FFp127, 0.0), 0.0, -0.0, INFINITY, -INFINITY, NAN, 1e300, 1e-300})
    xs.push_back(t), xs.push_back(-t);
  std::vector<uint16_t> q(xs.size());
  std::vector<double> rt(xs.size());
  quantize_bf16(xs.data(), q.data(), xs.size());
  round_trip_bf16(xs.data(), rt.data(), xs.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const uint16_t want = double_to_bf16(xs[i]);
    const double want_rt = bf16_to_double(want);
    bad += q[i] != want || !(rt[i] == want_rt || (std::isnan(rt[i]) && std::isnan(want_rt)));
  }
  BOOST_TEST(bad == 0u);
  BOOST_TEST(xs.size() > 200000u);
}
