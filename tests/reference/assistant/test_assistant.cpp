// The assistant / drafter: config rules, parameter count, masks and the centroid-masked head
// analytically; the committed bundle verifies to 1e-10 and its checkpoint holds exactly the counted
// parameters.
#define BOOST_TEST_MODULE test_assistant
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "golden/safetensors.hpp"
#include "harness/verify.hpp"
#include "reference/assistant/config.hpp"
#include "reference/assistant/head.hpp"
#include "reference/assistant/mask.hpp"
#include "reference/common/check.hpp"

using namespace g4;

namespace {

const std::string kSrc = GEMMA4_SOURCE_DIR;

std::string config_json(const std::string& text_extra, const std::string& top_extra = "") {
  return R"({"model_type": "gemma4_assistant", "backbone_hidden_size": 48, "use_ordered_embeddings": true,
    "num_centroids": 8, "centroid_intermediate_top_k": 3, )" + top_extra + R"( "text_config": {
    "model_type": "gemma4_text", "vocab_size": 96, "hidden_size": 24, "intermediate_size": 20,
    "num_hidden_layers": 3, "layer_types": ["sliding_attention", "sliding_attention", "full_attention"],
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "global_head_dim": 16,
    "sliding_window": 4, "hidden_size_per_layer_input": 0, "vocab_size_per_layer_input": 0,
    "final_logit_softcapping": null)" + text_extra + "}}";
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_layer_reads_the_targets_kv) {
  const auto c = assistant::assistant_config_from_json(config_json(""), "t");
  BOOST_TEST(c.text.num_kv_shared_layers == 3);
  for (const auto& s : c.text.layers) {
    BOOST_TEST((s.kv_role == text::KvRole::kReuse));
    BOOST_TEST(s.kv_source == assistant::kv_source_of(s.type));
  }
  BOOST_TEST(c.text.layers[2].head_dim == 16);
  // num_kv_shared_layers == num_hidden_layers is accepted too; anything else is not.
  BOOST_CHECK_NO_THROW(assistant::assistant_config_from_json(config_json(R"(, "num_kv_shared_layers": 3)"), "t"));
  BOOST_CHECK_THROW(assistant::assistant_config_from_json(config_json(R"(, "num_kv_shared_layers": 1)"), "t"),
                    ConfigError);
  BOOST_CHECK_THROW(assistant::assistant_config_from_json(
                        config_json(R"(, "hidden_size_per_layer_input": 4, "vocab_size_per_layer_input": 96)"), "t"),
                    ConfigError);
  BOOST_CHECK_THROW(assistant::assistant_config_from_json(config_json("", R"("num_centroid": 8,)"), "t"), ConfigError);
  std::string seven = config_json("");
  seven.replace(seven.find("\"num_centroids\": 8"), 18, "\"num_centroids\": 7");  // 7 does not divide 96
  BOOST_CHECK_THROW(assistant::assistant_config_from_json(seven, "t"), ConfigError);
}

BOOST_AUTO_TEST_CASE(param_count_by_hand) {
  const auto c = assistant::assistant_config_from_json(config_json(""), "t");
  const auto p = assistant::param_count(c);
  BOOST_TEST(p.embedding == 96 * 24);
  BOOST_TEST(p.pre_projection == 2 * 48 * 24);
  BOOST_TEST(p.post_projection == 48 * 24);
  BOOST_TEST(p.attention == 2 * (2 * 4 * 8 * 24 + 8) + (2 * 4 * 16 * 24 + 16));
  BOOST_TEST(p.mlp == 3 * 3 * 20 * 24);
  BOOST_TEST(p.norms == 3 * 4 * 24 + 24);
  BOOST_TEST(p.centroids == 8 * 24);
  BOOST_TEST(p.total() == 16760);
}

BOOST_AUTO_TEST_CASE(masks_full_is_padding_only_sliding_is_the_last_window_plus_one_keys) {
  IdMat am = IdMat::from_shape({1, 11});
  am.fill(1);
  am(0, 9) = 0;
  const auto full = assistant::assistant_mask(text::LayerType::kFull, am, 1, 1, 11, 11, 4);
  const auto sl = assistant::assistant_mask(text::LayerType::kSliding, am, 1, 1, 11, 11, 4);
  for (index_t j = 0; j < 11; ++j) {
    BOOST_TEST(full[j] == (j != 9 ? 1 : 0), "full j=" << j);
    BOOST_TEST(sl[j] == (j >= 6 && j != 9 ? 1 : 0), "sliding j=" << j);  // keys 6..10: W + 1 = 5
  }
  // Two queries: query 1 reaches one key further back (|1 − (10 − j)| ≤ 4 ⇔ 5 ≤ j ≤ 13).
  const auto two = assistant::assistant_mask(text::LayerType::kSliding, IdMat{}, 1, 2, 11, 11, 4);
  for (index_t j = 0; j < 11; ++j) {
    BOOST_TEST(two[j] == (j >= 6 ? 1 : 0));
    BOOST_TEST(two[11 + j] == (j >= 5 ? 1 : 0));
  }
}

BOOST_AUTO_TEST_CASE(centroid_head_by_hand) {
  // V = 6, C = 3 (2 tokens each), ordering reversed: centroid k covers tokens {5 − 2k, 4 − 2k}.
  const std::vector<std::int64_t> ordering{5, 4, 3, 2, 1, 0};
  Mat E = Mat::from_shape({6, 2});
  for (index_t v = 0; v < 6; ++v) E(v, 0) = v + 1, E(v, 1) = -v;
  Mat centroids = Mat::from_shape({3, 2});
  centroids(0, 0) = 1, centroids(0, 1) = 0;
  centroids(1, 0) = 2, centroids(1, 1) = 0;
  centroids(2, 0) = 0, centroids(2, 1) = 1;
  Mat h = Mat::from_shape({1, 2});
  h(0, 0) = 1, h(0, 1) = 0.5;  // centroid logits 1, 2, 0.5 -> top-1 = centroid 1 -> tokens {3, 2}
  text::ReferenceExecutor ex;
  auto rows_of = [&](const std::vector<std::int64_t>& ids) {
    Mat m = Mat::from_shape({ids.size(), 2});
    for (size_t r = 0; r < ids.size(); ++r) m(r, 0) = E(ids[r], 0), m(r, 1) = E(ids[r], 1);
    return m;
  };
  const auto out = assistant::centroid_masked_head(ex, "h", h, centroids, ordering, 1, 6, rows_of);
  BOOST_TEST(out.centroid_logits(0, 1) == 2.0);
  const double s3 = 4 - 1.5, s2 = 3 - 1.0;  // h·E[3], h·E[2]
  const double fill = std::min(s3, s2) - 1.0;
  for (index_t v = 0; v < 6; ++v) {
    const double want = v == 3 ? s3 : v == 2 ? s2 : fill;
    BOOST_TEST(out.logits(0, v) == want, "v=" << v);
  }
}

BOOST_AUTO_TEST_CASE(committed_bundle_verifies_and_holds_the_counted_parameters) {
  const std::string dir = kSrc + "/golden/data/assistant_tiny";
  harness::VerifyOptions o;
  o.bundle = dir;
  const auto r = harness::verify(o);
  BOOST_TEST_MESSAGE("assistant_tiny: " << r.rows.size() << " taps, worst relative L2 " << r.worst_rel_l2 << " at "
                                        << r.worst_tap);
  BOOST_TEST(r.pass);
  BOOST_TEST(r.worst_rel_l2 <= 1e-10);
  BOOST_TEST(r.rows.size() > 100u);
  const auto c = assistant::load_assistant_config(dir + "/config.json");
  const golden::Checkpoint ck(dir + "/model.safetensors");
  std::int64_t stored = 0;
  for (const std::string& n : ck.names())
    if (!n.ends_with("layer_scalar") && !n.ends_with("token_ordering")) stored += ck.info(n).numel();
  BOOST_TEST(stored == assistant::param_count(c).total());
}
