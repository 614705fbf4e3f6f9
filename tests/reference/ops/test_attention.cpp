// Masks, softmax and attention: analytic cases.
#define BOOST_TEST_MODULE test_attention
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "reference/ops/attention.hpp"
#include "reference/ops/mask.hpp"

using namespace g4;
using text::LayerType;

namespace {
IdMat ones(index_t B, index_t S) { return xt::ones<std::int64_t>({size_t(B), size_t(S)}); }
bool allowed(const std::vector<std::uint8_t>& m, index_t S, index_t b, index_t q, index_t kv) {
  return m[size_t((b * S + q) * S + kv)] != 0;
}
}  // namespace

// Sliding window W: key at distance W-1 is in, W and W+1 are out (q − W < kv ≤ q).
BOOST_AUTO_TEST_CASE(sliding_window_edges) {
  const index_t S = 12, W = 4;
  const auto m = ops::build_mask({LayerType::kSliding, W, text::Bidirectional::kNone}, ones(1, S), {});
  const index_t q = 10;
  BOOST_TEST(allowed(m, S, 0, q, q));
  BOOST_TEST(allowed(m, S, 0, q, q - (W - 1)));
  BOOST_TEST(!allowed(m, S, 0, q, q - W));
  BOOST_TEST(!allowed(m, S, 0, q, q - (W + 1)));
  BOOST_TEST(!allowed(m, S, 0, q, q + 1));  // causal
  const auto full = ops::build_mask({LayerType::kFull, W, text::Bidirectional::kNone}, ones(1, S), {});
  BOOST_TEST(allowed(full, S, 0, q, 0));
  BOOST_TEST(!allowed(full, S, 0, q, q + 1));
}

BOOST_AUTO_TEST_CASE(key_padding) {
  IdMat am = ones(2, 5);
  am(1, 0) = am(1, 1) = 0;  // row 1 left-padded by 2
  const auto m = ops::build_mask({LayerType::kFull, 4, text::Bidirectional::kNone}, am, {});
  BOOST_TEST(allowed(m, 5, 0, 4, 0));
  BOOST_TEST(!allowed(m, 5, 1, 4, 0));
  BOOST_TEST(!allowed(m, 5, 1, 4, 1));
  BOOST_TEST(allowed(m, 5, 1, 4, 2));
}

// Vision bidirectional (31B/26B): sliding layers see the whole image block (even future tokens,
// even beyond the window upward) but never keys further back than the window; full layers stay causal.
BOOST_AUTO_TEST_CASE(vision_block_masks) {
  const index_t S = 12, W = 3;
  IdMat types = xt::zeros<std::int64_t>({size_t(1), size_t(S)});
  for (index_t s = 2; s <= 8; ++s) types(0, s) = 1;  // one image block of 7 > W tokens
  const IdMat block = ops::vision_block_ids(types);
  BOOST_TEST(block(0, 1) == -1);
  BOOST_TEST(block(0, 2) == 0);
  BOOST_TEST(block(0, 8) == 0);
  const auto sl = ops::build_mask({LayerType::kSliding, W, text::Bidirectional::kVision}, ones(1, S), block);
  BOOST_TEST(allowed(sl, S, 0, 3, 8));    // future key inside the block
  BOOST_TEST(!allowed(sl, S, 0, 8, 2));   // past key in the block but outside the window
  BOOST_TEST(!allowed(sl, S, 0, 1, 2));   // text token does not see the block's future
  BOOST_TEST(!allowed(sl, S, 0, 9, 10));  // text stays causal
  const auto fl = ops::build_mask({LayerType::kFull, W, text::Bidirectional::kVision}, ones(1, S), block);
  BOOST_TEST(!allowed(fl, S, 0, 3, 8));   // full layers: plain causal
  BOOST_TEST(allowed(fl, S, 0, 8, 2));
  // Two blocks separated by text get different ids.
  types(0, 5) = 0;
  const IdMat b2 = ops::vision_block_ids(types);
  BOOST_TEST(b2(0, 4) == 0);
  BOOST_TEST(b2(0, 6) == 1);
}

BOOST_AUTO_TEST_CASE(softmax_of_equal_logits_is_uniform) {
  const double z[5] = {3.0, 3.0, 3.0, 3.0, 3.0};
  const std::uint8_t ok[5] = {1, 1, 0, 1, 1};
  double p[5];
  ops::softmax_row(z, nullptr, p, 5);
  for (double v : p) BOOST_TEST(v == 0.2);
  ops::softmax_row(z, ok, p, 5);
  BOOST_TEST(p[2] == 0.0);
  BOOST_TEST(p[0] == 0.25);
  const std::uint8_t none[5] = {0, 0, 0, 0, 0};
  ops::softmax_row(z, none, p, 5);
  for (double v : p) BOOST_TEST(v == 0.0);
  // Shift invariance and no overflow for huge logits (both logits exact in binary, so the only
  // rounding is in exp and the division: a few ulp of 1/(1 + e)).
  const double big[2] = {1000.0, 1001.0};
  ops::softmax_row(big, nullptr, p, 2);
  BOOST_TEST(std::abs(p[0] - 1.0 / (1.0 + std::exp(1.0))) <= 4e-16);
}

// With one allowed key the output is that key's value; GQA maps query head h to kv head h / group.
BOOST_AUTO_TEST_CASE(attention_gqa_and_single_key) {
  const index_t B = 1, S = 3, Nq = 4, Nkv = 2, Dh = 2;
  Mat q = xt::ones<double>({size_t(S), size_t(Nq * Dh)});
  Mat k = xt::zeros<double>({size_t(S), size_t(Nkv * Dh)});
  Mat v = Mat::from_shape({size_t(S), size_t(Nkv * Dh)});
  for (index_t s = 0; s < S; ++s)
    for (index_t j = 0; j < Nkv * Dh; ++j) v(s, j) = 10.0 * s + j;
  const auto m = ops::build_mask({LayerType::kFull, S, text::Bidirectional::kNone}, ones(B, S), {});
  Mat probs;
  const Mat o = ops::attention(q, k, v, m, {B, S, Nq, Nkv, Dh, 1.0}, &probs);
  // q row 0 sees only key 0.
  for (index_t h = 0; h < Nq; ++h)
    for (index_t d = 0; d < Dh; ++d) BOOST_TEST(o(0, h * Dh + d) == v(0, (h / 2) * Dh + d));
  // k = 0 -> equal scores: row 2 averages keys 0..2.
  BOOST_TEST(std::abs(o(2, 0) - (0.0 + 10.0 + 20.0) / 3.0) <= 1e-14);
  BOOST_TEST(std::abs(o(2, 3 * Dh) - (2.0 + 12.0 + 22.0) / 3.0) <= 1e-14);  // head 3 -> kv head 1, dim 0 = col 2
  BOOST_TEST(probs(1, 2) == 0.0);  // [b=0, h=0, q=1, kv=2]: future key
  BOOST_TEST(probs(1, 0) == 0.5);
}
