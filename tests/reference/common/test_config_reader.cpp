// The shared config.json reader (reference/common/config_reader.hpp): typed fields, fallbacks,
// limits, nested objects, unknown fields, parsing limits and files. Every error must be one
// ConfigError / IoError line naming the source and the field's JSON path.
#define BOOST_TEST_MODULE test_config_reader
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "reference/common/check.hpp"
#include "reference/common/config_reader.hpp"

using namespace g4;
using g4::config::json;
using g4::config::ObjectReader;

namespace {

// The message of the ErrorType `f` throws; fails the test when it throws nothing or another type.
template <class ErrorType>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ErrorType& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find('\n') == std::string::npos, "message is not one line: " << msg);
    return msg;
  }
  BOOST_FAIL("no error thrown");
  return {};
}

void check_has(const std::string& msg, const std::string& part) {
  BOOST_TEST(msg.find(part) != std::string::npos, "'" << msg << "' lacks '" << part << "'");
}

}  // namespace

BOOST_AUTO_TEST_CASE(typed_fields_and_fallbacks) {
  const json j = json::parse(R"({"n": 3, "x": 0.5, "i_as_x": 2, "b": true, "s": "silu", "v": [1, 2.5], "z": null})");
  ObjectReader r(j, "c.json");
  BOOST_TEST(r.integer("n", 7) == 3);
  BOOST_TEST(r.number("x", 0.0) == 0.5);
  BOOST_TEST(r.number("i_as_x", 0.0) == 2.0);  // an integer is a number
  BOOST_TEST(r.boolean("b", false));
  BOOST_TEST(r.string("s", "gelu") == "silu");
  BOOST_TEST((r.numbers("v") == std::vector<double>{1.0, 2.5}));
  // Absent and null both give the fallback (transformers writes None as null).
  BOOST_TEST(r.integer("absent", 7) == 7);
  BOOST_TEST(r.integer("z", 7) == 7);
  BOOST_TEST(r.numbers("absent").empty());
  BOOST_TEST(r.get("z") == nullptr);
  BOOST_TEST(r.field("n") == "n");
  r.check_unknown();  // every field was read
}

BOOST_AUTO_TEST_CASE(wrong_types_name_source_field_and_value) {
  const json j = json::parse(R"({"n": "48", "x": true, "b": 1, "s": 3, "v": [1, "a"], "w": 2})");
  ObjectReader r(j, "c.json");
  std::string m = error_of<ConfigError>([&] { r.integer("n", 0); });
  BOOST_TEST(m == "c.json: field 'n' must be an integer, got \"48\"");
  m = error_of<ConfigError>([&] { r.integer("x", 0); });
  check_has(m, "field 'x' must be an integer, got true");
  m = error_of<ConfigError>([&] { r.number("x", 0); });
  BOOST_TEST(m == "c.json: field 'x' must be a number, got true");
  m = error_of<ConfigError>([&] { r.boolean("b", false); });
  BOOST_TEST(m == "c.json: field 'b' must be true or false, got 1");
  m = error_of<ConfigError>([&] { r.string("s", ""); });
  BOOST_TEST(m == "c.json: field 's' must be a string, got 3");
  m = error_of<ConfigError>([&] { r.numbers("v"); });
  BOOST_TEST(m == "c.json: field 'v' must be a list of numbers, has \"a\"");
  m = error_of<ConfigError>([&] { r.numbers("w"); });
  BOOST_TEST(m == "c.json: field 'w' must be a list of numbers");
}

BOOST_AUTO_TEST_CASE(integer_limits) {
  const json j = json::parse(R"({"ok": 16777216, "neg_ok": -16777216, "big": 16777217, "neg": -16777217,
                                 "u64": 18446744073709551615, "i64max": 9223372036854775807})");
  // A power-of-two limit is also named as such (the text config's 2^24).
  ObjectReader r(j, "c.json", nullptr, config::Limits{index_t{1} << 24, true});
  BOOST_TEST(r.integer("ok", 0) == (index_t{1} << 24));
  BOOST_TEST(r.integer("neg_ok", 0) == -(index_t{1} << 24));
  BOOST_TEST(error_of<ConfigError>([&] { r.integer("big", 0); }) ==
             "c.json: field 'big' = 16777217 is over the limit of 16777216 (2^24)");
  BOOST_TEST(error_of<ConfigError>([&] { r.integer("neg", 0); }) ==
             "c.json: field 'neg' = -16777217 is outside [-2^24, 2^24]");
  BOOST_TEST(error_of<ConfigError>([&] { r.integer("u64", 0); }) ==
             "c.json: field 'u64' = 18446744073709551615 is over the limit of 16777216 (2^24)");

  // Default limits: anything index_t holds; an unsigned value beyond it is refused, not wrapped.
  ObjectReader d(j, "c.json");
  BOOST_TEST(d.integer("i64max", 0) == std::numeric_limits<index_t>::max());
  BOOST_TEST(d.integer("big", 0) == 16777217);
  BOOST_TEST(error_of<ConfigError>([&] { d.integer("u64", 0); }) ==
             "c.json: field 'u64' = 18446744073709551615 is over the limit of 9223372036854775807");
}

BOOST_AUTO_TEST_CASE(finite_numbers) {
  json j = json::object();
  j["x"] = std::numeric_limits<double>::infinity();  // a parsed file cannot hold inf; a built object can
  ObjectReader lax(j, "c.json");
  BOOST_TEST(std::isinf(lax.number("x", 0)));
  ObjectReader strict(j, "c.json", nullptr, config::Limits{index_t{1} << 24, true});
  BOOST_TEST(error_of<ConfigError>([&] { strict.number("x", 0); }) == "c.json: field 'x' = inf is not finite");
}

BOOST_AUTO_TEST_CASE(nested_objects_are_named_by_path) {
  const json j = json::parse(R"({"rope": {"full": {"theta": "x", "extra": 1}}, "flat": 3})");
  ObjectReader r(j, "c.json:text_config");
  auto rope = r.object("rope");
  BOOST_REQUIRE(rope.has_value());
  auto full = rope->object("full");
  BOOST_REQUIRE(full.has_value());
  BOOST_TEST(full->field("theta") == "rope.full.theta");
  BOOST_TEST(error_of<ConfigError>([&] { full->number("theta", 0); }) ==
             "c.json:text_config: field 'rope.full.theta' must be a number, got \"x\"");
  BOOST_TEST(error_of<ConfigError>([&] { full->require("missing"); }) ==
             "c.json:text_config: field 'rope.full.missing' is missing");
  BOOST_TEST(error_of<ConfigError>([&] { full->check_unknown(); }) ==
             "c.json:text_config: unknown config field 'rope.full.extra'");
  BOOST_TEST(!r.object("absent").has_value());
  BOOST_TEST(error_of<ConfigError>([&] { r.object("flat"); }) == "c.json:text_config: field 'flat' must be an object");
}

BOOST_AUTO_TEST_CASE(unknown_fields_inert_fields_and_note) {
  const json j = json::parse(R"({"hidden_size": 8, "transformers_version": "5", "my_extra": 1, "frobnicate": 2})");
  const std::set<std::string> inert = config::pretrained_inert_keys({"my_extra"});
  BOOST_TEST(inert.count("transformers_version") == 1u);
  BOOST_TEST(inert.count("model_type") == 1u);
  BOOST_TEST(inert.count("my_extra") == 1u);
  BOOST_TEST(inert.count("hidden_size") == 0u);
  ObjectReader r(j, "c.json", &inert);
  r.integer("hidden_size", 0);
  BOOST_TEST(error_of<ConfigError>([&] { r.check_unknown("not a Gemma4TextConfig field"); }) ==
             "c.json: unknown config field 'frobnicate' (not a Gemma4TextConfig field)");
  r.get("frobnicate");  // read: no longer unknown
  r.check_unknown("not a Gemma4TextConfig field");
  // Without the inert set, the bookkeeping fields are unknown too.
  ObjectReader bare(j, "c.json");
  bare.integer("hidden_size", 0);
  check_has(error_of<ConfigError>([&] { bare.check_unknown(); }), "unknown config field '");
}

BOOST_AUTO_TEST_CASE(parse_limits_and_top_level) {
  BOOST_TEST(config::parse_config_json(R"({"a": {"b": [1]}})", "c.json")["a"]["b"][0] == 1);
  check_has(error_of<ConfigError>([] { config::parse_config_json("{\"a\": ", "c.json"); }), "c.json: not valid JSON (");
  BOOST_TEST(error_of<ConfigError>([] { config::parse_config_json("[1, 2]", "c.json"); }) ==
             "c.json: expected a JSON object at the top level");
  // kMaxDepth levels are accepted, one more is refused while parsing.
  auto nested = [](int depth) {
    return "{\"x\": " + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
  };
  BOOST_CHECK_NO_THROW(config::parse_config_json(nested(config::kMaxDepth), "c.json"));
  BOOST_TEST(error_of<ConfigError>([&] { config::parse_config_json(nested(config::kMaxDepth + 1), "c.json"); }) ==
             "c.json: JSON nested deeper than 64 levels; not a config.json");
  BOOST_TEST(error_of<ConfigError>([] { ObjectReader r(json::array(), "c.json"); }) ==
             "c.json: the config must be a JSON object, got []");
}

BOOST_AUTO_TEST_CASE(files) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("g4_config_reader_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "config.json").string();
  {
    std::ofstream f(file, std::ios::binary);
    f << "{\"a\": 1}\n";
  }
  BOOST_TEST(config::read_config_file(file) == "{\"a\": 1}\n");
  BOOST_TEST(error_of<IoError>([&] { config::read_config_file(dir.string()); }) ==
             dir.string() + ": cannot read config file (not a regular file)");
  BOOST_TEST(error_of<IoError>([&] { config::read_config_file((dir / "absent.json").string()); }) ==
             (dir / "absent.json").string() + ": cannot open config file");
  fs::remove_all(dir);
}
