#define BOOST_TEST_MODULE test_format_info
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

#include "optimized/formats/format_info.hpp"
#include "optimized/formats/narrow_float.hpp"
#include "tests/optimized/formats/format_test_support.hpp"

using namespace g4::formats;
using namespace g4::formats::test;

BOOST_AUTO_TEST_CASE(table_values) {
  struct Expect {
    const char* name;
    int bits;
    double max_finite, u, min_normal, min_sub;
    bool inf;
  };
  const Expect expect[] = {
      {"fp64", 64, std::numeric_limits<double>::max(), 0x1p-53, 0x1p-1022, 0x1p-1074, true},
      {"fp32", 32, std::numeric_limits<float>::max(), 0x1p-24, 0x1p-126, 0x1p-149, true},
      {"bf16", 16, 0x1.FEp127, 0x1p-8, 0x1p-126, 0x1p-133, true},
      {"fp16", 16, 65504, 0x1p-11, 0x1p-14, 0x1p-24, true},
      {"fp8-e4m3", 8, 448, 0x1p-4, 0x1p-6, 0x1p-9, false},
      {"fp8-e5m2", 8, 57344, 0x1p-3, 0x1p-14, 0x1p-16, true},
      {"int8", 8, 127, 1.0 / 254, 0, 0, false},
      {"int4", 4, 7, 1.0 / 14, 0, 0, false},
      {"int4-asym", 4, 15, 1.0 / 30, 0, 0, false},
  };
  BOOST_TEST(format_table().size() == std::size(expect));
  for (const Expect& e : expect) {
    const FormatInfo* f = find_format(e.name);
    BOOST_TEST_REQUIRE(f != nullptr, e.name);
    BOOST_TEST(f->bits == e.bits, e.name);
    BOOST_TEST(f->max_finite == e.max_finite, e.name);
    BOOST_TEST(f->unit_roundoff == e.u, e.name);
    BOOST_TEST(f->min_normal == e.min_normal, e.name);
    BOOST_TEST(f->min_subnormal == e.min_sub, e.name);
    BOOST_TEST(f->has_inf == e.inf, e.name);
    BOOST_TEST((f->kind == (e.min_normal > 0 ? FormatKind::floating : FormatKind::scaled_int)), e.name);
  }
  BOOST_TEST(find_format("fp4") == nullptr);
}

// The unit roundoff is what one rounding actually costs: the largest relative error over the
// normal range of each narrow format, found by probing just above every midpoint, stays below u
// and comes within a factor (1 - u) of it.
BOOST_AUTO_TEST_CASE(unit_roundoff_is_attained) {
  const std::pair<const char*, NarrowFloat> formats[] = {
      {"bf16", kBf16Format}, {"fp16", kFp16Format}, {"fp8-e4m3", kE4m3Format}, {"fp8-e5m2", kE5m2Format}};
  for (auto [fname, spec] : formats) {
    const FormatInfo* f = find_format(fname);
    const ReferenceFormat ref(spec);
    double worst = 0;
    for (size_t i = 1u << spec.man_bits; i + 1 < ref.values().size(); ++i) {
      const double mid = (ref.values()[i] + ref.values()[i + 1]) / 2;
      const double back = narrow_to_double(round_to_narrow(mid, spec, Saturation::none), spec);
      worst = std::max(worst, std::fabs(back - mid) / mid);
    }
    BOOST_TEST(worst <= f->unit_roundoff, fname);
    BOOST_TEST(worst >= f->unit_roundoff * (1 - 2 * f->unit_roundoff), fname);
  }
}
