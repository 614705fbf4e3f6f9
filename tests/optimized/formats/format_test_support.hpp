#pragma once
// Shared by the format tests: the CUDA-header gate, a threaded bit-pattern sweep, and an
// independent reference rounding (exact midpoint comparison, no bit tricks).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "optimized/formats/narrow_float.hpp"

#if G4_HAVE_CUDA_NUMERIC_HEADERS
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#endif

namespace g4::formats::test {

// Precondition for the CUDA-comparison suites: skipped (not failed) without the headers.
inline boost::test_tools::assertion_result cuda_headers_present(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(G4_HAVE_CUDA_NUMERIC_HEADERS != 0);
  r.message() << "CUDA numeric headers (cuda_bf16.h, cuda_fp16.h, cuda_fp8.h) not found or not host-compilable "
                 "at configure time, or GEMMA4_FORMATS_CUDA_COMPARE=OFF";
  return r;
}

// GEMMA4_FORMATS_FULL_SWEEP=1 turns the sampled float32 sweeps into full 2^32 ones.
inline bool full_sweep_requested() {
  const char* v = std::getenv("GEMMA4_FORMATS_FULL_SWEEP");
  return v && std::string(v) == "1";
}

// Result of a sweep: how many patterns were checked and failed, and the first failures.
struct SweepResult {
  uint64_t checked = 0;
  uint64_t failed = 0;
  std::vector<uint64_t> first_failures;  // up to 8 pattern values
};

// Calls bad(p) for every p in [lo, hi) with the given stride, on all hardware threads; bad returns
// true on a mismatch. Boost.Test is not thread-safe, so the checks happen after the join.
template <class Bad>
SweepResult sweep(uint64_t lo, uint64_t hi, uint64_t stride, const Bad& bad) {
  const unsigned nt = std::max(1u, std::thread::hardware_concurrency());
  SweepResult res;
  std::mutex m;
  std::vector<std::thread> pool;
  const uint64_t count = hi > lo ? (hi - lo + stride - 1) / stride : 0;
  for (unsigned t = 0; t < nt; ++t)
    pool.emplace_back([&, t] {
      const uint64_t i0 = count * t / nt, i1 = count * (t + 1) / nt;
      uint64_t failed = 0;
      std::vector<uint64_t> first;
      for (uint64_t i = i0; i < i1; ++i) {
        const uint64_t p = lo + i * stride;
        if (bad(p)) {
          ++failed;
          if (first.size() < 8) first.push_back(p);
        }
      }
      std::lock_guard<std::mutex> lock(m);
      res.checked += i1 - i0;
      res.failed += failed;
      for (uint64_t p : first)
        if (res.first_failures.size() < 8) res.first_failures.push_back(p);
    });
  for (auto& th : pool) th.join();
  return res;
}

inline std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

inline std::string describe(const SweepResult& r) {
  std::string s = std::to_string(r.failed);
  s.append(" of ").append(std::to_string(r.checked)).append(" failed");
  for (uint64_t p : r.first_failures) s.append(" ").append(hex(p));
  return s;
}

inline float bits_to_float(uint32_t u) { return std::bit_cast<float>(u); }
inline double bits_to_double(uint64_t u) { return std::bit_cast<double>(u); }

#if G4_HAVE_CUDA_NUMERIC_HEADERS
// CUDA's host conversions, as raw bits.
inline uint16_t cuda_float_to_bf16(float x) { return static_cast<__nv_bfloat16_raw>(__float2bfloat16(x)).x; }
inline uint16_t cuda_double_to_bf16(double x) { return static_cast<__nv_bfloat16_raw>(__double2bfloat16(x)).x; }
inline float cuda_bf16_to_float(uint16_t b) {
  __nv_bfloat16_raw r;
  r.x = b;
  return __bfloat162float(__nv_bfloat16(r));
}
inline uint16_t cuda_float_to_fp16(float x) { return static_cast<__half_raw>(__float2half_rn(x)).x; }
inline uint16_t cuda_double_to_fp16(double x) { return static_cast<__half_raw>(__double2half(x)).x; }
inline float cuda_fp16_to_float(uint16_t h) {
  __half_raw r;
  r.x = h;
  return __half2float(__half(r));
}
inline __nv_fp8_interpretation_t cuda_fp8_kind(NarrowFloat f) {
  return f.exp_bits == 4 ? __NV_E4M3 : __NV_E5M2;
}
inline __nv_saturation_t cuda_sat(Saturation s) { return s == Saturation::finite ? __NV_SATFINITE : __NV_NOSAT; }
#endif

// ---- Independent reference --------------------------------------------------------------------
// The non-negative finite values of a format, by code 0..max_code, decoded with std::ldexp from
// the field definitions (not with narrow_to_double), and rounding by comparison against the exact
// midpoint of the two neighbours (the midpoint of two values with <= 11 significant bits and
// adjacent exponents is exact in double).
class ReferenceFormat {
 public:
  explicit ReferenceFormat(NarrowFloat f) : f_(f) {
    for (uint32_t c = 0; c <= f.max_code(); ++c) {
      const int e = static_cast<int>(c >> f.man_bits);
      const int frac = static_cast<int>(c & ((1u << f.man_bits) - 1));
      values_.push_back(e == 0 ? std::ldexp(frac, 1 - f.bias - f.man_bits)
                               : std::ldexp(frac + (1 << f.man_bits), e - f.bias - f.man_bits));
    }
    // The value the top code would step to with an unbounded exponent range.
    top_next_ = values_.back() + (values_.back() - values_[values_.size() - 2]);
  }

  double value(uint32_t code) const { return values_.at(code); }  // non-negative codes only
  const std::vector<double>& values() const { return values_; }
  double top_next() const { return top_next_; }

  uint32_t round(double x, Saturation sat) const {
    if (std::isnan(x)) return f_.nan_code();
    const uint32_t sign = std::signbit(x) ? f_.sign_bit() : 0u;
    const double a = std::fabs(x);
    const uint32_t top = f_.max_code();
    uint32_t code;
    if (a >= values_.back()) {
      const double mid = (values_.back() + top_next_) / 2;
      const bool up = a > mid || (a == mid && ((top + 1) % 2 == 0));
      if (!up) {
        code = top;
      } else if (sat == Saturation::finite) {
        code = top;
      } else {
        code = f_.ieee_specials ? f_.inf_code() : f_.nan_code();
      }
    } else {
      // values_[i] <= a < values_[i + 1]
      const auto it = std::upper_bound(values_.begin(), values_.end(), a);
      const uint32_t i = static_cast<uint32_t>(it - values_.begin()) - 1;
      const double mid = (values_[i] + values_[i + 1]) / 2;
      code = (a < mid || (a == mid && i % 2 == 0)) ? i : i + 1;
    }
    return sign | code;
  }

 private:
  NarrowFloat f_;
  std::vector<double> values_;
  double top_next_ = 0;
};

// Doubles around every rounding decision of a format: each value, each midpoint between
// neighbours (including the overflow midpoint), one double ulp either side of both, points
// 2^-30 (relative) off each midpoint (where a detour through float would land on the tie), a
// quarter of the way between neighbours, both signs, and the specials.
inline std::vector<double> boundary_doubles(const ReferenceFormat& ref) {
  std::vector<double> out;
  const auto& v = ref.values();
  auto add = [&](double d) {
    out.push_back(d);
    out.push_back(-d);
  };
  for (size_t i = 0; i < v.size(); ++i) {
    const double lo = v[i], hi = i + 1 < v.size() ? v[i + 1] : ref.top_next();
    const double mid = (lo + hi) / 2;
    add(lo);
    add(std::nextafter(lo, 0.0));
    add(std::nextafter(lo, INFINITY));
    add(mid);
    add(std::nextafter(mid, 0.0));
    add(std::nextafter(mid, INFINITY));
    add(mid + mid * 0x1p-30);
    add(mid - mid * 0x1p-30);
    add(lo + (hi - lo) / 4);
    add(hi - (hi - lo) / 4);
  }
  add(ref.top_next());
  add(ref.top_next() * 2);
  add(1e300);
  add(std::numeric_limits<double>::max());
  add(std::numeric_limits<double>::infinity());
  add(std::numeric_limits<double>::denorm_min());
  add(std::numeric_limits<double>::min());
  add(0x1p-200);
  out.push_back(std::numeric_limits<double>::quiet_NaN());
  out.push_back(-std::numeric_limits<double>::quiet_NaN());
  return out;
}

// Deterministic pseudo-random 64-bit stream (splitmix64).
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }  // [0, 1)
};

// Random doubles: n with random bits and exponents within [emin, emax] (unbiased), random sign.
inline std::vector<double> random_doubles(size_t n, int emin, int emax, uint64_t seed) {
  SplitMix64 rng{seed};
  std::vector<double> out(n);
  for (auto& d : out) {
    const uint64_t r = rng.next();
    const int e = emin + static_cast<int>(rng.next() % static_cast<uint64_t>(emax - emin + 1));
    const uint64_t bits = (r & 0x800FFFFFFFFFFFFFull) | (static_cast<uint64_t>(e + 1023) << 52);
    d = bits_to_double(bits);
  }
  return out;
}

}  // namespace g4::formats::test
