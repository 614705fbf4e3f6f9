#include "optimized/formats/format_info.hpp"

#include <array>
#include <limits>

#include "optimized/formats/narrow_float.hpp"

namespace g4::formats {
namespace {

constexpr FormatInfo narrow(std::string_view name, NarrowFloat f) {
  const int bits = 1 + f.exp_bits + f.man_bits;
  return {name,
          bits,
          narrow_max_finite(f),
          narrow_unit_roundoff(f),
          narrow_to_double(1u << f.man_bits, f),  // smallest normal: exponent field 1, fraction 0
          narrow_to_double(1u, f),                // smallest subnormal
          f.ieee_specials,
          FormatKind::floating};
}

template <class T>
constexpr FormatInfo ieee(std::string_view name) {
  using L = std::numeric_limits<T>;
  return {name, static_cast<int>(sizeof(T) * 8), L::max(), L::epsilon() / 2, L::min(), L::denorm_min(), true,
          FormatKind::floating};
}

constexpr std::array<FormatInfo, 9> kTable = {
    ieee<double>("fp64"),
    ieee<float>("fp32"),
    narrow("bf16", kBf16Format),
    narrow("fp16", kFp16Format),
    narrow("fp8-e4m3", kE4m3Format),
    narrow("fp8-e5m2", kE5m2Format),
    FormatInfo{"int8", 8, 127.0, 1.0 / 254.0, 0.0, 0.0, false, FormatKind::scaled_int},
    FormatInfo{"int4", 4, 7.0, 1.0 / 14.0, 0.0, 0.0, false, FormatKind::scaled_int},
    FormatInfo{"int4-asym", 4, 15.0, 1.0 / 30.0, 0.0, 0.0, false, FormatKind::scaled_int},
};

static_assert(kTable[2].max_finite == 0x1.FEp127);
static_assert(kTable[3].max_finite == 65504.0 && kTable[3].min_subnormal == 0x1p-24);
static_assert(kTable[4].max_finite == 448.0 && kTable[4].min_normal == 0x1p-6 && kTable[4].min_subnormal == 0x1p-9);
static_assert(kTable[5].max_finite == 57344.0 && kTable[5].min_subnormal == 0x1p-16);

}  // namespace

std::span<const FormatInfo> format_table() { return kTable; }

const FormatInfo* find_format(std::string_view name) {
  for (const FormatInfo& f : kTable)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace g4::formats
