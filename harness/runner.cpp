#include "harness/runner.hpp"

#include <optional>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "golden/bundle.hpp"
#include "golden/checkpoint_weights.hpp"
#include "harness/cached_reference.hpp"
#include "harness/shadow.hpp"
#include "harness/timing.hpp"
#include "harness/audio_bundle.hpp"
#include "harness/vision_bundle.hpp"
#include "reference/common/check.hpp"
#include "reference/text/random_weights.hpp"
#include "reference/audio/model.hpp"
#include "reference/vision/model.hpp"

namespace g4::harness {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Tap {
  Mat value;
  std::vector<index_t> shape;
};
using TapMap = std::map<std::string, Tap>;

// Collects every tap of a forward, in graph order.
struct Recorder {
  TapMap taps;
  std::vector<std::string> order;
  text::TapSink sink() {
    return [this](const std::string& n, const Mat& v, const std::vector<index_t>& shape) {
      if (!taps.count(n)) order.push_back(n);
      taps[n] = Tap{v, shape};
    };
  }
};

// Element validity of a tap from its shape: [B, S, ...], [B·S, ...] or [B, N, S, ...] (K/V and
// attention probabilities); padding tokens are not compared.
std::vector<std::uint8_t> tap_validity(const std::string& name, const std::vector<index_t>& shape,
                                       const std::vector<std::int64_t>& attn, index_t B, index_t S) {
  if (attn.empty()) {  // no token layout (the vision tower): every element is compared
    std::size_t n = 1;
    for (const index_t d : shape) n *= static_cast<std::size_t>(d);
    return std::vector<std::uint8_t>(n, 1);
  }
  const std::vector<std::int64_t> sh(shape.begin(), shape.end());
  const bool heads_first = name.ends_with(".attn_probs") || name.ends_with(".shared_k") || name.ends_with(".shared_v");
  const bool tokens_first = sh.size() >= 2 && sh[0] == B && sh[1] == S;
  return token_validity(sh, heads_first ? "BNS" : tokens_first ? "BS" : "T", attn, B, S);
}

std::string mode_name(bool teacher) { return teacher ? "teacher-forced" : "free-running"; }

bool same_values(const Mat& a, const Mat& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Free-running comparison: every tap the executor produced against the reference's, in graph
// order. Routing decisions are discontinuous: after the executor's first expert choice that
// differs from the reference's, accumulated errors are no longer bounded by multiples of the
// format's roundoff (the policy ceiling is not applied: op "after-routing-flip"); after its
// first choice that differs from the naive twin's, the ratio rule has no common ground (the naive
// number is not used). The index taps themselves are reported through MoeResult, not gated.
void compare_taps(RunResult& run, const Recorder& ref, const Recorder& x, const Recorder* naive,
                  const std::map<std::string, NodeTiming>& times, const std::vector<std::int64_t>& attn, index_t B,
                  index_t S, double storage_max) {
  const MetricsTimer timer;
  bool flipped_vs_ref = false, diverged_vs_naive = false;
  for (const std::string& name : x.order) {
    auto r = ref.taps.find(name);
    if (r == ref.taps.end()) continue;
    const Tap& xt = x.taps.at(name);
    G4_CHECK(xt.value.size() == r->second.value.size(), ShapeError, "tap {}: executor and reference sizes differ",
             name);
    const bool indices = name.ends_with(".router.indices");
    NodeResult n;
    n.tap = name;
    n.op = indices ? "indices" : flipped_vs_ref ? "after-routing-flip" : "tap";
    n.shape.assign(r->second.shape.begin(), r->second.shape.end());
    const auto valid = tap_validity(name, r->second.shape, attn, B, S);
    n.m = compare(r->second.value.data(), xt.value.data(), xt.value.size(), valid.data());
    const Tap* nv = naive && naive->taps.count(name) ? &naive->taps.at(name) : nullptr;
    if (nv && !diverged_vs_naive)
      n.naive_rel_l2 = compare(r->second.value.data(), nv->value.data(), xt.value.size(), valid.data()).rel_l2;
    if (indices) {
      flipped_vs_ref = flipped_vs_ref || !same_values(r->second.value, xt.value);
      diverged_vs_naive = diverged_vs_naive || (nv && !same_values(nv->value, xt.value));
    }
    double amax = 0;
    for (size_t i = 0; i < valid.size(); ++i)
      if (valid[i]) amax = std::max(amax, std::abs(r->second.value.data()[i]));
    n.headroom = amax / storage_max;
    if (auto t = times.find(name); t != times.end()) {
      n.time_median_s = t->second.median_s;
      n.repeats = t->second.repeats;
      n.flops = t->second.flops;
      n.bytes = t->second.bytes;
      n.kind = t->second.kind;
    }
    run.nodes.push_back(std::move(n));
  }
  // Timed nodes with no tap of their own (residual adds, the gated product, ...): their time
  // counts in the run's throughput; they have no error numbers (op "untapped").
  for (const auto& [name, t] : times) {
    if (x.taps.count(name)) continue;
    NodeResult n;
    n.tap = name;
    n.op = "untapped";
    n.m.rel_l2 = n.m.max_abs = n.m.max_rel = n.m.cosine = n.m.nmse = kNaN;
    n.time_median_s = t.median_s, n.repeats = t.repeats, n.flops = t.flops, n.bytes = t.bytes;
    n.kind = t.kind;
    run.nodes.push_back(std::move(n));
  }
}

// Expert-set agreement from the router.indices taps of two forwards.
MoeResult moe_agreement(const Recorder& ref, const Recorder& x, const std::vector<std::uint8_t>& row_valid) {
  const MetricsTimer timer;
  MoeResult m;
  double sum = 0;
  for (const auto& [name, tap] : x.taps) {
    if (!name.ends_with(".router.indices") || !ref.taps.count(name)) continue;
    const Mat& a = ref.taps.at(name).value;
    const Mat& b = tap.value;
    const index_t T = rows(a), K = cols(a);
    for (index_t t = 0; t < T; ++t) {
      if (t < static_cast<index_t>(row_valid.size()) && !row_valid[t]) continue;
      index_t same = 0;
      for (index_t i = 0; i < K; ++i)
        for (index_t j = 0; j < K; ++j) same += a(t, i) == b(t, j);
      sum += double(same) / double(K);
      m.routing_flips += same != K;
      ++m.decisions;
    }
  }
  if (m.decisions) m.expert_set_agreement = sum / double(m.decisions);
  return m;
}

void finish(RunResult& run, const Tolerances& tol, Clock::time_point t0) {
  run.pass = true;
  for (NodeResult& n : run.nodes) {
    gate(n, run.policy, run.mode, tol);
    run.pass = run.pass && n.pass;
  }
  run.seconds = since(t0);
}

std::vector<std::uint8_t> token_rows(const IdMat& attention_mask) {
  return std::vector<std::uint8_t>(attention_mask.begin(), attention_mask.end());
}

// What run_policies needs to know about one source (a golden bundle, or one real-size layer).
struct Source {
  std::string id_prefix, source, variant;
  std::vector<std::uint8_t> row_valid;  // [T] token rows that are compared
  std::vector<std::int64_t> attn;       // the same as 0/1, for tap layouts
  index_t B = 0, S = 0;
  bool moe = false;
  bool logits = false;                  // the graph ends in logits (KL, top-k)
  bool free_baseline = false;           // run the baseline free-running too (ratio rule)
};

// Every policy × mode on one source. `drive` runs the graph on an executor, handing taps to the
// sink (null in teacher-forced mode); `reference` is the cached float64 reference, `ref` its taps.
std::vector<RunResult> run_policies(const Source& src, const std::vector<std::string>& policies, Modes modes,
                                    const RunnerContext& ctx, text::Executor& reference, const Recorder& ref,
                                    const std::function<void(text::Executor&, text::TapSink)>& drive) {
  std::vector<RunResult> out;
  for (const std::string& policy : policies) {
    const double smax = ctx.storage_max(policy);
    if (modes.teacher) {
      const auto t0 = Clock::now();
      auto test = ctx.make_executor(policy, false);
      auto naive = ctx.naive_baseline ? ctx.make_executor(policy, true) : nullptr;
      ShadowExecutor shadow(reference, *test, naive.get(), src.row_valid, smax);
      drive(shadow, nullptr);
      RunResult run{fmt::format("{}.{}.teacher", src.id_prefix, policy), src.source, src.variant, policy, mode_name(true),
                    shadow.nodes(), std::nullopt, std::nullopt, true, 0};
      if (src.moe) run.moe = shadow.moe();
      finish(run, ctx.tolerances, t0);
      out.push_back(std::move(run));
    }
    if (modes.free) {
      const auto t0 = Clock::now();
      auto test = ctx.make_executor(policy, false);
      TimingExecutor timed(*test, ctx.repeats, ctx.weight_bytes(policy), ctx.act_bytes(policy));
      Recorder x;
      drive(timed, x.sink());
      Recorder nv;
      const bool baseline = src.free_baseline && ctx.naive_baseline;
      if (baseline) drive(*ctx.make_executor(policy, true), nv.sink());
      RunResult run{fmt::format("{}.{}.free", src.id_prefix, policy), src.source, src.variant, policy, mode_name(false), {},
                    std::nullopt, std::nullopt, true, 0};
      compare_taps(run, ref, x, baseline ? &nv : nullptr, timed.timings(), src.attn, src.B, src.S, smax);
      if (src.logits) run.logits = logit_metrics(ref.taps.at("logits").value, x.taps.at("logits").value, src.row_valid);
      if (src.moe) run.moe = moe_agreement(ref, x, src.row_valid);
      finish(run, ctx.tolerances, t0);
      out.push_back(std::move(run));
    }
  }
  return out;
}

// "golden/data/e2b_tiny/" -> "e2b_tiny"
std::string bundle_name(std::string dir) {
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  return dir.substr(dir.find_last_of('/') + 1);
}

}  // namespace

Tolerances Tolerances::load(const std::string& path) {
  std::ifstream in(path);
  G4_CHECK(in.good(), IoError, "{}: cannot open the tolerance file", path);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
  Tolerances t;
  t.path = path;
  try {
    t.version = j.at("version").get<int>();
    G4_CHECK(t.version == 1, ConfigError, "{}: field 'version' = {} (this build reads version 1)", path, t.version);
    t.ratio_k = j.at("ratio_k").get<double>();
    t.ratio_k_tanh = j.at("ratio_k_tanh").get<double>();
    t.ratio_k_free = j.at("ratio_k_free").get<double>();
    t.floor = j.at("floor_u32").get<double>() * 0x1.0p-24;
    const double free_ceiling = j.at("free_running_ceiling").get<double>();
    for (auto it = j.at("ceilings").begin(); it != j.at("ceilings").end(); ++it) {
      if (it.key().starts_with("_")) continue;
      t.ceilings[it.key()]["teacher-forced"] = it->at("teacher-forced").get<double>();
      t.ceilings[it.key()]["free-running"] = free_ceiling;
    }
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(fmt::format("{}: malformed tolerance file ({})", path, e.what()));
  }
  return t;
}

double Tolerances::ceiling(const std::string& policy, const std::string& mode) const {
  auto p = ceilings.find(policy);
  G4_CHECK(p != ceilings.end() && p->second.count(mode), ConfigError, "{}: no ceiling for policy '{}' mode '{}'", path,
           policy, mode);
  return p->second.at(mode);
}

void gate(NodeResult& n, const std::string& policy, const std::string& mode, const Tolerances& t) {
  if (n.op == "indices" || n.op == "untapped") {  // expert ids (reported as MoE agreement); nodes without a tap
    n.bound = kNaN;
    n.pass = true;
    return;
  }
  const bool tanh_path = n.op == "gelu" || n.op == "softcap" || n.tap == "logits";
  const double ceiling = n.op == "after-routing-flip" ? INFINITY : t.ceiling(policy, mode);
  const double k = mode == "free-running" ? t.ratio_k_free : tanh_path ? t.ratio_k_tanh : t.ratio_k;
  n.bound = std::isnan(n.naive_rel_l2) ? ceiling : std::min(ceiling, k * n.naive_rel_l2 + t.floor);
  n.pass = n.m.nonfinite == 0 && n.m.rel_l2 <= n.bound;
}

LogitResult logit_metrics(const Mat& ref, const Mat& x, const std::vector<std::uint8_t>& row_valid) {
  const MetricsTimer timer;
  LogitResult L;
  const index_t T = rows(ref), V = cols(ref);
  std::vector<double> kls;
  double top1 = 0, top5 = 0;
  std::vector<index_t> ir(V), ix(V);
  for (index_t t = 0; t < T; ++t) {
    if (!row_valid[t]) continue;
    // log-softmax of both rows
    auto lse = [&](const Mat& m) {
      double mx = -INFINITY, s = 0;
      for (index_t v = 0; v < V; ++v) mx = std::max(mx, m(t, v));
      for (index_t v = 0; v < V; ++v) s += std::exp(m(t, v) - mx);
      return mx + std::log(s);
    };
    const double lr = lse(ref), lx = lse(x);
    double kl = 0;
    for (index_t v = 0; v < V; ++v) {
      const double pr = std::exp(ref(t, v) - lr);
      kl += pr * ((ref(t, v) - lr) - (x(t, v) - lx));
    }
    kls.push_back(std::max(kl, 0.0));
    for (index_t v = 0; v < V; ++v) ir[v] = ix[v] = v;
    const index_t k = std::min<index_t>(5, V);
    std::partial_sort(ir.begin(), ir.begin() + k, ir.end(), [&](index_t a, index_t b) { return ref(t, a) > ref(t, b); });
    std::partial_sort(ix.begin(), ix.begin() + k, ix.end(), [&](index_t a, index_t b) { return x(t, a) > x(t, b); });
    top1 += ir[0] == ix[0];
    index_t common = 0;
    for (index_t i = 0; i < k; ++i)
      for (index_t j = 0; j < k; ++j) common += ir[i] == ix[j];
    top5 += double(common) / double(k);
  }
  L.tokens = static_cast<std::int64_t>(kls.size());
  if (kls.empty()) return L;
  double sum = 0;
  for (double v : kls) sum += v;
  L.kl_mean = sum / double(kls.size());
  std::sort(kls.begin(), kls.end());
  L.kl_p99 = kls[std::min(kls.size() - 1, static_cast<size_t>(std::ceil(0.99 * double(kls.size()))) - 1)];
  L.kl_max = kls.back();
  L.top1 = top1 / double(kls.size());
  L.top5 = top5 / double(kls.size());
  return L;
}

std::vector<RunResult> run_golden(const std::string& bundle_dir, const std::vector<std::string>& policies,
                                  Modes modes, const RunnerContext& ctx) {
  std::optional<OverheadTimer> io(Overhead::kIo);
  golden::GoldenBundle bundle(bundle_dir);
  const text::TextConfig& cfg = bundle.config();
  golden::CheckpointWeights weights(cfg, bundle.weights_path());
  io.reset();
  const text::TextInputs& in = bundle.inputs();
  const index_t B = in.input_ids.shape(0), S = in.input_ids.shape(1);
  const std::vector<std::int64_t> attn(in.attention_mask.begin(), in.attention_mask.end());
  const std::vector<std::uint8_t> row_valid = token_rows(in.attention_mask);
  text::ForwardOptions fo;
  fo.prefix = weights.prefix();
  const std::string name = bundle_name(bundle_dir);

  // The float64 reference, once per bundle (teacher forcing replays its stored outputs).
  CachedReference reference;
  Recorder ref;
  text::TextModel(cfg, weights, reference, ref.sink(), fo).forward(in);

  const Source src{"golden." + name, "golden:" + bundle_dir, name, row_valid, attn, B, S, cfg.enable_moe_block,
                   true, true};
  return run_policies(src, policies, modes, ctx, reference, ref, [&](text::Executor& ex, text::TapSink sink) {
    text::TextModel(cfg, weights, ex, std::move(sink), fo).forward(in);
  });
}

namespace {

// A tower bundle through every policy: `forward(executor, sink)` runs the tower once; the
// float64 reference runs first (cached for teacher forcing). Every element of every tap is
// compared (no token layout: padding patches and frames are computed exactly, deterministically).
std::vector<RunResult> run_tower(const std::string& bundle_dir, index_t B, index_t rows_per_item,
                                 const std::vector<std::string>& policies, Modes modes, const RunnerContext& ctx,
                                 const std::function<void(text::Executor&, text::TapSink)>& forward) {
  CachedReference reference;
  Recorder ref;
  forward(reference, ref.sink());
  const std::string name = bundle_name(bundle_dir);
  const Source src{"golden." + name, "golden:" + bundle_dir, name, std::vector<std::uint8_t>(B * rows_per_item, 1), {},
                   B, rows_per_item, false, false, true};
  return run_policies(src, policies, modes, ctx, reference, ref, forward);
}

}  // namespace

// The vision tower (and embed_vision) of a vision bundle: the same policies, modes and gates as
// the text graph; the float64 reference is the runner's, the goldens are `verify`'s business.
std::vector<RunResult> run_vision_golden(const std::string& bundle_dir, const std::vector<std::string>& policies,
                                         Modes modes, const RunnerContext& ctx) {
  std::optional<OverheadTimer> io(Overhead::kIo);
  VisionBundle b(bundle_dir);
  io.reset();
  return run_tower(bundle_dir, b.inputs.B, b.inputs.Np, policies, modes, ctx, [&](text::Executor& ex, text::TapSink s) {
    vision::VisionModel(b.config, b.weights, ex, std::move(s), b.options).forward(b.inputs);
  });
}

// The audio tower (and embed_audio) of an audio bundle on its float64 features: the matmuls,
// RMSNorms and residual adds under each policy (reference/audio/model.hpp names the ops that stay
// float64).
std::vector<RunResult> run_audio_golden(const std::string& bundle_dir, const std::vector<std::string>& policies,
                                        Modes modes, const RunnerContext& ctx) {
  std::optional<OverheadTimer> io(Overhead::kIo);
  AudioBundle b(bundle_dir);
  io.reset();
  return run_tower(bundle_dir, b.features.B, b.features.T, policies, modes, ctx,
                   [&](text::Executor& ex, text::TapSink s) {
                     audio::AudioModel(b.config, b.weights, ex, std::move(s)).forward(b.features);
                   });
}

std::vector<RunResult> run_real_layer(const RealLayer& which, const std::vector<RealStep>& steps, std::uint64_t seed,
                                      const std::vector<std::string>& policies, Modes modes,
                                      const RunnerContext& ctx, text::WeightSource* shared_weights) {
  const text::TextConfig cfg = text::released_text_config(which.variant);
  G4_CHECK(which.layer >= 0 && which.layer < cfg.num_hidden_layers, ConfigError,
           "{}: layer {} does not exist (0..{})", which.variant, which.layer, cfg.num_hidden_layers - 1);
  text::RandomWeights own(cfg, seed);
  text::WeightSource& weights = shared_weights ? *shared_weights : static_cast<text::WeightSource&>(own);
  const text::LayerSpec& spec = cfg.layers[which.layer];
  const index_t own_kv = spec.kv_role == text::KvRole::kReuse ? spec.kv_source : which.layer;
  // Made once for every step and policy (a 31B layer is 4 GB of float64).
  const text::LayerWeights lw = weights.layer(which.layer);
  const text::LayerWeights kv_src_w = spec.kv_role == text::KvRole::kReuse ? weights.layer(spec.kv_source) : text::LayerWeights{};

  // Per step: the inputs, the state before the layer (KV cache, shared K/V) and the reference's
  // outputs (teacher forcing replays them for every policy).
  struct Prepared {
    text::TextInputs in;
    text::ForwardState st;
    Mat h0;
    CachedReference reference;
    Recorder ref;
    Source src;
  };
  std::vector<std::unique_ptr<Prepared>> prepared;
  for (const RealStep& step : steps) {
    auto p = std::make_unique<Prepared>();
    const index_t tokens = step.tokens, past = step.past;
    text::TextInputs& in = p->in;
    in.input_ids = IdMat::from_shape({1, static_cast<size_t>(tokens)});
    text::NormalStream ids(seed, 0, "input_ids");
    for (auto& id : in.input_ids) id = 1 + static_cast<std::int64_t>(ids.uniform() * double(cfg.vocab_size - 1));
    in.attention_mask = xt::ones<std::int64_t>({size_t(1), static_cast<size_t>(past + tokens)});
    const std::vector<std::int64_t> attn(tokens, 1);  // validity of the query rows
    const std::vector<std::uint8_t> row_valid(tokens, 1);

    // Reference: embedding, PLE, the KV cache, the source layer of a kv-shared layer, the layer.
    text::TextModel ref_model(cfg, weights, p->reference, p->ref.sink());
    p->st = ref_model.prepare(in, past);
    p->h0 = ref_model.embed(in);
    if (cfg.ple_dim() > 0) ref_model.per_layer_inputs(in, p->h0, p->st);
    if (past > 0) {
      const text::LayerSpec& kv = cfg.layers[own_kv];
      text::NormalStream g(seed, own_kv, "kv_cache");
      Mat k = Mat::from_shape({static_cast<size_t>(past), static_cast<size_t>(kv.num_kv_heads * kv.head_dim)});
      Mat v = k;
      const double k_sigma = std::pow(double(kv.head_dim), -0.5);
      for (auto& x : k) x = k_sigma * g.next();
      for (auto& x : v) x = g.next();
      p->st.cache[own_kv] = {std::move(k), std::move(v)};
    }
    if (spec.kv_role == text::KvRole::kReuse) {
      text::TextModel src_model(cfg, weights, p->reference, nullptr);
      src_model.decoder_layer(spec.kv_source, kv_src_w, p->h0, p->st);
    }
    p->ref.taps.clear(), p->ref.order.clear();
    text::ForwardState st_ref = p->st;
    ref_model.decoder_layer(which.layer, lw, p->h0, st_ref);

    const std::string name = past > 0 ? fmt::format("decode{}at{}", tokens, past) : fmt::format("prefill{}", tokens);
    const std::string base = fmt::format("real.{}.layer{}.{}.{}", which.variant, which.layer, which.kind, name);
    const std::string source = fmt::format("real:{}:layer{}:{}:{}:seed{}", which.variant, which.layer, which.kind,
                                           name, seed);
    p->src = Source{base, source, which.variant, row_valid, attn, 1, tokens, cfg.enable_moe_block, false, false};
    prepared.push_back(std::move(p));
  }

  // Policy-major: each policy's packed weights serve every step, then are released (a real-size
  // layer packs 0.1-0.8 G weights per policy: seconds each, and gigabytes held).
  std::vector<RunResult> out;
  for (const std::string& policy : policies) {
    for (const auto& p : prepared) {
      auto runs = run_policies(p->src, {policy}, modes, ctx, p->reference, p->ref,
                               [&](text::Executor& ex, text::TapSink sink) {
                                 text::ForwardState s2 = p->st;  // every run starts from the same state
                                 text::TextModel(cfg, weights, ex, std::move(sink)).decoder_layer(which.layer, lw, p->h0, s2);
                               });
      for (auto& r : runs) out.push_back(std::move(r));
    }
    if (ctx.release_policy) ctx.release_policy(policy);
  }
  return out;
}

}  // namespace g4::harness
