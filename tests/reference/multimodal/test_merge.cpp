// The multimodal merge, analytically: placeholder rows, the PLE pad-id rule, token types and the
// vision-bidirectional mask of a block longer than the sliding window, the count-mismatch error.
#define BOOST_TEST_MODULE test_merge
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>

#include "reference/multimodal/model.hpp"
#include "reference/ops/mask.hpp"
#include "reference/text/executor.hpp"
#include "reference/text/random_weights.hpp"

using namespace g4;

namespace {

constexpr std::int64_t kImage = 29, kVideo = 30, kAudio = 31, kPad = 0;

mm::MultimodalConfig tiny_config() {
  mm::MultimodalConfig c;
  text::TextConfig& t = c.text;
  t.vocab_size = 32;
  t.hidden_size = 16;
  t.intermediate_size = 12;
  t.num_hidden_layers = 2;
  t.num_attention_heads = 2;
  t.num_key_value_heads = 1;
  t.head_dim = 8;
  t.global_head_dim = 8;
  t.sliding_window = 3;
  t.hidden_size_per_layer_input = 4;
  t.vocab_size_per_layer_input = 32;
  t.pad_token_id = kPad;
  t.final_logit_softcapping = 30.0;
  t.layer_types = {text::LayerType::kSliding, text::LayerType::kFull};
  t.resolve();
  c.image_token_id = kImage;
  c.video_token_id = kVideo;
  c.audio_token_id = kAudio;
  return c;
}

IdMat ids_of(std::vector<std::vector<std::int64_t>> rows) {
  IdMat m = IdMat::from_shape({rows.size(), rows[0].size()});
  for (size_t b = 0; b < rows.size(); ++b)
    for (size_t s = 0; s < rows[b].size(); ++s) m(b, s) = rows[b][s];
  return m;
}

// Distinct soft-token rows: value 1000·tag + 10·row + column.
Mat soft_rows(index_t n, index_t H, double tag) {
  Mat m = Mat::from_shape({static_cast<size_t>(n), static_cast<size_t>(H)});
  for (index_t r = 0; r < n; ++r)
    for (index_t d = 0; d < H; ++d) m(r, d) = 1000 * tag + 10 * r + d;
  return m;
}

struct Taps {
  std::map<std::string, Mat> m;
  text::TapSink sink() {
    return [this](const std::string& n, const Mat& v, const std::vector<index_t>&) { m[n] = v; };
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(placeholders_in_row_major_order_and_llm_ids) {
  const mm::PlaceholderIds p{kImage, kVideo, kAudio};
  const IdMat ids = ids_of({{2, kImage, kImage, 5, kAudio}, {kPad, kVideo, kImage, kAudio, 7}});
  const mm::Placeholders w = mm::find_placeholders(ids, p);
  BOOST_TEST(w.image == (std::vector<index_t>{1, 2, 7}), boost::test_tools::per_element());
  BOOST_TEST(w.video == (std::vector<index_t>{6}), boost::test_tools::per_element());
  BOOST_TEST(w.audio == (std::vector<index_t>{4, 8}), boost::test_tools::per_element());
  const IdMat llm = mm::llm_input_ids(ids, p, kPad);
  const IdMat want = ids_of({{2, kPad, kPad, 5, kPad}, {kPad, kPad, kPad, kPad, 7}});
  BOOST_TEST((llm == want));
  const IdMat types = mm::token_type_ids(ids, p);
  BOOST_TEST((types == ids_of({{0, 1, 1, 0, 3}, {0, 2, 1, 3, 0}})));
}

BOOST_AUTO_TEST_CASE(scatter_puts_each_soft_row_on_its_placeholder) {
  Mat h = Mat::from_shape({6, 3});
  h.fill(-1.0);
  const Mat soft = soft_rows(3, 3, 1);
  mm::scatter_soft_tokens(h, {1, 2, 5}, soft, "Image");
  for (index_t d = 0; d < 3; ++d) {
    BOOST_TEST(h(1, d) == soft(0, d));
    BOOST_TEST(h(2, d) == soft(1, d));
    BOOST_TEST(h(5, d) == soft(2, d));
    for (index_t r : {0, 3, 4}) BOOST_TEST(h(r, d) == -1.0);
  }
}

BOOST_AUTO_TEST_CASE(count_mismatch_is_a_data_error_naming_both_counts) {
  Mat h = Mat::from_shape({4, 2});
  try {
    mm::scatter_soft_tokens(h, {0, 1, 2}, soft_rows(2, 2, 1), "Image");
    BOOST_FAIL("no error");
  } catch (const DataError& e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("3 placeholder tokens") != std::string::npos, what);
    BOOST_TEST(what.find("2 soft tokens") != std::string::npos, what);
  }
  // Through the model: 2 audio placeholders, 1 audio soft token.
  const mm::MultimodalConfig c = tiny_config();
  text::RandomWeights w(c.text, 5);
  text::ReferenceExecutor ex;
  mm::MultimodalModel model(c, w, ex, nullptr);
  const IdMat ids = ids_of({{2, kAudio, kAudio, 4}});
  mm::MultimodalInputs in{ids, ids_of({{1, 1, 1, 1}}), {}};
  mm::SoftTokens soft;
  soft.audio = soft_rows(1, c.text.hidden_size, 3);
  BOOST_CHECK_THROW(model.merge(in, soft), DataError);
}

BOOST_AUTO_TEST_CASE(merge_and_the_ple_pad_id_rule) {
  const mm::MultimodalConfig c = tiny_config();
  const index_t H = c.text.hidden_size, P = c.text.ple_dim(), L = c.text.num_hidden_layers;
  text::RandomWeights w(c.text, 11);
  text::ReferenceExecutor ex;
  Taps taps;
  mm::MultimodalModel model(c, w, ex, taps.sink());
  const IdMat ids = ids_of({{2, 5, kImage, kImage, 7, kAudio, kVideo, 9}});
  mm::MultimodalInputs in{ids, ids_of({{1, 1, 1, 1, 1, 1, 1, 1}}), mm::token_type_ids(ids, {kImage, kVideo, kAudio})};
  mm::SoftTokens soft;
  soft.image = soft_rows(2, H, 1);
  soft.video = soft_rows(1, H, 2);
  soft.audio = soft_rows(1, H, 3);
  const Mat logits = model.forward(in, soft);
  BOOST_TEST(logits.shape(0) == 8u);

  const Mat& e0 = taps.m.at("model.language_model.embed_tokens");
  const Mat& merged = taps.m.at("model.inputs_embeds");
  const Mat pad = w.embed_rows({kPad});
  const Mat tok7 = w.embed_rows({7});
  const double sH = std::sqrt(double(H));
  for (index_t d = 0; d < H; ++d) {
    // Before the merge the placeholder rows hold the pad row (not E[image_token_id]).
    for (index_t r : {2, 3, 5, 6}) BOOST_TEST(e0(r, d) == pad(0, d) * sH);
    BOOST_TEST(e0(4, d) == tok7(0, d) * sH);
    // After: the soft tokens, in order, unscaled; text rows untouched.
    BOOST_TEST(merged(2, d) == soft.image(0, d));
    BOOST_TEST(merged(3, d) == soft.image(1, d));
    BOOST_TEST(merged(5, d) == soft.audio(0, d));
    BOOST_TEST(merged(6, d) == soft.video(0, d));
    BOOST_TEST(merged(4, d) == e0(4, d));
  }
  // PLE token part: the pad row at placeholders, the token's row elsewhere.
  const Mat& ple_tok = taps.m.at("model.language_model.embed_tokens_per_layer");
  const Mat ple_pad = w.ple_rows({kPad}), ple7 = w.ple_rows({7}), ple_img = w.ple_rows({kImage});
  const double sP = std::sqrt(double(P));
  bool differs_from_placeholder_row = false;
  for (index_t j = 0; j < L * P; ++j) {
    for (index_t r : {2, 3, 5, 6}) BOOST_TEST(ple_tok(r, j) == ple_pad(0, j) * sP);
    BOOST_TEST(ple_tok(4, j) == ple7(0, j) * sP);
    differs_from_placeholder_row |= ple_pad(0, j) != ple_img(0, j);
  }
  BOOST_TEST(differs_from_placeholder_row);
  // PLE context part: the merged embeddings (soft tokens) through per_layer_model_projection.
  const Mat Wpp = w.ple_model_projection();  // [L·P, H]
  const Mat& ctx = taps.m.at("model.language_model.per_layer_model_projection");
  for (index_t j = 0; j < L * P; ++j) {
    double want = 0;
    for (index_t d = 0; d < H; ++d) want += soft.image(0, d) * Wpp(j, d);
    BOOST_TEST(std::abs(ctx(2, j) - want) <= 1e-12 * (1 + std::abs(want)));
  }
}

BOOST_AUTO_TEST_CASE(vision_mask_with_a_block_longer_than_the_window) {
  // 12 tokens: text 0-1, image block 2-8 (7 tokens > W = 3), text 9, audio 10-11 (never bidirectional).
  const index_t S = 12, W = 3;
  IdMat ids = IdMat::from_shape({1, 12});
  for (index_t s = 0; s < S; ++s) ids(0, s) = s >= 2 && s <= 8 ? kImage : s >= 10 ? kAudio : 4;
  const IdMat types = mm::token_type_ids(ids, {kImage, kVideo, kAudio});
  const IdMat block = ops::vision_block_ids(types);
  IdMat am = IdMat::from_shape({1, 12});
  am.fill(1);
  const auto vis = ops::build_mask({text::LayerType::kSliding, W, text::Bidirectional::kVision}, am, block);
  const auto plain = ops::build_mask({text::LayerType::kSliding, W, text::Bidirectional::kNone}, am, block);
  const auto full = ops::build_mask({text::LayerType::kFull, W, text::Bidirectional::kVision}, am, block);
  auto at = [&](const std::vector<std::uint8_t>& m, index_t q, index_t k) { return m[q * S + k] != 0; };
  auto in_block = [](index_t s) { return s >= 2 && s <= 8; };
  for (index_t q = 0; q < S; ++q)
    for (index_t k = 0; k < S; ++k) {
      const bool window = k > q - W;
      BOOST_TEST(at(plain, q, k) == (k <= q && window), "plain q=" << q << " k=" << k);
      BOOST_TEST(at(full, q, k) == (k <= q), "full q=" << q << " k=" << k);  // no overlay on full layers
      const bool want = ((k <= q) || (in_block(q) && in_block(k))) && window;
      BOOST_TEST(at(vis, q, k) == want, "vision q=" << q << " k=" << k);
    }
  // The block's first token sees its last (6 ahead, beyond the window); the last does not see the first.
  BOOST_TEST(at(vis, 2, 8));
  BOOST_TEST(!at(plain, 2, 8));
  BOOST_TEST(!at(vis, 8, 2));
  // Audio tokens form no block.
  BOOST_TEST(!at(vis, 10, 11));
  BOOST_TEST(block(0, 10) == -1);
}
