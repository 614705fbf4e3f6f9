#define BOOST_TEST_MODULE test_fp8
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "optimized/formats/fp8.hpp"
#include "tests/optimized/formats/format_test_support.hpp"

using namespace g4::formats;
using namespace g4::formats::test;

namespace {

constexpr Fp8Format kBoth[] = {Fp8Format::e4m3, Fp8Format::e5m2};
constexpr Saturation kSats[] = {Saturation::finite, Saturation::none};
const char* name(Fp8Format f) { return f == Fp8Format::e4m3 ? "e4m3" : "e5m2"; }
const char* name(Saturation s) { return s == Saturation::finite ? "SATFINITE" : "NOSAT"; }

static_assert(fp8_max_finite(Fp8Format::e4m3) == 448.0);
static_assert(fp8_max_finite(Fp8Format::e5m2) == 57344.0);
static_assert(double_to_fp8(464.0, Fp8Format::e4m3, Saturation::none) == 0x7E);  // tie -> even 448
static_assert(double_to_fp8(1.0 + 0x1p-4 + 0x1p-40, Fp8Format::e4m3) == 0x39);

// Float32 magnitudes (bit patterns) that can round to anything but 0 or an overflow result, with
// a binade of margin either side: [2^(emin - M - 2), 2^(emax + 2)). Every float in it is checked.
struct ActiveRange {
  uint32_t lo, hi;
};
ActiveRange active_range(NarrowFloat f) {
  const int emax = static_cast<int>((f.max_code() >> f.man_bits)) - f.bias;
  return {std::bit_cast<uint32_t>(std::ldexp(1.0f, f.emin() - f.man_bits - 2)),
          std::bit_cast<uint32_t>(std::ldexp(1.0f, emax + 2))};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_host, *boost::unit_test::precondition(cuda_headers_present))

// All 256 codes of each format, against the cuda_fp8.h class conversion (float(__nv_fp8_e4m3))
// and against __nv_cvt_fp8_to_halfraw -> __half2float; bit-exact, NaN included.
BOOST_AUTO_TEST_CASE(fp8_to_float_every_code) {
#if G4_HAVE_CUDA_NUMERIC_HEADERS
  for (uint32_t c = 0; c < 256; ++c) {
    const auto q = static_cast<uint8_t>(c);
    __nv_fp8_e4m3 a;
    a.__x = q;
    __nv_fp8_e5m2 b;
    b.__x = q;
    const uint32_t mine_a = std::bit_cast<uint32_t>(fp8_to_float(q, Fp8Format::e4m3));
    const uint32_t mine_b = std::bit_cast<uint32_t>(fp8_to_float(q, Fp8Format::e5m2));
    BOOST_TEST(mine_a == std::bit_cast<uint32_t>(static_cast<float>(a)), "e4m3 " << hex(c));
    BOOST_TEST(mine_b == std::bit_cast<uint32_t>(static_cast<float>(b)), "e5m2 " << hex(c));
    BOOST_TEST(mine_a == std::bit_cast<uint32_t>(__half2float(__half(__nv_cvt_fp8_to_halfraw(q, __NV_E4M3)))));
    BOOST_TEST(mine_b == std::bit_cast<uint32_t>(__half2float(__half(__nv_cvt_fp8_to_halfraw(q, __NV_E5M2)))));
  }
#endif
}

// float -> fp8 for both formats and both saturation modes: every float32 pattern in the active
// range (all ties and boundaries included), a stride-4099 sample of the rest (which all round to
// +-0, overflow, inf or NaN), and the specials. GEMMA4_FORMATS_FULL_SWEEP=1 checks all 2^32
// patterns instead (about 3 minutes on 2 cores for the four sweeps).
BOOST_AUTO_TEST_CASE(float_to_fp8_sweeps) {
#if G4_HAVE_CUDA_NUMERIC_HEADERS
  const bool full = full_sweep_requested();
  for (Fp8Format f : kBoth)
    for (Saturation s : kSats) {
      const auto t0 = std::chrono::steady_clock::now();
      const NarrowFloat spec = fp8_spec(f);
      const auto kind = cuda_fp8_kind(spec);
      const auto sat = cuda_sat(s);
      auto bad = [&](uint64_t p) {
        const float x = bits_to_float(static_cast<uint32_t>(p));
        return float_to_fp8(x, f, s) != __nv_cvt_float_to_fp8(x, sat, kind);
      };
      uint64_t checked = 0;
      if (full) {
        const SweepResult r = sweep(0, 1ull << 32, 1, bad);
        BOOST_TEST(r.failed == 0u, name(f) << " " << name(s) << ": " << describe(r));
        checked = r.checked;
      } else {
        const ActiveRange a = active_range(spec);
        for (uint64_t sign : {0ull, 0x80000000ull}) {
          const SweepResult in = sweep(sign | a.lo, sign | a.hi, 1, bad);
          const SweepResult below = sweep(sign, sign | a.lo, 4099, bad);
          const SweepResult above = sweep(sign | a.hi, sign + 0x80000000ull, 4099, bad);
          BOOST_TEST(in.failed == 0u, name(f) << " " << name(s) << " active range: " << describe(in));
          BOOST_TEST(below.failed == 0u, name(f) << " " << name(s) << " below: " << describe(below));
          BOOST_TEST(above.failed == 0u, name(f) << " " << name(s) << " above: " << describe(above));
          checked += in.checked + below.checked + above.checked;
        }
        for (uint32_t p : {0x7F800000u, 0xFF800000u, 0x7F800001u, 0x7FC00000u, 0xFFFFFFFFu, 0x7F7FFFFFu, 0x00000001u})
          BOOST_TEST(!bad(p), name(f) << " " << name(s) << " special " << hex(p));
      }
      BOOST_TEST_MESSAGE("float -> " << name(f) << " " << name(s) << (full ? " full 2^32" : " active range + sampled")
                                     << " sweep vs __nv_cvt_float_to_fp8: " << checked << " patterns, "
                                     << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                                     << " s");
    }
#endif
}

// double -> fp8 against __nv_cvt_double_to_fp8. NaN: CUDA keeps a double NaN's sign (and for e5m2
// two payload bits); ours is always the canonical 0x7F, so NaN is compared as "is a NaN".
BOOST_AUTO_TEST_CASE(double_to_fp8_boundaries_and_random) {
#if G4_HAVE_CUDA_NUMERIC_HEADERS
  for (Fp8Format f : kBoth) {
    const NarrowFloat spec = fp8_spec(f);
    const ReferenceFormat ref(spec);
    std::vector<double> xs = boundary_doubles(ref);
    for (double d : random_doubles(1'000'000, spec.emin() - spec.man_bits - 3, 18, 21)) xs.push_back(d);
    for (double d : random_doubles(100'000, -1022, 1023, 22)) xs.push_back(d);
    for (Saturation s : kSats) {
      size_t bad = 0;
      for (double x : xs) {
        const uint8_t mine = double_to_fp8(x, f, s);
        const uint8_t cuda = __nv_cvt_double_to_fp8(x, cuda_sat(s), cuda_fp8_kind(spec));
        const bool ok = std::isnan(x) ? narrow_is_nan(mine, spec) && narrow_is_nan(cuda, spec) : mine == cuda;
        if (!ok && bad++ < 8) BOOST_ERROR(name(f) << " " << name(s) << " double " << x << ": " << hex(mine) << " vs " << hex(cuda));
      }
      BOOST_TEST(bad == 0u);
    }
  }
#endif
}

BOOST_AUTO_TEST_SUITE_END()

// Without CUDA too: every 13th float32 pattern of the active range and the boundary set, against
// the midpoint reference, both formats and both saturation modes.
BOOST_AUTO_TEST_CASE(float_and_double_to_fp8_vs_midpoint_reference) {
  for (Fp8Format f : kBoth) {
    const NarrowFloat spec = fp8_spec(f);
    const ReferenceFormat ref(spec);
    const ActiveRange a = active_range(spec);
    for (Saturation s : kSats) {
      for (uint64_t sign : {0ull, 0x80000000ull}) {
        const SweepResult r = sweep(sign | a.lo, sign | a.hi, 13, [&](uint64_t p) {
          const float x = bits_to_float(static_cast<uint32_t>(p));
          return float_to_fp8(x, f, s) != ref.round(x, s);
        });
        BOOST_TEST(r.failed == 0u, name(f) << " " << name(s) << ": " << describe(r));
      }
      std::vector<double> xs = boundary_doubles(ref);
      for (double d : random_doubles(500'000, spec.emin() - spec.man_bits - 3, 18, 31)) xs.push_back(d);
      size_t bad = 0;
      for (double x : xs)
        if (double_to_fp8(x, f, s) != ref.round(x, s) && bad++ < 8)
          BOOST_ERROR(name(f) << " " << name(s) << " double " << x << ": " << hex(double_to_fp8(x, f, s))
                              << " vs reference " << hex(ref.round(x, s)));
      BOOST_TEST(bad == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(decode_known_values) {
  using F = Fp8Format;
  BOOST_TEST(fp8_to_double(0x7E, F::e4m3) == 448.0);
  BOOST_TEST(fp8_to_double(0xFE, F::e4m3) == -448.0);
  BOOST_TEST(fp8_to_double(0x78, F::e4m3) == 256.0);   // S.1111.000 is a number in e4m3fn
  BOOST_TEST(fp8_to_double(0x38, F::e4m3) == 1.0);
  BOOST_TEST(fp8_to_double(0x08, F::e4m3) == 0x1p-6);  // min normal
  BOOST_TEST(fp8_to_double(0x07, F::e4m3) == 7 * 0x1p-9);
  BOOST_TEST(fp8_to_double(0x01, F::e4m3) == 0x1p-9);  // min subnormal
  BOOST_TEST(std::isnan(fp8_to_double(0x7F, F::e4m3)));
  BOOST_TEST(std::isnan(fp8_to_double(0xFF, F::e4m3)));
  BOOST_TEST(std::signbit(fp8_to_double(0x80, F::e4m3)));
  BOOST_TEST(fp8_to_double(0x7B, F::e5m2) == 57344.0);
  BOOST_TEST(fp8_to_double(0x3C, F::e5m2) == 1.0);
  BOOST_TEST(fp8_to_double(0x04, F::e5m2) == 0x1p-14);
  BOOST_TEST(fp8_to_double(0x01, F::e5m2) == 0x1p-16);
  BOOST_TEST(std::isinf(fp8_to_double(0x7C, F::e5m2)));
  BOOST_TEST(fp8_to_double(0xFC, F::e5m2) < 0);
  for (uint8_t c : {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) BOOST_TEST(std::isnan(fp8_to_double(c, F::e5m2)));
  BOOST_TEST(std::bit_cast<uint32_t>(fp8_to_float(0xFF, F::e4m3)) == 0x7FFFFFFFu);
}

BOOST_AUTO_TEST_CASE(saturation_and_overflow) {
  using F = Fp8Format;
  const auto fin = Saturation::finite, none = Saturation::none;
  const double inf = std::numeric_limits<double>::infinity();
  // e4m3: 448 max; 464 = 448 + ulp/2 ties to even 448; above 464 overflows.
  BOOST_TEST(double_to_fp8(448.0, F::e4m3, none) == 0x7E);
  BOOST_TEST(double_to_fp8(464.0, F::e4m3, none) == 0x7E);
  BOOST_TEST(double_to_fp8(std::nextafter(464.0, 1e9), F::e4m3, none) == 0x7F);
  BOOST_TEST(double_to_fp8(std::nextafter(464.0, 1e9), F::e4m3, fin) == 0x7E);
  BOOST_TEST(float_to_fp8(-500.0f, F::e4m3, none) == 0xFF);  // NaN keeps the sign on overflow
  BOOST_TEST(float_to_fp8(-500.0f, F::e4m3, fin) == 0xFE);
  BOOST_TEST(double_to_fp8(inf, F::e4m3, fin) == 0x7E);       // SATFINITE maps inf to max
  BOOST_TEST(double_to_fp8(-inf, F::e4m3, none) == 0xFF);
  // e5m2: 57344 max; 61440 = max + ulp/2 ties to even = inf.
  BOOST_TEST(double_to_fp8(std::nextafter(61440.0, 0.0), F::e5m2, none) == 0x7B);
  BOOST_TEST(double_to_fp8(61440.0, F::e5m2, none) == 0x7C);
  BOOST_TEST(double_to_fp8(61440.0, F::e5m2, fin) == 0x7B);
  BOOST_TEST(double_to_fp8(-1e30, F::e5m2, none) == 0xFC);
  BOOST_TEST(double_to_fp8(-inf, F::e5m2, fin) == 0xFB);
  BOOST_TEST(double_to_fp8(inf, F::e5m2, none) == 0x7C);
  // NaN -> canonical 0x7F in every mode and format.
  for (Fp8Format f : kBoth)
    for (Saturation s : kSats) {
      BOOST_TEST(float_to_fp8(bits_to_float(0xFFC00001u), f, s) == 0x7F);
      BOOST_TEST(double_to_fp8(-std::numeric_limits<double>::quiet_NaN(), f, s) == 0x7F);
    }
}

BOOST_AUTO_TEST_CASE(ties_to_even) {
  using F = Fp8Format;
  // e4m3: spacing 2^-3 at 1; 1 + 2^-4 ties to 0x38 (even), 1 + 3*2^-4 to 0x3A.
  BOOST_TEST(float_to_fp8(1.0f + 0x1p-4f, F::e4m3) == 0x38);
  BOOST_TEST(float_to_fp8(1.0f + 3 * 0x1p-4f, F::e4m3) == 0x3A);
  BOOST_TEST(float_to_fp8(-(1.0f + 3 * 0x1p-4f), F::e4m3) == 0xBA);
  BOOST_TEST(float_to_fp8(std::nextafter(1.0f + 0x1p-4f, 2.0f), F::e4m3) == 0x39);
  // e4m3 subnormals: min 2^-9; 2^-10 ties to 0, 3 * 2^-10 to 2 (even); 2^-6 - 2^-10 to 0x08.
  BOOST_TEST(float_to_fp8(0x1p-10f, F::e4m3) == 0x00);
  BOOST_TEST(float_to_fp8(-0x1p-10f, F::e4m3) == 0x80);
  BOOST_TEST(float_to_fp8(std::nextafter(0x1p-10f, 1.0f), F::e4m3) == 0x01);
  BOOST_TEST(float_to_fp8(3 * 0x1p-10f, F::e4m3) == 0x02);
  BOOST_TEST(float_to_fp8(0x1p-6f - 0x1p-10f, F::e4m3) == 0x08);
  // e5m2: spacing 2^-2 at 1; 1 + 2^-3 -> 0x3C, 1 + 3*2^-3 -> 0x3E; 2^-17 -> 0, 3*2^-17 -> 0x02.
  BOOST_TEST(float_to_fp8(1.0f + 0x1p-3f, F::e5m2) == 0x3C);
  BOOST_TEST(float_to_fp8(1.0f + 3 * 0x1p-3f, F::e5m2) == 0x3E);
  BOOST_TEST(float_to_fp8(0x1p-17f, F::e5m2) == 0x00);
  BOOST_TEST(float_to_fp8(3 * 0x1p-17f, F::e5m2) == 0x02);
}

// 1 + 2^-4 + 2^-40 -> float is the e4m3 tie 1 + 2^-4 -> even 1.0 (0x38); the exact value -> 0x39.
BOOST_AUTO_TEST_CASE(double_rounding_through_float_differs) {
  const double trap = 1.0 + 0x1p-4 + 0x1p-40;
  BOOST_TEST(float_to_fp8(static_cast<float>(trap), Fp8Format::e4m3) == 0x38);
  BOOST_TEST(double_to_fp8(trap, Fp8Format::e4m3) == 0x39);
  const double trap2 = 1.0 + 0x1p-3 + 0x1p-40;
  BOOST_TEST(float_to_fp8(static_cast<float>(trap2), Fp8Format::e5m2) == 0x3C);
  BOOST_TEST(double_to_fp8(trap2, Fp8Format::e5m2) == 0x3D);
}

// ---- Scaled storage ----------------------------------------------------------------------------

namespace {

// Rows of different magnitudes (1e-3 .. 1e3), an all-zero row, and signed values.
std::vector<double> test_matrix(size_t rows, size_t cols, uint64_t seed) {
  SplitMix64 rng{seed};
  std::vector<double> x(rows * cols);
  for (size_t r = 0; r < rows; ++r) {
    const double mag = std::pow(10.0, -3.0 + 6.0 * static_cast<double>(r) / static_cast<double>(rows));
    for (size_t j = 0; j < cols; ++j) x[r * cols + j] = r == 2 ? 0.0 : mag * (2 * rng.uniform() - 1);
  }
  return x;
}

}  // namespace

BOOST_AUTO_TEST_CASE(scaled_rows_round_trip_bounds) {
  const size_t rows = 7, cols = 37;
  const std::vector<double> x = test_matrix(rows, cols, 5);
  for (Fp8Format f : kBoth) {
    const NarrowFloat spec = fp8_spec(f);
    const double u = narrow_unit_roundoff(spec), half_sub = narrow_to_double(1, spec) / 2;
    std::vector<double> y(x.size());
    std::vector<float> scale(rows);
    round_trip_fp8_rows(x.data(), y.data(), scale.data(), rows, cols, f, Saturation::finite);
    for (size_t r = 0; r < rows; ++r) {
      double amax = 0;
      for (size_t j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(x[r * cols + j]));
      BOOST_TEST(scale[r] == static_cast<float>(amax / fp8_max_finite(f)));
      for (size_t j = 0; j < cols; ++j) {
        const double xi = x[r * cols + j], yi = y[r * cols + j];
        // One RNE rounding of x/scale: relative u in the normal range, min_subnormal/2 below it,
        // both times the scale (the product value(q) * scale is exact in double).
        const double bound = std::max(u * std::fabs(xi), half_sub * scale[r]) * (1 + 0x1p-40);  // slack: x/scale in double
        BOOST_TEST(std::fabs(xi - yi) <= bound, name(f) << " row " << r << " col " << j << ": " << xi << " -> " << yi);
        if (std::fabs(xi) == amax && amax > 0)  // the row's amax lands on fmt_max
          BOOST_TEST(std::fabs(yi / scale[r]) == fp8_max_finite(f));
      }
    }
    // The all-zero row: scale 0, stored zeros, no NaN.
    BOOST_TEST(scale[2] == 0.0f);
    for (size_t j = 0; j < cols; ++j) BOOST_TEST(y[2 * cols + j] == 0.0);
  }
}

BOOST_AUTO_TEST_CASE(scaled_rows_pieces_agree_with_round_trip) {
  const size_t rows = 5, cols = 19;
  const std::vector<double> xd = test_matrix(rows, cols, 6);
  std::vector<float> xf(xd.begin(), xd.end());
  for (Fp8Format f : kBoth) {
    std::vector<float> scale(rows), scale_rt(rows);
    std::vector<uint8_t> q(xf.size());
    std::vector<float> y(xf.size()), rt(xf);
    fp8_row_scales(xf.data(), scale.data(), rows, cols, f);
    quantize_fp8_rows(xf.data(), scale.data(), q.data(), rows, cols, f, Saturation::finite);
    dequantize_fp8_rows(q.data(), scale.data(), y.data(), rows, cols, f);
    round_trip_fp8_rows(rt.data(), rt.data(), scale_rt.data(), rows, cols, f, Saturation::finite);  // in place
    for (size_t i = 0; i < xf.size(); ++i) {
      BOOST_TEST((rt[i] == y[i]));
      BOOST_TEST((y[i] == static_cast<float>(fp8_to_double(q[i], f) * scale[i / cols])));
    }
    for (size_t r = 0; r < rows; ++r) BOOST_TEST(scale[r] == scale_rt[r]);
    // Same codes from the double overloads (the data are floats, so the scales agree).
    std::vector<double> xd2(xf.begin(), xf.end()), yd(xf.size());
    std::vector<float> scale_d(rows);
    std::vector<uint8_t> qd(xf.size());
    fp8_row_scales(xd2.data(), scale_d.data(), rows, cols, f);
    quantize_fp8_rows(xd2.data(), scale_d.data(), qd.data(), rows, cols, f, Saturation::finite);
    dequantize_fp8_rows(qd.data(), scale_d.data(), yd.data(), rows, cols, f);
    BOOST_TEST(qd == q);
    for (size_t i = 0; i < xf.size(); ++i) BOOST_TEST((static_cast<float>(yd[i]) == y[i]));
  }
}

// Per-tensor is rows = 1: one scale from the global amax. Per-token and per-channel are per row.
BOOST_AUTO_TEST_CASE(granularities) {
  const size_t rows = 4, cols = 8;
  const std::vector<double> x = test_matrix(rows, cols, 7);
  double amax = 0;
  for (double v : x) amax = std::max(amax, std::fabs(v));
  float tensor_scale = 0;
  std::vector<double> y(x.size());
  round_trip_fp8_rows(x.data(), y.data(), &tensor_scale, 1, x.size(), Fp8Format::e4m3, Saturation::finite);
  BOOST_TEST(tensor_scale == static_cast<float>(amax / 448.0));
  std::vector<float> row_scale(rows);
  fp8_row_scales(x.data(), row_scale.data(), rows, cols, Fp8Format::e4m3);
  BOOST_TEST(row_scale[rows - 1] > row_scale[0] * 100);  // rows span 6 decades
  // Unscaled element-wise forms are scale 1.
  std::vector<double> u(x.size());
  round_trip_fp8(x.data(), u.data(), x.size(), Fp8Format::e5m2, Saturation::finite);
  for (size_t i = 0; i < x.size(); ++i) BOOST_TEST(u[i] == fp8_to_double(double_to_fp8(x[i], Fp8Format::e5m2), Fp8Format::e5m2));
}

BOOST_AUTO_TEST_CASE(scaled_saturation_and_non_finite) {
  // A caller scale too small for the data: SATFINITE clamps to +-max*scale, NOSAT gives NaN / inf.
  const std::vector<float> x = {1.0f, -10.0f, 0.5f};
  const float small = 1.0f / 448.0f;  // 10 / small = 4480 > 448
  std::vector<uint8_t> q(3);
  quantize_fp8_rows(x.data(), &small, q.data(), 1, 3, Fp8Format::e4m3, Saturation::finite);
  BOOST_TEST(q[1] == 0xFE);
  quantize_fp8_rows(x.data(), &small, q.data(), 1, 3, Fp8Format::e4m3, Saturation::none);
  BOOST_TEST(q[1] == 0xFF);
  const float tiny = 1e-6f;
  quantize_fp8_rows(x.data(), &tiny, q.data(), 1, 3, Fp8Format::e5m2, Saturation::none);
  BOOST_TEST(q[0] == 0x7C);
  BOOST_TEST(q[1] == 0xFC);
  // A row with inf or NaN: NaN scale, all NaN out; the other rows are untouched.
  const std::vector<double> xn = {1.0, std::numeric_limits<double>::infinity(), 2.0, 3.0, -4.0, 5.0};
  std::vector<double> y(6);
  std::vector<float> s(2);
  round_trip_fp8_rows(xn.data(), y.data(), s.data(), 2, 3, Fp8Format::e4m3, Saturation::finite);
  BOOST_TEST(std::isnan(s[0]));
  for (int j = 0; j < 3; ++j) BOOST_TEST(std::isnan(y[j]));
  BOOST_TEST(s[1] == static_cast<float>(5.0 / 448.0));
  for (int j = 3; j < 6; ++j) BOOST_TEST(std::isfinite(y[j]));
}
