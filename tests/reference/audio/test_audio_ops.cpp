// Analytic cases for the audio tower's ops and bookkeeping: the mel filter bank, the periodic Hann
// window, the FFT of pure tones, convolution output lengths, the chunked attention mask and its
// relative-position shift, the relative position table, configs and parameter counts.
#define BOOST_TEST_MODULE test_audio_ops
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <numeric>
#include <random>

#include "reference/audio/config.hpp"
#include "reference/audio/features.hpp"
#include "reference/audio/ops/causal_conv1d.hpp"
#include "reference/audio/ops/chunked_attention.hpp"
#include "reference/audio/ops/conv2d.hpp"
#include "reference/audio/ops/elementwise.hpp"
#include "reference/audio/ops/hann_window.hpp"
#include "reference/audio/ops/mel_filter_bank.hpp"
#include "reference/audio/ops/rel_position.hpp"
#include "reference/audio/ops/rfft.hpp"
#include "reference/audio/random_weights.hpp"
#include "reference/common/check.hpp"

using namespace g4;
using namespace g4::audio;

namespace {
constexpr double kU = 0x1.0p-53;  // float64 unit roundoff

Mat random_mat(index_t r, index_t c, std::mt19937_64& g) {
  std::normal_distribution<double> n(0.0, 1.0);
  Mat m = Mat::from_shape({size_t(r), size_t(c)});
  for (auto& v : m) v = n(g);
  return m;
}
}  // namespace

// ---- window -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(periodic_hann_values) {
  const index_t N = 320;
  const auto w = ops::periodic_hann(N);
  BOOST_TEST(w.size() == size_t(N));
  BOOST_TEST(std::abs(w[0]) <= 4 * kU);            // 0 at the start, no closing zero at the end
  BOOST_TEST(std::abs(w[N / 2] - 1.0) <= 4 * kU);  // 1 at the centre
  BOOST_TEST(std::abs(w[N / 4] - 0.5) <= 4 * kU);  // cos(π/2) = 0
  BOOST_TEST(w[N - 1] > 0.0);                       // periodic: the last point is not 0
  for (index_t n = 1; n < N; ++n) {
    BOOST_TEST(std::abs(w[n] - w[N - n]) <= 4 * kU);  // symmetric about N/2 with period N
    BOOST_TEST(std::abs(w[n] - (0.5 - 0.5 * std::cos(2 * M_PI * n / N))) <= 4 * kU);
  }
  // Σ_n (0.5 − 0.5·cos(2πn/N)) = N/2 exactly (the cosines sum to 0 over a full period).
  BOOST_TEST(std::abs(std::accumulate(w.begin(), w.end(), 0.0) - N / 2.0) <= N * 4 * kU);
}

// ---- mel filter bank ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(mel_filter_bank_shape_peaks_and_partition) {
  const index_t bins = 257, M = 128;
  const Mat H = ops::mel_filter_bank(bins, M, 0.0, 8000.0, 16000);
  BOOST_TEST(H.shape(0) == size_t(bins));
  BOOST_TEST(H.shape(1) == size_t(M));
  const auto p = ops::linspace(ops::hz_to_mel_htk(0.0), ops::hz_to_mel_htk(8000.0), M + 2);
  BOOST_TEST(std::abs(ops::hz_to_mel_htk(1000.0) - 1000.0) < 0.05);  // HTK: 1000 Hz ≈ 1000 mel
  const double df = 8000.0 / double(bins - 1);                        // 31.25 Hz per bin
  index_t nonzero = 0;
  for (index_t m = 0; m < M; ++m) {
    const double lo = ops::mel_to_hz_htk(p[m]), c = ops::mel_to_hz_htk(p[m + 1]), hi = ops::mel_to_hz_htk(p[m + 2]);
    index_t arg = 0;
    for (index_t i = 0; i < bins; ++i) {
      const double f = i * df, v = H(i, m);
      BOOST_TEST((v >= 0.0 && v <= 1.0));
      if (f <= lo || f >= hi) BOOST_TEST(v == 0.0);  // support is (p_m, p_{m+2})
      if (v > H(arg, m)) arg = i;
    }
    // A filter is all zero exactly when no bin frequency lies strictly inside its support (the narrowest
    // low-frequency filters; transformers warns about it): norm=None leaves it so.
    bool bin_inside = false;
    for (index_t i = 0; i < bins; ++i) bin_inside |= (i * df > lo && i * df < hi);
    BOOST_TEST((H(arg, m) > 0.0) == bin_inside, "filter " << m);
    if (H(arg, m) == 0.0) continue;
    ++nonzero;
    // The peak is at one of the two bins around the centre frequency (not always the nearer one: the
    // triangle's two slopes differ); its value is the triangle there.
    BOOST_TEST(std::abs(arg * df - c) < df, "filter " << m << " peaks at bin " << arg << ", centre " << c);
    const double f = arg * df;
    const double tri = f <= c ? (f - lo) / (c - lo) : (hi - f) / (hi - c);
    BOOST_TEST(std::abs(H(arg, m) - tri) <= 1e-12);
  }
  BOOST_TEST(nonzero == M - 1);  // 128 bins over 0..8 kHz: only filter 0 (support 0..28.5 Hz) misses every bin
  // No normalisation: neighbouring triangles sum to 1 between the first and the last centre.
  const double c1 = ops::mel_to_hz_htk(p[1]), cM = ops::mel_to_hz_htk(p[M]);
  for (index_t i = 0; i < bins; ++i) {
    const double f = i * df;
    if (f < c1 || f > cM) continue;
    double s = 0.0;
    for (index_t m = 0; m < M; ++m) s += H(i, m);
    BOOST_TEST(std::abs(s - 1.0) <= 1e-12, "bin " << i);
  }
}

// ---- FFT ----------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fft_of_a_pure_tone) {
  const index_t n = 512;
  ops::RealFftMagnitude fft(n);
  BOOST_TEST(fft.bins() == 257);
  std::vector<double> x(n), mag(fft.bins());
  for (index_t k0 : {1, 32, 100, 255}) {  // A·cos(2π k0 t / n) over a whole period: |X[k0]| = A·n/2, 0 elsewhere
    const double A = 0.7;
    for (index_t t = 0; t < n; ++t) x[t] = A * std::cos(2 * M_PI * double(k0 * t) / double(n));
    fft(x.data(), n, mag.data());
    for (index_t k = 0; k < fft.bins(); ++k) {
      const double want = k == k0 ? A * n / 2.0 : 0.0;
      BOOST_TEST(std::abs(mag[k] - want) <= 1e-11 * A * n, "k0 " << k0 << " bin " << k);
    }
  }
  // DC and Nyquist: a constant c gives |X[0]| = c·n; (−1)^t gives |X[n/2]| = n.
  for (index_t t = 0; t < n; ++t) x[t] = (t % 2 ? -1.0 : 1.0);
  fft(x.data(), n, mag.data());
  BOOST_TEST(std::abs(mag[n / 2] - n) <= 1e-10);
  // A Hann-windowed 1 kHz tone of 320 samples zero-padded to 512 (the feature extractor's frame):
  // the peak is bin 1000/31.25 = 32 with |X| = A·Σw/2 = A·80 up to the leakage of the other side band.
  const auto w = ops::periodic_hann(320);
  std::vector<double> frame(320);
  for (index_t t = 0; t < 320; ++t) frame[t] = 0.5 * std::cos(2 * M_PI * 1000.0 * t / 16000.0) * w[t];
  fft(frame.data(), 320, mag.data());
  const auto peak = std::max_element(mag.begin(), mag.end()) - mag.begin();
  BOOST_TEST(peak == 32);
  BOOST_TEST(std::abs(mag[32] - 0.5 * 80.0) <= 0.01 * 0.5 * 80.0);
  BOOST_CHECK_THROW(fft(frame.data(), 513, mag.data()), ShapeError);
}

// ---- feature bookkeeping ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(frame_and_token_counts) {
  const FeatureConfig fc;
  // 30 s = 480000 samples -> (480000 + 160 − 321)//160 + 1 = 2999 frames -> 1500 -> 750 soft tokens.
  BOOST_TEST(num_frames(fc, 480000) == 2999);
  BOOST_TEST(num_soft_tokens(fc, 480000) == 750);
  BOOST_TEST(num_soft_tokens(fc, 16000) == 25);  // 1 s: 99 frames -> 50 -> 25 (40 ms per token)
  BOOST_TEST(num_soft_tokens(fc, 160) == 0);     // shorter than one frame
  // Features of a clip: the count of valid frames after two [::2] sub-samplings equals num_soft_tokens.
  for (index_t n : {161, 321, 999, 4000, 7001}) {
    std::vector<double> clip(n, 0.1);
    const AudioFeatures f = extract_features(fc, {clip});
    index_t valid = 0;
    for (auto v : f.mask) valid += v;
    BOOST_TEST(valid == (n + 160 - 321) / 160 + 1, "n " << n);
    BOOST_TEST(f.T == num_frames(fc, (n + 127) / 128 * 128));
    std::vector<std::uint8_t> m = f.mask;
    for (int l = 0; l < 2; ++l) {
      std::vector<std::uint8_t> h;
      for (size_t t = 0; t < m.size(); t += 2) h.push_back(m[t]);
      m = h;
    }
    BOOST_TEST(index_t(std::count(m.begin(), m.end(), 1)) == num_soft_tokens(fc, n), "n " << n);
  }
  BOOST_CHECK_THROW(extract_features(fc, {std::vector<double>{}}), DataError);
  BOOST_CHECK_THROW(extract_features(fc, {std::vector<double>(480001, 0.0)}), DataError);
}

// ---- convolutions -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(convolution_output_lengths) {
  // kernel 3, stride 2, padding 1: ceil(n/2) for every n ≥ 1 (what mask[::2] keeps).
  for (index_t n = 1; n <= 64; ++n) BOOST_TEST(ops::conv_output_length(n, 3, 2, 1) == (n + 1) / 2);
  BOOST_TEST(ops::conv_output_length(5, 3, 1, 0) == 3);
  BOOST_TEST(ops::conv_output_length(2, 5, 1, 0) == 0);
  // conv2d produces exactly those shapes, and a centred delta kernel at stride 1 is the identity.
  std::mt19937_64 g(7);
  for (index_t T : {1, 2, 7, 12, 13}) {
    const Mat x = random_mat(T, 6, g);
    std::vector<double> xv(x.begin(), x.end()), delta(9, 0.0);
    delta[4] = 1.0;
    const ops::Conv2dShape s2{1, 1, T, 6, 1, 3, 3, 2, 1};
    BOOST_TEST(ops::conv2d(xv, delta, s2).size() == size_t(((T + 1) / 2) * 3));
    const ops::Conv2dShape s1{1, 1, T, 6, 1, 3, 3, 1, 1};
    const auto y = ops::conv2d(xv, delta, s1);
    BOOST_TEST(y == xv);
    // stride 2 with the delta picks every other row and column: y[i, j] = x[2i, 2j]
    const auto z = ops::conv2d(xv, delta, s2);
    for (index_t i = 0; i < (T + 1) / 2; ++i)
      for (index_t j = 0; j < 3; ++j) BOOST_TEST(z[i * 3 + j] == x(2 * i, 2 * j));
  }
  // Causal depthwise conv1d: output t depends on inputs t−K+1 .. t only, length preserved.
  const Mat x = random_mat(10, 3, g), w = random_mat(3, 4, g);
  Mat y = ops::causal_depthwise_conv1d(x, w, 1);
  Mat x2 = x;
  for (index_t c = 0; c < 3; ++c) x2(7, c) += 1.0;  // a change at t = 7 moves t = 7..9 only
  const Mat y2 = ops::causal_depthwise_conv1d(x2, w, 1);
  for (index_t t = 0; t < 10; ++t)
    for (index_t c = 0; c < 3; ++c) {
      if (t < 7) BOOST_TEST(y(t, c) == y2(t, c));
      else BOOST_TEST(std::abs(y2(t, c) - y(t, c) - w(c, 3 - (t - 7))) <= 1e-12);
    }
}

// ---- chunked attention --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(chunked_attention_mask_structure) {
  // Released geometry: W = 12, context_left 13 (P = 12), F = 0: C = 24; each valid query sees itself
  // and the 11 frames before it, never a padding frame, never the future.
  const index_t T = 40, W = 12, P = 12;
  std::vector<std::uint8_t> valid(T, 1);
  for (index_t t = 33; t < T; ++t) valid[t] = 0;  // 7 padding frames
  const ops::ChunkedAttentionShape s{1, T, 1, 1, W, P, 0};
  BOOST_TEST(s.C() == 24);
  BOOST_TEST(s.U() == 4);
  BOOST_TEST(s.n_rel() == 13);
  const auto a = ops::chunked_allowed(valid, s);
  BOOST_TEST(a.size() == size_t(4 * 12 * 24));
  for (index_t u = 0; u < s.U(); ++u)
    for (index_t w = 0; w < W; ++w) {
      const index_t q = u * W + w;
      index_t n = 0;
      for (index_t c = 0; c < s.C(); ++c) {
        const index_t k = u * W - P + c;
        const bool want = q < T && k >= 0 && k <= q && q - k < 12 && valid[k];
        BOOST_TEST(bool(a[(u * W + w) * s.C() + c]) == want, "q " << q << " c " << c);
        n += a[(u * W + w) * s.C() + c];
        // allowed entries sit at c − w = P − (q − k) ∈ [1, P]: the rel shift reads raw[w, c − w] there
        if (a[(u * W + w) * s.C() + c]) BOOST_TEST((c - w >= 1 && c - w <= P));
      }
      if (q < 33) BOOST_TEST(n == std::min<index_t>(q + 1, 12), "q " << q);
      else if (q < T) BOOST_TEST(n == std::max<index_t>(0, 32 - (q - 11) + 1), "q " << q);
      else BOOST_TEST(n == 0);
    }
  // A future horizon F opens F − 1 future frames (sliding_window_mask_function: −dist < F).
  const ops::ChunkedAttentionShape sf{1, T, 1, 1, 4, 4, 3};
  const auto af = ops::chunked_allowed(std::vector<std::uint8_t>(T, 1), sf);
  index_t n = 0;
  for (index_t c = 0; c < sf.C(); ++c) n += af[(2 * 4 + 1) * sf.C() + c];  // q = 9
  BOOST_TEST(n == 3 + 1 + 2);
}

// With C/2 = P and F = 0 (released and tiny configs) the blocked attention with the rel shift is a
// plain sliding-window attention whose relative key is indexed by the distance q − k.
BOOST_AUTO_TEST_CASE(chunked_attention_equals_sliding_window_with_distance_bias) {
  std::mt19937_64 g(3);
  for (auto [W, P] : {std::pair<index_t, index_t>{12, 12}, {4, 4}}) {
    const index_t B = 2, T = 29, N = 2, d = 4, C = W + P, n_rel = C / 2 + 1;
    const Mat q = random_mat(B * T, N * d, g), k = random_mat(B * T, N * d, g), v = random_mat(B * T, N * d, g);
    const Mat rk = random_mat(n_rel, N * d, g);
    std::vector<std::uint8_t> valid(B * T, 1);
    for (index_t t = 20; t < T; ++t) valid[T + t] = 0;  // second row: 9 padding frames
    const ops::ChunkedAttentionShape s{B, T, N, d, W, P, 0};
    const double cap = 5.0;
    std::vector<double> probs;
    const Mat o = ops::chunked_attention(q, k, v, rk, valid, s, cap, -1e9, &probs);
    double worst = 0;
    for (index_t b = 0; b < B; ++b)
      for (index_t h = 0; h < N; ++h)
        for (index_t qp = 0; qp < T; ++qp) {
          std::vector<double> z, p;
          std::vector<index_t> keys;
          for (index_t kp = std::max<index_t>(0, qp - (P - 1)); kp <= qp; ++kp) {
            if (!valid[b * T + kp]) continue;
            const index_t j = C / 2 - (qp - kp);  // s_j = C/2 − j = distance
            double ac = 0, bd = 0;
            for (index_t i = 0; i < d; ++i) {
              ac += q(b * T + qp, h * d + i) * k(b * T + kp, h * d + i);
              bd += q(b * T + qp, h * d + i) * rk(j, h * d + i);
            }
            z.push_back(cap * std::tanh((ac + bd) / cap));
            keys.push_back(kp);
          }
          if (keys.empty()) continue;  // fully masked row: uniform over the block context (not this rule)
          const double m = *std::max_element(z.begin(), z.end());
          double sum = 0;
          for (double x : z) sum += std::exp(x - m);
          for (index_t i = 0; i < d; ++i) {
            double want = 0;
            for (size_t e = 0; e < keys.size(); ++e) want += std::exp(z[e] - m) / sum * v(b * T + keys[e], h * d + i);
            worst = std::max(worst, std::abs(o(b * T + qp, h * d + i) - want));
          }
        }
    BOOST_TEST(worst <= 1e-13, "W " << W << " worst " << worst);
    // probabilities: [B, N, U, W, C], rows sum to 1
    BOOST_TEST(probs.size() == size_t(B * N * s.U() * W * C));
    for (size_t r = 0; r < probs.size() / C; ++r) {
      double sum = 0;
      for (index_t c = 0; c < C; ++c) sum += probs[r * C + c];
      BOOST_TEST(std::abs(sum - 1.0) <= 1e-13);
    }
  }
}

// ---- small element-wise pieces ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(relative_position_table_and_activations) {
  const Mat pe = ops::relative_position_table(24, 8);  // 13 rows: positions 12 .. 0
  BOOST_TEST(pe.shape(0) == 13u);
  for (index_t m = 0; m < 4; ++m) {
    BOOST_TEST(pe(12, m) == 0.0);      // position 0: sin 0
    BOOST_TEST(pe(12, 4 + m) == 1.0);  // cos 0
  }
  BOOST_TEST(std::abs(pe(0, 0) - std::sin(12.0)) <= 4 * kU);  // inv[0] = 1
  BOOST_TEST(std::abs(pe(1, 3) - std::sin(11.0 * 1e-4)) <= 1e-15);  // inv[D/2 − 1] = 1/10000
  BOOST_TEST(ops::softplus(0.0) == std::log(2.0));
  BOOST_TEST(ops::softplus(25.0) == 25.0);  // torch's threshold 20
  Mat x = Mat::from_shape({1, 4});
  x(0, 0) = 2.0, x(0, 1) = -3.0, x(0, 2) = 0.0, x(0, 3) = 100.0;
  const Mat y = ops::glu(x);
  BOOST_TEST(y(0, 0) == 1.0);        // 2·σ(0)
  BOOST_TEST(y(0, 1) == -3.0);       // −3·σ(100) = −3
  BOOST_TEST(ops::silu(0.0) == 0.0);
}

// ---- configs and parameter counts ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(configs_load_and_reject) {
  const AudioConfig r = released_audio_config("e2b");
  BOOST_TEST(r.hidden_size == 1024);
  BOOST_TEST(r.context_size() == 24);
  BOOST_TEST(*r.text_hidden_size == 1536);
  const AudioConfig full = load_audio_config(std::string(GEMMA4_SOURCE_DIR) + "/golden/data/audio_tiny/config.json");
  BOOST_TEST(full.hidden_size == 32);
  BOOST_TEST(full.residual_weight == 0.6);
  BOOST_TEST(full.text_hidden_size.value_or(0) == 40);
  const AudioConfig sa = audio_config_from_json(R"({"model_type": "gemma4_audio", "hidden_size": 64,
      "num_attention_heads": 4, "subsampling_conv_channels": [16, 8], "architectures": ["Gemma4AudioModel"]})", "sa");
  BOOST_TEST(sa.hidden_size == 64);
  BOOST_TEST(!sa.text_hidden_size.has_value());
  BOOST_CHECK_THROW(audio_config_from_json(R"({"model_type": "gemma4_audio", "hiden_size": 64})", "typo"), ConfigError);
  BOOST_CHECK_THROW(audio_config_from_json(R"({"model_type": "gemma4_audio", "hidden_act": "gelu"})", "act"), ConfigError);
  BOOST_CHECK_THROW(audio_config_from_json(R"({"model_type": "gemma4", "text_config": {}})", "no audio"), ConfigError);
  BOOST_CHECK_THROW(feature_config_from_json(R"({"feature_size": 128, "dither": 0.1})", "dither"), ConfigError);
  BOOST_CHECK_THROW(feature_config_from_json(R"({"feature_size": 128, "window": "hamming"})", "unknown"), ConfigError);
  const FeatureConfig fc = load_feature_config(std::string(GEMMA4_SOURCE_DIR) + "/golden/data/audio_tiny/preprocessor_config.json");
  BOOST_TEST(fc.feature_size == 16);
  BOOST_TEST(fc.fft_length == 512);
}

// param_count against an independent enumeration of every tensor RandomAudioWeights makes.
BOOST_AUTO_TEST_CASE(param_count_matches_the_tensors) {
  AudioConfig c;
  c.hidden_size = 24, c.num_hidden_layers = 3, c.num_attention_heads = 3, c.subsampling_conv_channels[0] = 16;
  c.subsampling_conv_channels[1] = 6, c.conv_kernel_size = 4, c.output_proj_dims = 10, c.text_hidden_size = 20;
  RandomAudioWeights w(c, 1);
  std::int64_t n = 0;
  const SubsampleWeights s = w.subsample();
  n += s.conv0.size() + s.norm0.size() + s.conv1.size() + s.norm1.size() + s.input_proj.size();
  for (index_t i = 0; i < c.num_hidden_layers; ++i) {
    const AudioLayerWeights l = w.layer(i);
    for (const FeedForwardWeights* f : {&l.feed_forward1, &l.feed_forward2})
      n += f->ffw_layer_1.w.size() + f->ffw_layer_2.w.size() + f->pre_layer_norm.size() + f->post_layer_norm.size();
    n += l.q_proj.w.size() + l.k_proj.w.size() + l.v_proj.w.size() + l.post.w.size() + l.relative_k_proj.size() +
         l.per_dim_scale.size() + l.linear_start.w.size() + l.linear_end.w.size() + l.depthwise_conv1d.size() +
         l.lconv_pre_layer_norm.size() + l.conv_norm.size() + l.norm_pre_attn.size() + l.norm_post_attn.size() +
         l.norm_out.size();
  }
  const OutputWeights o = w.output();
  n += o.output_proj.size() + o.output_proj_bias.size() + w.embedder().size();
  BOOST_TEST(param_count(c, 20).total() == n);
  // The released tower: "about 300M audio" on the E2B/E4B model cards.
  for (const char* v : {"e2b", "e4b"}) {
    const AudioConfig rc = released_audio_config(v);
    const AudioParams p = param_count(rc, *rc.text_hidden_size);
    BOOST_TEST_MESSAGE(v << ": audio tower " << p.subsample + p.layers + p.output << " + embedder " << p.embedder
                         << " = " << p.total());
    BOOST_TEST((p.total() > 280'000'000 && p.total() < 320'000'000));
  }
}
