#include "golden/limits.hpp"

#include <unistd.h>

#include <atomic>

#include <fmt/format.h>

#include "reference/common/check.hpp"

namespace g4::golden {
namespace {
std::atomic<std::uint64_t> g_limit{0};  // 0: physical memory
}  // namespace

std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return ~std::uint64_t{0};  // unknown: no limit beyond 64 bits
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
}

std::uint64_t read_limit() {
  const std::uint64_t l = g_limit.load(std::memory_order_relaxed);
  return l ? l : physical_memory_bytes();
}

void set_read_limit(std::uint64_t bytes) { g_limit.store(bytes, std::memory_order_relaxed); }

std::uint64_t check_read_size(const std::string& what, const std::vector<std::int64_t>& dims,
                              std::uint64_t elem_bytes, const char* widened_to) {
  std::uint64_t n = 1, bytes = 0;
  bool overflow = false;
  for (const std::int64_t d : dims) {
    G4_CHECK(d >= 0, g4::IoError, "{}: declares a negative dimension in shape [{}]", what,
             fmt::join(dims, ", "));
    overflow = overflow || __builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n);
  }
  overflow = overflow || __builtin_mul_overflow(n, elem_bytes, &bytes);
  G4_CHECK(!overflow, g4::IoError,
           "{}: declares shape [{}], whose element or byte count overflows 64 bits", what,
           fmt::join(dims, ", "));
  const std::uint64_t limit = read_limit();
  G4_CHECK(bytes <= limit, g4::IoError,
           "{}: declares shape [{}] = {} elements, {} bytes as {}, over the read limit of {} "
           "bytes; refused before allocating",
           what, fmt::join(dims, ", "), n, bytes, widened_to, limit);
  return n;
}

}  // namespace g4::golden
