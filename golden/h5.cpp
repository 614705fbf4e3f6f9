#include "golden/h5.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <hdf5.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "golden/limits.hpp"
#include "reference/common/check.hpp"

static_assert(std::is_same_v<hid_t, std::int64_t>, "HDF5 >= 1.10 has a 64-bit hid_t");

namespace g4::golden {
namespace {

namespace fs = std::filesystem;

// HDF5 prints its error stack to stderr by default; we report errors ourselves.
void quiet_hdf5() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// The innermost description on HDF5's error stack (the most specific reason), then clears it.
std::string h5_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        if (e && e->desc && *e->desc) *static_cast<std::string*>(data) = e->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  for (char& c : reason)
    if (c == '\n') c = ' ';
  return reason.empty() ? std::string() : fmt::format(" (HDF5: {})", reason);
}

// Owns one hid_t and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

std::string class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "INTEGER";
    case H5T_FLOAT: return "FLOAT";
    case H5T_TIME: return "TIME";
    case H5T_STRING: return "STRING";
    case H5T_BITFIELD: return "BITFIELD";
    case H5T_OPAQUE: return "OPAQUE";
    case H5T_COMPOUND: return "COMPOUND";
    case H5T_REFERENCE: return "REFERENCE";
    case H5T_ENUM: return "ENUM";
    case H5T_VLEN: return "VLEN";
    case H5T_ARRAY: return "ARRAY";
    default: return "UNKNOWN";
  }
}

// Splits "/a/b/c" or "a/b/c" into its components (empty components are skipped).
std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    const std::size_t j = path.find('/', i);
    const std::size_t e = j == std::string::npos ? path.size() : j;
    if (e > i) out.push_back(path.substr(i, e - i));
    i = e + 1;
  }
  return out;
}

// True when every link along the path exists and the last one resolves to an object.
bool path_exists(hid_t file, const std::string& path) {
  if (file < 0 || path.empty()) return false;
  const auto parts = components(path);
  if (parts.empty()) return true;  // "/"
  std::string prefix;
  for (const auto& p : parts) {
    prefix += "/" + p;
    if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  const htri_t r = H5Oexists_by_name(file, prefix.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

H5I_type_t object_type(hid_t file, const std::string& path) {
  if (!path_exists(file, path)) return H5I_BADID;
  Handle o(H5Oopen(file, path.c_str(), H5P_DEFAULT), H5Oclose);
  if (!o.ok()) {
    H5Eclear2(H5E_DEFAULT);
    return H5I_BADID;
  }
  return H5Iget_type(o.get());
}

Handle open_object(hid_t file, const std::string& fpath, const std::string& path) {
  G4_CHECK(path_exists(file, path), g4::IoError, "{}: no object '{}'", fpath, path);
  Handle o(H5Oopen(file, path.c_str(), H5P_DEFAULT), H5Oclose);
  if (!o.ok()) throw g4::IoError(fmt::format("{}: cannot open '{}'{}", fpath, path, h5_reason()));
  return o;
}

Handle open_dataset(hid_t file, const std::string& fpath, const std::string& path) {
  G4_CHECK(file >= 0, g4::IoError, "H5Reader: no file open (reading dataset '{}')", path);
  G4_CHECK(path_exists(file, path), g4::IoError, "{}: no dataset '{}'", fpath, path);
  G4_CHECK(object_type(file, path) == H5I_DATASET, g4::IoError,
           "{}: '{}' is a group, expected a dataset", fpath, path);
  Handle d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.ok())
    throw g4::IoError(fmt::format("{}: cannot open dataset '{}'{}", fpath, path, h5_reason()));
  return d;
}

std::vector<std::int64_t> space_shape(hid_t space) {
  if (H5Sget_simple_extent_type(space) == H5S_NULL) return {0};
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  return fmt::format("[{}]", fmt::join(s, ", "));
}

// Reads one or many strings of file type `ftype` with `space` through `read`, which is called
// with the memory type and a buffer (H5Dread or H5Aread).
template <class ReadFn>
std::vector<std::string> read_string_values(hid_t ftype, hid_t space, std::size_t n,
                                            ReadFn read) {
  std::vector<std::string> out(n);
  if (n == 0) return out;
  if (H5Tis_variable_str(ftype) > 0) {
    Handle mt(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mt.get(), H5T_VARIABLE);
    H5Tset_cset(mt.get(), H5Tget_cset(ftype));
    std::vector<char*> buf(n, nullptr);
    if (!read(mt.get(), buf.data())) return {};
    for (std::size_t i = 0; i < n; ++i) out[i] = buf[i] ? buf[i] : "";
    H5Dvlen_reclaim(mt.get(), space, H5P_DEFAULT, buf.data());
    return out;
  }
  const std::size_t size = H5Tget_size(ftype);
  const H5T_str_t pad = H5Tget_strpad(ftype);
  Handle mt(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mt.get(), size);
  H5Tset_strpad(mt.get(), pad);
  H5Tset_cset(mt.get(), H5Tget_cset(ftype));
  std::vector<char> buf(n * size + 1, '\0');
  if (!read(mt.get(), buf.data())) return {};
  for (std::size_t i = 0; i < n; ++i) {
    std::string s(buf.data() + i * size, size);
    if (pad == H5T_STR_SPACEPAD) {
      s.erase(s.find_last_not_of(' ') + 1);
    } else {
      const auto z = s.find('\0');
      if (z != std::string::npos) s.resize(z);
    }
    out[i] = std::move(s);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// H5Reader

H5Reader::~H5Reader() { close(); }

H5Reader::H5Reader(H5Reader&& o) noexcept
    : path_(std::move(o.path_)), file_(std::exchange(o.file_, -1)) {}

H5Reader& H5Reader::operator=(H5Reader&& o) noexcept {
  if (this != &o) {
    close();
    path_ = std::move(o.path_);
    file_ = std::exchange(o.file_, -1);
  }
  return *this;
}

void H5Reader::close() {
  if (file_ >= 0) H5Fclose(file_);
  file_ = -1;
}

void H5Reader::open(const std::string& path) {
  quiet_hdf5();
  close();
  path_ = path;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  G4_CHECK(!ec || st.type() == fs::file_type::not_found, g4::IoError, "{}: not a readable HDF5 file ({})", path,
           ec.message());
  G4_CHECK(fs::exists(st), g4::IoError, "{}: not a readable HDF5 file (no such file)", path);
  G4_CHECK(fs::is_regular_file(path, ec), g4::IoError,
           "{}: not a readable HDF5 file (not a regular file)", path);
  const htri_t sig = H5Fis_hdf5(path.c_str());
  if (sig <= 0) {
    const std::string why = h5_reason();
    throw g4::IoError(fmt::format("{}: not a readable HDF5 file ({})", path,
                                  sig == 0 ? "no HDF5 signature" : "cannot read it" + why));
  }
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (f < 0) throw g4::IoError(fmt::format("{}: not a readable HDF5 file{}", path, h5_reason()));
  file_ = f;
}

bool H5Reader::has(const std::string& p) const { return path_exists(file_, p); }
bool H5Reader::is_group(const std::string& p) const { return object_type(file_, p) == H5I_GROUP; }
bool H5Reader::is_dataset(const std::string& p) const {
  return object_type(file_, p) == H5I_DATASET;
}

std::vector<std::string> H5Reader::list(const std::string& group) const {
  G4_CHECK(file_ >= 0, g4::IoError, "H5Reader: no file open (listing '{}')", group);
  G4_CHECK(path_exists(file_, group), g4::IoError, "{}: no group '{}'", path_, group);
  G4_CHECK(object_type(file_, group) == H5I_GROUP, g4::IoError,
           "{}: '{}' is a dataset, expected a group", path_, group);
  Handle g(H5Gopen2(file_, group.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.ok()) throw g4::IoError(fmt::format("{}: cannot open group '{}'{}", path_, group, h5_reason()));
  H5G_info_t info;
  if (H5Gget_info(g.get(), &info) < 0)
    throw g4::IoError(fmt::format("{}: cannot list group '{}'{}", path_, group, h5_reason()));
  std::vector<std::string> out;
  out.reserve(info.nlinks);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len =
        H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0)
      throw g4::IoError(fmt::format("{}: cannot list group '{}'{}", path_, group, h5_reason()));
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(len));
    out.push_back(std::move(name));
  }
  return out;
}

std::vector<std::int64_t> H5Reader::shape(const std::string& dataset) const {
  const Handle d = open_dataset(file_, path_, dataset);
  const Handle s(H5Dget_space(d.get()), H5Sclose);
  if (!s.ok()) throw g4::IoError(fmt::format("{}: dataset '{}': no dataspace{}", path_, dataset, h5_reason()));
  return space_shape(s.get());
}

std::vector<double> H5Reader::read_f64(const std::string& dataset, NonFinite non_finite) const {
  const Handle d = open_dataset(file_, path_, dataset);
  const Handle t(H5Dget_type(d.get()), H5Tclose);
  const H5T_class_t c = H5Tget_class(t.get());
  G4_CHECK(c == H5T_FLOAT, g4::IoError, "{}: dataset '{}' is {}, expected FLOAT", path_, dataset,
           class_name(c));
  const Handle s(H5Dget_space(d.get()), H5Sclose);
  const auto shp = space_shape(s.get());
  std::vector<double> out(
      check_read_size(fmt::format("{}: dataset '{}'", path_, dataset), shp, 8, "float64"));
  if (out.empty()) return out;
  if (H5Dread(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw g4::IoError(fmt::format("{}: cannot read dataset '{}'{}", path_, dataset, h5_reason()));
  if (non_finite == NonFinite::reject) {
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (std::isfinite(out[i])) continue;
      std::vector<std::int64_t> idx(shp.size());
      std::size_t flat = i;
      for (std::size_t k = shp.size(); k-- > 0;) {
        idx[k] = static_cast<std::int64_t>(flat % static_cast<std::size_t>(shp[k]));
        flat /= static_cast<std::size_t>(shp[k]);
      }
      throw g4::DataError(fmt::format("{}: dataset '{}': element {} (index {}) is {}, expected finite",
                                      path_, dataset, i, shape_text(idx),
                                      std::isnan(out[i]) ? "nan" : (out[i] > 0 ? "+inf" : "-inf")));
    }
  }
  return out;
}

std::vector<double> H5Reader::read_f64(const std::string& dataset,
                                       const std::vector<std::int64_t>& expected_shape,
                                       NonFinite non_finite) const {
  const auto s = shape(dataset);
  G4_CHECK(s == expected_shape, g4::IoError, "{}: dataset '{}' has shape {}, expected {}", path_,
           dataset, shape_text(s), shape_text(expected_shape));
  return read_f64(dataset, non_finite);
}

std::vector<std::int64_t> H5Reader::read_i64(const std::string& dataset) const {
  const Handle d = open_dataset(file_, path_, dataset);
  const Handle t(H5Dget_type(d.get()), H5Tclose);
  const H5T_class_t c = H5Tget_class(t.get());
  G4_CHECK(c == H5T_INTEGER, g4::IoError, "{}: dataset '{}' is {}, expected INTEGER", path_,
           dataset, class_name(c));
  const Handle s(H5Dget_space(d.get()), H5Sclose);
  const std::size_t n = check_read_size(fmt::format("{}: dataset '{}'", path_, dataset),
                                        space_shape(s.get()), 8, "int64");
  std::vector<std::int64_t> out(n);
  if (n == 0) return out;
  if (H5Tget_sign(t.get()) == H5T_SGN_NONE && H5Tget_size(t.get()) >= 8) {
    std::vector<std::uint64_t> u(n);
    if (H5Dread(d.get(), H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, u.data()) < 0)
      throw g4::IoError(fmt::format("{}: cannot read dataset '{}'{}", path_, dataset, h5_reason()));
    for (std::size_t i = 0; i < n; ++i) {
      G4_CHECK(u[i] <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
               g4::DataError, "{}: dataset '{}': element {} = {} does not fit an int64", path_,
               dataset, i, u[i]);
      out[i] = static_cast<std::int64_t>(u[i]);
    }
    return out;
  }
  if (H5Dread(d.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw g4::IoError(fmt::format("{}: cannot read dataset '{}'{}", path_, dataset, h5_reason()));
  return out;
}

std::vector<std::string> H5Reader::read_strings(const std::string& dataset) const {
  const Handle d = open_dataset(file_, path_, dataset);
  const Handle t(H5Dget_type(d.get()), H5Tclose);
  const H5T_class_t c = H5Tget_class(t.get());
  G4_CHECK(c == H5T_STRING, g4::IoError, "{}: dataset '{}' is {}, expected STRING", path_,
           dataset, class_name(c));
  const Handle s(H5Dget_space(d.get()), H5Sclose);
  const auto shp = space_shape(s.get());
  G4_CHECK(shp.size() <= 1, g4::IoError, "{}: dataset '{}' has shape {}, expected 1-D strings",
           path_, dataset, shape_text(shp));
  // Fixed-length strings take their stored size each, variable ones a pointer (and their text).
  const std::size_t per = H5Tis_variable_str(t.get()) > 0 ? sizeof(char*) : H5Tget_size(t.get());
  const std::size_t n = check_read_size(fmt::format("{}: dataset '{}'", path_, dataset), shp,
                                        std::max<std::size_t>(per, 1), "strings");
  bool ok = true;
  auto out = read_string_values(t.get(), s.get(), n, [&](hid_t mt, void* buf) {
    ok = H5Dread(d.get(), mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    return ok;
  });
  if (!ok) throw g4::IoError(fmt::format("{}: cannot read dataset '{}'{}", path_, dataset, h5_reason()));
  return out;
}

bool H5Reader::has_attr(const std::string& object_path, const std::string& name) const {
  if (!path_exists(file_, object_path)) return false;
  const htri_t r = H5Aexists_by_name(file_, object_path.c_str(), name.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

std::vector<std::string> H5Reader::attr_names(const std::string& object_path) const {
  G4_CHECK(file_ >= 0, g4::IoError, "H5Reader: no file open (attributes of '{}')", object_path);
  const Handle o = open_object(file_, path_, object_path);
  std::vector<std::string> out;
  hsize_t idx = 0;
  const herr_t r = H5Aiterate2(
      o.get(), H5_INDEX_NAME, H5_ITER_INC, &idx,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &out);
  if (r < 0)
    throw g4::IoError(fmt::format("{}: cannot list attributes of '{}'{}", path_, object_path, h5_reason()));
  return out;
}

namespace {

struct Attr {
  Handle attr, type, space;
  H5T_class_t cls;
};

Attr open_attr(hid_t file, const std::string& fpath, const std::string& obj,
               const std::string& name) {
  G4_CHECK(file >= 0, g4::IoError, "H5Reader: no file open (attribute '{}' of '{}')", name, obj);
  G4_CHECK(path_exists(file, obj), g4::IoError, "{}: no object '{}' (reading its attribute '{}')",
           fpath, obj, name);
  const htri_t ex = H5Aexists_by_name(file, obj.c_str(), name.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  G4_CHECK(ex > 0, g4::IoError, "{}: '{}' has no attribute '{}'", fpath, obj, name);
  Attr a;
  a.attr = Handle(H5Aopen_by_name(file, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                  H5Aclose);
  if (!a.attr.ok())
    throw g4::IoError(fmt::format("{}: cannot open attribute '{}' of '{}'{}", fpath, name, obj, h5_reason()));
  a.type = Handle(H5Aget_type(a.attr.get()), H5Tclose);
  a.space = Handle(H5Aget_space(a.attr.get()), H5Sclose);
  a.cls = H5Tget_class(a.type.get());
  const hssize_t n = H5Sget_simple_extent_npoints(a.space.get());
  G4_CHECK(n == 1, g4::IoError, "{}: attribute '{}' of '{}' holds {} values, expected one",
           fpath, name, obj, n);
  return a;
}

}  // namespace

std::string H5Reader::attr_string(const std::string& obj, const std::string& name) const {
  const Attr a = open_attr(file_, path_, obj, name);
  G4_CHECK(a.cls == H5T_STRING, g4::IoError, "{}: attribute '{}' of '{}' is {}, expected STRING",
           path_, name, obj, class_name(a.cls));
  bool ok = true;
  auto v = read_string_values(a.type.get(), a.space.get(), 1, [&](hid_t mt, void* buf) {
    ok = H5Aread(a.attr.get(), mt, buf) >= 0;
    return ok;
  });
  if (!ok)
    throw g4::IoError(fmt::format("{}: cannot read attribute '{}' of '{}'{}", path_, name, obj, h5_reason()));
  return v.at(0);
}

double H5Reader::attr_f64(const std::string& obj, const std::string& name) const {
  const Attr a = open_attr(file_, path_, obj, name);
  G4_CHECK(a.cls == H5T_FLOAT || a.cls == H5T_INTEGER, g4::IoError,
           "{}: attribute '{}' of '{}' is {}, expected FLOAT or INTEGER", path_, name, obj,
           class_name(a.cls));
  double v = 0;
  if (H5Aread(a.attr.get(), H5T_NATIVE_DOUBLE, &v) < 0)
    throw g4::IoError(fmt::format("{}: cannot read attribute '{}' of '{}'{}", path_, name, obj, h5_reason()));
  return v;
}

std::int64_t H5Reader::attr_i64(const std::string& obj, const std::string& name) const {
  const Attr a = open_attr(file_, path_, obj, name);
  G4_CHECK(a.cls == H5T_INTEGER, g4::IoError, "{}: attribute '{}' of '{}' is {}, expected INTEGER",
           path_, name, obj, class_name(a.cls));
  if (H5Tget_sign(a.type.get()) == H5T_SGN_NONE && H5Tget_size(a.type.get()) >= 8) {
    std::uint64_t u = 0;
    if (H5Aread(a.attr.get(), H5T_NATIVE_UINT64, &u) < 0)
      throw g4::IoError(fmt::format("{}: cannot read attribute '{}' of '{}'{}", path_, name, obj, h5_reason()));
    G4_CHECK(u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
             g4::DataError, "{}: attribute '{}' of '{}' = {} does not fit an int64", path_, name,
             obj, u);
    return static_cast<std::int64_t>(u);
  }
  std::int64_t v = 0;
  if (H5Aread(a.attr.get(), H5T_NATIVE_INT64, &v) < 0)
    throw g4::IoError(fmt::format("{}: cannot read attribute '{}' of '{}'{}", path_, name, obj, h5_reason()));
  return v;
}

// ---------------------------------------------------------------------------------------------
// H5Writer

H5Writer::H5Writer(const std::string& path)
    : path_(path), tmp_(fmt::format("{}.tmp.{}", path, static_cast<long>(::getpid()))) {
  quiet_hdf5();
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  G4_CHECK(parent.empty() || fs::is_directory(parent, ec), g4::IoError,
           "{}: cannot create HDF5 file (no directory {})", path, parent.string());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int e = errno;
    throw g4::IoError(fmt::format("{}: cannot create HDF5 file (temp file {}: {})", path, tmp_, std::strerror(e)));
  }
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
  H5Pset_fapl_core(fapl.get(), std::size_t{1} << 20, /*backing_store=*/0);
  file_ = H5Fcreate((tmp_ + ".mem").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  lcpl_ = file_ >= 0 ? H5Pcreate(H5P_LINK_CREATE) : -1;
  if (file_ < 0 || lcpl_ < 0 || H5Pset_create_intermediate_group(lcpl_, 1) < 0) {
    const std::string why = h5_reason();
    if (lcpl_ >= 0) H5Pclose(lcpl_);
    if (file_ >= 0) H5Fclose(file_);
    ::close(fd_);
    std::remove(tmp_.c_str());
    throw g4::IoError(fmt::format("{}: cannot set up the HDF5 file in memory{}", path, why));
  }
}

H5Writer::H5Writer(H5Writer&& o) noexcept
    : path_(std::move(o.path_)),
      tmp_(std::move(o.tmp_)),
      file_(std::exchange(o.file_, -1)),
      lcpl_(std::exchange(o.lcpl_, -1)),
      fd_(std::exchange(o.fd_, -1)),
      committed_(std::exchange(o.committed_, true)) {}

H5Writer::~H5Writer() {
  if (lcpl_ >= 0) H5Pclose(lcpl_);
  if (file_ >= 0) H5Fclose(file_);
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) std::remove(tmp_.c_str());
}

void H5Writer::require_open(std::string_view what) const {
  G4_CHECK(!committed_ && file_ >= 0, g4::IoError, "{}: {} after commit()", path_, what);
}

bool H5Writer::has(const std::string& object_path) const {
  return path_exists(file_, object_path);
}

void H5Writer::create_group(const std::string& group) {
  require_open(fmt::format("create_group('{}')", group));
  if (path_exists(file_, group)) {
    G4_CHECK(object_type(file_, group) == H5I_GROUP, g4::IoError,
             "{}: cannot create group '{}': a dataset of that name exists", path_, group);
    return;
  }
  Handle g(H5Gcreate2(file_, group.c_str(), lcpl_, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (!g.ok()) throw g4::IoError(fmt::format("{}: cannot create group '{}'{}", path_, group, h5_reason()));
}

namespace {

void write_dataset(hid_t file, hid_t lcpl, const std::string& fpath, const std::string& name,
                   hid_t file_type, hid_t mem_type, const void* data, std::size_t n,
                   const std::vector<std::int64_t>& shape) {
  std::size_t want = 1;
  for (auto d : shape) {
    G4_CHECK(d >= 0, g4::ShapeError, "{}: dataset '{}': shape {} has a negative dimension", fpath,
             name, shape_text(shape));
    want *= static_cast<std::size_t>(d);
  }
  G4_CHECK(want == n, g4::ShapeError, "{}: dataset '{}': shape {} needs {} values, got {}", fpath,
           name, shape_text(shape), want, n);
  G4_CHECK(!path_exists(file, name), g4::IoError, "{}: dataset '{}' already exists", fpath, name);
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(shape.empty() ? H5Screate(H5S_SCALAR)
                             : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               H5Sclose);
  if (!space.ok())
    throw g4::IoError(fmt::format("{}: dataset '{}': cannot make dataspace {}{}", fpath, name,
                                  shape_text(shape), h5_reason()));
  Handle d(H5Dcreate2(file, name.c_str(), file_type, space.get(), lcpl, H5P_DEFAULT, H5P_DEFAULT),
           H5Dclose);
  if (!d.ok()) throw g4::IoError(fmt::format("{}: cannot create dataset '{}'{}", fpath, name, h5_reason()));
  if (n > 0 && H5Dwrite(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    throw g4::IoError(fmt::format("{}: cannot write dataset '{}'{}", fpath, name, h5_reason()));
}

Handle utf8_vlen_string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

}  // namespace

void H5Writer::write_f64(const std::string& dataset, std::span<const double> data,
                         const std::vector<std::int64_t>& shape) {
  require_open(fmt::format("write_f64('{}')", dataset));
  write_dataset(file_, lcpl_, path_, dataset, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data.data(),
                data.size(), shape);
}

void H5Writer::write_i64(const std::string& dataset, std::span<const std::int64_t> data,
                         const std::vector<std::int64_t>& shape) {
  require_open(fmt::format("write_i64('{}')", dataset));
  write_dataset(file_, lcpl_, path_, dataset, H5T_STD_I64LE, H5T_NATIVE_INT64, data.data(),
                data.size(), shape);
}

void H5Writer::write_strings(const std::string& dataset, const std::vector<std::string>& values) {
  require_open(fmt::format("write_strings('{}')", dataset));
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& v : values) ptrs.push_back(v.c_str());
  const Handle t = utf8_vlen_string_type();
  write_dataset(file_, lcpl_, path_, dataset, t.get(), t.get(), ptrs.data(), ptrs.size(),
                {static_cast<std::int64_t>(values.size())});
}

namespace {

void write_attr(hid_t file, const std::string& fpath, const std::string& obj,
                const std::string& name, hid_t file_type, hid_t mem_type, const void* value) {
  G4_CHECK(path_exists(file, obj), g4::IoError, "{}: no object '{}' to put attribute '{}' on",
           fpath, obj, name);
  Handle o(H5Oopen(file, obj.c_str(), H5P_DEFAULT), H5Oclose);
  if (!o.ok()) throw g4::IoError(fmt::format("{}: cannot open '{}'{}", fpath, obj, h5_reason()));
  const htri_t ex = H5Aexists(o.get(), name.c_str());
  if (ex > 0 && H5Adelete(o.get(), name.c_str()) < 0)
    throw g4::IoError(fmt::format("{}: cannot replace attribute '{}' of '{}'{}", fpath, name, obj, h5_reason()));
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(o.get(), name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
           H5Aclose);
  if (!a.ok() || H5Awrite(a.get(), mem_type, value) < 0)
    throw g4::IoError(fmt::format("{}: cannot write attribute '{}' of '{}'{}", fpath, name, obj, h5_reason()));
}

}  // namespace

void H5Writer::set_attr_string(const std::string& obj, const std::string& name,
                               std::string_view value) {
  require_open(fmt::format("set_attr_string('{}', '{}')", obj, name));
  const std::string s(value);
  const char* p = s.c_str();
  const Handle t = utf8_vlen_string_type();
  write_attr(file_, path_, obj, name, t.get(), t.get(), &p);
}

void H5Writer::set_attr_f64(const std::string& obj, const std::string& name, double value) {
  require_open(fmt::format("set_attr_f64('{}', '{}')", obj, name));
  write_attr(file_, path_, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

void H5Writer::set_attr_i64(const std::string& obj, const std::string& name, std::int64_t value) {
  require_open(fmt::format("set_attr_i64('{}', '{}')", obj, name));
  write_attr(file_, path_, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void H5Writer::commit() {
  require_open("commit()");
  if (H5Fflush(file_, H5F_SCOPE_GLOBAL) < 0)
    throw g4::IoError(fmt::format("{}: cannot flush{}", path_, h5_reason()));
  const ssize_t size = H5Fget_file_image(file_, nullptr, 0);
  if (size < 0) throw g4::IoError(fmt::format("{}: cannot get the file image{}", path_, h5_reason()));
  std::vector<char> image(static_cast<std::size_t>(size));
  if (H5Fget_file_image(file_, image.data(), image.size()) != size)
    throw g4::IoError(fmt::format("{}: cannot get the file image{}", path_, h5_reason()));
  H5Pclose(lcpl_);
  lcpl_ = -1;
  const herr_t closed = H5Fclose(file_);  // in memory: nothing on disk to fail
  file_ = -1;
  if (closed < 0) throw g4::IoError(fmt::format("{}: cannot close{}", path_, h5_reason()));
  // The image, then its data on disk before the name: a crash after the rename never shows a
  // half file. A failure here (full disk, file-size limit) leaves path untouched; the
  // destructor removes the temp file.
  for (std::size_t done = 0; done < image.size();) {
    const ssize_t n = ::write(fd_, image.data() + done, image.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : EIO;
      throw g4::IoError(fmt::format("{}: cannot write {} ({} of {} bytes written: {})", path_, tmp_, done,
                                    image.size(), std::strerror(e)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd_) != 0) {
    const int e = errno;
    throw g4::IoError(fmt::format("{}: cannot sync {} ({})", path_, tmp_, std::strerror(e)));
  }
  const int c = ::close(fd_);
  fd_ = -1;
  if (c != 0) {
    const int e = errno;
    throw g4::IoError(fmt::format("{}: cannot close {} ({})", path_, tmp_, std::strerror(e)));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    throw g4::IoError(fmt::format("{}: cannot rename {} onto it ({})", path_, tmp_, std::strerror(e)));
  }
  committed_ = true;
}

}  // namespace g4::golden
