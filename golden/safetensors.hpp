#pragma once
// Read-only safetensors access: one file (SafetensorsFile) and a whole checkpoint, single or
// sharded (Checkpoint).
//
// Format (https://github.com/huggingface/safetensors): an 8-byte little-endian unsigned header
// length N, then N bytes of JSON header, then the data section. The header is an object
//   { "__metadata__": {str: str}?, NAME: {"dtype": "F32", "shape": [d0, ...],
//                                         "data_offsets": [begin, end]}, ... }
// with offsets relative to the start of the data section, row-major little-endian data.
//
// Memory: files are mmap'ed read-only and never read whole. Opening validates the header only
// (no data page is touched); reading a tensor converts exactly that tensor (or those rows) to
// float64, so a 31B checkpoint can be used one layer at a time (DESIGN.md section 3).
//
// Every failure is one line naming the file, the tensor where there is one, and what was
// expected: g4::IoError for missing/truncated/malformed files, missing tensors and stored shapes
// that differ from the expected one; g4::DataError for non-finite values (and integers that do
// not fit a double exactly); g4::ShapeError for row ids outside the tensor.
//
// Thread safety: all const member functions may be called concurrently.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reference/common/tensor.hpp"

namespace g4::golden {

// Element types of the safetensors format (names as in the header, e.g. "BF16").
enum class DType { F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U64, U32, U16, U8, BOOL };

std::string_view dtype_name(DType t);               // "F64", "BF16", ...
std::size_t dtype_size(DType t);                    // bytes per element
std::optional<DType> dtype_from_name(std::string_view name);
bool dtype_is_float(DType t);                       // F64, F32, F16, BF16, F8_*

// Exact widening of one stored element to double (no checks; NaN/Inf pass through).
double bf16_to_f64(std::uint16_t bits);             // upper 16 bits of an IEEE binary32
double f16_to_f64(std::uint16_t bits);              // IEEE binary16 incl. subnormals, inf, nan
double f8_e4m3_to_f64(std::uint8_t bits);           // OCP E4M3 "fn": no inf, S.1111.111 = nan
double f8_e5m2_to_f64(std::uint8_t bits);           // OCP E5M2: IEEE-like, inf and nan

// Converts n little-endian elements of type t at src (any alignment) to double. Integers wider
// than 53 bits that a double cannot hold exactly throw g4::DataError (message from `what`).
void convert_to_f64(DType t, const std::byte* src, std::size_t n, double* dst,
                    std::string_view what = "tensor");

std::string shape_str(const std::vector<std::int64_t>& shape);  // "[2, 3]", "[]"

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;  // row-major, [] for a scalar
  std::uint64_t begin = 0;          // byte offsets into the data section, [begin, end)
  std::uint64_t end = 0;

  std::int64_t numel() const;       // product of shape (validated not to overflow)
  std::uint64_t nbytes() const { return end - begin; }
};

// One .safetensors file, mmap'ed read-only. Move-only.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);  // validates the whole header
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  std::uint64_t file_size() const { return size_; }
  std::uint64_t data_size() const;                           // bytes after the header
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  std::vector<std::string> names() const;                    // sorted
  std::size_t size() const { return tensors_.size(); }       // number of tensors
  bool has(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;     // IoError if absent
  std::span<const std::byte> bytes(const TensorInfo& t) const;  // the tensor's stored bytes

  // Drops the mapped pages of a tensor from this process (they stay in the page cache), so a
  // layer that has been widened does not keep counting against resident memory.
  void release(const TensorInfo& t) const;

 private:
  friend class Checkpoint;
  void parse_header();

  std::string path_;
  int fd_ = -1;
  const std::byte* map_ = nullptr;
  std::uint64_t size_ = 0;         // whole file
  std::uint64_t data_start_ = 0;   // 8 + header length
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint: a single file, a directory with model.safetensors, or a sharded checkpoint
// (a *.safetensors.index.json file, or a directory holding one, whose "weight_map" maps each
// tensor name to its shard file in the same directory). Every shard is opened (mmap'ed and
// header-validated) up front, so a missing or broken shard fails at construction. Move-only.
class Checkpoint {
 public:
  explicit Checkpoint(const std::filesystem::path& path);
  ~Checkpoint();
  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  const std::string& path() const { return path_; }          // as given
  std::vector<std::string> names() const;                    // sorted
  std::size_t size() const { return where_.size(); }
  bool has(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;     // IoError if absent
  const SafetensorsFile& file_of(const std::string& name) const;
  std::size_t num_files() const { return files_.size(); }
  std::span<const std::byte> raw(const std::string& name) const;  // stored bytes, no copy
  void release(const std::string& name) const;               // see SafetensorsFile::release

  // The whole tensor widened to double, row-major; DataError at the first NaN/Inf.
  std::vector<double> read(const std::string& name) const;
  // As read(), after checking the stored shape equals expected_shape (IoError otherwise).
  std::vector<double> read_shaped(const std::string& name,
                                  const std::vector<std::int64_t>& expected_shape) const;
  g4::Mat read_mat(const std::string& name, index_t rows, index_t cols) const;  // [rows, cols]
  g4::Vec read_vec(const std::string& name, index_t n) const;  // [n]; n == 1 also [] and [1]
  // Rows of a 2-D tensor [R, C], in the order given (repeats allowed): row-major [ids, C].
  // Only those rows are touched in the mapping. ShapeError for an id outside [0, R).
  std::vector<double> read_rows(const std::string& name,
                                const std::vector<std::int64_t>& row_ids) const;
  // Rows [row_begin, row_begin + count) of a 2-D tensor, e.g. the tied LM head in chunks.
  g4::Mat read_row_block(const std::string& name, index_t row_begin, index_t count) const;

 private:
  struct Where {
    std::size_t file;
    const TensorInfo* info;
  };
  const Where& where(const std::string& name) const;

  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Where> where_;
};

}  // namespace g4::golden
