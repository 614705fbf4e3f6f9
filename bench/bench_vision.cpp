// One real-size vision encoder pass through the float64 reference, for both released towers, at
// 280 soft tokens, against this machine's dgemm rate measured in the same run.
//
// The input is one 672 x 960 image at budget 280: transformers keeps it at that size (the
// aspect-preserving target is exactly 672 x 960) and it fills the budget: a 42 x 60 patch grid,
// 2520 patches, no padding, pooled 3 x 3 to 280 soft tokens. Weights are seeded random at real
// size (RandomVisionWeights), generated one layer at a time OUTSIDE the timed regions; each timed
// region is one piece of VisionModel::forward (patch embedding, each encoder layer, the head:
// pooling, standardize, embed_vision into the text width of the tower's first variant).
//
// FLOPs (multiply-adds × 2) per encoder layer, T = 2520 patches:
//   projections  2·T·Hv·(2·Nq·Dh + 2·Nkv·Dh)    attention  2·2·T²·Nq·Dh    MLP  2·T·3·Hv·Fv
// (softmax, norms, RoPE and GELU are not counted).
//
// Usage: bench_vision [--g4_repeats=N] (default 1: one pass per tower; a pass takes tens of
// seconds on a 2-core machine). Prints one line per tower and the dgemm baseline; not a Google
// Benchmark program because one real pass is the unit (minutes for both towers).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cblas.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include "reference/ops/matmul.hpp"
#include "reference/text/executor.hpp"
#include "reference/text/random_weights.hpp"
#include "reference/vision/config.hpp"
#include "reference/vision/geometry.hpp"
#include "reference/vision/model.hpp"

namespace {

using namespace g4;
using namespace g4::vision;

constexpr std::uint64_t kSeed = 20250401;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds (user + system) of this process: on a shared, loaded machine the wall time of a pass
// depends on the other tenants; the CPU time much less (both are printed).
double cpu_s() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// dgemm (ops::matmul_blas) on the shape of the on-device tower's MLP up-projection at 280 tokens,
// T = 2520, K = 768, N = 3072, and on the bench_text_layer baseline shape 512 x 4096 x 4096.
struct Rate {
  double wall = 0, cpu = 0;  // GFLOP per wall second, per CPU second (medians)
};

Rate dgemm_gflops(index_t T, index_t K, index_t N, int calls) {
  std::vector<double> x(size_t(T * K)), w(size_t(N * K)), y(size_t(T * N));
  text::NormalStream g(kSeed, -50, "bench.dgemm");
  for (auto& v : x) v = g.next();
  for (auto& v : w) v = g.next();
  ops::matmul_blas(x.data(), w.data(), y.data(), T, K, N);  // warm-up: starts the BLAS threads
  std::vector<double> r, rc;
  for (int i = 0; i < calls; ++i) {
    const double t0 = now_s(), c0 = cpu_s();
    ops::matmul_blas(x.data(), w.data(), y.data(), T, K, N);
    r.push_back(2.0 * T * K * N / (now_s() - t0) * 1e-9);
    rc.push_back(2.0 * T * K * N / (cpu_s() - c0) * 1e-9);
  }
  if (!std::isfinite(y[0])) throw std::runtime_error("dgemm produced a non-finite value");
  return {median(r), median(rc)};
}

double layer_flops(const VisionConfig& c, index_t T) {
  const double Hv = double(c.hidden_size), Dh = double(c.head_dim), Nq = double(c.num_attention_heads),
               Nkv = double(c.num_key_value_heads), F = double(c.intermediate_size), t = double(T);
  return 2 * t * Hv * (2 * Nq * Dh + 2 * Nkv * Dh) + 4 * t * t * Nq * Dh + 6 * t * Hv * F;
}

struct Result {
  double seconds = 0, cpu_seconds = 0, gflop = 0, embed_s = 0, head_s = 0;
  std::vector<double> layer_s;
  index_t tokens = 0;
};

Result run_tower(const VisionConfig& c, index_t text_hidden) {
  const ImageGeometry g = image_geometry(672, 960, 280, c.patch_size, c.pooling_kernel_size);
  if (g.soft_tokens != 280 || g.num_patches() != g.max_patches)
    throw std::runtime_error(fmt::format("672x960 @280 gives {} tokens, expected 280", g.soft_tokens));
  text::NormalStream px(kSeed, -60, "bench.vision.pixels");
  Mat image = Mat::from_shape({size_t{3}, static_cast<size_t>(g.target_height * g.target_width)});
  for (auto& v : image) v = px.uniform();
  const Patches p = patchify(image, g.target_height, g.target_width, c.patch_size, g.max_patches,
                             c.pooling_kernel_size);
  VisionInputs in;
  in.B = 1, in.Np = g.max_patches, in.pixel_values = p.pixel_values, in.pos_x = p.pos_x, in.pos_y = p.pos_y;

  RandomVisionWeights w(c, text_hidden, kSeed);
  text::ReferenceExecutor ex;
  VisionModel m(c, w, ex, nullptr);
  Result r;
  m.prepare(in);
  double t0 = now_s(), c0 = cpu_s();
  Mat h = m.patch_embed(in);
  r.embed_s = now_s() - t0;
  r.cpu_seconds += cpu_s() - c0;
  for (index_t i = 0; i < c.num_hidden_layers; ++i) {
    const VisionLayerWeights lw = w.layer(i);  // untimed: seeded generation
    t0 = now_s(), c0 = cpu_s();
    h = m.encoder_layer(i, lw, h, in);
    r.layer_s.push_back(now_s() - t0);
    r.cpu_seconds += cpu_s() - c0;
  }
  t0 = now_s(), c0 = cpu_s();
  const VisionOutput out = m.head(h, in);
  r.head_s = now_s() - t0;
  r.cpu_seconds += cpu_s() - c0;
  for (double x : out.projected)
    if (!std::isfinite(x)) throw std::runtime_error("the vision pass produced a non-finite value");
  r.tokens = rows(out.projected);
  r.seconds = r.embed_s + r.head_s;
  for (double s : r.layer_s) r.seconds += s;
  r.gflop = (layer_flops(c, in.Np) * double(c.num_hidden_layers) + 2.0 * in.Np * c.patch_pixels() * c.hidden_size +
             2.0 * r.tokens * c.hidden_size * text_hidden) * 1e-9;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--g4_repeats=", 13) == 0) repeats = std::max(1, std::atoi(argv[i] + 13));
    else {
      std::fprintf(stderr, "bench_vision: unknown argument '%s' (only --g4_repeats=N)\n", argv[i]);
      return 2;
    }
  }
  try {
    const Rate dg_vision = dgemm_gflops(2520, 768, 3072, 5);
    const Rate dg_base = dgemm_gflops(512, 4096, 4096, 5);
    fmt::print("dgemm (ops::matmul_blas): {:.1f} GFLOP/s at 2520x768x3072, {:.1f} GFLOP/s at 512x4096x4096 "
               "(median of 5; per CPU second {:.1f} / {:.1f}); OpenBLAS threads {}\n", dg_vision.wall, dg_base.wall,
               dg_vision.cpu, dg_base.cpu, openblas_get_num_threads());
    std::fflush(stdout);
    struct Tower {
      const char* name;
      index_t text_hidden;
      const char* variant;
    };
    for (const Tower t : {Tower{"on-device", 1536, "E2B"}, Tower{"large", 5376, "31B"}}) {
      const VisionConfig c = released_vision_config(t.name);
      std::vector<double> secs, cpus;
      Result r;
      for (int k = 0; k < repeats; ++k) {
        r = run_tower(c, t.text_hidden);
        secs.push_back(r.seconds);
        cpus.push_back(r.cpu_seconds);
      }
      const double s = median(secs), cs = median(cpus);
      fmt::print("vision {:<9} ({} layers, Hv {}, 2520 patches -> {} soft tokens -> {} wide, {}): {:.2f} s wall "
                 "(embed {:.3f} s, layers median {:.3f} s, head {:.3f} s), {:.2f} CPU s; {:.0f} GFLOP; "
                 "{:.1f} GFLOP/s = {:.2f} x dgemm (per CPU second {:.1f} = {:.2f} x dgemm's)\n",
                 t.name, c.num_hidden_layers, c.hidden_size, r.tokens, t.text_hidden, t.variant, s, r.embed_s,
                 median(r.layer_s), r.head_s, cs, r.gflop, r.gflop / s, r.gflop / s / dg_base.wall, r.gflop / cs,
                 r.gflop / cs / dg_base.cpu);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_vision: %s\n", e.what());
    return 2;
  }
  return 0;
}
