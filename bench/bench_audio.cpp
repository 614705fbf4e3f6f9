// The real-size Gemma 4 audio tower (E2B/E4B: identical towers) through the float64 reference, on one
// 30-second clip, against this machine's dgemm measured in the same run.
//
// Cases, in this order:
//   BM_dgemm/T:512/K:4096/N:4096   ops::matmul_blas on one shape: the baseline rate (GFLOP/s)
//   BM_audio_features/30s          feature extraction of 480000 samples (16 kHz): 2999 log-mel frames
//   BM_audio_tower/30s             sub-sampling, 12 conformer layers, output_proj, and the E2B audio
//                                  embedder (into 1536) on those 2999 frames (750 soft tokens); seeded
//                                  weights generated once before timing (not timed), held in memory
// Counters: seconds per pass; GFLOP/s from the analytic count below; frac_dgemm = that rate over the
// median dgemm rate of BM_dgemm (what fraction of the machine's float64 matmul speed the reference gets).
// Every pass is validated before it is timed (finite outputs, 750 valid soft tokens).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "reference/audio/config.hpp"
#include "reference/audio/features.hpp"
#include "reference/audio/model.hpp"
#include "reference/audio/random_weights.hpp"
#include "reference/ops/matmul.hpp"
#include "reference/text/random_weights.hpp"

namespace {

using namespace g4;
using namespace g4::audio;

constexpr std::uint64_t kSeed = 20250401;
std::vector<double> g_dgemm;  // GFLOP/s samples

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double dgemm_rate() {
  if (g_dgemm.empty()) {  // BM_dgemm filtered out: measure here, outside any timing
    const index_t T = 512, K = 4096, N = 4096;
    std::vector<double> x(size_t(T * K), 0.5), w(size_t(N * K), 0.25), y(size_t(T * N));
    for (int i = 0; i < 4; ++i) {
      const double t0 = now_s();
      ops::matmul_blas(x.data(), w.data(), y.data(), T, K, N);
      if (i) g_dgemm.push_back(2.0 * T * K * N / (now_s() - t0) * 1e-9);
    }
  }
  return median(g_dgemm);
}

// A seeded 30 s clip: two tones and noise, 16-bit PCM values.
std::vector<double> clip_30s() {
  text::NormalStream g(kSeed, -70, "bench.audio.clip");
  std::vector<double> x(480000);
  for (size_t t = 0; t < x.size(); ++t) {
    const double s = 0.2 * std::sin(2 * M_PI * 440.0 * double(t) / 16000.0) +
                     0.1 * std::sin(2 * M_PI * 3100.0 * double(t) / 16000.0) + 0.02 * g.next();
    x[t] = std::clamp(std::nearbyint(s * 32768.0), -32768.0, 32767.0) / 32768.0;
  }
  return x;
}

// Weights generated once and handed out from memory (the generation is not what is measured).
class HeldWeights : public AudioWeightSource {
 public:
  HeldWeights(const AudioConfig& c, std::uint64_t seed) {
    RandomAudioWeights r(c, seed);
    sub_ = r.subsample();
    for (index_t i = 0; i < c.num_hidden_layers; ++i) layers_.push_back(r.layer(i));
    out_ = r.output();
    emb_ = r.embedder();
  }
  SubsampleWeights subsample() override { return sub_; }
  AudioLayerWeights layer(index_t i) override { return layers_.at(i); }
  OutputWeights output() override { return out_; }
  bool has_embedder() const override { return true; }
  Mat embedder() override { return emb_; }

 private:
  SubsampleWeights sub_;
  std::vector<AudioLayerWeights> layers_;
  OutputWeights out_;
  Mat emb_;
};

// Analytic FLOPs of one pass (a multiply-add is 2), dense as the reference computes them.
double tower_flops(const AudioConfig& c, index_t frames) {
  const double C0 = c.subsampling_conv_channels[0], C1 = c.subsampling_conv_channels[1], D = c.hidden_size;
  const double T2 = double((frames + 1) / 2), T4 = double(((frames + 1) / 2 + 1) / 2), M = 128;
  const double F2 = std::ceil(M / 2), F4 = std::ceil(F2 / 2);  // each stride-2 conv keeps ceil(n/2)
  double f = 2 * C0 * T2 * F2 * 9 + 2 * C1 * T4 * F4 * C0 * 9 + 2 * T4 * double(c.proj_input_dim()) * D;
  const double W = c.attention_chunk_size, C = double(c.context_size()), U = std::ceil(T4 / W);
  const double Nd = D, n_rel = double(c.num_rel_positions());
  const double layer = 2 * (2 * (2 * T4 * D * 4 * D))          // two feed-forwards, two linears each
                       + 4 * (2 * T4 * D * D) + 2 * n_rel * D * D  // q, k, v, post; relative_k_proj
                       + 2 * (2 * U * W * C * Nd)                  // q·k and p·v over the block context
                       + 2 * U * W * (C + 1) * Nd                  // q·Rk (raw relative logits)
                       + 2 * T4 * D * 2 * D + 2 * T4 * D * D + 2 * T4 * D * c.conv_kernel_size;  // light conv
  f += c.num_hidden_layers * layer;
  f += 2 * T4 * D * c.output_proj_dims + 2 * T4 * c.output_proj_dims * double(*c.text_hidden_size);
  return f;
}

void BM_dgemm(benchmark::State& state) {
  const index_t T = state.range(0), K = state.range(1), N = state.range(2);
  std::vector<double> x(size_t(T * K)), w(size_t(N * K)), y(size_t(T * N));
  text::NormalStream g(kSeed, -50, "bench.dgemm");
  for (auto& v : x) v = g.next();
  for (auto& v : w) v = g.next();
  ops::matmul_blas(x.data(), w.data(), y.data(), T, K, N);  // warm-up
  for (auto _ : state) {
    const double t0 = now_s();
    ops::matmul_blas(x.data(), w.data(), y.data(), T, K, N);
    g_dgemm.push_back(2.0 * T * K * N / (now_s() - t0) * 1e-9);
    benchmark::DoNotOptimize(y.data());
  }
  if (!std::isfinite(y[0])) state.SkipWithError("dgemm produced a non-finite value");
  state.counters["GFLOP/s"] = median(g_dgemm);
}

void BM_audio_features(benchmark::State& state) {
  const FeatureConfig fc;
  const std::vector<std::vector<double>> clips{clip_30s()};
  AudioFeatures f = extract_features(fc, clips);  // validate (and warm up) before timing
  if (f.B != 1 || f.T != 2999 || f.M != 128)
    state.SkipWithError(fmt::format("unexpected feature shape [{}, {}, {}] (expected [1, 2999, 128])", f.B, f.T, f.M).c_str());
  std::vector<double> secs;
  for (auto _ : state) {
    const double t0 = now_s();
    f = extract_features(fc, clips);
    secs.push_back(now_s() - t0);
    benchmark::DoNotOptimize(f.features.data());
  }
  state.counters["seconds"] = median(secs);
  state.counters["frames"] = double(f.T);
  state.counters["dgemm_GFLOP/s"] = dgemm_rate();
}

void BM_audio_tower(benchmark::State& state) {
  const AudioConfig c = released_audio_config("e2b");
  const AudioFeatures f = extract_features(FeatureConfig{}, {clip_30s()});
  HeldWeights w(c, kSeed);
  AudioModel model(c, w, nullptr);
  AudioOutput out = model.forward(f);  // validate before timing
  index_t valid = 0;
  for (auto v : out.mask) valid += v;
  bool finite = true;
  for (double v : out.soft_tokens) finite &= std::isfinite(v);
  if (valid != 750 || !finite) state.SkipWithError("validation failed (750 finite soft tokens expected)");
  const double flops = tower_flops(c, f.T);
  std::vector<double> secs;
  for (auto _ : state) {
    const double t0 = now_s();
    out = model.forward(f);
    secs.push_back(now_s() - t0);
    benchmark::DoNotOptimize(out.soft_tokens.data());
  }
  const double s = median(secs), rate = flops / s * 1e-9, base = dgemm_rate();
  state.counters["seconds"] = s;
  state.counters["GFLOP"] = flops * 1e-9;
  state.counters["GFLOP/s"] = rate;
  state.counters["dgemm_GFLOP/s"] = base;
  state.counters["frac_dgemm"] = rate / base;
  state.counters["soft_tokens"] = double(valid);
}

}  // namespace

BENCHMARK(BM_dgemm)->ArgNames({"T", "K", "N"})->Args({512, 4096, 4096})->Iterations(5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_audio_features)->Name("BM_audio_features/30s")->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_audio_tower)->Name("BM_audio_tower/30s")->Iterations(2)->Unit(benchmark::kSecond);
BENCHMARK_MAIN();
