#pragma once
// Reading audio files (WAV and whatever else libsndfile reads) into float64 samples.
//
// Samples are libsndfile's sf_read_double values: integer PCM divided by 2^(bits−1) (16-bit k/32768),
// float files as stored — the values soundfile / librosa hand to transformers. Bad input, one line each:
//   IoError   missing file, not an audio file (libsndfile's reason), a RIFF/WAVE file whose data chunk
//             declares more bytes than the file holds (truncated), fewer frames read than the header says
//   DataError more than one channel (Gemma 4 takes mono) or more than max_length samples (both
//             refused from the header, before reading), a sample rate other than the expected one,
//             no samples, non-finite samples
#include <string>
#include <vector>

#include "reference/audio/config.hpp"
#include "reference/common/dims.hpp"

namespace g4::audio {

struct Waveform {
  std::vector<double> samples;  // [n], mono
  index_t sample_rate = 0;
  index_t channels = 0;
};

// The file as stored (any sample rate): I/O problems are errors, and a header declaring more than
// max_frames frames or more than max_channels channels is refused (DataError naming the file and
// the declared value) before the frames × channels sample buffer is allocated: a compressed or
// corrupt header (FLAC declares up to 2^36 frames in a few bytes) must not size the allocation.
Waveform read_audio_file(const std::string& path, index_t max_frames, index_t max_channels);

// A clip for the feature extractor: mono, at fc.sampling_rate, 1 .. fc.max_length samples.
std::vector<double> load_clip(const std::string& path, const FeatureConfig& fc);

}  // namespace g4::audio
