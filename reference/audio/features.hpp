#pragma once
// Log-mel features of a batch of 16 kHz clips, exactly as Gemma4AudioFeatureExtractor.__call__ makes
// them (spec section 6.1):
//
//   1. pad every clip with zeros to the longest, rounded up to a multiple of pad_to_multiple_of (128);
//      sample mask m[n] = 1 for real samples           (SequenceFeatureExtractor.pad, padding "longest")
//   2. x ← x·input_scale_factor; prepend frame_length/2 zeros (semicausal), m likewise with 0
//   3. frames of frame_length + 1 samples at stride hop: T = (len − frame_length − 1) / hop + 1
//   4. drop each frame's last sample (or pre-emphasis: HTK flavour [x0·(1−a), x[1:−1] − a·x[:−2]],
//      else x[1:] − a·x[:−1])
//   5. multiply by the periodic Hann window; |rfft| zero-padded to fft_length (magnitude)
//   6. mel = |X| · H (HTK filter bank [fft_length/2 + 1, M], no normalisation); log(mel + mel_floor);
//      minus per_bin_mean, over per_bin_stddev when configured
//   7. frame mask f[t] = m[t·hop + frame_length] (the frame's last sample is real); features of masked
//      frames are set to 0
//
// Bad input (DataError, one line): an empty clip, a clip longer than max_length samples (transformers
// would silently truncate it; here it is refused), a batch with no frame at all.
// Upstream: transformers models/gemma4/feature_extraction_gemma4.py; audio_utils.{mel_filter_bank,
// window_function}. transformers returns float32 features (the exporter patches that out).
#include <cstdint>
#include <vector>

#include "reference/audio/config.hpp"
#include "reference/common/tensor.hpp"

namespace g4::audio {

struct AudioFeatures {
  index_t B = 0, T = 0, M = 0;
  Mat features;                     // row-major [B·T, M]    input_features [B, T, M]
  std::vector<std::uint8_t> mask;   // [B·T]                 input_features_mask (1 = valid frame)
};

AudioFeatures extract_features(const FeatureConfig& fc, const std::vector<std::vector<double>>& clips);

// Mel frames of a clip of n samples after padding (step 3's T); 0 if too short.
index_t num_frames(const FeatureConfig& fc, index_t padded_samples);

// Number of audio soft tokens a clip of n samples becomes: Gemma4Processor._compute_audio_num_tokens
// (mel frames of the unpadded clip, then two stride-2 convolutions t ← (t − 1)/2 + 1, capped at
// audio_seq_length = 750). Equals the count of valid frames in the tower's output mask.
index_t num_soft_tokens(const FeatureConfig& fc, index_t num_samples, index_t audio_seq_length = 750);

}  // namespace g4::audio
