#pragma once
// Reading transformers config.json / preprocessor_config.json files, shared by the text, vision and
// audio configs (DESIGN.md section 9: one-line errors naming the file and the field).
//
//   read_config_file(path)       the file's bytes; IoError unless it is a readable regular file
//   parse_config_json(text, src) nlohmann::json of a top-level object, nesting bounded while parsing
//   ObjectReader                 typed access to the fields of one JSON object, remembering which
//                                fields were read so that every other field can be refused
//
// A field is named in messages by its JSON path below the reader's object ("rope_parameters.
// rope_theta"); `source` is the file (or "file:text_config" for a sub-config), so every message is
//   "<source>: field '<path>' <what was expected>".
// JSON null counts as absent (transformers writes None as null).
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reference/common/dims.hpp"

namespace g4::config {

using json = nlohmann::json;

// Deepest nesting a config may have. Real configs nest 5 deep (text_config.rope_parameters.
// full_attention...); deeper input is refused while parsing, before recursive walks (dump() in
// messages, the destructor) could overflow the stack.
inline constexpr int kMaxDepth = 64;

// Bounds on the values of a config's fields (the caller's choice; the default refuses only what
// the field types cannot represent: an integer outside index_t).
struct Limits {
  index_t max_integer = std::numeric_limits<index_t>::max();  // integer fields lie in [-max, max]
  bool finite_numbers = false;                                 // refuse inf in number fields
};

// Fields every transformers PreTrainedConfig saves that carry no numerical meaning for a forward
// pass (bookkeeping, output switches, the model_type the caller checks itself), plus `extra`: the
// inert set a config's ObjectReader is given.
std::set<std::string> pretrained_inert_keys(std::initializer_list<std::string> extra);

// The whole file at `path`. IoError naming the path when it is not a regular file or cannot be opened.
std::string read_config_file(const std::string& path);

// Parses `text` (named `source` in messages). ConfigError when it is not JSON, nests deeper than
// kMaxDepth, or is not an object at the top level.
json parse_config_json(const std::string& text, const std::string& source);

class ObjectReader {
 public:
  // `obj` must outlive the reader. `inert` lists fields accepted without being read (bookkeeping
  // with no effect on the numbers); `path` is the JSON path of `obj` below the file's top level
  // ("" for the top level).
  ObjectReader(const json& obj, std::string source, const std::set<std::string>* inert = nullptr,
               Limits limits = {}, std::string path = "");

  // The value of `key`, nullptr when absent or null. Marks the field as read.
  const json* get(const std::string& key);
  // As get(), but a missing field is a ConfigError.
  const json& require(const std::string& key);

  // Typed fields: `fallback` when absent or null, ConfigError when of another JSON type or outside
  // the limits.
  index_t integer(const std::string& key, index_t fallback);
  double number(const std::string& key, double fallback);
  bool boolean(const std::string& key, bool fallback);
  std::string string(const std::string& key, const std::string& fallback);
  std::vector<double> numbers(const std::string& key);  // a list of numbers; empty when absent

  // The object at `key` as a reader of its own (same source, inert set none, same limits), or
  // nothing when absent or null; ConfigError when it is not an object.
  std::optional<ObjectReader> object(const std::string& key);

  // ConfigError naming the first field of the object that was neither read nor inert; `note`
  // (e.g. "not a Gemma4TextConfig field") is appended in parentheses when not empty.
  void check_unknown(const std::string& note = "") const;

  // "<path>.<key>" (or "<key>" at the top level): how messages name a field of this object.
  std::string field(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const json& json_object() const { return j_; }
  const std::string& source() const { return source_; }

 private:
  const json& j_;
  std::string source_;
  const std::set<std::string>* inert_;
  Limits limits_;
  std::string path_;
  std::set<std::string> used_;
};

}  // namespace g4::config
