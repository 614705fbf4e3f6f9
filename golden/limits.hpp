#pragma once
// The most memory one read of a loader may allocate (golden/safetensors, golden/h5).
//
// A header declares how many elements a tensor or dataset holds; a hostile or corrupt file can
// declare more than the machine could hold. Every read checks the bytes it would allocate
// (elements x 8 for the float64/int64 it returns, computed without overflow) against this limit
// BEFORE allocating, and refuses with one line naming the file, the object, the declared shape
// and the limit (g4::IoError). Default: the machine's physical memory. `gemma4-harness run
// --memory-budget` and the fuzz targets lower it.
#include <cstdint>
#include <string>
#include <vector>

namespace g4::golden {

std::uint64_t read_limit();                 // bytes
void set_read_limit(std::uint64_t bytes);   // 0 restores the default
std::uint64_t physical_memory_bytes();      // sysconf(_SC_PHYS_PAGES) * page size

// Throws g4::IoError "<what>: declares shape [..] = N elements, M bytes as <widened_to>, over the
// read limit of L bytes" when dims' product times elem_bytes overflows 64 bits or exceeds the
// limit. Returns the element count otherwise.
std::uint64_t check_read_size(const std::string& what, const std::vector<std::int64_t>& dims,
                              std::uint64_t elem_bytes, const char* widened_to);

}  // namespace g4::golden
