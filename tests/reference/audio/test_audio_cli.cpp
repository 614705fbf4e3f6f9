// `gemma4-harness audio-features`: a good WAV gives features equal to the library's; every kind of bad
// audio input (corrupt, truncated, longer than 30 s, 44.1 kHz, empty) gets one line on stderr, exit
// code 2, and no output file (nor a temp file) left behind.
#define BOOST_TEST_MODULE test_audio_cli
#include <boost/test/unit_test.hpp>

#include <sndfile.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "golden/h5.hpp"
#include "reference/audio/features.hpp"

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

struct Scratch {
  fs::path dir;
  Scratch() {
    dir = fs::temp_directory_path() / ("g4audio." + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() { fs::remove_all(dir); }
  std::string operator/(const std::string& f) const { return (dir / f).string(); }
};

Run run(const Scratch& s, const std::string& args) {
  const std::string cmd = kCli + " " + args + " >" + (s / "stdout") + " 2>" + (s / "stderr");
  const int st = std::system(cmd.c_str());
  Run r{WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(s / "stdout"), slurp(s / "stderr")};
  fs::remove(s / "stdout");
  fs::remove(s / "stderr");
  return r;
}

// 16-bit PCM WAV through libsndfile.
void write_wav(const std::string& path, const std::vector<double>& x, int rate, int channels = 1) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  BOOST_TEST_REQUIRE(f != nullptr, sf_strerror(nullptr));
  if (!x.empty()) sf_writef_double(f, x.data(), sf_count_t(x.size() / channels));
  sf_close(f);
}

// 16-bit PCM WAV written from integers: reading gives k/32768 exactly (libsndfile's read scale).
void write_wav_pcm16(const std::string& path, const std::vector<short>& k, int rate) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  BOOST_TEST_REQUIRE(f != nullptr, sf_strerror(nullptr));
  sf_writef_short(f, k.data(), sf_count_t(k.size()));
  sf_close(f);
}

std::vector<short> tone_pcm16(size_t n) {
  std::vector<short> k(n);
  for (size_t t = 0; t < n; ++t) k[t] = short(std::lround(9830.0 * std::sin(2 * M_PI * 440.0 * double(t) / 16000.0)));
  return k;
}

std::vector<double> tone(size_t n) {
  std::vector<double> x(n);
  for (size_t t = 0; t < n; ++t) x[t] = 0.3 * std::sin(2 * M_PI * 440.0 * double(t) / 16000.0);
  return x;
}

void expect_bad_input(const Scratch& s, const std::string& wav, const std::string& needle) {
  const std::string out = s / "features.h5";
  const Run r = run(s, "audio-features " + wav + " --out " + out);
  BOOST_TEST_MESSAGE(wav << " -> " << r.code << ": " << r.err);
  BOOST_TEST(r.code == 2, wav << ": exit " << r.code);
  BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, "not one line: '" << r.err << "'");
  BOOST_TEST(r.err.find(needle) != std::string::npos, "stderr '" << r.err << "' lacks '" << needle << "'");
  BOOST_TEST(!fs::exists(out));
  for (const auto& e : fs::directory_iterator(s.dir))  // no temp file of the writer either
    BOOST_TEST(e.path().filename().string().find("features.h5") == std::string::npos, e.path());
}

}  // namespace

BOOST_AUTO_TEST_CASE(good_wav_gives_the_library_features) {
  Scratch s;
  write_wav_pcm16(s / "a.wav", tone_pcm16(9000), 16000);
  write_wav_pcm16(s / "b.wav", tone_pcm16(5000), 16000);
  const Run r = run(s, "audio-features " + (s / "a.wav") + " " + (s / "b.wav") + " --out " + (s / "f.h5"));
  BOOST_TEST(r.code == 0, r.out << r.err);
  BOOST_TEST(r.out.find("56 frames") != std::string::npos, r.out);  // 9000 samples padded to 9088: 56 frames
  BOOST_TEST_REQUIRE(fs::exists(s / "f.h5"));
  const g4::golden::H5Reader h5(s / "f.h5");
  const auto feats = h5.read_f64("/input_features");
  // The same samples through the library: 16-bit PCM k is the sample k/32768.
  std::vector<std::vector<double>> clips;
  for (size_t n : {9000, 5000}) {
    std::vector<double> x;
    for (short k : tone_pcm16(n)) x.push_back(double(k) / 32768.0);
    clips.push_back(x);
  }
  const auto f = g4::audio::extract_features(g4::audio::FeatureConfig{}, clips);
  BOOST_TEST(h5.shape("/input_features") == (std::vector<std::int64_t>{2, f.T, 128}));
  BOOST_TEST_REQUIRE(feats.size() == f.features.size());
  double worst = 0;
  for (size_t i = 0; i < feats.size(); ++i) worst = std::max(worst, std::abs(feats[i] - f.features.data()[i]));
  BOOST_TEST(worst == 0.0);
  const auto mask = h5.read_i64("/input_features_mask");
  BOOST_TEST(std::count(mask.begin() + f.T, mask.end(), 1) == (5000 + 160 - 321) / 160 + 1);
}

BOOST_AUTO_TEST_CASE(bad_audio_is_one_line_and_exit_2) {
  Scratch s;
  {  // corrupt: a RIFF header followed by garbage
    std::ofstream f(s / "corrupt.wav", std::ios::binary);
    f << "RIFF\x24\x00\x00\x00WAVEjunkjunkjunkjunkjunkjunkjunkjunk";
  }
  expect_bad_input(s, s / "corrupt.wav", "corrupt.wav");
  {  // not audio at all
    std::ofstream f(s / "text.wav");
    f << "hello, this is not a wav file\n";
  }
  expect_bad_input(s, s / "text.wav", "not a readable audio file");
  // truncated: a valid 1 s file cut in the middle of its data chunk
  write_wav(s / "cut.wav", tone(16000), 16000);
  fs::resize_file(s / "cut.wav", fs::file_size(s / "cut.wav") / 2);
  expect_bad_input(s, s / "cut.wav", "truncated");
  // longer than 30 s (480000 samples at 16 kHz)
  write_wav(s / "long.wav", std::vector<double>(480001, 0.01), 16000);
  expect_bad_input(s, s / "long.wav", "longer than the maximum 480000 samples");
  // 44.1 kHz
  write_wav(s / "cd.wav", tone(4410), 44100);
  expect_bad_input(s, s / "cd.wav", "sample rate 44100 Hz, expected 16000 Hz");
  // empty (a valid header, 0 frames)
  write_wav(s / "empty.wav", {}, 16000);
  expect_bad_input(s, s / "empty.wav", "empty audio");
  // stereo
  write_wav(s / "stereo.wav", std::vector<double>(2000, 0.1), 16000, 2);
  expect_bad_input(s, s / "stereo.wav", "expected mono");
  // missing file
  expect_bad_input(s, s / "missing.wav", "no such audio file");
  // exactly 30 s is fine
  write_wav(s / "max.wav", std::vector<double>(480000, 0.01), 16000);
  const Run r = run(s, "audio-features " + (s / "max.wav"));
  BOOST_TEST(r.code == 0, r.err);
  BOOST_TEST(r.out.find("750 audio soft tokens") != std::string::npos, r.out);
}
