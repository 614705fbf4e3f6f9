// Tests for golden/h5: write with H5Writer and read back with H5Reader (datasets, strings,
// attributes), one-line errors for bad input, and the atomic temp-file-and-rename contract.
#define BOOST_TEST_MODULE test_h5
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "golden/h5.hpp"
#include "reference/common/check.hpp"

namespace fs = std::filesystem;
using namespace g4::golden;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    static int counter = 0;
    dir = fs::temp_directory_path() /
          ("g4_test_h5_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
  std::size_t count() const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
    return n;
  }
};

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

// A small committed file used by several cases.
void write_sample(const std::string& path) {
  H5Writer w(path);
  w.create_group("/meta");
  w.set_attr_string("/", "title", "golden sample");
  w.set_attr_i64("/", "seed", 1234);
  w.set_attr_f64("/meta", "eps", 1e-6);
  w.write_f64("/runs/0/x", std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  w.write_i64("/runs/0/ids", std::vector<std::int64_t>{-1, 0, std::numeric_limits<std::int64_t>::max()}, {3});
  w.write_f64("/runs/0/scalar", std::vector<double>{0.25}, {});
  w.write_strings("/meta/taps", {"model.layers.0", "héllo wörld", ""});
  w.set_attr_string("/runs/0/x", "tap", "model.language_model.layers.3.self_attn.q_norm");
  w.set_attr_i64("/runs/0/x", "layer", 3);
  w.commit();
}

}  // namespace

BOOST_AUTO_TEST_CASE(write_and_read_back) {
  TempDir tmp;
  const std::string path = tmp / "r.h5";
  write_sample(path);
  BOOST_TEST(fs::exists(path));
  BOOST_TEST(tmp.count() == 1u);  // no temp file left behind

  H5Reader r(path);
  BOOST_TEST(r.is_open());
  BOOST_TEST(r.path() == path);
  BOOST_TEST(r.has("/"));
  BOOST_TEST(r.has("/runs/0/x"));
  BOOST_TEST(r.has("runs/0/x"));
  BOOST_TEST(!r.has("/runs/1"));
  BOOST_TEST(!r.has("/runs/0/x/deeper"));
  BOOST_TEST(r.is_group("/runs/0"));
  BOOST_TEST(!r.is_group("/runs/0/x"));
  BOOST_TEST(r.is_dataset("/runs/0/x"));
  BOOST_TEST(r.list("/") == (std::vector<std::string>{"meta", "runs"}), boost::test_tools::per_element());
  BOOST_TEST(r.list("/runs/0") == (std::vector<std::string>{"ids", "scalar", "x"}),
             boost::test_tools::per_element());

  BOOST_TEST(r.shape("/runs/0/x") == (std::vector<std::int64_t>{2, 3}), boost::test_tools::per_element());
  BOOST_TEST(r.shape("/runs/0/scalar").empty());
  BOOST_TEST(r.read_f64("/runs/0/x") == (std::vector<double>{1, 2, 3, 4, 5, 6}),
             boost::test_tools::per_element());
  BOOST_TEST(r.read_f64("/runs/0/x", {2, 3}).size() == 6u);
  BOOST_TEST(r.read_f64("/runs/0/scalar") == std::vector<double>{0.25}, boost::test_tools::per_element());
  BOOST_TEST(r.read_i64("/runs/0/ids") ==
                 (std::vector<std::int64_t>{-1, 0, std::numeric_limits<std::int64_t>::max()}),
             boost::test_tools::per_element());
  BOOST_TEST(r.read_strings("/meta/taps") ==
                 (std::vector<std::string>{"model.layers.0", "héllo wörld", ""}),
             boost::test_tools::per_element());

  BOOST_TEST(r.attr_string("/", "title") == "golden sample");
  BOOST_TEST(r.attr_i64("/", "seed") == 1234);
  BOOST_TEST(r.attr_f64("/", "seed") == 1234.0);  // an integer attribute reads as f64 too
  BOOST_TEST(r.attr_f64("/meta", "eps") == 1e-6);
  BOOST_TEST(r.attr_string("/runs/0/x", "tap") == "model.language_model.layers.3.self_attn.q_norm");
  BOOST_TEST(r.attr_i64("/runs/0/x", "layer") == 3);
  BOOST_TEST(r.has_attr("/", "title"));
  BOOST_TEST(!r.has_attr("/", "nope"));
  BOOST_TEST(!r.has_attr("/missing", "title"));
  BOOST_TEST(r.attr_names("/") == (std::vector<std::string>{"seed", "title"}), boost::test_tools::per_element());

  // Moving a reader keeps the file open in the new owner.
  H5Reader moved = std::move(r);
  BOOST_TEST(moved.read_i64("/runs/0/ids").size() == 3u);
  BOOST_TEST(!r.is_open());  // NOLINT(bugprone-use-after-move): moved-from is closed
}

BOOST_AUTO_TEST_CASE(writer_groups_attributes_and_replace) {
  TempDir tmp;
  const std::string path = tmp / "g.h5";
  {
    H5Writer w(path);
    w.create_group("/a/b/c");   // intermediate groups
    w.create_group("/a/b");     // an existing group is fine
    BOOST_TEST(w.has("/a/b/c"));
    w.set_attr_f64("/a/b/c", "v", 1.5);
    w.set_attr_f64("/a/b/c", "v", 2.5);  // replaced
    w.set_attr_string("/a", "s", "first");
    w.set_attr_string("/a", "s", "second, longer than the first");
    w.write_f64("/a/empty", std::vector<double>{}, {0, 3});
    auto msg = message_of<g4::IoError>([&] { w.write_f64("/a/empty", std::vector<double>{}, {0}); });
    CHECK_HAS(msg, path + ": dataset '/a/empty' already exists");
    msg = message_of<g4::ShapeError>([&] { w.write_f64("/a/d", std::vector<double>{1, 2, 3}, {2, 2}); });
    CHECK_HAS(msg, "dataset '/a/d': shape [2, 2] needs 4 values, got 3");
    msg = message_of<g4::IoError>([&] { w.create_group("/a/empty"); });
    CHECK_HAS(msg, "cannot create group '/a/empty': a dataset of that name exists");
    msg = message_of<g4::IoError>([&] { w.set_attr_i64("/nope", "k", 1); });
    CHECK_HAS(msg, "no object '/nope' to put attribute 'k' on");
    w.commit();
    msg = message_of<g4::IoError>([&] { w.write_i64("/late", std::vector<std::int64_t>{1}, {1}); });
    CHECK_HAS(msg, "write_i64('/late') after commit()");
  }
  H5Reader r(path);
  BOOST_TEST(r.attr_f64("/a/b/c", "v") == 2.5);
  BOOST_TEST(r.attr_string("/a", "s") == "second, longer than the first");
  BOOST_TEST(r.shape("/a/empty") == (std::vector<std::int64_t>{0, 3}), boost::test_tools::per_element());
  BOOST_TEST(r.read_f64("/a/empty").empty());
  BOOST_TEST(!r.has("/a/d"));
}

BOOST_AUTO_TEST_CASE(uncommitted_writer_leaves_nothing) {
  TempDir tmp;
  const std::string path = tmp / "u.h5";
  {
    H5Writer w(path);
    BOOST_TEST(w.temp_path() == path + ".tmp." + std::to_string(::getpid()));
    w.write_f64("/x", std::vector<double>{1, 2}, {2});
    BOOST_TEST(fs::exists(w.temp_path()));
    BOOST_TEST(!fs::exists(path));
  }
  BOOST_TEST(!fs::exists(path));
  BOOST_TEST(tmp.count() == 0u);

  // An exception mid-write: the old committed file stays as it was.
  write_sample(path);
  try {
    H5Writer w(path);
    w.write_f64("/x", std::vector<double>{1, 2}, {3});  // ShapeError
    w.commit();
  } catch (const g4::ShapeError&) {
  }
  BOOST_TEST(tmp.count() == 1u);
  H5Reader r(path);
  BOOST_TEST(r.attr_string("/", "title") == "golden sample");

  // A moved writer commits once, from its new owner.
  {
    H5Writer a(tmp / "m.h5");
    a.write_i64("/k", std::vector<std::int64_t>{7}, {1});
    H5Writer b(std::move(a));
    b.commit();
  }
  BOOST_TEST(H5Reader(tmp / "m.h5").read_i64("/k") == std::vector<std::int64_t>{7},
             boost::test_tools::per_element());
  BOOST_TEST(tmp.count() == 2u);

  const auto msg = message_of<g4::IoError>([&] { H5Writer w(tmp / "no/such/dir/x.h5"); });
  CHECK_HAS(msg, "cannot create HDF5 file (no directory");
}

BOOST_AUTO_TEST_CASE(missing_datasets_and_wrong_types) {
  TempDir tmp;
  const std::string path = tmp / "r.h5";
  write_sample(path);
  const H5Reader r(path);
  auto msg = message_of<g4::IoError>([&] { (void)r.read_f64("/runs/0/y"); });
  BOOST_TEST(msg == path + ": no dataset '/runs/0/y'");
  msg = message_of<g4::IoError>([&] { (void)r.read_f64("/nope/deeper/y"); });
  CHECK_HAS(msg, "no dataset '/nope/deeper/y'");
  msg = message_of<g4::IoError>([&] { (void)r.shape("/runs/0"); });
  BOOST_TEST(msg == path + ": '/runs/0' is a group, expected a dataset");
  msg = message_of<g4::IoError>([&] { (void)r.read_f64("/runs/0/ids"); });
  BOOST_TEST(msg == path + ": dataset '/runs/0/ids' is INTEGER, expected FLOAT");
  msg = message_of<g4::IoError>([&] { (void)r.read_i64("/runs/0/x"); });
  BOOST_TEST(msg == path + ": dataset '/runs/0/x' is FLOAT, expected INTEGER");
  msg = message_of<g4::IoError>([&] { (void)r.read_strings("/runs/0/x"); });
  CHECK_HAS(msg, "dataset '/runs/0/x' is FLOAT, expected STRING");
  msg = message_of<g4::IoError>([&] { (void)r.read_f64("/meta/taps"); });
  CHECK_HAS(msg, "is STRING, expected FLOAT");
  msg = message_of<g4::IoError>([&] { (void)r.read_f64("/runs/0/x", {3, 2}); });
  BOOST_TEST(msg == path + ": dataset '/runs/0/x' has shape [2, 3], expected [3, 2]");
  msg = message_of<g4::IoError>([&] { (void)r.list("/runs/0/x"); });
  CHECK_HAS(msg, "'/runs/0/x' is a dataset, expected a group");
  msg = message_of<g4::IoError>([&] { (void)r.list("/zzz"); });
  CHECK_HAS(msg, "no group '/zzz'");

  msg = message_of<g4::IoError>([&] { (void)r.attr_string("/", "missing"); });
  BOOST_TEST(msg == path + ": '/' has no attribute 'missing'");
  msg = message_of<g4::IoError>([&] { (void)r.attr_string("/", "seed"); });
  BOOST_TEST(msg == path + ": attribute 'seed' of '/' is INTEGER, expected STRING");
  msg = message_of<g4::IoError>([&] { (void)r.attr_i64("/meta", "eps"); });
  BOOST_TEST(msg == path + ": attribute 'eps' of '/meta' is FLOAT, expected INTEGER");
  msg = message_of<g4::IoError>([&] { (void)r.attr_f64("/", "title"); });
  CHECK_HAS(msg, "attribute 'title' of '/' is STRING, expected FLOAT or INTEGER");
  msg = message_of<g4::IoError>([&] { (void)r.attr_f64("/gone", "x"); });
  CHECK_HAS(msg, "no object '/gone'");
}

BOOST_AUTO_TEST_CASE(non_finite_values) {
  TempDir tmp;
  const std::string path = tmp / "n.h5";
  {
    H5Writer w(path);
    w.write_f64("/g", std::vector<double>{1, 2, 3, std::numeric_limits<double>::quiet_NaN()}, {2, 2});
    w.write_f64("/h", std::vector<double>{-std::numeric_limits<double>::infinity()}, {1});
    w.commit();
  }
  const H5Reader r(path);
  auto msg = message_of<g4::DataError>([&] { (void)r.read_f64("/g"); });
  BOOST_TEST(msg == path + ": dataset '/g': element 3 (index [1, 1]) is nan, expected finite");
  msg = message_of<g4::DataError>([&] { (void)r.read_f64("/h", {1}); });
  CHECK_HAS(msg, "element 0 (index [0]) is -inf");
  const auto allowed = r.read_f64("/g", NonFinite::allow);
  BOOST_TEST(std::isnan(allowed[3]));
}

BOOST_AUTO_TEST_CASE(not_hdf5_missing_and_truncated_files) {
  TempDir tmp;
  auto msg = message_of<g4::IoError>([&] { H5Reader r(tmp / "missing.h5"); });
  BOOST_TEST(msg == tmp / "missing.h5" + ": not a readable HDF5 file (no such file)");

  std::ofstream(tmp / "text.h5") << "this is not an HDF5 file, just some text\n";
  msg = message_of<g4::IoError>([&] { H5Reader r(tmp / "text.h5"); });
  CHECK_HAS(msg, tmp / "text.h5" + ": not a readable HDF5 file");

  std::ofstream(tmp / "empty.h5").flush();
  msg = message_of<g4::IoError>([&] { H5Reader r(tmp / "empty.h5"); });
  CHECK_HAS(msg, tmp / "empty.h5" + ": not a readable HDF5 file");

  msg = message_of<g4::IoError>([&] { H5Reader r(tmp.dir.string()); });
  CHECK_HAS(msg, "not a readable HDF5 file (not a regular file)");

  // A real file cut in half: the signature is there, the rest is not.
  write_sample(tmp / "full.h5");
  fs::copy_file(tmp / "full.h5", tmp / "cut.h5");
  fs::resize_file(tmp / "cut.h5", fs::file_size(tmp / "full.h5") / 2);
  msg = message_of<g4::IoError>([&] { H5Reader r(tmp / "cut.h5"); });
  CHECK_HAS(msg, tmp / "cut.h5" + ": not a readable HDF5 file");

  H5Reader closed;
  BOOST_TEST(!closed.is_open());
  BOOST_TEST(!closed.has("/"));
  msg = message_of<g4::IoError>([&] { (void)closed.read_f64("/x"); });
  CHECK_HAS(msg, "no file open");
}

BOOST_AUTO_TEST_CASE(reads_what_other_writers_make) {
  // Fixed-length strings (numpy bytes), float32 data and unsigned integers, written with the
  // C API directly as h5py would.
  TempDir tmp;
  const std::string path = tmp / "c.h5";
  {
    const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    BOOST_TEST_REQUIRE(f >= 0);
    // Fixed-length, null-padded strings of width 6.
    const hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 6);
    H5Tset_strpad(st, H5T_STR_NULLPAD);
    const hsize_t n3 = 3;
    hid_t sp = H5Screate_simple(1, &n3, nullptr);
    hid_t d = H5Dcreate2(f, "fixed", st, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char fixed[18] = {'a', 'b', 0, 0, 0, 0, 's', 'i', 'x', 'c', 'h', 'r', 'x', 0, 0, 0, 0, 0};
    H5Dwrite(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed);
    H5Dclose(d);
    H5Sclose(sp);
    // Fixed-length space-padded scalar attribute.
    const hid_t sp_t = H5Tcopy(H5T_C_S1);
    H5Tset_size(sp_t, 8);
    H5Tset_strpad(sp_t, H5T_STR_SPACEPAD);
    sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "name", sp_t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, sp_t, "gemma   ");
    H5Aclose(a);
    // A two-element attribute (not one value).
    const hsize_t n2 = 2;
    const hid_t sp2 = H5Screate_simple(1, &n2, nullptr);
    a = H5Acreate2(f, "pair", H5T_STD_I32LE, sp2, H5P_DEFAULT, H5P_DEFAULT);
    const std::int32_t pair[2] = {1, 2};
    H5Awrite(a, H5T_NATIVE_INT32, pair);
    H5Aclose(a);
    H5Sclose(sp2);
    // An unsigned 64-bit attribute over INT64_MAX.
    a = H5Acreate2(f, "huge", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max();
    H5Awrite(a, H5T_NATIVE_UINT64, &huge);
    H5Aclose(a);
    H5Sclose(sp);
    // float32 data widened to double.
    const hsize_t n4 = 4;
    sp = H5Screate_simple(1, &n4, nullptr);
    d = H5Dcreate2(f, "f32", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const float vals[4] = {0.1f, -2.5f, 1e-45f, 3.0e38f};
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, vals);
    H5Dclose(d);
    // uint8 and uint64 data.
    d = H5Dcreate2(f, "u8", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const std::uint8_t u8[4] = {0, 1, 200, 255};
    H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, u8);
    H5Dclose(d);
    d = H5Dcreate2(f, "u64", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const std::uint64_t u64[4] = {0, 1, 1ull << 62, 1ull << 63};
    H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, u64);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(st);
    H5Tclose(sp_t);
    H5Fclose(f);
  }
  const H5Reader r(path);
  BOOST_TEST(r.read_strings("fixed") == (std::vector<std::string>{"ab", "sixchr", "x"}),
             boost::test_tools::per_element());
  BOOST_TEST(r.attr_string("/", "name") == "gemma");
  const auto f32 = r.read_f64("f32");
  BOOST_TEST(f32 == (std::vector<double>{0.1f, -2.5f, 1e-45f, 3.0e38f}), boost::test_tools::per_element());
  BOOST_TEST(r.read_i64("u8") == (std::vector<std::int64_t>{0, 1, 200, 255}), boost::test_tools::per_element());
  auto msg = message_of<g4::DataError>([&] { (void)r.read_i64("u64"); });
  BOOST_TEST(msg == path + ": dataset 'u64': element 3 = 9223372036854775808 does not fit an int64");
  msg = message_of<g4::IoError>([&] { (void)r.attr_i64("/", "pair"); });
  BOOST_TEST(msg == path + ": attribute 'pair' of '/' holds 2 values, expected one");
  msg = message_of<g4::DataError>([&] { (void)r.attr_i64("/", "huge"); });
  CHECK_HAS(msg, "attribute 'huge' of '/' = 18446744073709551615 does not fit an int64");
}
