#include "reference/common/config_reader.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "reference/common/check.hpp"

namespace g4::config {

std::set<std::string> pretrained_inert_keys(std::initializer_list<std::string> extra) {
  std::set<std::string> keys = {
      "transformers_version", "architectures", "output_hidden_states", "return_dict", "dtype", "torch_dtype",
      "chunk_size_feed_forward", "is_encoder_decoder", "id2label", "label2id", "problem_type", "_name_or_path",
      "output_attentions", "use_cache", "model_type", "tokenizer_class", "prefix", "pruned_heads", "torchscript",
      "_attn_implementation_autoset", "use_return_dict"};
  keys.insert(extra.begin(), extra.end());
  return keys;
}

std::string read_config_file(const std::string& path) {
  // A directory opens as a stream on Linux and a FIFO blocks: refuse both before opening.
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  G4_CHECK(!std::filesystem::exists(st) || std::filesystem::is_regular_file(st), IoError,
           "{}: cannot read config file (not a regular file)", path);
  std::ifstream in(path, std::ios::binary);
  G4_CHECK(in.good(), IoError, "{}: cannot open config file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse_config_json(const std::string& text, const std::string& source) {
  const json::parser_callback_t depth_limit = [&](int depth, json::parse_event_t e, json&) {
    G4_CHECK(!((e == json::parse_event_t::object_start || e == json::parse_event_t::array_start) && depth >= kMaxDepth),
             ConfigError, "{}: JSON nested deeper than {} levels; not a config.json", source, kMaxDepth);
    return true;
  };
  json j;
  try {
    j = json::parse(text, depth_limit);
  } catch (const json::exception& e) {
    throw ConfigError(fmt::format("{}: not valid JSON ({})", source, e.what()));
  }
  G4_CHECK(j.is_object(), ConfigError, "{}: expected a JSON object at the top level", source);
  return j;
}

ObjectReader::ObjectReader(const json& obj, std::string source, const std::set<std::string>* inert, Limits limits,
                           std::string path)
    : j_(obj), source_(std::move(source)), inert_(inert), limits_(limits), path_(std::move(path)) {
  G4_CHECK(j_.is_object(), ConfigError, "{}: {} must be a JSON object, got {}", source_,
           path_.empty() ? std::string("the config") : fmt::format("field '{}'", path_), j_.dump());
}

const json* ObjectReader::get(const std::string& key) {
  used_.insert(key);
  auto it = j_.find(key);
  return (it == j_.end() || it->is_null()) ? nullptr : &*it;
}

const json& ObjectReader::require(const std::string& key) {
  const json* v = get(key);
  G4_CHECK(v, ConfigError, "{}: field '{}' is missing", source_, field(key));
  return *v;
}

namespace {

// 2^k for a power of two (the usual limit), the decimal number otherwise.
std::string power_of_two(index_t x) {
  if (x <= 0 || (x & (x - 1)) != 0) return std::to_string(x);
  int k = 0;
  while ((index_t{1} << k) != x) ++k;
  return fmt::format("2^{}", k);
}

}  // namespace

index_t ObjectReader::integer(const std::string& key, index_t fallback) {
  const json* v = get(key);
  if (!v) return fallback;
  G4_CHECK(v->is_number_integer(), ConfigError, "{}: field '{}' must be an integer, got {}", source_, field(key),
           v->dump());
  const index_t max = limits_.max_integer;
  const std::string max_name = power_of_two(max);
  // An unsigned value above the signed range would wrap when read as index_t: compare it unsigned.
  G4_CHECK(!v->is_number_unsigned() || v->get<std::uint64_t>() <= static_cast<std::uint64_t>(max), ConfigError,
           "{}: field '{}' = {} is over the limit of {}{}", source_, field(key), v->dump(), max,
           max_name == std::to_string(max) ? "" : " (" + max_name + ")");
  const index_t x = v->get<index_t>();
  G4_CHECK(x >= -max && x <= max, ConfigError, "{}: field '{}' = {} is outside [-{}, {}]", source_, field(key), x,
           max_name, max_name);
  return x;
}

double ObjectReader::number(const std::string& key, double fallback) {
  const json* v = get(key);
  if (!v) return fallback;
  G4_CHECK(v->is_number(), ConfigError, "{}: field '{}' must be a number, got {}", source_, field(key), v->dump());
  G4_CHECK(!limits_.finite_numbers || std::isfinite(v->get<double>()), ConfigError, "{}: field '{}' = {} is not finite",
           source_, field(key), v->get<double>());
  return v->get<double>();
}

bool ObjectReader::boolean(const std::string& key, bool fallback) {
  const json* v = get(key);
  if (!v) return fallback;
  G4_CHECK(v->is_boolean(), ConfigError, "{}: field '{}' must be true or false, got {}", source_, field(key),
           v->dump());
  return v->get<bool>();
}

std::string ObjectReader::string(const std::string& key, const std::string& fallback) {
  const json* v = get(key);
  if (!v) return fallback;
  G4_CHECK(v->is_string(), ConfigError, "{}: field '{}' must be a string, got {}", source_, field(key), v->dump());
  return v->get<std::string>();
}

std::vector<double> ObjectReader::numbers(const std::string& key) {
  const json* v = get(key);
  if (!v) return {};
  G4_CHECK(v->is_array(), ConfigError, "{}: field '{}' must be a list of numbers", source_, field(key));
  std::vector<double> out;
  for (const auto& x : *v) {
    G4_CHECK(x.is_number(), ConfigError, "{}: field '{}' must be a list of numbers, has {}", source_, field(key),
             x.dump());
    out.push_back(x.get<double>());
  }
  return out;
}

std::optional<ObjectReader> ObjectReader::object(const std::string& key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  G4_CHECK(v->is_object(), ConfigError, "{}: field '{}' must be an object", source_, field(key));
  return std::optional<ObjectReader>(std::in_place, *v, source_, nullptr, limits_, field(key));
}

void ObjectReader::check_unknown(const std::string& note) const {
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    if (used_.count(it.key()) || (inert_ && inert_->count(it.key()))) continue;
    throw ConfigError(fmt::format("{}: unknown config field '{}'{}", source_, field(it.key()),
                                  note.empty() ? "" : " (" + note + ")"));
  }
}

}  // namespace g4::config
