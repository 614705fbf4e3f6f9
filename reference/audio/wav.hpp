#pragma once
// Reading audio files (WAV and whatever else libsndfile reads) into float64 samples.
//
// Samples are libsndfile's sf_read_double values: integer PCM divided by 2^(bits−1) (16-bit k/32768),
// float files as stored — the values soundfile / librosa hand to transformers. Bad input, one line each:
//   IoError   missing file, not an audio file (libsndfile's reason), a RIFF/WAVE file whose data chunk
//             declares more bytes than the file holds (truncated), fewer frames read than the header says
//   DataError more than one channel (Gemma 4 takes mono), a sample rate other than the expected one,
//             no samples, more than max_samples samples, non-finite samples
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

// The file as stored (any channel count / rate): only I/O problems are errors.
Waveform read_audio_file(const std::string& path);

// A clip for the feature extractor: mono, at fc.sampling_rate, 1 .. fc.max_length samples.
std::vector<double> load_clip(const std::string& path, const FeatureConfig& fc);

}  // namespace g4::audio
