#include "harness/verify_assistant.hpp"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "golden/checkpoint_weights.hpp"
#include "golden/h5.hpp"
#include "reference/assistant/model.hpp"
#include "reference/common/check.hpp"
#include "reference/ops/matmul.hpp"
#include "reference/text/executor.hpp"

namespace g4::harness {
namespace {

// [B, N, S, D] (transformers' K/V) -> token-major [B·S, N·D].
Mat tokens_first(const std::vector<double>& v, const std::vector<std::int64_t>& s) {
  const index_t B = s[0], N = s[1], S = s[2], D = s[3];
  Mat out = Mat::from_shape({static_cast<size_t>(B * S), static_cast<size_t>(N * D)});
  for (index_t b = 0; b < B; ++b)
    for (index_t n = 0; n < N; ++n)
      for (index_t t = 0; t < S; ++t)
        for (index_t d = 0; d < D; ++d) out(b * S + t, n * D + d) = v[((b * N + n) * S + t) * D + d];
  return out;
}

}  // namespace

VerifyResult verify_assistant(const VerifyOptions& opt) {
  namespace fs = std::filesystem;
  const std::string dir = opt.bundle;
  for (const char* f : {"config.json", "model.safetensors", "golden.h5"})
    G4_CHECK(fs::exists(fs::path(dir) / f), IoError, "{}/{}: missing (an assistant bundle needs config.json, "
             "model.safetensors and golden.h5)", dir, f);
  const assistant::AssistantConfig cfg = assistant::load_assistant_config(dir + "/config.json");
  const std::string h5_path = dir + "/golden.h5";
  const golden::H5Reader h5(h5_path);
  golden::CheckpointWeights weights(cfg.text, dir + "/model.safetensors");
  const golden::Checkpoint& ck = weights.checkpoint();
  text::ReferenceExecutor ex;
  ops::set_matmul_body(opt.naive_matmul ? ops::MatmulBody::kNaive : ops::MatmulBody::kBlas);

  const index_t H = cfg.text.hidden_size, Hb = cfg.backbone_hidden_size, V = cfg.text.vocab_size;
  assistant::AssistantWeights own;
  own.pre_projection = ck.read_mat("pre_projection.weight", H, 2 * Hb);
  own.post_projection = ck.read_mat("post_projection.weight", Hb, H);
  if (cfg.use_ordered_embeddings) {
    own.centroids = ck.read_mat("masked_embedding.centroids.weight", cfg.num_centroids, H);
    for (double v : ck.read_shaped("masked_embedding.token_ordering", {V})) {
      G4_CHECK(v >= 0 && v < V && v == std::floor(v), DataError,
               "{}: 'masked_embedding.token_ordering' holds {} (expected a token id in [0, {}))", ck.path(), v, V);
      own.token_ordering.push_back(static_cast<std::int64_t>(v));
    }
    std::vector<std::int64_t> sorted = own.token_ordering;
    std::sort(sorted.begin(), sorted.end());
    for (index_t i = 0; i < V; ++i)
      G4_CHECK(sorted[i] == i, DataError, "{}: 'masked_embedding.token_ordering' is not a permutation of 0..{}",
               ck.path(), V - 1);
  }

  // ---- what the assistant reads from the target (recorded by the exporter) ----
  auto ids2d = [&](const std::string& path) {
    G4_CHECK(h5.is_dataset(path), IoError, "{}: dataset '{}' is missing", h5_path, path);
    const auto s = h5.shape(path);
    G4_CHECK(s.size() == 2, IoError, "{}: dataset '{}' must be 2-D", h5_path, path);
    const auto v = h5.read_i64(path);
    IdMat m = IdMat::from_shape({static_cast<size_t>(s[0]), static_cast<size_t>(s[1])});
    std::copy(v.begin(), v.end(), m.begin());
    return m;
  };
  const IdMat input_ids = ids2d("/inputs/input_ids");
  assistant::TargetContext target;
  target.attention_mask = ids2d("/inputs/attention_mask");
  const IdMat position_ids = ids2d("/inputs/position_ids");
  const index_t B = input_ids.shape(0), S = input_ids.shape(1);
  G4_CHECK(target.attention_mask.shape() == input_ids.shape(), IoError,
           "{}: '/inputs/attention_mask' shape differs from '/inputs/input_ids'", h5_path);
  G4_CHECK(position_ids.size() == 1, IoError, "{}: '/inputs/position_ids' must hold one position ([[S - 1]], as "
           "the candidate generator passes it)", h5_path);
  for (text::LayerType t : {text::LayerType::kSliding, text::LayerType::kFull}) {
    const std::string k = "/inputs/shared_k_" + text::to_string(t), v = "/inputs/shared_v_" + text::to_string(t);
    if (!h5.is_dataset(k)) continue;
    const auto sk = h5.shape(k);
    G4_CHECK(sk.size() == 4 && sk[0] == B && h5.shape(v) == sk, IoError,
             "{}: '{}' and '{}' must both be [B = {}, Nkv, Skv, Dh]", h5_path, k, v, B);
    target.kv[t] = {tokens_first(h5.read_f64(k), sk), tokens_first(h5.read_f64(v), sk)};
  }
  const std::vector<double> state0 = h5.read_f64("/inputs/target_last_hidden_state", {B, 1, Hb});
  const std::vector<double> table = h5.read_f64("/inputs/target_embed_tokens", {V, Hb});
  const std::int64_t steps = h5.attr_i64("/", "num_draft_tokens");
  G4_CHECK(steps > 0, IoError, "{}: attribute num_draft_tokens must be > 0", h5_path);

  // Every query is a real token: every element is compared.
  TapComparer taps(opt, h5_tap_source(h5, h5_path));

  // The target's input embedding (Gemma4TextScaledWordEmbedding): E_t[ids]·sqrt(Hb).
  auto target_embed = [&](const std::vector<std::int64_t>& ids) {
    Mat m = Mat::from_shape({ids.size(), static_cast<size_t>(Hb)});
    for (size_t r = 0; r < ids.size(); ++r) {
      G4_CHECK(ids[r] >= 0 && ids[r] < V, DataError, "assistant: drafted token {} outside the vocabulary", ids[r]);
      for (index_t d = 0; d < Hb; ++d) m(r, d) = table[ids[r] * Hb + d];
    }
    return ex.scale("target.embed_tokens", m, std::sqrt(double(Hb)));
  };
  Mat state = Mat::from_shape({static_cast<size_t>(B), static_cast<size_t>(Hb)});
  std::copy(state0.begin(), state0.end(), state.begin());
  std::vector<std::int64_t> last(B);
  for (index_t b = 0; b < B; ++b) last[b] = input_ids(b, S - 1);

  assistant::AssistantModel model(cfg, weights, own, ex, taps.sink());
  model.draft(steps, last, state, position_ids(0, 0), target_embed, target);

  return taps.finish();
}

}  // namespace g4::harness
