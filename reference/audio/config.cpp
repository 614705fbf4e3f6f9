// AudioConfig / FeatureConfig: released values, validation, config.json and preprocessor_config.json.
#include "reference/audio/config.hpp"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "reference/common/check.hpp"
#include "reference/common/config_reader.hpp"

namespace g4::audio {
namespace {

using json = config::json;

// PreTrainedConfig bookkeeping, plus FeatureExtractionMixin bookkeeping and token ids: no effect on the numbers.
const std::set<std::string> kInertKeys = config::pretrained_inert_keys({
    "initializer_range", "feature_extractor_type", "processor_class", "padding_side", "auto_map", "bos_token_id",
    "eos_token_id", "pad_token_id"});

AudioConfig parse_audio(const json& j, const std::string& source) {
  G4_CHECK(j.is_object(), ConfigError, "{}: audio config must be a JSON object", source);
  config::ObjectReader r(j, source, &kInertKeys);
  AudioConfig c;
  c.name = source;
  if (const json* mt = r.get("model_type"))
    G4_CHECK(mt->is_string() && mt->get<std::string>() == "gemma4_audio", ConfigError,
             "{}: field 'model_type' = {} (expected \"gemma4_audio\")", source, mt->dump());
  c.hidden_size = r.integer("hidden_size", c.hidden_size);
  c.num_hidden_layers = r.integer("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = r.integer("num_attention_heads", c.num_attention_heads);
  c.hidden_act = r.string("hidden_act", c.hidden_act);
  if (const json* v = r.get("subsampling_conv_channels")) {
    G4_CHECK(v->is_array() && v->size() == 2 && (*v)[0].is_number_integer() && (*v)[1].is_number_integer(),
             ConfigError, "{}: field 'subsampling_conv_channels' must be a list of two integers, got {}", source,
             v->dump());
    c.subsampling_conv_channels[0] = (*v)[0].get<index_t>();
    c.subsampling_conv_channels[1] = (*v)[1].get<index_t>();
  }
  c.conv_kernel_size = r.integer("conv_kernel_size", c.conv_kernel_size);
  c.residual_weight = r.number("residual_weight", c.residual_weight);
  c.attention_chunk_size = r.integer("attention_chunk_size", c.attention_chunk_size);
  c.attention_context_left = r.integer("attention_context_left", c.attention_context_left);
  c.attention_context_right = r.integer("attention_context_right", c.attention_context_right);
  c.attention_logit_cap = r.number("attention_logit_cap", c.attention_logit_cap);
  c.attention_invalid_logits_value = r.number("attention_invalid_logits_value", c.attention_invalid_logits_value);
  c.use_clipped_linears = r.boolean("use_clipped_linears", c.use_clipped_linears);
  c.rms_norm_eps = r.number("rms_norm_eps", c.rms_norm_eps);
  c.gradient_clipping = r.number("gradient_clipping", c.gradient_clipping);
  c.output_proj_dims = r.integer("output_proj_dims", c.output_proj_dims);
  c.initializer_range = r.number("initializer_range", c.initializer_range);
  r.check_unknown("not a Gemma4AudioConfig field");
  c.validate();
  return c;
}

}  // namespace

void AudioConfig::validate() const {
  auto pos = [&](index_t v, const char* f) {
    G4_CHECK(v > 0, ConfigError, "{}: field '{}' = {} must be positive", name, f, v);
  };
  pos(hidden_size, "hidden_size");
  pos(num_hidden_layers, "num_hidden_layers");
  pos(num_attention_heads, "num_attention_heads");
  pos(subsampling_conv_channels[0], "subsampling_conv_channels[0]");
  pos(subsampling_conv_channels[1], "subsampling_conv_channels[1]");
  pos(conv_kernel_size, "conv_kernel_size");
  pos(attention_chunk_size, "attention_chunk_size");
  pos(attention_context_left, "attention_context_left");
  pos(output_proj_dims, "output_proj_dims");
  G4_CHECK(attention_context_right >= 0, ConfigError, "{}: field 'attention_context_right' = {} must be >= 0", name,
           attention_context_right);
  G4_CHECK(hidden_size % num_attention_heads == 0, ConfigError,
           "{}: field 'hidden_size' = {} is not a multiple of num_attention_heads = {}", name, hidden_size,
           num_attention_heads);
  G4_CHECK(hidden_size % 2 == 0, ConfigError, "{}: field 'hidden_size' = {} must be even (sin/cos halves)", name,
           hidden_size);
  G4_CHECK(hidden_act == "silu", ConfigError, "{}: field 'hidden_act' = '{}' is not supported (expected 'silu')",
           name, hidden_act);
  G4_CHECK(subsampling_conv_channels[0] >= 4, ConfigError,
           "{}: field 'subsampling_conv_channels[0]' = {} must be >= 4 (projection width channels[0]/4·channels[1])",
           name, subsampling_conv_channels[0]);
  G4_CHECK(attention_logit_cap > 0, ConfigError, "{}: field 'attention_logit_cap' must be positive", name);
  G4_CHECK(gradient_clipping > 0, ConfigError, "{}: field 'gradient_clipping' must be positive", name);
  G4_CHECK(rms_norm_eps >= 0, ConfigError, "{}: field 'rms_norm_eps' must be >= 0", name);
  G4_CHECK(!text_hidden_size || *text_hidden_size > 0, ConfigError, "{}: text_config.hidden_size must be positive",
           name);
}

void FeatureConfig::validate() const {
  G4_CHECK(feature_size > 0 && sampling_rate > 0 && frame_length > 0 && hop_length > 0, ConfigError,
           "feature extractor: feature_size, sampling_rate, frame_length and hop_length must be positive");
  G4_CHECK(fft_length >= frame_length, ConfigError, "feature extractor: fft_length {} < frame_length {}", fft_length,
           frame_length);
  G4_CHECK(dither == 0.0, ConfigError,
           "feature extractor: field 'dither' = {} is not supported (it adds random noise; expected 0)", dither);
  G4_CHECK(min_frequency >= 0 && min_frequency <= max_frequency && max_frequency <= sampling_rate / 2.0, ConfigError,
           "feature extractor: frequencies [{}, {}] must lie in [0, sampling_rate/2]", min_frequency, max_frequency);
  G4_CHECK(per_bin_mean.empty() || index_t(per_bin_mean.size()) == feature_size, ConfigError,
           "feature extractor: field 'per_bin_mean' has {} values, expected feature_size = {}", per_bin_mean.size(),
           feature_size);
  G4_CHECK(per_bin_stddev.empty() || index_t(per_bin_stddev.size()) == feature_size, ConfigError,
           "feature extractor: field 'per_bin_stddev' has {} values, expected feature_size = {}",
           per_bin_stddev.size(), feature_size);
  G4_CHECK(mel_floor > 0, ConfigError, "feature extractor: field 'mel_floor' must be positive");
  G4_CHECK(pad_to_multiple_of > 0 && max_length > 0, ConfigError,
           "feature extractor: pad_to_multiple_of and max_length must be positive");
}

AudioConfig released_audio_config(const std::string& variant) {
  AudioConfig c;  // the defaults are the released tower (spec 1.4 and 1.6)
  c.name = variant;
  if (variant == "e2b") c.text_hidden_size = 1536;
  else if (variant == "e4b") c.text_hidden_size = 2560;
  else throw ConfigError(fmt::format("no released audio tower '{}' (expected e2b or e4b)", variant));
  c.validate();
  return c;
}

AudioConfig audio_config_from_json(const std::string& json_text, const std::string& source) {
  const json j = config::parse_config_json(json_text, source);
  try {
    const std::string model_type = j.value("model_type", std::string("gemma4_audio"));
    if (model_type == "gemma4") {
      G4_CHECK(j.contains("audio_config") && j["audio_config"].is_object(), ConfigError,
               "{}: this gemma4 config has no 'audio_config' object (a model without an audio tower)", source);
      AudioConfig c = parse_audio(j["audio_config"], source + ":audio_config");
      if (j.contains("text_config") && j["text_config"].is_object()) {
        const json& t = j["text_config"];
        G4_CHECK(t.contains("hidden_size") && t["hidden_size"].is_number_integer(), ConfigError,
                 "{}: field 'text_config.hidden_size' must be an integer (the audio embedder's width)", source);
        c.text_hidden_size = t["hidden_size"].get<index_t>();
      }
      c.validate();
      return c;
    }
    G4_CHECK(model_type == "gemma4_audio", ConfigError,
             "{}: field 'model_type' = '{}' (expected 'gemma4_audio' or 'gemma4')", source, model_type);
    return parse_audio(j, source);
  } catch (const json::exception& e) {
    throw ConfigError(fmt::format("{}: malformed config ({})", source, e.what()));
  }
}

AudioConfig load_audio_config(const std::string& path) { return audio_config_from_json(config::read_config_file(path), path); }

FeatureConfig feature_config_from_json(const std::string& json_text, const std::string& source) {
  json j = config::parse_config_json(json_text, source);
  if (j.contains("feature_extractor") && j["feature_extractor"].is_object()) j = j["feature_extractor"];
  try {
    config::ObjectReader r(j, source, &kInertKeys);
    FeatureConfig c;
    if (const json* t = r.get("feature_extractor_type"))
      G4_CHECK(t->is_string() && t->get<std::string>() == "Gemma4AudioFeatureExtractor", ConfigError,
               "{}: field 'feature_extractor_type' = {} (expected \"Gemma4AudioFeatureExtractor\")", source, t->dump());
    if (const json* p = r.get("padding_side"))
      G4_CHECK(p->is_string() && p->get<std::string>() == "right", ConfigError,
               "{}: field 'padding_side' = {} is not supported (expected \"right\")", source, p->dump());
    c.feature_size = r.integer("feature_size", c.feature_size);
    c.sampling_rate = r.integer("sampling_rate", c.sampling_rate);
    c.padding_value = r.number("padding_value", c.padding_value);
    G4_CHECK(c.padding_value == 0.0, ConfigError, "{}: field 'padding_value' = {} is not supported (expected 0)",
             source, c.padding_value);
    c.return_attention_mask = r.boolean("return_attention_mask", c.return_attention_mask);
    // The constructor takes milliseconds; the saved file holds the derived sample counts.
    const double sr = double(c.sampling_rate);
    if (r.get("frame_length_ms")) c.frame_length = index_t(std::llround(sr * r.number("frame_length_ms", 20.0) / 1000.0));
    if (r.get("hop_length_ms")) c.hop_length = index_t(std::llround(sr * r.number("hop_length_ms", 10.0) / 1000.0));
    c.frame_length = r.integer("frame_length", c.frame_length);
    c.hop_length = r.integer("hop_length", c.hop_length);
    c.fft_overdrive = r.boolean("fft_overdrive", c.fft_overdrive);
    index_t fft = 1;
    while (fft < c.frame_length) fft *= 2;
    if (c.fft_overdrive) fft *= 2;
    c.fft_length = r.integer("fft_length", fft);
    G4_CHECK(c.fft_length == fft, ConfigError,
             "{}: field 'fft_length' = {} disagrees with frame_length {} (transformers derives {})", source,
             c.fft_length, c.frame_length, fft);
    c.min_frequency = r.number("min_frequency", c.min_frequency);
    c.max_frequency = r.number("max_frequency", c.max_frequency);
    c.preemphasis = r.number("preemphasis", c.preemphasis);
    c.preemphasis_htk_flavor = r.boolean("preemphasis_htk_flavor", c.preemphasis_htk_flavor);
    c.dither = r.number("dither", c.dither);
    c.input_scale_factor = r.number("input_scale_factor", c.input_scale_factor);
    c.mel_floor = r.number("mel_floor", c.mel_floor);
    c.per_bin_mean = r.numbers("per_bin_mean");
    c.per_bin_stddev = r.numbers("per_bin_stddev");
    r.check_unknown("not a Gemma4AudioFeatureExtractor field");
    c.validate();
    return c;
  } catch (const json::exception& e) {
    throw ConfigError(fmt::format("{}: malformed feature extractor config ({})", source, e.what()));
  }
}

FeatureConfig load_feature_config(const std::string& path) { return feature_config_from_json(config::read_config_file(path), path); }

std::string describe(const AudioConfig& c) {
  std::string s;
  auto line = [&](const char* k, const std::string& v) { s += fmt::format("{:<32} {}\n", k, v); };
  line("name", c.name);
  line("hidden_size", std::to_string(c.hidden_size));
  line("num_hidden_layers", std::to_string(c.num_hidden_layers));
  line("num_attention_heads", fmt::format("{} (head dim {})", c.num_attention_heads, c.head_dim()));
  line("hidden_act", c.hidden_act);
  line("subsampling_conv_channels", fmt::format("[{}, {}]", c.subsampling_conv_channels[0], c.subsampling_conv_channels[1]));
  line("conv_kernel_size", std::to_string(c.conv_kernel_size));
  line("residual_weight", fmt::format("{}", c.residual_weight));
  line("attention_chunk_size", std::to_string(c.attention_chunk_size));
  line("attention_context_left", std::to_string(c.attention_context_left));
  line("attention_context_right", std::to_string(c.attention_context_right));
  line("attention_logit_cap", fmt::format("{}", c.attention_logit_cap));
  line("attention_invalid_logits_value", fmt::format("{}", c.attention_invalid_logits_value));
  line("use_clipped_linears", c.use_clipped_linears ? "true" : "false");
  line("rms_norm_eps", fmt::format("{}", c.rms_norm_eps));
  line("gradient_clipping", fmt::format("{}", c.gradient_clipping));
  line("output_proj_dims", std::to_string(c.output_proj_dims));
  line("initializer_range", fmt::format("{}", c.initializer_range));
  line("text_hidden_size (embedder)", c.text_hidden_size ? std::to_string(*c.text_hidden_size) : "none");
  line("context_size", fmt::format("{} (chunk + past {} + future)", c.context_size(), c.max_past_horizon()));
  return s;
}

std::string describe(const FeatureConfig& c) {
  return fmt::format(
      "feature_size {}  sampling_rate {}  frame_length {}  hop_length {}  fft_length {}  frequencies [{}, {}]\n"
      "preemphasis {} (htk {})  input_scale_factor {}  mel_floor {}  per_bin_mean {}  per_bin_stddev {}\n"
      "pad_to_multiple_of {}  max_length {}\n",
      c.feature_size, c.sampling_rate, c.frame_length, c.hop_length, c.fft_length, c.min_frequency, c.max_frequency,
      c.preemphasis, c.preemphasis_htk_flavor, c.input_scale_factor, c.mel_floor,
      c.per_bin_mean.empty() ? "none" : "set", c.per_bin_stddev.empty() ? "none" : "set", c.pad_to_multiple_of,
      c.max_length);
}

}  // namespace g4::audio
