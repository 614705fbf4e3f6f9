#include "reference/audio/features.hpp"

#include <algorithm>
#include <cmath>

#include "reference/audio/ops/hann_window.hpp"
#include "reference/audio/ops/mel_filter_bank.hpp"
#include "reference/audio/ops/rfft.hpp"
#include "reference/common/check.hpp"

namespace g4::audio {
namespace {
index_t floor_div(index_t a, index_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }  // Python's //
}  // namespace

index_t num_frames(const FeatureConfig& fc, index_t padded_samples) {
  const index_t t = floor_div(padded_samples + fc.frame_length / 2 - (fc.frame_length + 1), fc.hop_length) + 1;
  return std::max<index_t>(t, 0);
}

index_t num_soft_tokens(const FeatureConfig& fc, index_t num_samples, index_t audio_seq_length) {
  index_t t = floor_div(num_samples + fc.frame_length / 2 - (fc.frame_length + 1), fc.hop_length) + 1;
  if (t <= 0) return 0;
  for (int i = 0; i < 2; ++i) t = floor_div(t + 2 * 1 - 3, 2) + 1;  // kernel 3, stride 2, padding 1
  return std::min(t, audio_seq_length);
}

AudioFeatures extract_features(const FeatureConfig& fc, const std::vector<std::vector<double>>& clips) {
  fc.validate();
  G4_CHECK(!clips.empty(), DataError, "audio: no clip given");
  index_t longest = 0;
  for (size_t b = 0; b < clips.size(); ++b) {
    const index_t n = index_t(clips[b].size());
    G4_CHECK(n > 0, DataError, "audio clip {}: empty (0 samples)", b);
    G4_CHECK(n <= fc.max_length, DataError,
             "audio clip {}: {} samples ({:.2f} s) is longer than the maximum {} samples ({:.0f} s at {} Hz)", b, n,
             double(n) / fc.sampling_rate, fc.max_length, double(fc.max_length) / fc.sampling_rate, fc.sampling_rate);
    for (double x : clips[b]) G4_CHECK(std::isfinite(x), DataError, "audio clip {}: non-finite sample", b);
    longest = std::max(longest, n);
  }
  const index_t L = (longest + fc.pad_to_multiple_of - 1) / fc.pad_to_multiple_of * fc.pad_to_multiple_of;
  const index_t left = fc.frame_length / 2, Lp = L + left, fl = fc.frame_length;
  const index_t T = num_frames(fc, L), M = fc.feature_size, bins = fc.fft_length / 2 + 1;
  G4_CHECK(T > 0, DataError, "audio: {} samples (padded to {}) give no feature frame (need at least {})", longest, L,
           fc.frame_length + 1 - left);

  const std::vector<double> window = ops::periodic_hann(fl);
  const Mat H = ops::mel_filter_bank(bins, M, fc.min_frequency, fc.max_frequency, fc.sampling_rate);  // [bins, M]
  ops::RealFftMagnitude fft(fc.fft_length);

  AudioFeatures out;
  out.B = index_t(clips.size());
  out.T = T;
  out.M = M;
  out.features = Mat::from_shape({size_t(out.B * T), size_t(M)});
  out.mask.assign(size_t(out.B * T), 0);
  std::vector<double> x(static_cast<size_t>(Lp)), frame(static_cast<size_t>(fl)), mag(static_cast<size_t>(bins));
  std::vector<std::uint8_t> real(static_cast<size_t>(Lp));
  const double a = fc.preemphasis;
  for (index_t b = 0; b < out.B; ++b) {
    const std::vector<double>& clip = clips[b];
    std::fill(x.begin(), x.end(), 0.0);
    std::fill(real.begin(), real.end(), 0);
    for (size_t n = 0; n < clip.size(); ++n) {
      x[left + n] = clip[n] * fc.input_scale_factor;
      real[left + n] = 1;
    }
    for (index_t t = 0; t < T; ++t) {
      const double* f = &x[t * fc.hop_length];  // fl + 1 samples
      if (a > 0.0 && fc.preemphasis_htk_flavor) {
        frame[0] = f[0] * (1.0 - a);
        for (index_t n = 1; n < fl; ++n) frame[n] = f[n] - a * f[n - 1];
      } else if (a > 0.0) {
        for (index_t n = 0; n < fl; ++n) frame[n] = f[n + 1] - a * f[n];
      } else {
        for (index_t n = 0; n < fl; ++n) frame[n] = f[n];
      }
      for (index_t n = 0; n < fl; ++n) frame[n] *= window[n];
      fft(frame.data(), fl, mag.data());
      const bool valid = real[t * fc.hop_length + fl];
      out.mask[b * T + t] = valid;
      for (index_t m = 0; m < M; ++m) {
        double mel = 0.0;
        for (index_t k = 0; k < bins; ++k) mel += mag[k] * H(k, m);
        double v = std::log(mel + fc.mel_floor);
        if (!fc.per_bin_mean.empty()) v -= fc.per_bin_mean[m];
        if (!fc.per_bin_stddev.empty()) v /= fc.per_bin_stddev[m];
        out.features(b * T + t, m) = valid ? v : 0.0;
      }
    }
  }
  return out;
}

}  // namespace g4::audio
