#define BOOST_TEST_MODULE test_config
#include <boost/test/unit_test.hpp>

#include <string>

#include "reference/common/check.hpp"
#include "reference/text/config.hpp"

using namespace g4;
using namespace g4::text;

BOOST_AUTO_TEST_CASE(released_e2b_kv_sharing_and_double_wide) {
  const TextConfig c = released_text_config("e2b");
  BOOST_TEST(c.layers.size() == 35u);
  BOOST_TEST((c.layers[4].type == LayerType::kFull));
  BOOST_TEST(c.layers[4].head_dim == 512);
  BOOST_TEST(c.layers[3].head_dim == 256);
  BOOST_TEST((c.layers[13].kv_role == KvRole::kStore));
  BOOST_TEST((c.layers[14].kv_role == KvRole::kStore));
  BOOST_TEST((c.layers[12].kv_role == KvRole::kOwn));
  for (int i = 15; i < 35; ++i) {
    BOOST_TEST((c.layers[i].kv_role == KvRole::kReuse));
    BOOST_TEST(c.layers[i].kv_source == (c.layers[i].type == LayerType::kFull ? 14 : 13));
    BOOST_TEST(c.layers[i].mlp_width == 12288);
  }
  BOOST_TEST(c.layers[14].mlp_width == 6144);
}

BOOST_AUTO_TEST_CASE(released_e4b_31b_26b) {
  const TextConfig e4 = released_text_config("e4b");
  BOOST_TEST(e4.layers[30].kv_source == 22);
  BOOST_TEST(e4.layers[41].kv_source == 23);
  BOOST_TEST(e4.layers[30].mlp_width == 10240);
  const TextConfig c31 = released_text_config("31b");
  BOOST_TEST(c31.layers[5].k_eq_v);
  BOOST_TEST(c31.layers[5].num_kv_heads == 4);
  BOOST_TEST(c31.layers[4].num_kv_heads == 16);
  BOOST_TEST(!c31.layers[4].k_eq_v);
  const TextConfig c26 = released_text_config("26b-a4b");
  BOOST_TEST(c26.enable_moe_block);
  BOOST_TEST(c26.layers[29].num_kv_heads == 2);
  BOOST_CHECK_THROW(released_text_config("70b"), ConfigError);
}

namespace {
const std::string kTiny = R"({"model_type": "gemma4_text", "vocab_size": 96, "hidden_size": 48,
  "intermediate_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
  "head_dim": 8, "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
  "per_layer_config": {"1": {"head_dim": 16, "num_key_value_heads": 1}, "3": {"head_dim": 16, "num_key_value_heads": 1}},
  "attention_k_eq_v": true, "hidden_size_per_layer_input": 0, "sliding_window": 4, "transformers_version": "5.23.0"})";

std::string with(const std::string& base, const std::string& extra) {
  return base.substr(0, base.size() - 1) + ", " + extra + "}";
}

void expect_config_error(const std::string& json, const std::string& needle) {
  try {
    text_config_from_json(json, "cfg.json");
    BOOST_ERROR("no error for: " << needle);
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    BOOST_TEST_MESSAGE(msg);
    BOOST_TEST(msg.find(needle) != std::string::npos, "message '" << msg << "' lacks '" << needle << "'");
    BOOST_TEST(msg.find("cfg.json") != std::string::npos);
    BOOST_TEST(msg.find('\n') == std::string::npos);
  }
}
}  // namespace

BOOST_AUTO_TEST_CASE(json_per_layer_config) {
  const TextConfig c = text_config_from_json(kTiny, "cfg.json");
  BOOST_TEST(c.layers[1].head_dim == 16);
  BOOST_TEST(c.layers[1].num_kv_heads == 1);
  BOOST_TEST(c.layers[1].k_eq_v);
  BOOST_TEST(c.layers[0].head_dim == 8);
  BOOST_TEST(!c.final_logit_softcapping.has_value());
}

BOOST_AUTO_TEST_CASE(json_released_layout_global_fields) {
  const std::string j = R"({"model_type": "gemma4", "text_config": {"model_type": "gemma4_text", "hidden_size": 64,
     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "global_head_dim": 16,
     "num_global_key_value_heads": 1, "attention_k_eq_v": true, "vocab_size": 50, "intermediate_size": 16,
     "hidden_size_per_layer_input": 0, "final_logit_softcapping": 30.0}, "vision_config": null})";
  const TextConfig c = text_config_from_json(j, "cfg.json");
  BOOST_TEST((c.layers[1].type == LayerType::kFull));  // last layer forced to full
  BOOST_TEST(c.layers[1].head_dim == 16);
  BOOST_TEST(c.layers[1].num_kv_heads == 1);
  BOOST_TEST(*c.final_logit_softcapping == 30.0);
}

BOOST_AUTO_TEST_CASE(json_bad_inputs_name_the_field) {
  expect_config_error(with(kTiny, R"("attention_sinks": true)"), "attention_sinks");
  expect_config_error(with(kTiny, R"("rope_parameters": {"full_attention": {"rope_type": "yarn", "rope_theta": 1.0}})"),
                      "yarn");
  expect_config_error(with(kTiny, R"("num_attention_heads": 3)"), "num_key_value_heads");
  expect_config_error(with(kTiny, R"("hidden_size": "big")"), "hidden_size");
  expect_config_error(with(kTiny, R"("enable_moe_block": true, "num_experts": 4, "top_k_experts": 5, "moe_intermediate_size": 4)"),
                      "top_k_experts");
  expect_config_error(with(kTiny, R"("num_kv_shared_layers": 4)"), "num_kv_shared_layers");
  expect_config_error(with(kTiny, R"("layer_types": ["sliding_attention"])"), "layer_types");
  expect_config_error(with(kTiny, R"("hidden_activation": "relu")"), "hidden_activation");
  expect_config_error("{not json", "not valid JSON");
  expect_config_error(R"({"model_type": "llama"})", "model_type");
}
