#include "golden/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "golden/limits.hpp"
#include "reference/common/check.hpp"

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host needs byte swaps here");

namespace g4::golden {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr std::uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;  // same limit as the Rust crate
// JSON nesting allowed in a header (3 deep: object, tensor entry, shape) and in a shard index
// (object, weight_map / metadata, value). Deeper input is refused while parsing: nlohmann's
// dump() (used in messages) and other recursive walks would overflow the stack on it.
constexpr int kMaxJsonDepth = 16;

bool opens_container(nlohmann::json::parse_event_t e) {
  return e == nlohmann::json::parse_event_t::object_start || e == nlohmann::json::parse_event_t::array_start;
}

struct DTypeRow {
  DType t;
  std::string_view name;
  std::size_t size;
  bool is_float;
};
constexpr DTypeRow kDTypes[] = {
    {DType::F64, "F64", 8, true},         {DType::F32, "F32", 4, true},
    {DType::F16, "F16", 2, true},         {DType::BF16, "BF16", 2, true},
    {DType::F8_E4M3, "F8_E4M3", 1, true}, {DType::F8_E5M2, "F8_E5M2", 1, true},
    {DType::I64, "I64", 8, false},        {DType::I32, "I32", 4, false},
    {DType::I16, "I16", 2, false},        {DType::I8, "I8", 1, false},
    {DType::U64, "U64", 8, false},        {DType::U32, "U32", 4, false},
    {DType::U16, "U16", 2, false},        {DType::U8, "U8", 1, false},
    {DType::BOOL, "BOOL", 1, false},
};

const DTypeRow& row_of(DType t) {
  for (const auto& r : kDTypes)
    if (r.t == t) return r;
  throw g4::Error("unknown DType enumerator");
}

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// One line: nlohmann messages have none, but be sure.
std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::string errno_str(int e) { return std::strerror(e); }

// Product of dims times elem_size, or nullopt on overflow of int64 (numel) / uint64 (bytes).
std::optional<std::uint64_t> checked_bytes(const std::vector<std::int64_t>& shape,
                                           std::size_t elem_size, std::int64_t* numel_out) {
  std::int64_t n = 1;
  for (std::int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(n), elem_size, &bytes)) return std::nullopt;
  if (numel_out) *numel_out = n;
  return bytes;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// dtypes and conversions

std::string_view dtype_name(DType t) { return row_of(t).name; }
std::size_t dtype_size(DType t) { return row_of(t).size; }
bool dtype_is_float(DType t) { return row_of(t).is_float; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& r : kDTypes)
    if (r.name == name) return r.t;
  return std::nullopt;
}

double bf16_to_f64(std::uint16_t bits) {
  return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16));
}

double f16_to_f64(std::uint16_t bits) {
  const bool neg = bits & 0x8000u;
  const int e = (bits >> 10) & 0x1f;
  const int m = bits & 0x3ff;
  double v;
  if (e == 0x1f) {
    v = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<double>(m), -24);  // subnormal: m * 2^-14 * 2^-10
  } else {
    v = std::ldexp(static_cast<double>(m | 0x400), e - 25);  // 1.m * 2^(e-15)
  }
  return neg ? -v : v;
}

double f8_e4m3_to_f64(std::uint8_t bits) {
  const bool neg = bits & 0x80u;
  const int e = (bits >> 3) & 0xf;
  const int m = bits & 0x7;
  double v;
  if (e == 0xf && m == 0x7) {
    v = std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<double>(m), -9);  // m * 2^-6 * 2^-3
  } else {
    v = std::ldexp(static_cast<double>(m | 0x8), e - 10);  // 1.m * 2^(e-7)
  }
  return neg ? -v : v;
}

double f8_e5m2_to_f64(std::uint8_t bits) {
  const bool neg = bits & 0x80u;
  const int e = (bits >> 2) & 0x1f;
  const int m = bits & 0x3;
  double v;
  if (e == 0x1f) {
    v = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<double>(m), -16);  // m * 2^-14 * 2^-2
  } else {
    v = std::ldexp(static_cast<double>(m | 0x4), e - 17);  // 1.m * 2^(e-15)
  }
  return neg ? -v : v;
}

void convert_to_f64(DType t, const std::byte* src, std::size_t n, double* dst,
                    std::string_view what) {
  constexpr std::int64_t kExact = std::int64_t{1} << 53;  // |x| <= 2^53 is exact in a double
  if (n == 0) return;  // an empty tensor: src and dst may be null (memcpy must not see them)
  switch (t) {
    case DType::F64:
      std::memcpy(dst, src, n * sizeof(double));
      return;
    case DType::F32:
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<double>(load<float>(src + 4 * i));
      return;
    case DType::F16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = f16_to_f64(load<std::uint16_t>(src + 2 * i));
      return;
    case DType::BF16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_f64(load<std::uint16_t>(src + 2 * i));
      return;
    case DType::F8_E4M3:
      for (std::size_t i = 0; i < n; ++i) dst[i] = f8_e4m3_to_f64(load<std::uint8_t>(src + i));
      return;
    case DType::F8_E5M2:
      for (std::size_t i = 0; i < n; ++i) dst[i] = f8_e5m2_to_f64(load<std::uint8_t>(src + i));
      return;
    case DType::I64:
      for (std::size_t i = 0; i < n; ++i) {
        const auto v = load<std::int64_t>(src + 8 * i);
        G4_CHECK(v >= -kExact && v <= kExact, g4::DataError,
                 "{}: element {} = {} (I64) is not exactly representable as a double", what, i, v);
        dst[i] = static_cast<double>(v);
      }
      return;
    case DType::U64:
      for (std::size_t i = 0; i < n; ++i) {
        const auto v = load<std::uint64_t>(src + 8 * i);
        G4_CHECK(v <= static_cast<std::uint64_t>(kExact), g4::DataError,
                 "{}: element {} = {} (U64) is not exactly representable as a double", what, i, v);
        dst[i] = static_cast<double>(v);
      }
      return;
    case DType::I32:
      for (std::size_t i = 0; i < n; ++i) dst[i] = load<std::int32_t>(src + 4 * i);
      return;
    case DType::U32:
      for (std::size_t i = 0; i < n; ++i) dst[i] = load<std::uint32_t>(src + 4 * i);
      return;
    case DType::I16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = load<std::int16_t>(src + 2 * i);
      return;
    case DType::U16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = load<std::uint16_t>(src + 2 * i);
      return;
    case DType::I8:
      for (std::size_t i = 0; i < n; ++i) dst[i] = load<std::int8_t>(src + i);
      return;
    case DType::U8:
      for (std::size_t i = 0; i < n; ++i) dst[i] = load<std::uint8_t>(src + i);
      return;
    case DType::BOOL:
      for (std::size_t i = 0; i < n; ++i) {
        const auto v = load<std::uint8_t>(src + i);
        G4_CHECK(v <= 1, g4::DataError, "{}: element {} = {} is not a BOOL (0 or 1)", what, i, v);
        dst[i] = v;
      }
      return;
  }
  throw g4::Error("convert_to_f64: unknown DType");
}

std::string shape_str(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;  // validated at parse time not to overflow
  return n;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile::SafetensorsFile(const fs::path& path) : path_(path.string()) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    const int e = errno;
    throw g4::IoError(fmt::format("{}: cannot open safetensors file ({})", path_, errno_str(e)));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int e = errno;
    ::close(fd_);
    throw g4::IoError(fmt::format("{}: cannot stat ({})", path_, errno_str(e)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw g4::IoError(fmt::format("{}: not a regular file, expected a .safetensors file", path_));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd_);
    throw g4::IoError(fmt::format(
        "{}: file is {} bytes, shorter than the 8-byte header length of a safetensors file",
        path_, size_));
  }
  void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
  if (m == MAP_FAILED) {
    const int e = errno;
    ::close(fd_);
    throw g4::IoError(fmt::format("{}: cannot mmap {} bytes ({})", path_, size_, errno_str(e)));
  }
  map_ = static_cast<const std::byte*>(m);
  try {
    parse_header();
  } catch (...) {
    ::munmap(const_cast<std::byte*>(map_), size_);
    ::close(fd_);
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<std::byte*>(map_), size_);
  if (fd_ >= 0) ::close(fd_);
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept
    : path_(std::move(o.path_)),
      fd_(std::exchange(o.fd_, -1)),
      map_(std::exchange(o.map_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      data_start_(o.data_start_),
      tensors_(std::move(o.tensors_)),
      metadata_(std::move(o.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(const_cast<std::byte*>(map_), size_);
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
    map_ = std::exchange(o.map_, nullptr);
    size_ = std::exchange(o.size_, 0);
    data_start_ = o.data_start_;
    tensors_ = std::move(o.tensors_);
    metadata_ = std::move(o.metadata_);
  }
  return *this;
}

std::uint64_t SafetensorsFile::data_size() const { return size_ - data_start_; }

void SafetensorsFile::parse_header() {
  const std::uint64_t n = load<std::uint64_t>(map_);
  G4_CHECK(n <= kMaxHeaderBytes, g4::IoError,
           "{}: header length {} is over the {}-byte limit; not a safetensors file?", path_, n,
           kMaxHeaderBytes);
  G4_CHECK(n <= size_ - 8, g4::IoError,
           "{}: header length {} runs past the end of the file ({} bytes after the length)",
           path_, n, size_ - 8);
  G4_CHECK(n >= 2, g4::IoError, "{}: header length {} is too short for a JSON object", path_, n);
  data_start_ = 8 + n;
  const std::uint64_t data_size = size_ - data_start_;

  const char* text = reinterpret_cast<const char*>(map_ + 8);
  json header;
  // Duplicate top-level keys would silently shadow each other: reject them while parsing.
  std::set<std::string> seen;
  std::string duplicate;
  const json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    G4_CHECK(!(opens_container(event) && depth >= kMaxJsonDepth), g4::IoError,
             "{}: header nests JSON deeper than {} levels; not a safetensors header", path_, kMaxJsonDepth);
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      if (!seen.insert(parsed.get<std::string>()).second && duplicate.empty())
        duplicate = parsed.get<std::string>();
    }
    return true;
  };
  try {
    header = json::parse(text, text + n, cb, /*allow_exceptions=*/true);
  } catch (const json::exception& e) {
    throw g4::IoError(fmt::format("{}: header is not valid JSON ({})", path_, one_line(e.what())));
  }
  G4_CHECK(header.is_object(), g4::IoError, "{}: header is JSON {} but must be an object", path_,
           header.type_name());
  G4_CHECK(duplicate.empty(), g4::IoError, "{}: tensor '{}' appears twice in the header", path_,
           duplicate);

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      G4_CHECK(v.is_object(), g4::IoError, "{}: __metadata__ is {} but must be an object of strings",
               path_, v.type_name());
      for (auto m = v.begin(); m != v.end(); ++m) {
        G4_CHECK(m.value().is_string(), g4::IoError,
                 "{}: __metadata__ entry '{}' is {} but must be a string", path_, m.key(),
                 m.value().type_name());
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", path_, name);
    G4_CHECK(v.is_object(), g4::IoError, "{}: entry is {} but must be an object", where,
             v.type_name());
    for (const char* key : {"dtype", "shape", "data_offsets"})
      G4_CHECK(v.contains(key), g4::IoError, "{}: missing \"{}\"", where, key);

    TensorInfo t;
    t.name = name;
    const json& jd = v["dtype"];
    G4_CHECK(jd.is_string(), g4::IoError, "{}: dtype is {} but must be a string", where,
             jd.type_name());
    const auto dt = dtype_from_name(jd.get<std::string>());
    G4_CHECK(dt.has_value(), g4::IoError,
             "{}: unknown dtype '{}' (expected one of F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 "
             "I16 I8 U64 U32 U16 U8 BOOL)",
             where, jd.get<std::string>());
    t.dtype = *dt;

    const json& js = v["shape"];
    G4_CHECK(js.is_array(), g4::IoError, "{}: shape is {} but must be an array", where,
             js.type_name());
    for (const json& d : js) {
      G4_CHECK(d.is_number_unsigned() ||
                   (d.is_number_integer() && d.get<std::int64_t>() >= 0),
               g4::IoError, "{}: shape {} must hold non-negative integers", where, js.dump());
      G4_CHECK(d.get<std::uint64_t>() <=
                   static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
               g4::IoError, "{}: shape {} has a dimension over 2^63-1", where, js.dump());
      t.shape.push_back(static_cast<std::int64_t>(d.get<std::uint64_t>()));
    }

    const json& jo = v["data_offsets"];
    G4_CHECK(jo.is_array() && jo.size() == 2 && jo[0].is_number_unsigned() &&
                 jo[1].is_number_unsigned(),
             g4::IoError, "{}: data_offsets {} must be [begin, end], two non-negative integers",
             where, jo.dump());
    t.begin = jo[0].get<std::uint64_t>();
    t.end = jo[1].get<std::uint64_t>();
    G4_CHECK(t.begin <= t.end, g4::IoError, "{}: data_offsets [{}, {}] have begin after end",
             where, t.begin, t.end);
    G4_CHECK(t.end <= data_size, g4::IoError,
             "{}: data_offsets [{}, {}] run past the end of the data section ({} bytes); "
             "truncated file?",
             where, t.begin, t.end, data_size);

    std::int64_t numel = 0;
    const auto need = checked_bytes(t.shape, dtype_size(t.dtype), &numel);
    G4_CHECK(need.has_value(), g4::IoError,
             "{}: shape {} of {} overflows a 64-bit element/byte count", where,
             shape_str(t.shape), dtype_name(t.dtype));
    G4_CHECK(*need == t.end - t.begin, g4::IoError,
             "{}: data_offsets [{}, {}] hold {} bytes but shape {} of {} needs {}", where, t.begin,
             t.end, t.end - t.begin, shape_str(t.shape), dtype_name(t.dtype), *need);
    tensors_.emplace(name, std::move(t));
  }

  // No two tensors may share a byte (empty tensors own no bytes).
  std::vector<const TensorInfo*> by_offset;
  for (const auto& [name, t] : tensors_)
    if (t.end > t.begin) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& a = *by_offset[i - 1];
    const TensorInfo& b = *by_offset[i];
    G4_CHECK(a.end <= b.begin, g4::IoError,
             "{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap; each byte must belong to one "
             "tensor",
             path_, a.name, a.begin, a.end, b.name, b.begin, b.end);
  }
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

bool SafetensorsFile::has(const std::string& name) const { return tensors_.count(name) != 0; }

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  G4_CHECK(it != tensors_.end(), g4::IoError, "{}: no tensor '{}' ({} tensors in the file)",
           path_, name, tensors_.size());
  return it->second;
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorInfo& t) const {
  return {map_ + data_start_ + t.begin, static_cast<std::size_t>(t.end - t.begin)};
}

void SafetensorsFile::release(const TensorInfo& t) const {
  if (t.end == t.begin) return;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t lo = (data_start_ + t.begin) / page * page;
  const std::uint64_t hi = data_start_ + t.end;
  // Read-only private file mapping: dropped pages refault from the file if touched again.
  ::madvise(const_cast<std::byte*>(map_) + lo, hi - lo, MADV_DONTNEED);
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Resolves a directory to the file to open: model.safetensors, model.safetensors.index.json, or
// the one *.safetensors.index.json in it.
fs::path resolve_dir(const fs::path& dir) {
  if (fs::is_regular_file(dir / "model.safetensors")) return dir / "model.safetensors";
  if (fs::is_regular_file(dir / "model.safetensors.index.json"))
    return dir / "model.safetensors.index.json";
  std::vector<fs::path> indexes;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && ends_with(e.path().filename().string(), ".safetensors.index.json"))
      indexes.push_back(e.path());
  G4_CHECK(!ec, g4::IoError, "{}: cannot list directory ({})", dir.string(), ec.message());
  G4_CHECK(!indexes.empty(), g4::IoError,
           "{}: no model.safetensors and no *.safetensors.index.json in this directory",
           dir.string());
  G4_CHECK(indexes.size() == 1, g4::IoError,
           "{}: {} *.safetensors.index.json files, expected one (pass the index file itself)",
           dir.string(), indexes.size());
  return indexes.front();
}

}  // namespace

Checkpoint::Checkpoint(const fs::path& path) : path_(path.string()) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  G4_CHECK(fs::exists(st), g4::IoError, "{}: no such file or directory (expected a .safetensors "
           "file, a *.safetensors.index.json or a directory holding one)", path_);
  const fs::path target = fs::is_directory(st) ? resolve_dir(path) : path;

  if (!ends_with(target.filename().string(), ".json")) {
    files_.push_back(std::make_unique<SafetensorsFile>(target));
    for (const auto& [name, t] : files_[0]->tensors_) where_.emplace(name, Where{0, &t});
    return;
  }

  // Sharded checkpoint: {"metadata": {...}, "weight_map": {tensor: shard file}}.
  const std::string ipath = target.string();
  std::ifstream in(target, std::ios::binary);
  G4_CHECK(in.good(), g4::IoError, "{}: cannot open index file", ipath);
  json index;
  const json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json&) {
    G4_CHECK(!(opens_container(event) && depth >= kMaxJsonDepth), g4::IoError,
             "{}: index nests JSON deeper than {} levels; not a shard index", ipath, kMaxJsonDepth);
    return true;
  };
  try {
    index = json::parse(in, cb);
  } catch (const json::exception& e) {
    throw g4::IoError(fmt::format("{}: index is not valid JSON ({})", ipath, one_line(e.what())));
  }
  G4_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
           g4::IoError, "{}: index must be a JSON object with a \"weight_map\" object", ipath);
  const json& wm = index["weight_map"];
  const fs::path dir = target.parent_path();
  std::map<std::string, std::size_t> shard_ids;  // shard file name -> files_ index
  for (auto it = wm.begin(); it != wm.end(); ++it) {
    G4_CHECK(it.value().is_string(), g4::IoError,
             "{}: weight_map entry '{}' is {} but must be a shard file name", ipath, it.key(),
             it.value().type_name());
    const std::string shard = it.value().get<std::string>();
    // A plain file name beside the index (as transformers writes them): no directories, so an
    // index cannot point outside its checkpoint ("../../x").
    G4_CHECK(!shard.empty() && shard != "." && shard != ".." && shard.find('/') == std::string::npos,
             g4::IoError,
             "{}: weight_map entry '{}' names shard '{}', expected a file name relative to the "
             "index (in its directory)",
             ipath, it.key(), shard);
    auto [sit, inserted] = shard_ids.emplace(shard, files_.size());
    if (inserted) {
      const fs::path shard_path = dir / shard;
      std::error_code sec;
      const bool there = fs::exists(shard_path, sec);
      G4_CHECK(!sec || sec == std::errc::no_such_file_or_directory, g4::IoError,
               "{}: shard '{}' (holding tensor '{}') cannot be read: {} ({})", ipath, shard, it.key(),
               shard_path.string(), sec.message());
      G4_CHECK(there, g4::IoError,
               "{}: shard '{}' (holding tensor '{}') is missing: no file {}", ipath, shard,
               it.key(), shard_path.string());
      files_.push_back(std::make_unique<SafetensorsFile>(shard_path));
    }
    const SafetensorsFile& f = *files_[sit->second];
    const auto t = f.tensors_.find(it.key());
    G4_CHECK(t != f.tensors_.end(), g4::IoError,
             "{}: weight_map puts tensor '{}' in shard '{}', but that file has no such tensor",
             ipath, it.key(), shard);
    where_.emplace(it.key(), Where{sit->second, &t->second});
  }
}

Checkpoint::~Checkpoint() = default;
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, w] : where_) out.push_back(name);
  return out;
}

bool Checkpoint::has(const std::string& name) const { return where_.count(name) != 0; }

const Checkpoint::Where& Checkpoint::where(const std::string& name) const {
  const auto it = where_.find(name);
  G4_CHECK(it != where_.end(), g4::IoError, "{}: no tensor '{}' in the checkpoint ({} tensors)",
           path_, name, where_.size());
  return it->second;
}

const TensorInfo& Checkpoint::info(const std::string& name) const { return *where(name).info; }

const SafetensorsFile& Checkpoint::file_of(const std::string& name) const {
  return *files_[where(name).file];
}

std::span<const std::byte> Checkpoint::raw(const std::string& name) const {
  const Where& w = where(name);
  return files_[w.file]->bytes(*w.info);
}

void Checkpoint::release(const std::string& name) const {
  const Where& w = where(name);
  files_[w.file]->release(*w.info);
}

namespace {

// Throws DataError at the first non-finite value; `offset` is the flat index of out[0] in the
// tensor (for row reads), so the reported index is the tensor's own.
void check_finite(const std::string& file, const TensorInfo& t, const double* v, std::size_t n,
                  std::uint64_t offset) {
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isfinite(v[i])) continue;
    std::vector<std::int64_t> idx(t.shape.size());
    std::uint64_t flat = offset + i;
    for (std::size_t k = t.shape.size(); k-- > 0;) {
      idx[k] = static_cast<std::int64_t>(flat % static_cast<std::uint64_t>(t.shape[k]));
      flat /= static_cast<std::uint64_t>(t.shape[k]);
    }
    throw g4::DataError(fmt::format(
        "{}: tensor '{}': element {} (index {}) is {}; weights must be finite", file, t.name,
        offset + i, shape_str(idx), std::isnan(v[i]) ? "nan" : (v[i] > 0 ? "+inf" : "-inf")));
  }
}

void widen(const SafetensorsFile& f, const TensorInfo& t, std::uint64_t first, std::size_t n,
           double* out) {
  const std::size_t es = dtype_size(t.dtype);
  const std::byte* src = f.bytes(t).data() + first * es;
  convert_to_f64(t.dtype, src, n, out, fmt::format("{}: tensor '{}'", f.path(), t.name));
  check_finite(f.path(), t, out, n, first);
}

}  // namespace

std::vector<double> Checkpoint::read(const std::string& name) const {
  const Where& w = where(name);
  const TensorInfo& t = *w.info;
  std::vector<double> out(check_read_size(
      fmt::format("{}: tensor '{}'", files_[w.file]->path(), name), t.shape, 8, "float64"));
  widen(*files_[w.file], t, 0, out.size(), out.data());
  return out;
}

std::vector<double> Checkpoint::read_shaped(const std::string& name,
                                            const std::vector<std::int64_t>& expected) const {
  const Where& w = where(name);
  G4_CHECK(w.info->shape == expected, g4::IoError,
           "{}: tensor '{}' has shape {} ({}), expected {}", files_[w.file]->path(), name,
           shape_str(w.info->shape), dtype_name(w.info->dtype), shape_str(expected));
  return read(name);
}

g4::Mat Checkpoint::read_mat(const std::string& name, index_t rows, index_t cols) const {
  const auto v = read_shaped(name, {rows, cols});
  g4::Mat m = g4::Mat::from_shape({static_cast<std::size_t>(rows), static_cast<std::size_t>(cols)});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

g4::Vec Checkpoint::read_vec(const std::string& name, index_t n) const {
  const Where& w = where(name);
  const auto& s = w.info->shape;
  const bool ok = (s.size() == 1 && s[0] == n) || (n == 1 && s.empty());
  G4_CHECK(ok, g4::IoError, "{}: tensor '{}' has shape {} ({}), expected [{}]{}",
           files_[w.file]->path(), name, shape_str(s), dtype_name(w.info->dtype), n,
           n == 1 ? " or []" : "");
  const auto v = read(name);
  g4::Vec out = g4::Vec::from_shape({static_cast<std::size_t>(n)});
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

std::vector<double> Checkpoint::read_rows(const std::string& name,
                                          const std::vector<std::int64_t>& row_ids) const {
  const Where& w = where(name);
  const TensorInfo& t = *w.info;
  const SafetensorsFile& f = *files_[w.file];
  G4_CHECK(t.shape.size() == 2, g4::IoError,
           "{}: tensor '{}' has shape {}, expected a 2-D [rows, cols] tensor for row reads",
           f.path(), name, shape_str(t.shape));
  const std::int64_t R = t.shape[0], C = t.shape[1];
  std::vector<double> out(check_read_size(  // row-major [ids, C]
      fmt::format("{}: tensor '{}' rows", f.path(), name),
      {static_cast<std::int64_t>(row_ids.size()), C}, 8, "float64"));
  for (std::size_t i = 0; i < row_ids.size(); ++i) {
    const std::int64_t r = row_ids[i];
    G4_CHECK(r >= 0 && r < R, g4::ShapeError,
             "{}: tensor '{}' {}: row id {} (position {}) is outside [0, {})", f.path(), name,
             shape_str(t.shape), r, i, R);
    widen(f, t, static_cast<std::uint64_t>(r) * static_cast<std::uint64_t>(C),
          static_cast<std::size_t>(C), out.data() + i * static_cast<std::size_t>(C));
  }
  return out;
}

g4::Mat Checkpoint::read_row_block(const std::string& name, index_t row_begin,
                                   index_t count) const {
  const Where& w = where(name);
  const TensorInfo& t = *w.info;
  const SafetensorsFile& f = *files_[w.file];
  G4_CHECK(t.shape.size() == 2, g4::IoError,
           "{}: tensor '{}' has shape {}, expected a 2-D [rows, cols] tensor for row reads",
           f.path(), name, shape_str(t.shape));
  const std::int64_t R = t.shape[0], C = t.shape[1];
  G4_CHECK(row_begin >= 0 && count >= 0 && row_begin <= R && count <= R - row_begin,
           g4::ShapeError, "{}: tensor '{}' {}: rows [{}, {}) are outside [0, {})", f.path(), name,
           shape_str(t.shape), row_begin, row_begin + count, R);
  check_read_size(fmt::format("{}: tensor '{}' rows", f.path(), name), {count, C}, 8, "float64");
  g4::Mat m = g4::Mat::from_shape({static_cast<std::size_t>(count), static_cast<std::size_t>(C)});
  widen(f, t, static_cast<std::uint64_t>(row_begin) * static_cast<std::uint64_t>(C),
        static_cast<std::size_t>(count * C), m.data());
  return m;
}

}  // namespace g4::golden
