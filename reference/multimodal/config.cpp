#include "reference/multimodal/config.hpp"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "reference/common/check.hpp"

namespace g4::mm {
namespace {

using json = nlohmann::json;

index_t id_field(const json& j, const char* key, index_t fallback, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  G4_CHECK(it->is_number_integer(), ConfigError, "{}: field '{}' must be an integer, got {}", source, key, it->dump());
  return it->get<index_t>();
}

EmbedderConfig embedder(const json& j, const char* sub, const char* width_key, index_t width_default,
                        const std::string& source) {
  EmbedderConfig e;
  auto it = j.find(sub);
  if (it == j.end() || it->is_null()) return e;
  G4_CHECK(it->is_object(), ConfigError, "{}: field '{}' must be an object or null", source, sub);
  e.present = true;
  e.input_dim = id_field(*it, width_key, width_default, source + ":" + sub);
  auto eps = it->find("rms_norm_eps");
  if (eps != it->end() && !eps->is_null()) {
    G4_CHECK(eps->is_number() && eps->get<double>() > 0, ConfigError, "{}:{}: field 'rms_norm_eps' must be > 0",
             source, sub);
    e.eps = eps->get<double>();
  }
  G4_CHECK(e.input_dim > 0, ConfigError, "{}:{}: field '{}' must be > 0, got {}", source, sub, width_key, e.input_dim);
  return e;
}

}  // namespace

MultimodalConfig multimodal_config_from_json(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw ConfigError(fmt::format("{}: not valid JSON ({})", source, e.what()));
  }
  G4_CHECK(j.is_object() && j.value("model_type", std::string()) == "gemma4", ConfigError,
           "{}: field 'model_type' must be \"gemma4\" (a Gemma4Config with text/vision/audio sub-configs)", source);
  MultimodalConfig c;
  c.text = text::text_config_from_json(json_text, source);
  c.image_token_id = id_field(j, "image_token_id", c.image_token_id, source);
  c.video_token_id = id_field(j, "video_token_id", c.video_token_id, source);
  c.audio_token_id = id_field(j, "audio_token_id", c.audio_token_id, source);
  // Gemma4VisionConfig.hidden_size defaults to 768; Gemma4AudioConfig.output_proj_dims to 1536.
  c.vision = embedder(j, "vision_config", "hidden_size", 768, source);
  c.audio = embedder(j, "audio_config", "output_proj_dims", 1536, source);
  for (auto [key, id] : {std::pair{"image_token_id", c.image_token_id}, std::pair{"video_token_id", c.video_token_id},
                         std::pair{"audio_token_id", c.audio_token_id}})
    G4_CHECK(id >= 0 && id < c.text.vocab_size, ConfigError, "{}: field '{}' = {} is outside the vocabulary [0, {})",
             source, key, id, c.text.vocab_size);
  return c;
}

MultimodalConfig load_multimodal_config(const std::string& path) {
  std::ifstream f(path);
  G4_CHECK(f.good(), IoError, "{}: cannot open the config", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return multimodal_config_from_json(ss.str(), path);
}

}  // namespace g4::mm
