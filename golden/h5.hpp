#pragma once
// A small RAII layer over the HDF5 C API: read goldens and reports (H5Reader), write reports
// and test fixtures atomically (H5Writer).
//
// HDF5's automatic error printing is switched off; every failure becomes one g4::IoError line
// naming the file and the dataset/attribute, what was expected, and HDF5's innermost reason
// where it has one. Non-finite values in a float dataset are g4::DataError (DESIGN.md section 9:
// a golden with NaN is bad input) unless the caller passes NonFinite::allow.
//
// Paths are HDF5 paths, absolute ("/runs/0/logits") or relative to the root ("runs/0/logits");
// "/" is the root group. hid_t stays out of this header (it is std::int64_t since HDF5 1.10).
//
// Not thread-safe: the Debian libhdf5 is built without the thread-safe option, so use HDF5
// from one thread at a time.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace g4::golden {

enum class NonFinite { reject, allow };

class H5Reader {
 public:
  H5Reader() = default;
  explicit H5Reader(const std::string& path) { open(path); }
  ~H5Reader();
  H5Reader(H5Reader&& other) noexcept;
  H5Reader& operator=(H5Reader&& other) noexcept;
  H5Reader(const H5Reader&) = delete;
  H5Reader& operator=(const H5Reader&) = delete;

  // Opens read-only; a missing, non-HDF5 or truncated file -> "PATH: not a readable HDF5 file
  // (reason)". Closes a file already open.
  void open(const std::string& path);
  void close();
  bool is_open() const { return file_ >= 0; }
  const std::string& path() const { return path_; }

  bool has(const std::string& object_path) const;         // a group or dataset is there
  bool is_group(const std::string& object_path) const;    // false if absent
  bool is_dataset(const std::string& object_path) const;  // false if absent
  std::vector<std::string> list(const std::string& group) const;  // member names, sorted

  std::vector<std::int64_t> shape(const std::string& dataset) const;  // [] for a scalar
  // Float dataset (any precision) read as double, row-major. An integer (or other) dataset ->
  // IoError naming its class; the first NaN/Inf -> DataError with its index (unless allowed).
  std::vector<double> read_f64(const std::string& dataset,
                               NonFinite non_finite = NonFinite::reject) const;
  // As above, after checking the stored shape equals expected_shape (IoError otherwise).
  std::vector<double> read_f64(const std::string& dataset,
                               const std::vector<std::int64_t>& expected_shape,
                               NonFinite non_finite = NonFinite::reject) const;
  // Integer dataset (any width/sign; a U64 value over INT64_MAX is a DataError).
  std::vector<std::int64_t> read_i64(const std::string& dataset) const;
  // String dataset of rank 0 or 1, variable or fixed length (padding stripped).
  std::vector<std::string> read_strings(const std::string& dataset) const;

  // Attributes on any object (group or dataset). Each must hold exactly one value.
  bool has_attr(const std::string& object_path, const std::string& name) const;
  std::vector<std::string> attr_names(const std::string& object_path) const;  // sorted
  std::string attr_string(const std::string& object_path, const std::string& name) const;
  double attr_f64(const std::string& object_path, const std::string& name) const;  // float or int
  std::int64_t attr_i64(const std::string& object_path, const std::string& name) const;  // int

 private:
  std::string path_;
  std::int64_t file_ = -1;  // hid_t
};

// Writes to "<path>.tmp.<pid>"; commit() closes it and renames it onto path (atomic on one file
// system). Destroying an uncommitted writer removes the temp file, so a crash or an exception
// never leaves a half file at path. Move-only.
//
// HDF5 builds the file in memory (the core driver, no backing store); the temp file is created
// (empty) by the constructor, so an unwritable folder fails at once, and commit() writes the
// image into it with write(2) + fsync(2). A full disk or a file-size limit (EFBIG, ENOSPC) is
// therefore one IoError from commit(), and libhdf5 never holds a file whose writes failed (it
// crashes in its exit handler on such a file: libhdf5 1.10.8).
class H5Writer {
 public:
  explicit H5Writer(const std::string& path);
  ~H5Writer();
  H5Writer(H5Writer&& other) noexcept;
  H5Writer& operator=(H5Writer&& other) = delete;
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }
  bool committed() const { return committed_; }

  bool has(const std::string& object_path) const;
  // Creates a group and any missing parents; an existing group is fine.
  void create_group(const std::string& group);
  // Datasets (parents created as needed; an existing dataset is an IoError). shape's product
  // must equal data.size() (ShapeError); shape {} writes a scalar. Stored as little-endian
  // IEEE f64 / i64, row-major.
  void write_f64(const std::string& dataset, std::span<const double> data,
                 const std::vector<std::int64_t>& shape);
  void write_i64(const std::string& dataset, std::span<const std::int64_t> data,
                 const std::vector<std::int64_t>& shape);
  void write_strings(const std::string& dataset, const std::vector<std::string>& values);  // 1-D

  // Scalar attributes on an existing object ("/" for the root); an existing attribute of that
  // name is replaced. Strings are variable-length UTF-8 (what h5py writes for str).
  void set_attr_string(const std::string& object_path, const std::string& name,
                       std::string_view value);
  void set_attr_f64(const std::string& object_path, const std::string& name, double value);
  void set_attr_i64(const std::string& object_path, const std::string& name, std::int64_t value);

  // Flushes, closes, fsyncs and renames the temp file onto path. Nothing may be written after.
  void commit();

 private:
  void require_open(std::string_view what) const;

  std::string path_;
  std::string tmp_;
  std::int64_t file_ = -1;  // hid_t, an in-memory (core driver) file
  std::int64_t lcpl_ = -1;  // link creation property list: create intermediate groups
  int fd_ = -1;             // the temp file, written by commit()
  bool committed_ = false;
};

}  // namespace g4::golden
