// The committed multimodal bundles verify end to end (the C++ vision and audio towers on the bundle's
// pixel values and audio features, the embedders, the merge, the decoder) to 1e-10, and so does the
// text side alone on the golden's recorded tower outputs; a perturbed pixel / audio feature makes the
// matching tower tap fail (the towers really run); a bundle whose placeholder count does not match its
// soft tokens is bad input: one line, exit 2.
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
#include "harness/verify_multimodal.hpp"

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

// Overwrites an existing float64 dataset of `file` in place (same shape).
void overwrite_f64(const std::string& file, const std::string& dataset, const std::vector<double>& v) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  BOOST_TEST_REQUIRE(f >= 0);
  const hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  BOOST_TEST_REQUIRE(d >= 0);
  BOOST_TEST_REQUIRE(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
  H5Dclose(d);
  H5Fclose(f);
}

const g4::harness::VerifyRow* find_row(const g4::harness::VerifyResult& r, const std::string& tap) {
  for (const auto& row : r.rows)
    if (row.tap == tap) return &row;
  return nullptr;
}

// A copy of a committed bundle in a fresh temporary directory (removed by the destructor).
struct BundleCopy {
  fs::path dir;
  explicit BundleCopy(const std::string& name) {
    dir = fs::temp_directory_path() / ("g4mm." + name + "." + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::copy(kSrc + "/golden/data/" + name, dir);
  }
  ~BundleCopy() { fs::remove_all(dir); }
  std::string h5() const { return (dir / "golden.h5").string(); }
};

const char* const kImageTower = "model.vision_tower.last_hidden_state";
const char* const kVideoTower = "model.vision_tower.video_last_hidden_state";
const char* const kAudioTower = "model.audio_tower.last_hidden_state";

}  // namespace

// Every tap, the towers' outputs included, within 1e-10 of transformers: both sides are float64 and
// the bundles' own self-checks and reload agree to ~5e-16, so 1e-10 leaves room for summation order
// only (the measured worst is ~1e-14).
BOOST_AUTO_TEST_CASE(committed_multimodal_bundles_verify_with_cpp_towers) {
  for (const char* b : {"mm_e2b_tiny", "mm_31b_tiny"}) {
    g4::harness::VerifyOptions o;
    o.bundle = kSrc + "/golden/data/" + b;
    const auto r = g4::harness::verify(o);
    BOOST_TEST_MESSAGE(b << ": " << r.rows.size() << " taps, worst relative L2 " << r.worst_rel_l2 << " at "
                         << r.worst_tap);
    BOOST_TEST(r.pass, b);
    BOOST_TEST(r.worst_rel_l2 <= 1e-10);
    BOOST_TEST(r.golden_only.empty());
    BOOST_TEST(r.golden_inputs.empty(), b << ": the towers ran in C++, nothing is replayed from the golden");
    const bool audio = std::string(b) == "mm_e2b_tiny";
    // Inside the towers (the golden records them for the image and audio calls), their outputs, the
    // embedders, the merge, the logits.
    std::vector<std::string> want = {"model.vision_tower.patch_embedder", "model.vision_tower.encoder.layers.1",
                                     "model.vision_tower.pooler", kImageTower, kVideoTower, "model.image_features",
                                     "model.video_features", "model.inputs_embeds", "logits"};
    if (audio)
      for (const char* t : {"model.audio_tower.subsample_conv_projection", "model.audio_tower.layers.1",
                            "model.audio_tower.output_proj", kAudioTower, "model.audio_tower.output_mask",
                            "model.audio_features"})
        want.push_back(t);
    for (const std::string& t : want) {
      const auto* row = find_row(r, t);
      BOOST_TEST_REQUIRE(row != nullptr, b << ": tap " << t << " was not compared");
      BOOST_TEST_MESSAGE("  " << t << ": relative L2 " << row->m.rel_l2);
      BOOST_TEST(row->m.compared > 0);
      BOOST_TEST(row->m.rel_l2 <= 1e-10, b << " " << t);
    }
  }
}

// The text side alone, on the tower outputs recorded in the golden (the hook tests keep for isolating
// the embedders, the merge and the decoder from the towers).
BOOST_AUTO_TEST_CASE(committed_multimodal_bundles_verify_with_golden_towers) {
  for (const char* b : {"mm_e2b_tiny", "mm_31b_tiny"}) {
    g4::harness::VerifyOptions o;
    o.bundle = kSrc + "/golden/data/" + b;
    const auto r = g4::harness::verify_multimodal(o, g4::harness::soft_tokens_from_golden_towers);
    BOOST_TEST(r.pass, b);
    BOOST_TEST(r.worst_rel_l2 <= 1e-10);
    BOOST_TEST(r.golden_only.empty());
    BOOST_TEST(find_row(r, kImageTower) == nullptr, "replayed, not compared");
    BOOST_TEST(find_row(r, "model.vision_tower.encoder.layers.0") == nullptr, "the tower did not run");
    BOOST_TEST(find_row(r, "model.image_features") != nullptr);
    const auto& in = r.golden_inputs;
    BOOST_TEST((std::find(in.begin(), in.end(), kImageTower) != in.end()));
  }
}

// One pixel of the image's first (valid) patch moves by 0.25: the C++ vision tower's image output
// leaves the golden by far more than the tolerance, the video frames' output (same tower, other
// pixels) does not, and the verdict is a failure.
BOOST_AUTO_TEST_CASE(perturbed_pixel_fails_the_vision_tower_tap) {
  for (const char* b : {"mm_e2b_tiny", "mm_31b_tiny"}) {
    const BundleCopy copy(b);
    std::vector<double> pix;
    {
      const g4::golden::H5Reader r(copy.h5());
      pix = r.read_f64("/inputs/pixel_values");
    }
    BOOST_TEST_REQUIRE(!pix.empty());
    pix[0] += pix[0] < 0.5 ? 0.25 : -0.25;
    overwrite_f64(copy.h5(), "/inputs/pixel_values", pix);
    g4::harness::VerifyOptions o;
    o.bundle = copy.dir.string();
    const auto r = g4::harness::verify(o);
    BOOST_TEST(!r.pass, b);
    const auto* image = find_row(r, kImageTower);
    const auto* video = find_row(r, kVideoTower);
    BOOST_TEST_REQUIRE(image != nullptr);
    BOOST_TEST_REQUIRE(video != nullptr);
    BOOST_TEST_MESSAGE(b << ": perturbed pixel -> " << kImageTower << " relative L2 " << image->m.rel_l2);
    BOOST_TEST(image->m.rel_l2 > 1e-6, b);
    BOOST_TEST(video->m.rel_l2 <= 1e-10, b);
    const auto* first = find_row(r, "model.vision_tower.patch_embedder");  // the drift starts at the input
    BOOST_TEST_REQUIRE(first != nullptr);
    BOOST_TEST(first->m.rel_l2 > 1e-6, b);
  }
}

// One value of a valid audio frame moves by 0.5: the C++ audio tower's output leaves the golden.
BOOST_AUTO_TEST_CASE(perturbed_audio_feature_fails_the_audio_tower_tap) {
  const BundleCopy copy("mm_e2b_tiny");
  std::vector<double> feats;
  {
    const g4::golden::H5Reader r(copy.h5());
    feats = r.read_f64("/inputs/input_features");
    BOOST_TEST_REQUIRE(r.read_i64("/inputs/input_features_mask").at(0) == 1);  // frame 0 is valid
  }
  feats[0] += 0.5;
  overwrite_f64(copy.h5(), "/inputs/input_features", feats);
  g4::harness::VerifyOptions o;
  o.bundle = copy.dir.string();
  const auto r = g4::harness::verify(o);
  BOOST_TEST(!r.pass);
  const auto* audio = find_row(r, kAudioTower);
  const auto* image = find_row(r, kImageTower);
  BOOST_TEST_REQUIRE(audio != nullptr);
  BOOST_TEST_REQUIRE(image != nullptr);
  BOOST_TEST_MESSAGE("perturbed audio feature -> " << kAudioTower << " relative L2 " << audio->m.rel_l2);
  BOOST_TEST(audio->m.rel_l2 > 1e-6);
  BOOST_TEST(image->m.rel_l2 <= 1e-10);
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
