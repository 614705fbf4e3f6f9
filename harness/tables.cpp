#include "harness/tables.hpp"

#include "reference/audio/config.hpp"
#include "reference/audio/weights.hpp"
#include "reference/vision/config.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace g4::harness {

TextParams count_text_params(const text::TextConfig& c) {
  TextParams p;
  const std::int64_t D = c.hidden_size, L = c.num_hidden_layers, P = c.ple_dim(), Nq = c.num_attention_heads;
  p.embedding = c.vocab_size * D;
  if (P > 0) {
    p.ple_table = c.vocab_size_per_layer_input * L * P;
    p.ple_other = L * P * D + P + L * (P * D + D * P + D);
  }
  for (const text::LayerSpec& s : c.layers) {
    const std::int64_t Dh = s.head_dim, Nkv = s.num_kv_heads;
    p.attention += 2 * Nq * Dh * D + Dh;                        // q_proj, o_proj, q_norm
    if (s.kv_role != text::KvRole::kReuse) {
      p.attention += Nkv * Dh * D + Dh;                         // k_proj, k_norm
      if (!s.k_eq_v) p.attention += Nkv * Dh * D;               // v_proj
    }
    p.mlp += 3 * D * s.mlp_width;
    p.norms += 4 * D + 1;                                       // four sandwich norms, layer_scalar
    if (c.enable_moe_block) {
      p.expert_each = 3 * c.moe_intermediate_size * D;
      p.experts += c.num_experts * p.expert_each;
      p.router += c.num_experts * D + D + c.num_experts;
      p.norms += 3 * D;
    }
  }
  p.norms += D;  // final norm
  return p;
}

namespace {
std::string billions(std::int64_t n) { return fmt::format("{:.3f}B", double(n) / 1e9); }
}  // namespace

std::string params_table() {
  struct Published {
    const char* variant;
    double total, effective_or_active;  // billions; 0 = not published
    const char* second;                 // what the second figure is
  };
  const Published pub[] = {{"e2b", 5.1, 2.3, "effective"},
                           {"e4b", 8.0, 4.5, "effective"},
                           {"31b", 30.7, 0, ""},
                           {"26b-a4b", 25.2, 3.8, "active"}};
  std::string out = "Text-decoder parameters from the released configs (transformers' instantiation: kv-shared\n"
                    "layers own no k/v weights; the tied LM head counted once). Published = model card.\n\n";
  out += fmt::format("{:<9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11}\n", "variant", "embedding",
                     "PLE table", "PLE other", "attention", "MLP", "experts", "norms+rtr", "text total");
  for (const auto& v : pub) {
    const TextParams p = count_text_params(text::released_text_config(v.variant));
    out += fmt::format("{:<9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11}\n", v.variant,
                       billions(p.embedding), billions(p.ple_table), billions(p.ple_other), billions(p.attention),
                       billions(p.mlp), billions(p.experts), billions(p.norms + p.router), billions(p.total()));
  }
  out += "\nComparison with the published figures:\n";
  out += fmt::format("{:<9} {:<34} {:>10} {:>10} {:>9}  {}\n", "variant", "figure", "computed", "published", "diff",
                     "explanation");
  for (const auto& v : pub) {
    const text::TextConfig cfg = text::released_text_config(v.variant);
    const TextParams p = count_text_params(cfg);
    auto row = [&](const std::string& what, std::int64_t n, double published, const std::string& why) {
      out += fmt::format("{:<9} {:<34} {:>10} {:>9.1f}B {:>+8.3f}B  {}\n", v.variant, what, billions(n), published,
                         double(n) / 1e9 - published, why);
    };
    const TowerParams t = tower_params(v.variant);
    const std::string tw = fmt::format("vision tower {:.3f}B + audio tower {:.3f}B (reference/vision, reference/audio "
                                       "param_count, embedders included)", double(t.vision) / 1e9, double(t.audio) / 1e9);
    if (std::string(v.second) == "effective") {
      row("total (text decoder only)", p.total(), v.total, "short by the towers: next row");
      row("total (text decoder + towers)", p.total() + t.total(), v.total, tw);
      row("effective = total - PLE table", p.total() - p.ple_table, v.effective_or_active,
          "the PLE table is a per-token lookup kept off the accelerator; E2B matches to rounding, E4B is 0.14B "
          "over: unexplained (no count of ours gives 4.5B)");
      row("effective - embedding", p.total() - p.ple_table - p.embedding, v.effective_or_active,
          "if the card also leaves out the token embedding");
    } else if (std::string(v.second) == "active") {
      row("total (text decoder only)", p.total(), v.total,
          "matches: the card's total counts the decoder only (with the vision tower: next row)");
      row("total (text decoder + towers)", p.total() + t.total(), v.total, tw);
      const std::int64_t active = p.total() - p.experts + p.experts / cfg.num_experts * cfg.top_k_experts;
      row("active per token (top-8 of 128 experts)", active, v.effective_or_active,
          "non-expert weights + 8 experts; embedding included, vision tower not");
    } else {
      row("total (text decoder only)", p.total(), v.total,
          "matches: the card's 30.7B counts the decoder only (with the vision tower: next row)");
      row("total (text decoder + towers)", p.total() + t.total(), v.total, tw);
    }
  }
  out += "\nTowers: the card's ~150M (small) / ~550M (large) vision figures are the encoder layers alone\n"
         "(151.0M / 545.1M); the towers above add the learned 2-D position table (15.7M / 23.6M), the patch\n"
         "projection and the projection into the text width. Audio: 304.8M tower + the embedder (~300M).\n";
  return out;
}

// ---------------------------------------------------------------------------------------------
// The model card's other tables (issue #5). Published figures: the Gemma 4 model card as quoted
// in /work/shared/notes/performance-anchors.md section 1 ([S1], [S5]) and issue #5 (memory).

namespace {

struct Card {
  const char* variant;
  std::int64_t layers, context, window;
  double total_b, second_b;       // billions; second = effective (E*) or active (A*), 0 = none
  double mem_bf16, mem_8, mem_4;  // "GB" as published
};
const Card kCard[] = {{"e2b", 35, 128 * 1024, 512, 5.1, 2.3, 9.6, 4.6, 3.2},
                      {"e4b", 42, 128 * 1024, 512, 8.0, 4.5, 15, 7.5, 5},
                      {"31b", 60, 256 * 1024, 1024, 30.7, 0, 58.3, 30.4, 17.4},
                      {"26b-a4b", 30, 256 * 1024, 1024, 25.2, 3.8, 48, 25, 15.6}};

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string ctx_text(std::int64_t n) {
  if (n % (1024 * 1024) == 0) return fmt::format("{}M", n / (1024 * 1024));
  if (n % 1024 == 0) return fmt::format("{}K", n / 1024);
  return std::to_string(n);
}

}  // namespace

TowerParams tower_params(const std::string& variant) {
  // Parameters as transformers counts them (num_parameters): the clip bounds of the on-device
  // tower's clippable linears are buffers, left out; the large tower's standardize bias/scale
  // (2 x 1152) are kept, as param_count does.
  const text::TextConfig c = text::released_text_config(variant);
  TowerParams t;
  t.known = true;
  const bool small = variant == "e2b" || variant == "e4b";
  const vision::VisionParamCount v = vision::param_count(vision::released_vision_config(small ? "on-device" : "large"),
                                                         c.hidden_size);
  t.vision = v.total() - v.clip_buffers;
  if (small) t.audio = audio::param_count(audio::released_audio_config(variant), c.hidden_size).total();
  return t;
}

std::int64_t matmul_params_per_token(const text::TextConfig& c) {
  const TextParams p = count_text_params(c);
  std::int64_t n = p.total() - p.ple_table - p.norms;  // lookups and element-wise weights out
  n -= p.embedding;                                     // the embedding lookup ...
  n += static_cast<std::int64_t>(c.vocab_size) * c.hidden_size;  // ... but the tied LM head is a GEMM
  if (c.enable_moe_block) n -= p.experts - p.expert_each * c.num_hidden_layers * c.top_k_experts;
  // ple_other holds the PLE norms (P + L*D values): not matmuls.
  if (c.ple_dim() > 0) n -= c.ple_dim() + static_cast<std::int64_t>(c.num_hidden_layers) * c.hidden_size;
  // attention holds q/k norms (Dh each): not matmuls.
  for (const auto& s : c.layers) n -= s.head_dim * (s.kv_role == text::KvRole::kReuse ? 1 : 2);
  // router: proj [E, D] is a matmul; its scale [D] and per_expert_scale [E] are not.
  if (c.enable_moe_block) n -= static_cast<std::int64_t>(c.num_hidden_layers) * (c.hidden_size + c.num_experts);
  return n;
}

KvBytes kv_cache_bytes(const text::TextConfig& c, std::int64_t context, double bytes_per_value) {
  KvBytes b;
  for (const auto& s : c.layers) {
    const double per_pos = 2.0 * s.num_kv_heads * s.head_dim * bytes_per_value;  // K and V
    const double kept = s.type == text::LayerType::kSliding ? std::min<std::int64_t>(context, c.sliding_window)
                                                            : context;
    b.naive += per_pos * context;
    b.no_sharing += per_pos * kept;
    if (s.kv_role != text::KvRole::kReuse) b.actual += per_pos * kept;
  }
  return b;
}

double attention_flops_per_token(const text::TextConfig& c, std::int64_t context) {
  double f = 0;
  for (const auto& s : c.layers) {
    const double l_eff = s.type == text::LayerType::kSliding ? std::min<std::int64_t>(context, c.sliding_window)
                                                             : context;
    f += 4.0 * c.num_attention_heads * s.head_dim * l_eff;
  }
  return f;
}

std::string specs_table() {
  std::string out =
      "Model specs from the released configs (reference/text/config.cpp) beside the model card.\n\n";
  out += fmt::format("{:<9} {:<22} {:>9} {:>9} {:>6}  {}\n", "variant", "figure", "computed", "published", "diff",
                     "note");
  for (const Card& k : kCard) {
    const text::TextConfig c = text::released_text_config(k.variant);
    std::int64_t full = 0;
    for (const auto& s : c.layers) full += s.type == text::LayerType::kFull;
    auto row = [&](const char* what, const std::string& mine, const std::string& pub, const std::string& diff,
                   const std::string& note) {
      out += fmt::format("{:<9} {:<22} {:>9} {:>9} {:>6}  {}\n", k.variant, what, mine, pub, diff, note);
    };
    const auto idiff = [](std::int64_t a, std::int64_t b) { return a == b ? std::string("0") : fmt::format("{:+}", a - b); };
    row("layers", std::to_string(c.num_hidden_layers), std::to_string(k.layers), idiff(c.num_hidden_layers, k.layers),
        fmt::format("{} sliding : {} full; {} kv-shared", c.num_hidden_layers - full, full, c.num_kv_shared_layers));
    row("context (tokens)", ctx_text(c.max_position_embeddings), ctx_text(k.context),
        idiff(c.max_position_embeddings, k.context), "max_position_embeddings; the card's K = 1024 tokens");
    row("sliding window", std::to_string(c.sliding_window), std::to_string(k.window), idiff(c.sliding_window, k.window),
        "");
    const TextParams p = count_text_params(c);
    const TowerParams t = tower_params(k.variant);
    const double total = double(p.total() + t.total()) / 1e9;
    row("parameters total", fmt::format("{:.2f}B", total), fmt::format("{:.1f}B", k.total_b),
        fmt::format("{:+.2f}", total - k.total_b),
        t.known ? (std::string_view(k.variant) == "31b" || std::string_view(k.variant) == "26b-a4b" ? "text decoder + vision tower; the card counts the decoder only (tables params)"
                                                                : "text decoder + vision + audio towers")
                : "text decoder only: towers not wired (tower_params)");
    if (k.second_b > 0 && c.enable_moe_block) {
      const double active = double(p.total() - p.experts + p.expert_each * c.num_hidden_layers * c.top_k_experts) / 1e9;
      row("parameters active", fmt::format("{:.2f}B", active), fmt::format("{:.1f}B", k.second_b),
          fmt::format("{:+.2f}", active - k.second_b), "all but the experts, plus top-8 experts per layer");
    } else if (k.second_b > 0) {
      const double eff = double(p.total() - p.ple_table) / 1e9;
      row("parameters effective", fmt::format("{:.2f}B", eff), fmt::format("{:.1f}B", k.second_b),
          fmt::format("{:+.2f}", eff - k.second_b), "total minus the PLE table (a lookup); see `tables params`");
    }
  }
  return out;
}

std::string memory_table() {
  std::string out =
      "Memory of the base weights. Computed = parameters x bits / 8, in GiB (2^30 B): the text decoder,\n"
      "then with the towers (tower_params). The card's \"GB\" are GiB: the BF16 column is reproduced by\n"
      "2 B x (text decoder + towers) with the towers the card's own totals imply (below).\n\n";
  out += fmt::format("{:<9} {:<6} {:>11} {:>11} {:>10} {:>8}\n", "variant", "format", "computed", "+towers",
                     "published", "diff");
  struct Implied {
    const char* variant;
    double towers_b, bits8, bits4;
  };
  std::vector<Implied> implied;
  for (const Card& k : kCard) {
    const TextParams p = count_text_params(text::released_text_config(k.variant));
    const TowerParams t = tower_params(k.variant);
    const double text_n = double(p.total());
    const std::pair<const char*, double> fmts[] = {{"bf16", 16}, {"8-bit", 8}, {"4-bit", 4}};
    const double pub[] = {k.mem_bf16, k.mem_8, k.mem_4};
    for (int f = 0; f < 3; ++f) {
      const double gib = text_n * fmts[f].second / 8 / kGiB;
      const double with = double(p.total() + t.total()) * fmts[f].second / 8 / kGiB;
      out += fmt::format("{:<9} {:<6} {:>7.2f} GiB {:>11} {:>6.1f} GB {:>+8.2f}\n", k.variant, fmts[f].first, gib,
                         t.known ? fmt::format("{:.2f} GiB", with) : std::string("(pending)"), pub[f],
                         (t.known ? with : gib) - pub[f]);
    }
    // The towers the BF16 figure implies (GiB, 2 B per parameter), and the bits per weight the
    // 8-bit and 4-bit figures then imply over the same parameter count.
    const double towers = k.mem_bf16 * kGiB / 2 - text_n;
    const double all = text_n + (t.known ? double(t.total()) : towers);
    implied.push_back({k.variant, towers / 1e9, k.mem_8 * kGiB * 8 / all, k.mem_4 * kGiB * 8 / all});
  }
  out += "\nWhat the published figures must have counted:\n";
  out += fmt::format("{:<9} {:>20} {:>22} {:>22}\n", "variant", "towers (from BF16)", "8-bit: bits/weight",
                     "4-bit: bits/weight");
  for (const auto& i : implied)
    out += fmt::format("{:<9} {:>19.2f}B {:>22.2f} {:>22.2f}\n", i.variant, i.towers_b, i.bits8, i.bits4);
  out +=
      "\n- Units: read as decimal GB the BF16 figures would leave negative room for the towers of the\n"
      "  31B and 26B-A4B (e.g. 31B: 58.3e9 B / 2 = 29.2B < 30.7B text parameters); as GiB they imply\n"
      "  0.53-0.60B of tower parameters for every variant, the size of the vision (+ audio) encoders.\n"
      "  llama.cpp's BF16 GGUF of the 26B-A4B text model is 48150 MiB = 47.0 GiB (notes [S2]), 47.0 GiB\n"
      "  computed here; the card's 48 adds the vision tower.\n"
      "- 8-bit: 8.0-8.3 bits per weight: int8 with scales (per group or per channel, e.g. Q8_0's 8.5) and\n"
      "  a few tensors kept in 16 bits, not a bare byte per weight (E2B's 7.7 is within the rounding of\n"
      "  a 4.6 figure: 4.65 GiB would give 7.75).\n"
      "- 4-bit: 4.8-5.3 bits per weight: group scales (4.25-4.5 bits) plus mixed precision (embeddings\n"
      "  and some projections at 6-8 bits, as in Q4_K_M-style files); the E2B/E4B figures (5.3) are the\n"
      "  highest because their embedding and PLE table (53% / 44% of the text parameters) are the\n"
      "  tensors such schemes keep wider. No single per-weight rule reproduces all four 4-bit figures.\n";
  return out;
}

std::string kv_table() {
  std::string out =
      "KV-cache bytes of one sequence, BF16 (2 B per value), K and V. actual = sliding layers keep\n"
      "min(context, window) positions and kv-shared layers none of their own; no sharing = window only;\n"
      "naive = every layer its own K/V over the whole context; +1 token = what one more token adds\n"
      "(full layers only, once the windows are full). The card publishes no KV figure.\n\n";
  out += fmt::format("{:<9} {:>8} {:>12} {:>12} {:>12} {:>12}  {}\n", "variant", "context", "actual",
                     "no sharing", "naive", "+1 token", "note");
  for (const Card& k : kCard) {
    const text::TextConfig c = text::released_text_config(k.variant);
    for (const std::int64_t ctx : {std::int64_t{128 * 1024}, std::int64_t{256 * 1024}}) {
      const KvBytes b = kv_cache_bytes(c, ctx, 2);
      const KvBytes one = kv_cache_bytes(c, ctx + 1, 2);  // marginal bytes of one more token
      out += fmt::format("{:<9} {:>8} {:>8.2f} GiB {:>8.2f} GiB {:>8.2f} GiB {:>9.1f} KiB  {}\n", k.variant,
                         ctx_text(ctx), b.actual / kGiB, b.no_sharing / kGiB, b.naive / kGiB,
                         (one.actual - b.actual) / 1024,
                         ctx > c.max_position_embeddings ? "beyond the model's context" : "");
    }
  }
  return out;
}

std::string flops_table() {
  std::string out =
      "FLOP per decoded token (2 per weight of a matrix product, batch 1): the weights a token runs\n"
      "through (matmul_params_per_token: top-k experts only, the tied LM head included, lookups not),\n"
      "plus attention over the context (4 Nq Dh L_eff per layer). The card publishes no FLOP figure;\n"
      "notes/performance-anchors.md 1.2 derives 4.56 / 9.29 / 61.4 / 7.64 GFLOP (matmuls, norms ignored).\n\n";
  out += fmt::format("{:<9} {:>14} {:>12} {:>14} {:>14} {:>14}\n", "variant", "matmul weights", "matmul",
                     "attn @4K", "attn @128K", "total @128K");
  for (const Card& k : kCard) {
    const text::TextConfig c = text::released_text_config(k.variant);
    const double w = double(matmul_params_per_token(c));
    const double a4 = attention_flops_per_token(c, 4096), a128 = attention_flops_per_token(c, 128 * 1024);
    out += fmt::format("{:<9} {:>13.3f}B {:>7.2f} GFLOP {:>8.3f} GFLOP {:>8.3f} GFLOP {:>8.2f} GFLOP\n", k.variant,
                       w / 1e9, 2 * w / 1e9, a4 / 1e9, a128 / 1e9, (2 * w + a128) / 1e9);
  }
  return out;
}

std::string model_card_tables(const std::string& which) {
  if (which == "specs") return specs_table();
  if (which == "params") return params_table();
  if (which == "memory") return memory_table();
  if (which == "kv") return kv_table();
  if (which == "flops") return flops_table();
  if (which == "all")
    return specs_table() + "\n" + params_table() + "\n" + memory_table() + "\n" + kv_table() + "\n" + flops_table();
  return "";
}

}  // namespace g4::harness
