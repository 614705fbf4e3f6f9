#pragma once
// The storage formats of the precision policies, as data: the harness reads headroom
// (max|x| / max_finite) and tolerances (unit roundoff x a bound on reduction length) from here.
//
//   name        bits  max_finite  unit_roundoff  min_normal  min_subnormal  inf
//   fp64         64   1.80e308    2^-53          2^-1022     2^-1074        yes
//   fp32         32   3.40e38     2^-24          2^-126      2^-149         yes
//   bf16         16   3.39e38     2^-8           2^-126      2^-133         yes
//   fp16         16   65504       2^-11          2^-14       2^-24          yes
//   fp8-e4m3      8   448         2^-4           2^-6        2^-9           no (NaN only)
//   fp8-e5m2      8   57344       2^-3           2^-14       2^-16          yes
//   int8          8   127         1/254          -           -              no   (scaled)
//   int4          4   7           1/14           -           -              no   (scaled, symmetric)
//   int4-asym     4   15          1/30           -           -              no   (scaled, zero point)
//
// Floating formats: unit_roundoff u = 2^-p (p = fraction bits + 1) bounds the relative error of
// one round-to-nearest in the normal range, |fl(x) - x| <= u |x|; below min_normal the absolute
// error is at most min_subnormal / 2.
// Scaled integer formats (kind = scaled_int): max_finite is the largest code (the scale maps the
// row or group amax onto it), so headroom is always <= 1 and is not a useful forecast; unit_roundoff
// is the largest rounding error relative to the row/group amax, scale/2 / amax = 1 / (2 * qmax)
// (for int4-asym relative to the group's range hi - lo: 1/30).
#include <cstdint>
#include <span>
#include <string_view>

namespace g4::formats {

enum class FormatKind { floating, scaled_int };

struct FormatInfo {
  std::string_view name;  // the policy's spelling: "bf16", "fp8-e4m3", "int4", ...
  int bits;               // storage bits per element (scales and zero points not counted)
  double max_finite;      // largest finite value (scaled ints: largest code)
  double unit_roundoff;   // see the header comment
  double min_normal;      // 0 for integer formats
  double min_subnormal;   // 0 for integer formats
  bool has_inf;
  FormatKind kind;
};

// All formats above, in that order.
std::span<const FormatInfo> format_table();
// The entry with that name, or nullptr.
const FormatInfo* find_format(std::string_view name);

}  // namespace g4::formats
