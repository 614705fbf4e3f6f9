// The vision tower of the reference: config as data, preprocessing geometry (checked against
// values computed with transformers), 2-D RoPE and pooling properties, patchify, the prompt
// layout of images and video frames, image decoding, and the committed golden bundles.
#define BOOST_TEST_MODULE test_vision
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <png.h>

#include "harness/verify.hpp"
#include "reference/common/check.hpp"
#include "reference/vision/config.hpp"
#include "reference/vision/geometry.hpp"
#include "reference/vision/image_io.hpp"
#include "reference/vision/model.hpp"
#include "reference/vision/pool.hpp"
#include "reference/vision/rope_2d.hpp"

using namespace g4;
using namespace g4::vision;

namespace {

Mat random_mat(index_t r, index_t c, unsigned seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> n;
  Mat m = Mat::from_shape({static_cast<size_t>(r), static_cast<size_t>(c)});
  for (auto& v : m) v = n(g);
  return m;
}

double dot(const double* a, const double* b, index_t n) {
  double s = 0;
  for (index_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(released_towers) {
  const VisionConfig s = released_vision_config("on-device"), l = released_vision_config("large");
  BOOST_TEST(s.hidden_size == 768);
  BOOST_TEST(s.num_hidden_layers == 16);
  BOOST_TEST(s.head_dim == 64);
  BOOST_TEST(s.use_clipped_linears);
  BOOST_TEST(!s.standardize);
  BOOST_TEST(l.hidden_size == 1152);
  BOOST_TEST(l.num_hidden_layers == 27);
  BOOST_TEST(l.num_attention_heads == 16);
  BOOST_TEST(l.head_dim == 72);
  BOOST_TEST(l.intermediate_size == 4304);
  BOOST_TEST(!l.use_clipped_linears);
  BOOST_TEST(l.standardize);
  for (const VisionConfig& c : {s, l}) {
    BOOST_TEST(c.patch_size == 16);
    BOOST_TEST(c.pooling_kernel_size == 3);
    BOOST_TEST(c.position_embedding_size == 10240);
    BOOST_TEST(c.rope_theta == 100.0);
  }
  BOOST_CHECK_THROW(released_vision_config("medium"), ConfigError);
}

BOOST_AUTO_TEST_CASE(param_counts_near_the_model_card) {
  // Model card: ~150M vision parameters on E2B/E4B (text width 1536 / 2560), ~550M on 31B/26B
  // (5376 / 2816). The encoder alone is exact arithmetic on the config: check it, and that the
  // totals land within 15% of the published round numbers.
  const VisionParamCount s = param_count(released_vision_config("on-device"), 1536);
  BOOST_TEST(s.encoder == 16 * (4 * 768 * 768 + 2 * 64 + 3 * 768 * 3072 + 4 * 768));
  BOOST_TEST(s.clip_buffers == 16 * 7 * 4);
  BOOST_TEST(s.projection == 1536 * 768);
  BOOST_TEST(std::abs(double(s.total()) / 150e6 - 1.0) < 0.15);
  const VisionParamCount l = param_count(released_vision_config("large"), 5376);
  BOOST_TEST(l.standardize == 2 * 1152);
  BOOST_TEST(std::abs(double(l.total()) / 550e6 - 1.0) < 0.15);
}

BOOST_AUTO_TEST_CASE(config_json_standalone_and_nested) {
  const std::string standalone = R"({"model_type": "gemma4_vision", "hidden_size": 1152, "intermediate_size": 4304,
    "num_hidden_layers": 27, "num_attention_heads": 16, "num_key_value_heads": 16, "head_dim": 72,
    "standardize": true, "use_clipped_linears": false, "rope_parameters": {"rope_type": "axial", "rope_theta": 100.0},
    "transformers_version": "5.23.0", "dtype": "bfloat16", "default_output_length": 280})";
  const VisionConfig a = vision_config_from_json(standalone, "a.json");
  BOOST_TEST(a.hidden_size == 1152);
  BOOST_TEST(a.head_dim == 72);
  BOOST_TEST(a.standardize);
  const std::string nested = R"({"model_type": "gemma4", "text_config": {"hidden_size": 1536},
    "vision_config": {"model_type": "gemma4_vision", "use_clipped_linears": true}, "audio_config": null})";
  const VisionConfig b = vision_config_from_json(nested, "b.json");
  BOOST_TEST(b.hidden_size == 768);
  BOOST_TEST(b.use_clipped_linears);
  // Unknown fields, wrong types and unsupported values are errors naming the field.
  auto fails_with = [](const std::string& js, const std::string& needle) {
    try {
      vision_config_from_json(js, "x.json");
      BOOST_ERROR("no error for " << js);
    } catch (const ConfigError& e) {
      BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  fails_with(R"({"model_type": "gemma4_vision", "hidden_sise": 3})", "hidden_sise");
  fails_with(R"({"model_type": "gemma4_vision", "head_dim": "64"})", "head_dim");
  fails_with(R"({"model_type": "gemma4_vision", "rope_parameters": {"rope_type": "default"}})", "axial");
  fails_with(R"({"model_type": "gemma4_vision", "rope_parameters": {"rope_theta": 100, "factor": 2}})", "factor");
  fails_with(R"({"model_type": "gemma4", "text_config": {}})", "vision_config");
  fails_with(R"({"model_type": "gemma4_vision", "head_dim": 66})", "multiple of 4");
}

// ---------------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(budget_to_grid_matches_transformers) {
  // {height, width, budget, target height, target width, soft tokens}: computed with the
  // installed transformers 5.23.0, image_processing_pil_gemma4.get_aspect_ratio_preserving_size(
  // height=h, width=w, patch_size=16, max_patches=budget*9, pooling_kernel_size=3) and
  // tokens = (th//16)*(tw//16)//9 (processing_gemma4._get_num_multimodal_tokens).
  // Rows 7-12 are thin images: 20x4000 and 3x2000 take the "height rounds to 0" branch and are
  // capped at budget·48 wide; 4000x20 the symmetric one; 10x1000 is very wide but not thin.
  const index_t cases[][6] = {
      {480, 640, 280, 672, 912, 266},      {640, 480, 280, 912, 672, 266},   {1080, 1920, 70, 288, 528, 66},
      {1080, 1920, 1120, 1200, 2112, 1100}, {224, 224, 140, 528, 528, 121},   {500, 500, 560, 1104, 1104, 529},
      {10, 1000, 280, 48, 8016, 167},      {1000, 10, 280, 8016, 48, 167},   {20, 4000, 70, 48, 3360, 70},
      {4000, 20, 1120, 22704, 96, 946},    {3, 2000, 70, 48, 3360, 70},      {16, 16, 280, 768, 768, 256},
      {768, 1024, 280, 672, 912, 266},     {1, 1, 70, 384, 384, 64},
  };
  for (const auto& c : cases) {
    const ImageGeometry g = image_geometry(c[0], c[1], c[2]);
    BOOST_TEST(g.target_height == c[3], c[0] << "x" << c[1] << " @" << c[2]);
    BOOST_TEST(g.target_width == c[4], c[0] << "x" << c[1] << " @" << c[2]);
    BOOST_TEST(g.soft_tokens == c[5], c[0] << "x" << c[1] << " @" << c[2]);
    BOOST_TEST(g.max_patches == c[2] * 9);
    BOOST_TEST(g.num_patches() <= g.max_patches);
    BOOST_TEST(g.soft_tokens <= c[2]);
  }
}

BOOST_AUTO_TEST_CASE(unsupported_budget_and_empty_image) {
  for (index_t b : {0, 69, 71, 100, 256, 2240}) BOOST_CHECK_THROW(image_geometry(100, 100, b), ConfigError);
  BOOST_CHECK_THROW(image_geometry(0, 100, 280), ConfigError);
  BOOST_CHECK_THROW(image_geometry(100, 0, 280), ConfigError);
}

BOOST_AUTO_TEST_CASE(patchify_round_trip_and_layout) {
  const index_t p = 4, th = 8, tw = 12, Np = 18;  // 2 x 3 patches, padded to 18
  Mat img = random_mat(3, th * tw, 7);
  const Patches pt = patchify(img, th, tw, p, Np, 1);
  BOOST_TEST(pt.num_patches == 6);
  // Patch r = row-major over the grid; within a patch (row, col, channel) with channel fastest.
  BOOST_TEST(pt.pos_x[4] == 1);
  BOOST_TEST(pt.pos_y[4] == 1);
  BOOST_TEST(pt.pixel_values(4, (2 * p + 3) * 3 + 1) == img(1, (1 * p + 2) * tw + 1 * p + 3));
  for (index_t r = 6; r < Np; ++r) {
    BOOST_TEST(pt.pos_x[r] == -1);
    BOOST_TEST(pt.pos_y[r] == -1);
    for (index_t j = 0; j < 3 * p * p; ++j) BOOST_TEST(pt.pixel_values(r, j) == 0.0);
  }
  const Mat back = unpatchify(pt, th, tw, p);
  BOOST_TEST(back == img);
}

BOOST_AUTO_TEST_CASE(image_and_video_prompt_layout) {
  BOOST_TEST(image_prompt(3) == "<|image><|image|><|image|><|image|><image|>");
  const std::vector<index_t> ids = image_prompt_ids(2);
  BOOST_TEST(ids == (std::vector<index_t>{255999, 258880, 258880, 258882}), boost::test_tools::per_element());
  // processing_gemma4.replace_video_token: "mm:ss <|image>" + n × "<|video|>" + "<image|>", joined by spaces.
  BOOST_TEST(video_prompt({0.0, 1.5, 61.9}, 2) ==
             "00:00 <|image><|video|><|video|><image|> 00:01 <|image><|video|><|video|><image|> "
             "01:01 <|image><|video|><|video|><image|>");
  BOOST_TEST(video_timestamp(3599.99) == "59:59");
  BOOST_TEST(video_timestamp(3600.0) == "60:00");
  const auto frames = video_frame_ids(3, kVideoFrameBudget);
  BOOST_TEST(frames.size() == 3u);
  BOOST_TEST(frames[1].size() == 72u);
  BOOST_TEST(frames[1].front() == 255999);
  BOOST_TEST(frames[1][1] == 258884);
  BOOST_TEST(frames[1].back() == 258882);
  // A 16:9 frame under the per-frame budget 70: 288 x 528 pixels, 66 soft tokens (table above).
  BOOST_TEST(image_geometry(1080, 1920, kVideoFrameBudget).soft_tokens == 66);
}

// ---------------------------------------------------------------------------------------------
// 2-D RoPE and pooling
// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(rope_2d_properties) {
  const index_t Dh = 12, heads = 2;  // s = 6 channels per axis, 3 rotate-half pairs
  const Vec inv = rope_2d_inv_freq(100.0, Dh);
  BOOST_TEST(inv.size() == 3u);
  BOOST_TEST(inv(0) == 1.0);
  BOOST_TEST(std::abs(inv(1) - std::pow(100.0, -2.0 / 6.0)) < 1e-16);
  const Mat x = random_mat(4, heads * Dh, 3);
  // Position (0, 0) is the identity.
  BOOST_TEST(rope_2d(x, {0, 0, 0, 0}, {0, 0, 0, 0}, inv, Dh) == x);
  // The x axis rotates only the first half of each head, the y axis only the second.
  const Mat a = rope_2d(x, {0, 0, 0, 0}, {5, 1, 2, 3}, inv, Dh), b = rope_2d(x, {4, 1, 2, 3}, {0, 0, 0, 0}, inv, Dh);
  for (index_t h = 0; h < heads; ++h)
    for (index_t j = 0; j < Dh / 2; ++j) {
      BOOST_TEST(a(0, h * Dh + j) == x(0, h * Dh + j));
      BOOST_TEST(b(0, h * Dh + Dh / 2 + j) == x(0, h * Dh + Dh / 2 + j));
    }
  // Each rotation preserves the norm of every rotate-half pair.
  const Mat r = rope_2d(x, {3, 7, -1, 2}, {9, 0, -1, 4}, inv, Dh);
  for (index_t t = 0; t < 4; ++t)
    for (index_t k = 0; k < 3; ++k)
      for (index_t base : {index_t(0), index_t(6), index_t(12), index_t(18)}) {
        const double n0 = std::hypot(x(t, base + k), x(t, base + k + 3));
        const double n1 = std::hypot(r(t, base + k), r(t, base + k + 3));
        BOOST_TEST(std::abs(n0 - n1) < 1e-14);
      }
  // Relative positions: <R(p)q, R(p')k> depends on p − p' only (both axes at once).
  const Mat qk = random_mat(2, Dh, 11);
  auto score = [&](index_t px, index_t py, index_t kx, index_t ky) {
    const Mat rq = rope_2d(qk, {px, px}, {py, py}, inv, Dh), rk = rope_2d(qk, {kx, kx}, {ky, ky}, inv, Dh);
    return dot(&rq(0, 0), &rk(1, 0), Dh);
  };
  const double s0 = score(5, 2, 1, 7), s1 = score(15, 12, 11, 17);
  BOOST_TEST(std::abs(s0 - s1) < 1e-12 * std::abs(s0) + 1e-13);
  BOOST_TEST(std::abs(score(5, 2, 1, 7) - score(5, 2, 2, 7)) > 1e-6);  // but it does depend on p − p'
}

BOOST_AUTO_TEST_CASE(pooling_a_constant_image_gives_the_constant) {
  // A 6 x 9 patch grid, k = 3: 2 x 3 = 6 cells of 9 patches each, every value c.
  const index_t gx = 9, gy = 6, Hv = 5;
  std::vector<index_t> px, py;
  for (index_t y = 0; y < gy; ++y)
    for (index_t x = 0; x < gx; ++x) px.push_back(x), py.push_back(y);
  const double c = 0.7345;
  Mat h = xt::ones<double>({size_t(gx * gy), size_t(Hv)}) * c;
  std::vector<std::uint8_t> valid;
  const Mat pooled = avg_pool_by_positions(h, px, py, 6, &valid);
  for (index_t s = 0; s < 6; ++s) {
    BOOST_TEST(valid[s] == 1);
    for (index_t d = 0; d < Hv; ++d) BOOST_TEST(std::abs(pooled(s, d) - c) < 4 * 9 * 1.2e-16 * c);
  }
  // With padding: a 3 x 6 grid (2 cells) padded to 54 patches (6 slots): slots 2..5 unused.
  std::vector<index_t> qx, qy;
  for (index_t y = 0; y < 3; ++y)
    for (index_t x = 0; x < 6; ++x) qx.push_back(x), qy.push_back(y);
  qx.resize(54, -1), qy.resize(54, -1);
  Mat hp = xt::zeros<double>({size_t{54}, size_t(Hv)});
  for (index_t r = 0; r < 18; ++r)
    for (index_t d = 0; d < Hv; ++d) hp(r, d) = c;
  const Mat pp = avg_pool_by_positions(hp, qx, qy, 6, &valid);
  BOOST_TEST((std::vector<int>(valid.begin(), valid.end()) == std::vector<int>{1, 1, 0, 0, 0, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(std::abs(pp(1, 0) - c) < 4 * 9 * 1.2e-16 * c);
  BOOST_TEST(pp(3, 0) == 0.0);
}

BOOST_AUTO_TEST_CASE(random_weights_forward_is_finite_and_pools) {
  // A small random tower end to end (no golden): soft tokens per image follow the geometry.
  VisionConfig c;
  c.hidden_size = 16, c.intermediate_size = 24, c.num_hidden_layers = 2, c.num_attention_heads = 2;
  c.num_key_value_heads = 2, c.head_dim = 8, c.patch_size = 2, c.position_embedding_size = 64, c.standardize = true;
  RandomVisionWeights w(c, 10, 5);
  text::ReferenceExecutor ex;
  VisionInputs in;
  const Patches a = patchify(random_mat(3, 12 * 12, 1) * 0.1 + 0.5, 12, 12, 2, 54, 3);
  const Patches b = patchify(random_mat(3, 6 * 36, 2) * 0.1 + 0.5, 6, 36, 2, 54, 3);
  in.B = 2, in.Np = 54;
  in.pixel_values = xt::concatenate(xt::xtuple(a.pixel_values, b.pixel_values), 0);
  in.pos_x = a.pos_x, in.pos_y = a.pos_y;
  in.pos_x.insert(in.pos_x.end(), b.pos_x.begin(), b.pos_x.end());
  in.pos_y.insert(in.pos_y.end(), b.pos_y.begin(), b.pos_y.end());
  int taps = 0;
  VisionModel m(c, w, ex, [&](const std::string&, const Mat& v, const std::vector<index_t>&) {
    ++taps;
    for (double x : v) BOOST_REQUIRE(std::isfinite(x));
  });
  const VisionOutput out = m.forward(in);
  BOOST_TEST(out.tokens_per_image == (std::vector<index_t>{a.soft_tokens, b.soft_tokens}),
             boost::test_tools::per_element());
  BOOST_TEST(rows(out.projected) == 10);
  BOOST_TEST(cols(out.projected) == 10);
  BOOST_TEST(taps > 50);
}

// ---------------------------------------------------------------------------------------------
// Image files
// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(png_decode_and_resize) {
  // An RGBA PNG written with libpng: alpha 255 pixels come back exact, alpha 0 becomes white.
  const int w = 7, h = 5;
  std::vector<std::uint8_t> rgba(w * h * 4);
  for (int i = 0; i < w * h; ++i) rgba[4 * i] = i * 3, rgba[4 * i + 1] = 255 - i, rgba[4 * i + 2] = i, rgba[4 * i + 3] = 255;
  rgba[3] = 0;  // pixel 0 transparent
  png_image im;
  std::memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION, im.width = w, im.height = h, im.format = PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  BOOST_REQUIRE(png_image_write_to_memory(&im, nullptr, &size, 0, rgba.data(), 0, nullptr));
  std::vector<std::uint8_t> bytes(size);
  BOOST_REQUIRE(png_image_write_to_memory(&im, bytes.data(), &size, 0, rgba.data(), 0, nullptr));
  const RgbImage img = decode_png(bytes, "mem.png");
  BOOST_TEST(img.height == h);
  BOOST_TEST(img.width == w);
  BOOST_TEST(img.rgb[0] == 255);
  BOOST_TEST(img.rgb[3 * 8] == 24);
  BOOST_TEST(img.rgb[3 * 8 + 1] == 247);
  // Resizing a constant image keeps the constant (normalised filter weights).
  RgbImage flat{40, 30, std::vector<std::uint8_t>(40 * 30 * 3, 77)};
  for (auto [th, tw] : {std::pair<index_t, index_t>{48, 96}, {13, 7}, {40, 30}}) {
    const RgbImage r = resize_bicubic(flat, th, tw);
    for (auto v : r.rgb) BOOST_REQUIRE(v == 77);
  }
  // Truncated -> IoError naming the source.
  bytes.resize(bytes.size() / 2);
  BOOST_CHECK_EXCEPTION(decode_png(bytes, "half.png"), IoError,
                        [](const IoError& e) { return std::string(e.what()).find("half.png") != std::string::npos; });
}

BOOST_AUTO_TEST_CASE(resize_drift_against_transformers_is_reported) {
  // golden/fixtures/vision_resize (golden/exporter/export_vision.py --resize-fixture): two PNGs and
  // what transformers' Gemma4ImageProcessorPil made of them at budget 70 (PIL's fixed-point
  // antialiased bicubic). The C++ resize follows PIL's filter but not its fixed-point arithmetic,
  // so the drift is REPORTED here (issue #3: not gated). The geometry must match exactly; the
  // mean error is held only to a smoke bound of 4 levels (a transposed, shifted or wrong-kernel
  // resize is off by tens of levels on these patterns).
  const std::string dir = std::string(GEMMA4_SOURCE_DIR) + "/golden/fixtures/vision_resize/";
  for (const char* name : {"up", "down"}) {
    const RgbImage src = read_image(dir + "source_" + name + ".png");
    const RgbImage want = read_image(dir + "processed_" + name + ".png");
    const ImageGeometry g = image_geometry(src.height, src.width, 70);
    BOOST_TEST(g.target_height == want.height, name);
    BOOST_TEST(g.target_width == want.width, name);
    const RgbImage got = resize_bicubic(src, g.target_height, g.target_width);
    double sum = 0, worst = 0;
    size_t off = 0;
    for (size_t i = 0; i < got.rgb.size(); ++i) {
      const double d = std::abs(double(got.rgb[i]) - double(want.rgb[i]));
      sum += d, worst = std::max(worst, d), off += d > 0;
    }
    const double mean = sum / double(got.rgb.size());
    BOOST_TEST_MESSAGE("resize drift vs transformers (" << name << ", " << src.height << "x" << src.width << " -> "
                       << g.target_height << "x" << g.target_width << "): mean |diff| " << mean
                       << " levels of 255, max " << worst << ", " << 100.0 * double(off) / double(got.rgb.size())
                       << "% of values differ");
    BOOST_TEST(mean < 4.0, name);
  }
}

// ---------------------------------------------------------------------------------------------
// Goldens
// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(committed_vision_bundles_verify) {
  // The reference and the patched transformers run the same float64 formulas; they differ only
  // in summation order (reductions of ≤ 48 terms, ~60 chained ops): a few 1e-16 relative. The
  // project's gate is 1e-10 per tap (issue #2), far above that and far below the float32 sites
  // the exporter patches out (~1e-7, recorded in each bundle's provenance).
  for (const char* b : {"vision_small_tiny", "vision_large_tiny"}) {
    harness::VerifyOptions o;
    o.bundle = std::string(GEMMA4_SOURCE_DIR) + "/golden/data/" + b;
    const harness::VerifyResult r = harness::verify(o);
    BOOST_TEST(r.pass, b << ": worst " << r.worst_rel_l2 << " at " << r.worst_tap);
    BOOST_TEST(r.rows.size() >= 58u, b);
    BOOST_TEST(r.golden_only.empty(), b);
    BOOST_TEST(r.worst_rel_l2 <= 1e-10, b);
    BOOST_TEST_MESSAGE(b << ": " << r.rows.size() << " taps, worst rel L2 " << r.worst_rel_l2 << " at " << r.worst_tap);
  }
}
