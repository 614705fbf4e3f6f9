#pragma once
// The Gemma 4 text decoder forward (Gemma4ForCausalLM), written once against the Executor
// interface. Reading order: forward() -> decoder_layer() -> attention() / feed_forward() / ple().
// Spec: ../shared/spec/gemma4-architecture.md section 3; upstream: transformers
// models/gemma4/modeling_gemma4.py Gemma4TextModel, Gemma4TextDecoderLayer, Gemma4TextAttention.
//
// Every executor call (a node) carries a name unique within one forward: executors may key
// results and timings by it (harness/cached_reference.hpp, harness/timing.hpp).
// Every intermediate is handed to the TapSink under its transformers module path (for
// example "model.layers.3.self_attn.q_norm") with its transformers shape; golden/README.md lists
// the few extra suffixes (q_rope, k_rope, attn_probs, attn_out, shared_k/v, per_layer_inputs,
// router.probs/weights/indices, logits).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "reference/common/tensor.hpp"
#include "reference/text/config.hpp"
#include "reference/text/executor.hpp"
#include "reference/text/weights.hpp"

namespace g4::text {

struct TextInputs {
  IdMat input_ids;          // [B, S]
  IdMat attention_mask;     // [B, past + S], 1 = real token, 0 = padding (cached tokens included)
  IdMat mm_token_type_ids;  // [B, past + S] (0 text, 1 image, 2 video, 3 audio), or empty
  // Merged input embeddings [B·S, D] (Gemma4Model's inputs_embeds after the multimodal merge), or
  // empty: E[input_ids]·sqrt(D). When given, input_ids still drive the PLE token lookup, so the
  // caller passes the ids with multimodal placeholders replaced by pad_token_id (reference/multimodal).
  Mat inputs_embeds;
};

using TapSink = std::function<void(const std::string& name, const Mat& value, const std::vector<index_t>& shape)>;

struct ForwardOptions {
  std::string prefix = "model.";  // text-model module prefix of the taps
  bool lm_head = true;            // compute logits (off for layer benchmarks)
  index_t lm_head_rows = 8192;    // tied head computed in vocabulary chunks of this many rows
};

// Per-forward state shared by the layers: positions, masks, the KV cache of earlier tokens, and
// the stored K/V of source layers.
struct ForwardState {
  index_t B = 0, S = 0;
  index_t past = 0;                                            // cached tokens before these S
  std::vector<index_t> positions;                              // [T]: past .. past + S − 1 per row
  std::map<LayerType, std::vector<std::uint8_t>> masks;        // [B, S, past + S] per layer type
  std::map<index_t, std::pair<Mat, Mat>> cache;                // layer -> (K, V) [B·past, Nkv·Dh] (RoPE'd, normed)
  bool record_cache = false;                                   // store each own-KV layer's full K/V into `cache`
  std::map<index_t, std::pair<Mat, Mat>> shared_kv;            // source layer -> (K [T, Nkv·Dh], V)
  std::vector<Mat> ple;                                        // [L] of [T, P] (empty without PLE)
};

class TextModel {
 public:
  TextModel(const TextConfig& config, WeightSource& weights, Executor& ex, TapSink sink,
            ForwardOptions options = {});

  // Whole forward; returns the logits, row-major [T, V] (empty if options.lm_head is false).
  Mat forward(const TextInputs& in);

  // Pieces, public for the layer benchmarks and the runner.
  ForwardState prepare(const TextInputs& in, index_t past = 0);
  Mat embed(const TextInputs& in);                                   // [T, D]
  void per_layer_inputs(const TextInputs& in, const Mat& h0, ForwardState& st);
  Mat decoder_layer(index_t i, const LayerWeights& w, const Mat& h, ForwardState& st);
  Mat head(const Mat& h, const ForwardState& st);                    // final norm, tied head, softcap

 private:
  Mat attention(index_t i, const LayerWeights& w, const Mat& a, ForwardState& st);
  Mat feed_forward(index_t i, const LayerWeights& w, const Mat& h, const ForwardState& st);
  Mat ple_injection(index_t i, const LayerWeights& w, const Mat& h, const ForwardState& st);
  const Mat& tap(const std::string& name, const Mat& m, std::vector<index_t> shape);
  std::string layer_name(index_t i) const;

  const TextConfig& c_;
  WeightSource& w_;
  Executor& ex_;
  TapSink sink_;
  ForwardOptions opt_;
};

}  // namespace g4::text
