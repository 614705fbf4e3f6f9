// Tests for golden/safetensors: exact widening of every float dtype, single, directory and
// sharded checkpoints, row reads from the mmap, and one-line errors for every bad input.
#define BOOST_TEST_MODULE test_safetensors
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "golden/safetensors.hpp"
#include "reference/common/check.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace g4::golden;

namespace {

// A fresh directory per test case, removed afterwards.
struct TempDir {
  fs::path dir;
  TempDir() {
    static int counter = 0;
    dir = fs::temp_directory_path() /
          ("g4_test_safetensors_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
};

// One tensor for the test writer: dtype name, shape and its raw little-endian bytes.
struct Entry {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
};

template <class T>
std::vector<std::byte> as_bytes(const std::vector<T>& v) {
  std::vector<std::byte> out(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

void write_raw(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// 8-byte little-endian length + header text (space-padded to a multiple of 8) + data.
std::vector<std::byte> file_bytes(std::string header, const std::vector<std::byte>& data) {
  while ((8 + header.size()) % 8 != 0) header.push_back(' ');
  std::vector<std::byte> out(8);
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  for (char c : header) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// Writes a valid safetensors file with the tensors laid out back to back.
void write_safetensors(const std::string& path, const std::vector<Entry>& entries,
                       const json& metadata = nullptr) {
  json header = json::object();
  if (!metadata.is_null()) header["__metadata__"] = metadata;
  std::vector<std::byte> data;
  for (const auto& e : entries) {
    const std::uint64_t begin = data.size();
    data.insert(data.end(), e.bytes.begin(), e.bytes.end());
    header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {begin, data.size()}}};
  }
  write_raw(path, file_bytes(header.dump(), data));
}

// Runs f, expects exception E, returns its message (checked to be one line).
template <class E>
std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find('\n') == std::string::npos, "message is one line: " << m);
    BOOST_TEST_MESSAGE("  error: " << m);
    return m;
  } catch (const std::exception& e) {
    BOOST_ERROR("wrong exception type: " << e.what());
    return {};
  }
  BOOST_ERROR("no exception thrown");
  return {};
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

#define CHECK_HAS(msg, part) BOOST_TEST(contains(msg, part), "'" << (msg) << "' contains '" << (part) << "'")

long resident_bytes() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// conversions

BOOST_AUTO_TEST_CASE(dtype_table) {
  for (const char* n : {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I64", "I32", "I16",
                        "I8", "U64", "U32", "U16", "U8", "BOOL"}) {
    const auto t = dtype_from_name(n);
    BOOST_TEST_REQUIRE(t.has_value());
    BOOST_TEST(dtype_name(*t) == n);
  }
  BOOST_TEST(!dtype_from_name("F128").has_value());
  BOOST_TEST(!dtype_from_name("f32").has_value());
  BOOST_TEST(dtype_size(DType::F64) == 8u);
  BOOST_TEST(dtype_size(DType::BF16) == 2u);
  BOOST_TEST(dtype_size(DType::BOOL) == 1u);
  BOOST_TEST(dtype_is_float(DType::F8_E5M2));
  BOOST_TEST(!dtype_is_float(DType::I32));
}

BOOST_AUTO_TEST_CASE(f16_all_65536_patterns_match_the_compiler) {
  // _Float16 (GCC 12, x86-64) is an independent oracle for IEEE binary16 -> double.
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const double want = static_cast<double>(std::bit_cast<_Float16>(bits));
    const double got = f16_to_f64(bits);
    if (std::isnan(want)) {
      BOOST_TEST_REQUIRE(std::isnan(got), "bits " << b);
    } else {
      BOOST_TEST_REQUIRE(std::bit_cast<std::uint64_t>(got) == std::bit_cast<std::uint64_t>(want),
                         "bits " << b);
    }
  }
}

BOOST_AUTO_TEST_CASE(f16_named_values) {
  BOOST_TEST(f16_to_f64(0x3C00) == 1.0);
  BOOST_TEST(f16_to_f64(0xC000) == -2.0);
  BOOST_TEST(f16_to_f64(0x7BFF) == 65504.0);
  BOOST_TEST(f16_to_f64(0x0400) == std::ldexp(1.0, -14));       // smallest normal
  BOOST_TEST(f16_to_f64(0x0001) == std::ldexp(1.0, -24));       // smallest subnormal
  BOOST_TEST(f16_to_f64(0x03FF) == std::ldexp(1023.0, -24));    // largest subnormal
  BOOST_TEST(f16_to_f64(0x3555) == 0.333251953125);
  BOOST_TEST(std::signbit(f16_to_f64(0x8000)));
  BOOST_TEST(f16_to_f64(0x8000) == 0.0);
  BOOST_TEST(f16_to_f64(0x7C00) == std::numeric_limits<double>::infinity());
  BOOST_TEST(f16_to_f64(0xFC00) == -std::numeric_limits<double>::infinity());
  BOOST_TEST(std::isnan(f16_to_f64(0x7E00)));
  BOOST_TEST(std::isnan(f16_to_f64(0x7C01)));
  BOOST_TEST(std::isnan(f16_to_f64(0xFFFF)));
}

BOOST_AUTO_TEST_CASE(bf16_all_patterns_and_named_values) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const double want = static_cast<double>(std::bit_cast<float>(b << 16));
    const double got = bf16_to_f64(static_cast<std::uint16_t>(b));
    if (std::isnan(want)) {
      BOOST_TEST_REQUIRE(std::isnan(got));
    } else {
      BOOST_TEST_REQUIRE(std::bit_cast<std::uint64_t>(got) == std::bit_cast<std::uint64_t>(want));
    }
  }
  BOOST_TEST(bf16_to_f64(0x3F80) == 1.0);
  BOOST_TEST(bf16_to_f64(0xC040) == -3.0);
  BOOST_TEST(bf16_to_f64(0x3FC0) == 1.5);
  BOOST_TEST(bf16_to_f64(0x7F7F) == 3.3895313892515355e38);     // largest finite
  BOOST_TEST(bf16_to_f64(0x0080) == std::ldexp(1.0, -126));     // smallest normal
  BOOST_TEST(bf16_to_f64(0x0001) == std::ldexp(1.0, -133));     // smallest subnormal
  BOOST_TEST(std::signbit(bf16_to_f64(0x8000)));
  BOOST_TEST(bf16_to_f64(0x7F80) == std::numeric_limits<double>::infinity());
  BOOST_TEST(bf16_to_f64(0xFF80) == -std::numeric_limits<double>::infinity());
  BOOST_TEST(std::isnan(bf16_to_f64(0x7FC0)));
  BOOST_TEST(std::isnan(bf16_to_f64(0x7F81)));
}

BOOST_AUTO_TEST_CASE(f8_named_values) {
  // E4M3 (fn): bias 7, max 448, no inf, S.1111.111 is nan.
  BOOST_TEST(f8_e4m3_to_f64(0x38) == 1.0);
  BOOST_TEST(f8_e4m3_to_f64(0x7E) == 448.0);
  BOOST_TEST(f8_e4m3_to_f64(0xFE) == -448.0);
  BOOST_TEST(f8_e4m3_to_f64(0x78) == 256.0);                    // e=15, m=0 is finite
  BOOST_TEST(f8_e4m3_to_f64(0x08) == std::ldexp(1.0, -6));      // smallest normal
  BOOST_TEST(f8_e4m3_to_f64(0x01) == std::ldexp(1.0, -9));      // smallest subnormal
  BOOST_TEST(std::isnan(f8_e4m3_to_f64(0x7F)));
  BOOST_TEST(std::isnan(f8_e4m3_to_f64(0xFF)));
  // E5M2: bias 15, max 57344, inf and nan like IEEE.
  BOOST_TEST(f8_e5m2_to_f64(0x3C) == 1.0);
  BOOST_TEST(f8_e5m2_to_f64(0x7B) == 57344.0);
  BOOST_TEST(f8_e5m2_to_f64(0x04) == std::ldexp(1.0, -14));
  BOOST_TEST(f8_e5m2_to_f64(0x01) == std::ldexp(1.0, -16));
  BOOST_TEST(f8_e5m2_to_f64(0x7C) == std::numeric_limits<double>::infinity());
  BOOST_TEST(f8_e5m2_to_f64(0xFC) == -std::numeric_limits<double>::infinity());
  BOOST_TEST(std::isnan(f8_e5m2_to_f64(0x7D)));
  // E5M2 is the top byte of binary16: check all 256 against f16.
  for (std::uint32_t b = 0; b < 256; ++b) {
    const double a = f8_e5m2_to_f64(static_cast<std::uint8_t>(b));
    const double h = f16_to_f64(static_cast<std::uint16_t>(b << 8));
    BOOST_TEST_REQUIRE((std::isnan(a) ? std::isnan(h) : a == h), "bits " << b);
  }
}

// ---------------------------------------------------------------------------------------------
// reading files

BOOST_AUTO_TEST_CASE(reads_every_float_dtype_exactly) {
  TempDir tmp;
  const std::vector<double> f64 = {0.1, -1e300, 4.9e-324, 1.0 / 3.0, -0.0, 12345.678};
  const std::vector<float> f32 = {0.1f, -3.5f, 1e-45f, 3.4028235e38f};
  const std::vector<std::uint16_t> bf16 = {0x3F80, 0xC040, 0x0001, 0x7F7F, 0x8000, 0x3DCD};
  const std::vector<std::uint16_t> f16 = {0x3C00, 0x0001, 0x03FF, 0x7BFF, 0x8000, 0x3555};
  const std::vector<std::uint8_t> e4m3 = {0x38, 0x7E, 0x01, 0xB8};
  write_safetensors(tmp / "m.safetensors",
                    {{"a.f64", "F64", {2, 3}, as_bytes(f64)},
                     {"b.f32", "F32", {4}, as_bytes(f32)},
                     {"c.bf16", "BF16", {3, 2}, as_bytes(bf16)},
                     {"d.f16", "F16", {6}, as_bytes(f16)},
                     {"e.f8", "F8_E4M3", {4}, as_bytes(e4m3)}},
                    json{{"format", "pt"}});
  const Checkpoint ck(tmp / "m.safetensors");
  BOOST_TEST(ck.size() == 5u);
  BOOST_TEST(ck.num_files() == 1u);
  BOOST_TEST(ck.names() == (std::vector<std::string>{"a.f64", "b.f32", "c.bf16", "d.f16", "e.f8"}),
             boost::test_tools::per_element());
  BOOST_TEST(ck.file_of("a.f64").metadata().at("format") == "pt");
  BOOST_TEST(ck.has("a.f64"));
  BOOST_TEST(!ck.has("zz"));
  BOOST_TEST(dtype_name(ck.info("c.bf16").dtype) == "BF16");
  BOOST_TEST(ck.info("c.bf16").shape == (std::vector<std::int64_t>{3, 2}),
             boost::test_tools::per_element());
  BOOST_TEST(ck.info("c.bf16").numel() == 6);
  BOOST_TEST(ck.raw("c.bf16").size() == 12u);

  const auto a = ck.read("a.f64");
  BOOST_TEST_REQUIRE(a.size() == f64.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    BOOST_TEST(std::bit_cast<std::uint64_t>(a[i]) == std::bit_cast<std::uint64_t>(f64[i]));
  const auto m = ck.read_mat("a.f64", 2, 3);
  BOOST_TEST(m(1, 0) == 1.0 / 3.0);
  BOOST_TEST(m(0, 2) == 4.9e-324);

  const auto b = ck.read_vec("b.f32", 4);
  for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(b(i) == static_cast<double>(f32[i]));

  const auto c = ck.read_mat("c.bf16", 3, 2);
  BOOST_TEST(c(0, 0) == 1.0);
  BOOST_TEST(c(0, 1) == -3.0);
  BOOST_TEST(c(1, 0) == std::ldexp(1.0, -133));
  BOOST_TEST(c(1, 1) == 3.3895313892515355e38);
  BOOST_TEST(std::signbit(c(2, 0)));
  BOOST_TEST(c(2, 1) == static_cast<double>(std::bit_cast<float>(0x3DCD0000u)));

  const auto d = ck.read("d.f16");
  BOOST_TEST(d[0] == 1.0);
  BOOST_TEST(d[1] == std::ldexp(1.0, -24));
  BOOST_TEST(d[2] == std::ldexp(1023.0, -24));
  BOOST_TEST(d[3] == 65504.0);
  BOOST_TEST((d[4] == 0.0 && std::signbit(d[4])));
  BOOST_TEST(d[5] == 0.333251953125);

  const auto e = ck.read("e.f8");
  BOOST_TEST(e == (std::vector<double>{1.0, 448.0, std::ldexp(1.0, -9), -1.0}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(integer_dtypes_and_shapes) {
  TempDir tmp;
  const std::vector<std::int64_t> i64 = {-5, 0, std::int64_t{1} << 53};
  const std::vector<std::int32_t> i32 = {-7, 2147483647};
  const std::vector<std::uint8_t> u8 = {0, 255};
  const std::vector<std::uint8_t> boolean = {1, 0, 1};
  const std::vector<double> scalar = {2.5};
  const std::vector<double> one = {-1.5};
  std::vector<float> experts(2 * 4 * 3);
  for (std::size_t i = 0; i < experts.size(); ++i) experts[i] = static_cast<float>(i) * 0.5f;
  write_safetensors(tmp / "m.safetensors",
                    {{"i64", "I64", {3}, as_bytes(i64)},
                     {"i32", "I32", {2}, as_bytes(i32)},
                     {"u8", "U8", {2}, as_bytes(u8)},
                     {"bool", "BOOL", {3}, as_bytes(boolean)},
                     {"scalar", "F64", {}, as_bytes(scalar)},
                     {"one", "F64", {1}, as_bytes(one)},
                     {"empty", "F32", {0, 4}, {}},
                     {"experts", "F32", {2, 4, 3}, as_bytes(experts)}});
  const Checkpoint ck(tmp / "m.safetensors");
  BOOST_TEST(ck.read("i64") == (std::vector<double>{-5, 0, 9007199254740992.0}),
             boost::test_tools::per_element());
  BOOST_TEST(ck.read("i32") == (std::vector<double>{-7, 2147483647}), boost::test_tools::per_element());
  BOOST_TEST(ck.read("u8") == (std::vector<double>{0, 255}), boost::test_tools::per_element());
  BOOST_TEST(ck.read("bool") == (std::vector<double>{1, 0, 1}), boost::test_tools::per_element());
  BOOST_TEST(ck.read_vec("scalar", 1)(0) == 2.5);
  BOOST_TEST(ck.read_vec("one", 1)(0) == -1.5);
  BOOST_TEST(ck.read("empty").empty());
  BOOST_TEST(ck.read_mat("empty", 0, 4).size() == 0u);
  const auto ex = ck.read_shaped("experts", {2, 4, 3});
  BOOST_TEST_REQUIRE(ex.size() == 24u);
  BOOST_TEST(ex[1 * 12 + 2 * 3 + 1] == 0.5 * (12 + 6 + 1));  // [1, 2, 1] row-major
  const std::string msg =
      message_of<g4::IoError>([&] { (void)ck.read_shaped("experts", {2, 3, 4}); });
  CHECK_HAS(msg, "tensor 'experts' has shape [2, 4, 3] (F32), expected [2, 3, 4]");
  CHECK_HAS(msg, tmp / "m.safetensors");
}

BOOST_AUTO_TEST_CASE(integers_past_2_pow_53_are_a_data_error) {
  TempDir tmp;
  const std::vector<std::int64_t> big = {1, (std::int64_t{1} << 53) + 1};
  write_safetensors(tmp / "m.safetensors", {{"ids", "I64", {2}, as_bytes(big)}});
  const Checkpoint ck(tmp / "m.safetensors");
  const auto msg = message_of<g4::DataError>([&] { (void)ck.read("ids"); });
  CHECK_HAS(msg, "tensor 'ids'");
  CHECK_HAS(msg, "element 1 = 9007199254740993");
}

BOOST_AUTO_TEST_CASE(directory_with_model_safetensors) {
  TempDir tmp;
  const std::vector<double> w = {1, 2, 3};
  write_safetensors(tmp / "model.safetensors", {{"w", "F64", {3}, as_bytes(w)}});
  const Checkpoint ck(tmp.dir);
  BOOST_TEST(ck.read("w") == w, boost::test_tools::per_element());
  BOOST_TEST(ck.file_of("w").path() == tmp / "model.safetensors");
}

BOOST_AUTO_TEST_CASE(sharded_checkpoint_with_index) {
  TempDir tmp;
  const std::vector<float> a = {1, 2, 3, 4};
  const std::vector<std::uint16_t> b = {0x3F80, 0x4000};  // bf16 1, 2
  const std::vector<double> c = {7};
  write_safetensors(tmp / "model-00001-of-00002.safetensors",
                    {{"layers.0.w", "F32", {2, 2}, as_bytes(a)}, {"embed", "BF16", {2, 1}, as_bytes(b)}});
  write_safetensors(tmp / "model-00002-of-00002.safetensors", {{"layers.1.w", "F64", {1}, as_bytes(c)}});
  const json index = {{"metadata", {{"total_size", 30}}},
                      {"weight_map",
                       {{"layers.0.w", "model-00001-of-00002.safetensors"},
                        {"embed", "model-00001-of-00002.safetensors"},
                        {"layers.1.w", "model-00002-of-00002.safetensors"}}}};
  std::ofstream(tmp / "model.safetensors.index.json") << index.dump(2);

  for (const std::string& p : {tmp.dir.string(), tmp / "model.safetensors.index.json"}) {
    const Checkpoint ck(p);
    BOOST_TEST(ck.num_files() == 2u);
    BOOST_TEST(ck.names() == (std::vector<std::string>{"embed", "layers.0.w", "layers.1.w"}),
               boost::test_tools::per_element());
    BOOST_TEST(ck.read_mat("layers.0.w", 2, 2)(1, 0) == 3.0);
    BOOST_TEST(ck.read_vec("layers.1.w", 1)(0) == 7.0);
    BOOST_TEST(ck.read_rows("embed", {1, 0}) == (std::vector<double>{2, 1}),
               boost::test_tools::per_element());
    BOOST_TEST(ck.file_of("layers.1.w").path() == tmp / "model-00002-of-00002.safetensors");
  }

  // A directory holding only some other *.safetensors.index.json is found too.
  fs::rename(tmp / "model.safetensors.index.json", tmp / "gemma.safetensors.index.json");
  BOOST_TEST(Checkpoint(tmp.dir).size() == 3u);
}

BOOST_AUTO_TEST_CASE(read_rows_and_row_blocks) {
  TempDir tmp;
  std::vector<float> emb(5 * 3);
  for (std::size_t i = 0; i < emb.size(); ++i) emb[i] = static_cast<float>(i);
  write_safetensors(tmp / "m.safetensors", {{"embed", "F32", {5, 3}, as_bytes(emb)}});
  const Checkpoint ck(tmp / "m.safetensors");
  BOOST_TEST(ck.read_rows("embed", {4, 0, 4}) ==
                 (std::vector<double>{12, 13, 14, 0, 1, 2, 12, 13, 14}),
             boost::test_tools::per_element());
  BOOST_TEST(ck.read_rows("embed", {}).empty());
  const auto blk = ck.read_row_block("embed", 1, 2);
  BOOST_TEST(blk.shape(0) == 2u);
  BOOST_TEST(blk(1, 2) == 8.0);
  BOOST_TEST(ck.read_row_block("embed", 5, 0).size() == 0u);

  auto msg = message_of<g4::ShapeError>([&] { (void)ck.read_rows("embed", {0, 5}); });
  CHECK_HAS(msg, "tensor 'embed' [5, 3]: row id 5 (position 1) is outside [0, 5)");
  msg = message_of<g4::ShapeError>([&] { (void)ck.read_rows("embed", {-1}); });
  CHECK_HAS(msg, "row id -1");
  msg = message_of<g4::ShapeError>([&] { (void)ck.read_row_block("embed", 4, 2); });
  CHECK_HAS(msg, "rows [4, 6) are outside [0, 5)");
}

BOOST_AUTO_TEST_CASE(row_reads_do_not_touch_the_whole_file) {
  // A 1 GiB F32 [262144, 1024] embedding in a sparse file: opening and reading two rows must not
  // page in the tensor (resident memory grows far less than its size).
  TempDir tmp;
  const std::int64_t R = 262144, C = 1024;
  const std::uint64_t nbytes = static_cast<std::uint64_t>(R * C) * 4;
  json header = {{"embed", {{"dtype", "F32"}, {"shape", {R, C}}, {"data_offsets", {0, nbytes}}}}};
  write_raw(tmp / "big.safetensors", file_bytes(header.dump(), {}));
  const auto head_size = fs::file_size(tmp / "big.safetensors");
  fs::resize_file(tmp / "big.safetensors", head_size + nbytes);

  const long before = resident_bytes();
  const Checkpoint ck(tmp / "big.safetensors");
  const auto rows = ck.read_rows("embed", {7, R - 1});
  const auto block = ck.read_row_block("embed", 1000, 16);
  const long after = resident_bytes();
  BOOST_TEST(rows.size() == static_cast<std::size_t>(2 * C));
  BOOST_TEST(rows[5] == 0.0);
  BOOST_TEST(block(15, 1023) == 0.0);
  BOOST_TEST(after - before < 64L * 1024 * 1024, "resident grew by " << (after - before));
  ck.release("embed");
}

// ---------------------------------------------------------------------------------------------
// bad input: every case is one line naming the file and the problem

BOOST_AUTO_TEST_CASE(missing_empty_and_short_files) {
  TempDir tmp;
  auto msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp / "nope.safetensors"); });
  CHECK_HAS(msg, tmp / "nope.safetensors");
  CHECK_HAS(msg, "no such file");
  msg = message_of<g4::IoError>([&] { SafetensorsFile f(tmp / "nope.safetensors"); });
  CHECK_HAS(msg, "cannot open");

  write_raw(tmp / "empty.safetensors", {});
  msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp / "empty.safetensors"); });
  CHECK_HAS(msg, tmp / "empty.safetensors");
  CHECK_HAS(msg, "file is 0 bytes, shorter than the 8-byte header length");

  write_raw(tmp / "short.safetensors", {std::byte{1}, std::byte{2}, std::byte{3}});
  msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp / "short.safetensors"); });
  CHECK_HAS(msg, tmp / "short.safetensors");
  CHECK_HAS(msg, "file is 3 bytes");

  msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp.dir); });
  CHECK_HAS(msg, "no model.safetensors and no *.safetensors.index.json");
}

BOOST_AUTO_TEST_CASE(bad_header_length) {
  TempDir tmp;
  auto bytes = file_bytes("{}", {});
  const std::uint64_t past = 1000;
  std::memcpy(bytes.data(), &past, 8);
  write_raw(tmp / "a.safetensors", bytes);
  auto msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp / "a.safetensors"); });
  CHECK_HAS(msg, tmp / "a.safetensors");
  CHECK_HAS(msg, "header length 1000 runs past the end of the file (8 bytes after the length)");

  const std::uint64_t huge = 1ull << 40;
  std::memcpy(bytes.data(), &huge, 8);
  write_raw(tmp / "b.safetensors", bytes);
  msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp / "b.safetensors"); });
  CHECK_HAS(msg, "header length 1099511627776 is over the");
}

BOOST_AUTO_TEST_CASE(bad_json) {
  TempDir tmp;
  const auto expect = [&](const std::string& header, const std::string& part) {
    write_raw(tmp / "h.safetensors", file_bytes(header, {}));
    const auto msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp / "h.safetensors"); });
    CHECK_HAS(msg, tmp / "h.safetensors");
    CHECK_HAS(msg, part);
  };
  expect("{\"a\": {\"dtype\": ", "header is not valid JSON");
  expect("[1, 2]", "header is JSON array but must be an object");
  expect(R"({"a": 3})", "tensor 'a': entry is number but must be an object");
  expect(R"({"a": {"dtype": "F32", "shape": [1]}})", "tensor 'a': missing \"data_offsets\"");
  expect(R"({"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})",
         "tensor 'a': unknown dtype 'F33'");
  expect(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})",
         "tensor 'a': shape [-1] must hold non-negative integers");
  expect(R"({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})",
         "must hold non-negative integers");
  expect(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})",
         "data_offsets [0] must be [begin, end]");
  expect(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})",
         "data_offsets [4, 0] have begin after end");
  expect(R"({"__metadata__": {"k": 1}})", "__metadata__ entry 'k' is number but must be a string");
  expect(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},
             "a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}})",
         "tensor 'a' appears twice in the header");
}

BOOST_AUTO_TEST_CASE(bad_offsets_and_sizes) {
  TempDir tmp;
  const std::vector<std::byte> data(96);
  const auto expect = [&](const std::string& header, const std::string& part) {
    write_raw(tmp / "model.safetensors", file_bytes(header, data));
    const auto msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp / "model.safetensors"); });
    CHECK_HAS(msg, tmp / "model.safetensors");
    CHECK_HAS(msg, part);
    return msg;
  };
  // The exact form of the message, from the brief.
  const auto msg = expect(R"({"model.norm.weight": {"dtype": "F64", "shape": [12], "data_offsets": [0, 80]}})",
                          "tensor 'model.norm.weight'");
  BOOST_TEST(msg == tmp / "model.safetensors" +
                        ": tensor 'model.norm.weight': data_offsets [0, 80] hold 80 bytes but shape "
                        "[12] of F64 needs 96");
  expect(R"({"w": {"dtype": "F32", "shape": [25], "data_offsets": [0, 100]}})",
         "tensor 'w': data_offsets [0, 100] run past the end of the data section (96 bytes)");
  expect(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
             "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
         "tensors 'a' [0, 16] and 'b' [8, 24] overlap");
  expect(R"({"big": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 16]}})",
         "tensor 'big': shape [1099511627776, 1099511627776] of F32 overflows");
  expect(R"({"big": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 16]}})",
         "overflows");
}

BOOST_AUTO_TEST_CASE(truncated_data_section) {
  TempDir tmp;
  const std::vector<double> w(10, 1.0);
  write_safetensors(tmp / "t.safetensors", {{"a", "F64", {2}, as_bytes(std::vector<double>{1, 2})},
                                            {"w", "F64", {10}, as_bytes(w)}});
  fs::resize_file(tmp / "t.safetensors", fs::file_size(tmp / "t.safetensors") - 5);
  const auto msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp / "t.safetensors"); });
  CHECK_HAS(msg, tmp / "t.safetensors");
  CHECK_HAS(msg, "tensor 'w': data_offsets [16, 96] run past the end of the data section (91 bytes); truncated file?");
}

BOOST_AUTO_TEST_CASE(non_finite_values_are_a_data_error) {
  TempDir tmp;
  std::vector<float> w = {1, 2, 3, 4, std::numeric_limits<float>::quiet_NaN(), 6};
  const std::vector<std::uint16_t> emb = {0x3F80, 0x3F80, 0x3F80, 0xFF80, 0x3F80, 0x3F80};  // -inf at [1, 1]
  const std::vector<std::uint16_t> h = {0x3C00, 0x7C00};  // f16 +inf at 1
  write_safetensors(tmp / "n.safetensors", {{"w", "F32", {2, 3}, as_bytes(w)},
                                            {"emb", "BF16", {3, 2}, as_bytes(emb)},
                                            {"h", "F16", {2}, as_bytes(h)}});
  const Checkpoint ck(tmp / "n.safetensors");
  auto msg = message_of<g4::DataError>([&] { (void)ck.read_mat("w", 2, 3); });
  BOOST_TEST(msg == tmp / "n.safetensors" +
                        ": tensor 'w': element 4 (index [1, 1]) is nan; weights must be finite");
  BOOST_TEST(ck.read_rows("emb", {0, 2}).size() == 4u);  // rows without the bad value are fine
  msg = message_of<g4::DataError>([&] { (void)ck.read_rows("emb", {2, 1}); });
  CHECK_HAS(msg, "tensor 'emb': element 3 (index [1, 1]) is -inf");
  msg = message_of<g4::DataError>([&] { (void)ck.read_row_block("emb", 1, 2); });
  CHECK_HAS(msg, "element 3 (index [1, 1]) is -inf");
  msg = message_of<g4::DataError>([&] { (void)ck.read_vec("h", 2); });
  CHECK_HAS(msg, "tensor 'h': element 1 (index [1]) is +inf");
}

BOOST_AUTO_TEST_CASE(wrong_expected_shape_and_missing_tensor) {
  TempDir tmp;
  const std::vector<double> w(6, 0.5);
  write_safetensors(tmp / "s.safetensors", {{"w", "F64", {2, 3}, as_bytes(w)},
                                            {"v", "F64", {6}, as_bytes(w)}});
  const Checkpoint ck(tmp / "s.safetensors");
  auto msg = message_of<g4::IoError>([&] { (void)ck.read_mat("w", 3, 2); });
  BOOST_TEST(msg == tmp / "s.safetensors" + ": tensor 'w' has shape [2, 3] (F64), expected [3, 2]");
  msg = message_of<g4::IoError>([&] { (void)ck.read_vec("w", 6); });
  CHECK_HAS(msg, "tensor 'w' has shape [2, 3] (F64), expected [6]");
  msg = message_of<g4::IoError>([&] { (void)ck.read_vec("v", 1); });
  CHECK_HAS(msg, "expected [1] or []");
  msg = message_of<g4::IoError>([&] { (void)ck.read_rows("v", {0}); });
  CHECK_HAS(msg, "expected a 2-D [rows, cols] tensor");
  msg = message_of<g4::IoError>([&] { (void)ck.read("model.layers.0.mlp.gate_proj.weight"); });
  BOOST_TEST(msg == tmp / "s.safetensors" +
                        ": no tensor 'model.layers.0.mlp.gate_proj.weight' in the checkpoint (2 tensors)");
  msg = message_of<g4::IoError>([&] { (void)ck.info("x"); });
  CHECK_HAS(msg, "no tensor 'x'");
}

BOOST_AUTO_TEST_CASE(broken_sharded_checkpoints) {
  TempDir tmp;
  const std::vector<double> c = {7};
  write_safetensors(tmp / "shard-1.safetensors", {{"a", "F64", {1}, as_bytes(c)}});
  const auto expect = [&](const json& index, const std::string& part) {
    std::ofstream(tmp / "model.safetensors.index.json", std::ios::trunc) << index.dump();
    const auto msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp.dir); });
    CHECK_HAS(msg, part);
    return msg;
  };
  auto msg = expect({{"weight_map", {{"a", "shard-1.safetensors"}, {"b", "shard-2.safetensors"}}}},
                    "shard 'shard-2.safetensors' (holding tensor 'b') is missing");
  CHECK_HAS(msg, tmp / "model.safetensors.index.json");
  CHECK_HAS(msg, tmp / "shard-2.safetensors");
  expect({{"weight_map", {{"a", "shard-1.safetensors"}, {"z", "shard-1.safetensors"}}}},
         "weight_map puts tensor 'z' in shard 'shard-1.safetensors', but that file has no such tensor");
  expect({{"metadata", json::object()}}, "must be a JSON object with a \"weight_map\" object");
  expect({{"weight_map", {{"a", 3}}}}, "weight_map entry 'a' is number");
  expect({{"weight_map", {{"a", "/etc/passwd"}}}}, "expected a file name relative to the index");
  std::ofstream(tmp / "model.safetensors.index.json", std::ios::trunc) << "{\"weight_map\": ";
  msg = message_of<g4::IoError>([&] { Checkpoint ck(tmp / "model.safetensors.index.json"); });
  CHECK_HAS(msg, "index is not valid JSON");
  // A broken shard names the shard file.
  write_raw(tmp / "shard-1.safetensors", {std::byte{0}});
  expect({{"weight_map", {{"a", "shard-1.safetensors"}}}}, tmp / "shard-1.safetensors" + ": file is 1 bytes");
}
