// `gemma4-harness vision-preprocess` end to end: the geometry of real PNG/JPEG files, and every
// kind of bad image input (corrupt, truncated, empty, unsupported budget) gets ONE line on stderr
// naming the file or the budget, and exit code 2.
#define BOOST_TEST_MODULE test_vision_cli
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

namespace fs = std::filesystem;

namespace {

const std::string kCli = GEMMA4_CLI;

struct Run {
  int code;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scratch directory for the test images, removed at the end.
struct Dir {
  fs::path path = fs::temp_directory_path() / ("g4vision." + std::to_string(getpid()));
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

Run run(const std::string& args) {
  const fs::path dir = fs::temp_directory_path() / ("g4visioncli." + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string cmd = kCli + " " + args + " >" + (dir / "out").string() + " 2>" + (dir / "err").string();
  const int st = std::system(cmd.c_str());
  Run r{WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(dir / "out"), slurp(dir / "err")};
  fs::remove_all(dir);
  return r;
}

void write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> pattern_rgb(int h, int w) {
  std::vector<std::uint8_t> rgb(static_cast<size_t>(h) * w * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>((i * 37) % 251);
  return rgb;
}

std::vector<std::uint8_t> png_bytes(int h, int w) {
  const std::vector<std::uint8_t> rgb = pattern_rgb(h, w);
  png_image im;
  std::memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION, im.width = w, im.height = h, im.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  BOOST_REQUIRE(png_image_write_to_memory(&im, nullptr, &size, 0, rgb.data(), 0, nullptr));
  std::vector<std::uint8_t> out(size);
  BOOST_REQUIRE(png_image_write_to_memory(&im, out.data(), &size, 0, rgb.data(), 0, nullptr));
  out.resize(size);
  return out;
}

std::vector<std::uint8_t> jpeg_bytes(int h, int w) {
  std::vector<std::uint8_t> rgb = pattern_rgb(h, w);
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* mem = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &mem, &size);
  c.image_width = w, c.image_height = h, c.input_components = 3, c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = &rgb[static_cast<size_t>(c.next_scanline) * w * 3];
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<std::uint8_t> out(mem, mem + size);
  jpeg_destroy_compress(&c);
  std::free(mem);
  return out;
}

// A PNG whose IHDR declares 0 x 0 pixels (valid CRC, so only the size is wrong).
std::vector<std::uint8_t> png_zero_size() {
  std::vector<std::uint8_t> b = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  auto chunk = [&](const char* type, const std::vector<std::uint8_t>& data) {
    const std::uint32_t n = static_cast<std::uint32_t>(data.size());
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(n >> s));
    std::vector<std::uint8_t> td(type, type + 4);
    td.insert(td.end(), data.begin(), data.end());
    b.insert(b.end(), td.begin(), td.end());
    const std::uint32_t crc = static_cast<std::uint32_t>(crc32(0, td.data(), static_cast<uInt>(td.size())));
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(crc >> s));
  };
  chunk("IHDR", {0, 0, 0, 0, 0, 0, 0, 0, 8, 2, 0, 0, 0});
  chunk("IEND", {});
  return b;
}

void expect_one_line_error(const std::string& args, const std::string& needle) {
  const Run r = run(args);
  BOOST_TEST(r.code == 2, args << " -> exit " << r.code << "; stderr: " << r.err);
  BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, args << " -> stderr: " << r.err);
  BOOST_TEST(r.err.find(needle) != std::string::npos, args << " -> stderr lacks '" << needle << "': " << r.err);
  BOOST_TEST(r.out.empty(), args << " -> stdout: " << r.out);
}

}  // namespace

BOOST_AUTO_TEST_CASE(geometry_of_real_files) {
  Dir d;
  write(d.file("a.png"), png_bytes(480, 640));
  Run r = run("vision-preprocess " + d.file("a.png") + " --budget 280");
  BOOST_TEST(r.code == 0, r.err);
  BOOST_TEST(r.out.find("672 x 912") != std::string::npos, r.out);   // transformers: 672 x 912, 266 tokens
  BOOST_TEST(r.out.find("soft tokens      266") != std::string::npos, r.out);
  write(d.file("thin.jpg"), jpeg_bytes(20, 4000));
  r = run("vision-preprocess " + d.file("thin.jpg") + " --budget 70");
  BOOST_TEST(r.code == 0, r.err);
  BOOST_TEST(r.out.find("48 x 3360") != std::string::npos, r.out);  // the thin-image branch
  BOOST_TEST(r.out.find("soft tokens      70") != std::string::npos, r.out);
  r = run("vision-preprocess " + d.file("a.png"));                   // default budget 280
  BOOST_TEST(r.code == 0, r.err);
}

BOOST_AUTO_TEST_CASE(bad_image_input) {
  Dir d;
  std::vector<std::uint8_t> png = png_bytes(40, 50), jpg = jpeg_bytes(40, 50);

  std::vector<std::uint8_t> corrupt_png(png.begin(), png.begin() + 8);
  corrupt_png.insert(corrupt_png.end(), 200, 0x5a);
  write(d.file("corrupt.png"), corrupt_png);
  expect_one_line_error("vision-preprocess " + d.file("corrupt.png"), "corrupt.png");

  write(d.file("truncated.png"), std::vector<std::uint8_t>(png.begin(), png.begin() + png.size() / 2));
  expect_one_line_error("vision-preprocess " + d.file("truncated.png"), "truncated.png");

  std::vector<std::uint8_t> corrupt_jpg(jpg.begin(), jpg.begin() + 3);
  corrupt_jpg.insert(corrupt_jpg.end(), 300, 0x11);
  write(d.file("corrupt.jpg"), corrupt_jpg);
  expect_one_line_error("vision-preprocess " + d.file("corrupt.jpg"), "corrupt.jpg");

  write(d.file("truncated.jpg"), std::vector<std::uint8_t>(jpg.begin(), jpg.begin() + jpg.size() / 2));
  expect_one_line_error("vision-preprocess " + d.file("truncated.jpg"), "truncated.jpg");

  write(d.file("empty.png"), {});
  expect_one_line_error("vision-preprocess " + d.file("empty.png"), "empty");

  write(d.file("zero.png"), png_zero_size());
  expect_one_line_error("vision-preprocess " + d.file("zero.png"), "zero.png");

  write(d.file("text.png"), {'h', 'e', 'l', 'l', 'o'});
  expect_one_line_error("vision-preprocess " + d.file("text.png"), "not a PNG or JPEG");

  expect_one_line_error("vision-preprocess " + d.file("missing.png"), "missing.png");

  write(d.file("ok.png"), png);
  expect_one_line_error("vision-preprocess " + d.file("ok.png") + " --budget 100", "budget 100");
  expect_one_line_error("vision-preprocess " + d.file("ok.png") + " --budget 2240", "budget 2240");
}
