// The committed multimodal bundles verify (text side from the golden's tower outputs) to 1e-10, and a
// bundle whose placeholder count does not match its soft tokens is bad input: one line, exit 2.
#define BOOST_TEST_MODULE test_multimodal_bundles
#include <boost/test/unit_test.hpp>

#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "golden/h5.hpp"
#include "harness/verify.hpp"

namespace fs = std::filesystem;

namespace {

const std::string kSrc = GEMMA4_SOURCE_DIR;
const std::string kCli = GEMMA4_CLI;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Run {
  int code;
  std::string out, err;
};

Run run(const std::string& args) {
  const fs::path dir = fs::temp_directory_path() / ("g4mm." + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string cmd = kCli + " " + args + " >" + (dir / "out").string() + " 2>" + (dir / "err").string();
  const int st = std::system(cmd.c_str());
  Run r{WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(dir / "out"), slurp(dir / "err")};
  fs::remove_all(dir);
  return r;
}

// Overwrites an existing int64 dataset of `file` in place (same shape).
void overwrite_i64(const std::string& file, const std::string& dataset, const std::vector<std::int64_t>& v) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  BOOST_TEST_REQUIRE(f >= 0);
  const hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  BOOST_TEST_REQUIRE(d >= 0);
  BOOST_TEST_REQUIRE(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
  H5Dclose(d);
  H5Fclose(f);
}

}  // namespace

BOOST_AUTO_TEST_CASE(committed_multimodal_bundles_verify) {
  for (const char* b : {"mm_e2b_tiny", "mm_31b_tiny"}) {
    g4::harness::VerifyOptions o;
    o.bundle = kSrc + "/golden/data/" + b;
    const auto r = g4::harness::verify(o);
    BOOST_TEST_MESSAGE(b << ": " << r.rows.size() << " taps, worst relative L2 " << r.worst_rel_l2 << " at "
                         << r.worst_tap);
    BOOST_TEST(r.pass, b);
    BOOST_TEST(r.worst_rel_l2 <= 1e-10);
    BOOST_TEST(r.golden_only.empty());
    // The merge and the embedders are among the compared taps.
    bool merged = false, image = false;
    for (const auto& row : r.rows) {
      merged |= row.tap == "model.inputs_embeds";
      image |= row.tap == "model.image_features";
    }
    BOOST_TEST(merged);
    BOOST_TEST(image);
  }
}

BOOST_AUTO_TEST_CASE(cli_verifies_and_placeholder_mismatch_is_bad_input) {
  const std::string src = kSrc + "/golden/data/mm_e2b_tiny";
  const Run ok = run("verify --failures-only --golden " + src);
  BOOST_TEST(ok.code == 0, ok.out << ok.err);

  const fs::path dir = fs::temp_directory_path() / ("g4mm.bad." + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::copy(src, dir);
  const std::string h5 = (dir / "golden.h5").string();
  std::vector<std::int64_t> ids;
  std::int64_t image_id = 0;
  {
    const g4::golden::H5Reader r(h5);
    ids = r.read_i64("/inputs/input_ids");
  }
  {
    std::ifstream cfg(dir / "config.json");
    std::stringstream ss;
    ss << cfg.rdbuf();
    const std::string s = ss.str();
    const auto at = s.find("\"image_token_id\":");
    BOOST_TEST_REQUIRE(at != std::string::npos);
    image_id = std::stoll(s.substr(at + 17));
  }
  std::int64_t n_image = 0;
  for (auto& id : ids) n_image += id == image_id;
  BOOST_TEST_REQUIRE(n_image > 1);
  for (auto& id : ids)
    if (id == image_id) {
      id = 5;  // one image placeholder becomes a text token: n_image - 1 placeholders, n_image soft tokens
      break;
    }
  overwrite_i64(h5, "/inputs/input_ids", ids);
  const Run bad = run("verify --golden " + dir.string());
  fs::remove_all(dir);
  BOOST_TEST(bad.code == 2, bad.out << bad.err);
  BOOST_TEST(std::count(bad.err.begin(), bad.err.end(), '\n') == 1, bad.err);
  const std::string want = std::to_string(n_image - 1) + " placeholder tokens in input_ids, " +
                           std::to_string(n_image) + " soft tokens";
  BOOST_TEST(bad.err.find(want) != std::string::npos, bad.err);
}
