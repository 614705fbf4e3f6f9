#include "reference/audio/wav.hpp"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "reference/common/check.hpp"

namespace g4::audio {
namespace {

std::uint32_t le32(const unsigned char* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t(p[3]) << 24); }

// libsndfile reads a WAV whose data chunk is cut short without complaint (it shortens the frame count
// to what is there), so a truncated download would pass as a shorter clip. Walk the RIFF chunks and
// compare the data chunk's declared size with the bytes present.
void check_riff_not_truncated(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char h[12];
  if (!in.read(reinterpret_cast<char*>(h), 12)) return;  // libsndfile reports short files itself
  if (std::memcmp(h, "RIFF", 4) != 0 || std::memcmp(h + 8, "WAVE", 4) != 0) return;
  const std::uintmax_t size = std::filesystem::file_size(path);
  std::uintmax_t pos = 12;
  while (pos + 8 <= size) {
    unsigned char c[8];
    in.seekg(std::streamoff(pos));
    if (!in.read(reinterpret_cast<char*>(c), 8)) break;
    const std::uint32_t len = le32(c + 4);
    if (std::memcmp(c, "data", 4) == 0) {
      // 0 and 0xFFFFFFFF are "size unknown" (streamed writers); nothing to check then.
      G4_CHECK(len == 0 || len == 0xFFFFFFFFu || pos + 8 + len <= size, IoError,
               "{}: truncated WAV file: the data chunk declares {} bytes, the file holds {}", path, len,
               size - pos - 8);
      return;
    }
    // Chunks are padded to even sizes. In 64 bits: 8 + len in uint32 wraps to 0 for len >= 2^32 - 8
    // and looped forever on the same chunk (fuzz_wav, regressions/wav/fmt_len_wraps_32bit.wav).
    pos += 8 + std::uintmax_t{len} + (len & 1);
  }
}

}  // namespace

Waveform read_audio_file(const std::string& path, index_t max_frames, index_t max_channels) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  G4_CHECK(std::filesystem::exists(st), IoError, "{}: no such audio file", path);
  G4_CHECK(std::filesystem::is_regular_file(st), IoError, "{}: not a regular file (expected an audio file)", path);
  check_riff_not_truncated(path);
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  G4_CHECK(f, IoError, "{}: not a readable audio file (libsndfile: {})", path, sf_strerror(nullptr));
  // Refused from the header, before the frames × channels buffer exists (wav.hpp).
  if (info.channels < 1 || info.channels > max_channels) {
    sf_close(f);
    throw DataError(fmt::format("{}: {} channels, expected {}", path, info.channels,
                                max_channels == 1 ? "mono audio (1 channel)" : fmt::format("1 to {}", max_channels)));
  }
  if (info.frames < 0 || info.frames > max_frames) {
    sf_close(f);
    throw DataError(fmt::format("{}: {} samples ({:.2f} s at {} Hz) is longer than the maximum {} samples; refused "
                                "before reading",
                                path, info.frames, double(info.frames) / double(std::max(1, info.samplerate)),
                                info.samplerate, max_frames));
  }
  Waveform w;
  w.sample_rate = info.samplerate;
  w.channels = info.channels;
  std::vector<double> inter(size_t(info.frames) * size_t(std::max(1, info.channels)));
  const sf_count_t got = inter.empty() ? 0 : sf_readf_double(f, inter.data(), info.frames);
  const int err = sf_error(f);
  const std::string reason = sf_strerror(f);
  sf_close(f);
  G4_CHECK(err == SF_ERR_NO_ERROR, IoError, "{}: error reading audio samples (libsndfile: {})", path, reason);
  G4_CHECK(got == info.frames, IoError, "{}: truncated audio file: header says {} frames, {} could be read", path,
           info.frames, got);
  w.samples = std::move(inter);  // interleaved when channels > 1
  return w;
}

std::vector<double> load_clip(const std::string& path, const FeatureConfig& fc) {
  // Refuses anything but mono, and a clip longer than max_length, before reading the samples.
  Waveform w = read_audio_file(path, fc.max_length, 1);
  G4_CHECK(w.sample_rate == fc.sampling_rate, DataError,
           "{}: sample rate {} Hz, expected {} Hz (resample the file first)", path, w.sample_rate, fc.sampling_rate);
  G4_CHECK(!w.samples.empty(), DataError, "{}: empty audio (0 samples)", path);
  for (double x : w.samples) G4_CHECK(std::isfinite(x), DataError, "{}: non-finite sample", path);
  return std::move(w.samples);
}

}  // namespace g4::audio
