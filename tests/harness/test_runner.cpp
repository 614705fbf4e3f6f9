// The runner: modes, gates, determinism, and deliberately broken executors that the metrics must
// catch (issue #4: sliding window off by one, softcap dropped, wrong RoPE pairing, KV-sharing
// source off by one).
#define BOOST_TEST_MODULE test_runner
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "golden/bundle.hpp"
#include "golden/checkpoint_weights.hpp"
#include "harness/cached_reference.hpp"
#include "harness/cpu_executor.hpp"
#include "harness/runner.hpp"
#include "harness/shadow.hpp"
#include "optimized/cpu/policy.hpp"
#include "reference/text/model.hpp"

using namespace g4;
using namespace g4::harness;

namespace {

const std::string kData = std::string(GEMMA4_SOURCE_DIR) + "/golden/data/";

// The float64 reference with one bug; everything else exact.
class BrokenExecutor : public text::ReferenceExecutor {
 public:
  enum Bug { kWindowPlusOne, kNoSoftcap, kInterleavedRope };
  BrokenExecutor(Bug bug, const text::TextConfig& c) : bug_(bug), c_(c) {}

  Mat attention(const std::string& name, const Mat& q, const Mat& k, const Mat& v,
                const std::vector<std::uint8_t>& allowed, const ops::AttentionShape& a, Mat* probs) override {
    if (bug_ != kWindowPlusOne || !sliding(name)) return ReferenceExecutor::attention(name, q, k, v, allowed, a, probs);
    // Let every query also see the key just outside its window (distance W).
    std::vector<std::uint8_t> wider = allowed;
    const index_t S = a.S, W = c_.sliding_window;
    for (index_t b = 0; b < a.B; ++b)
      for (index_t i = W; i < S; ++i) {
        const std::size_t row = static_cast<std::size_t>((b * S + i) * S);
        if (allowed[row + i - W + 1]) wider[row + i - W] = 1;  // only where the window's far edge is a real token
      }
    return ReferenceExecutor::attention(name, q, k, v, wider, a, probs);
  }
  Mat softcap(const std::string& name, const Mat& x, double cap) override {
    return bug_ == kNoSoftcap ? x : ReferenceExecutor::softcap(name, x, cap);
  }
  Mat rope(const std::string& name, const Mat& x, const std::vector<index_t>& pos, const Vec& inv_freq,
           index_t head_dim) override {
    if (bug_ != kInterleavedRope) return ReferenceExecutor::rope(name, x, pos, inv_freq, head_dim);
    // GPT-J pairing (2k, 2k+1) instead of transformers' rotate-half (k, k + Dh/2).
    Mat y = x;
    const index_t heads = cols(x) / head_dim;
    for (index_t t = 0; t < rows(x); ++t)
      for (index_t h = 0; h < heads; ++h)
        for (index_t kk = 0; kk < head_dim / 2; ++kk) {
          const double ang = double(pos[t]) * inv_freq(kk), c = std::cos(ang), s = std::sin(ang);
          const double a = x(t, h * head_dim + 2 * kk), b = x(t, h * head_dim + 2 * kk + 1);
          y(t, h * head_dim + 2 * kk) = a * c - b * s;
          y(t, h * head_dim + 2 * kk + 1) = b * c + a * s;
        }
    return y;
  }

 private:
  bool sliding(const std::string& name) const {
    const auto at = name.find("layers.");
    const index_t i = std::stoll(name.substr(at + 7));
    return c_.layers[i].type == text::LayerType::kSliding;
  }
  Bug bug_;
  const text::TextConfig& c_;
};

RunnerContext context(std::function<std::unique_ptr<text::Executor>(const std::string&, bool)> make) {
  RunnerContext ctx;
  ctx.tolerances = Tolerances::load(std::string(GEMMA4_SOURCE_DIR) + "/harness/tolerances.json");
  ctx.make_executor = std::move(make);
  ctx.storage_max = [](const std::string& p) { return storage_max(cpu::policy_by_name(p)); };
  ctx.weight_bytes = [](const std::string& p) { return weight_bytes(cpu::policy_by_name(p)); };
  ctx.act_bytes = [](const std::string& p) { return act_bytes(cpu::policy_by_name(p)); };
  ctx.repeats = 0;
  return ctx;
}

RunnerContext cpu_context() {
  return context([](const std::string& p, bool naive) {
    return std::unique_ptr<text::Executor>(new CpuExecutor(cpu::policy_by_name(p), naive));
  });
}

// The first failing node of a run ("" if none).
std::string first_failure(const RunResult& r) {
  for (const NodeResult& n : r.nodes)
    if (!n.pass) return n.tap;
  return "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(fp32_teacher_forced_local_errors_below_1e6) {
  for (const char* b : {"e2b_tiny", "e4b_tiny", "31b_tiny", "26b_tiny"}) {
    const auto runs = run_golden(kData + b, {"fp32"}, {true, false}, cpu_context());
    BOOST_TEST_REQUIRE(runs.size() == 1u);
    double worst = 0;
    std::string at;
    for (const NodeResult& n : runs[0].nodes)
      if (n.m.rel_l2 > worst) worst = n.m.rel_l2, at = n.tap;
    BOOST_TEST_MESSAGE(b << ": fp32 teacher-forced worst rel_l2 " << worst << " at " << at);
    BOOST_TEST(worst <= 1e-6);
    BOOST_TEST(runs[0].pass, first_failure(runs[0]));
    BOOST_TEST(runs[0].nodes.size() > 50u);
  }
}

BOOST_AUTO_TEST_CASE(every_policy_passes_its_gates_on_the_goldens) {
  std::vector<std::string> policies;
  for (const auto& p : cpu::policy_presets()) policies.push_back(p.name);
  for (const char* b : {"e2b_tiny", "26b_tiny"}) {
    for (const RunResult& r : run_golden(kData + b, policies, {true, true}, cpu_context())) {
      BOOST_TEST_MESSAGE(r.id << ": " << (r.pass ? "pass" : "FAIL at " + first_failure(r))
                              << (r.logits ? " KL " + std::to_string(r.logits->kl_mean) : std::string()));
      BOOST_TEST(r.pass, r.id << " fails at " << first_failure(r));
    }
  }
}

BOOST_AUTO_TEST_CASE(same_seed_same_numbers) {
  const auto a = run_golden(kData + "31b_tiny", {"bf16"}, {true, true}, cpu_context());
  const auto b = run_golden(kData + "31b_tiny", {"bf16"}, {true, true}, cpu_context());
  BOOST_TEST_REQUIRE(a.size() == b.size());
  for (std::size_t r = 0; r < a.size(); ++r) {
    BOOST_TEST_REQUIRE(a[r].nodes.size() == b[r].nodes.size());
    for (std::size_t i = 0; i < a[r].nodes.size(); ++i) {
      BOOST_TEST(a[r].nodes[i].tap == b[r].nodes[i].tap);
      BOOST_TEST(a[r].nodes[i].m.rel_l2 == b[r].nodes[i].m.rel_l2);
      BOOST_TEST(a[r].nodes[i].m.max_abs_index == b[r].nodes[i].m.max_abs_index);
    }
  }
}

// Each bug is run as the "fp32" executor; its free-running run must fail, at the right place.
BOOST_AUTO_TEST_CASE(broken_executors_are_caught) {
  struct Case {
    BrokenExecutor::Bug bug;
    const char* bundle;
    const char* expect;  // substring of the first failing tap
  };
  const Case cases[] = {{BrokenExecutor::kWindowPlusOne, "e4b_tiny", "self_attn.attn_"},
                        {BrokenExecutor::kNoSoftcap, "e2b_tiny", "logits"},
                        {BrokenExecutor::kInterleavedRope, "31b_tiny", "q_rope"}};
  for (const Case& c : cases) {
    golden::GoldenBundle bundle(kData + c.bundle);
    const text::TextConfig cfg = bundle.config();
    auto ctx = context([&](const std::string&, bool naive) -> std::unique_ptr<text::Executor> {
      if (naive) return std::make_unique<text::ReferenceExecutor>();
      return std::make_unique<BrokenExecutor>(c.bug, cfg);
    });
    for (const RunResult& r : run_golden(kData + c.bundle, {"fp32"}, {true, true}, ctx)) {
      const std::string at = first_failure(r);
      BOOST_TEST_MESSAGE(c.bundle << " bug " << int(c.bug) << " " << r.mode << ": first failure at " << at);
      BOOST_TEST(!r.pass);
      BOOST_TEST(at.find(c.expect) != std::string::npos, r.mode << ": first failure at '" << at << "'");
    }
  }
}

// A KV-sharing layer reading the wrong source (the layer before the right one) changes the
// logits far beyond any tolerance.
BOOST_AUTO_TEST_CASE(kv_sharing_source_off_by_one_is_caught) {
  golden::GoldenBundle bundle(kData + "e2b_tiny");
  text::TextConfig good = bundle.config();
  text::TextConfig bad = good;
  bool changed = false;
  for (auto& l : bad.layers) {
    if (l.kv_role != text::KvRole::kReuse || l.kv_source == 0) continue;
    text::LayerSpec& prev = bad.layers[l.kv_source - 1];
    if (prev.head_dim != l.head_dim || prev.num_kv_heads != l.num_kv_heads) continue;
    prev.kv_role = text::KvRole::kStore;  // so the wrong source's K/V exist to be read
    l.kv_source -= 1;
    changed = true;
  }
  BOOST_TEST_REQUIRE(changed);
  golden::CheckpointWeights w(good, bundle.weights_path());
  text::ReferenceExecutor ex;
  const Mat want = text::TextModel(good, w, ex, nullptr).forward(bundle.inputs());
  const Mat got = text::TextModel(bad, w, ex, nullptr).forward(bundle.inputs());
  const auto& am = bundle.inputs().attention_mask;
  const std::vector<std::uint8_t> rows(am.begin(), am.end());
  const TapMetrics m = compare(want.data(), got.data(), want.size(), rows_to_elements(rows, want.shape(1)).data());
  const LogitResult l = logit_metrics(want, got, rows);
  BOOST_TEST_MESSAGE("kv source off by one: logits rel_l2 " << m.rel_l2 << ", KL " << l.kl_mean);
  BOOST_TEST(m.rel_l2 > 1e-2);  // fp32-level noise is 1e-7; every policy ceiling for logits is < this
}

// Node names are unique within a forward: replaying a forward through the name-keyed cache gives
// exactly the plain reference's logits (a duplicated name would hand one node another's output).
BOOST_AUTO_TEST_CASE(node_names_are_unique_so_the_reference_cache_replays_exactly) {
  for (const char* b : {"e2b_tiny", "e4b_tiny", "31b_tiny", "26b_tiny"}) {
    golden::GoldenBundle bundle(kData + b);
    golden::CheckpointWeights w(bundle.config(), bundle.weights_path());
    text::ReferenceExecutor plain;
    CachedReference cached;
    const Mat want = text::TextModel(bundle.config(), w, plain, nullptr).forward(bundle.inputs());
    text::TextModel(bundle.config(), w, cached, nullptr).forward(bundle.inputs());
    const Mat got = text::TextModel(bundle.config(), w, cached, nullptr).forward(bundle.inputs());
    BOOST_TEST_REQUIRE(want.size() == got.size());
    for (std::size_t i = 0; i < want.size(); ++i) BOOST_TEST_REQUIRE(want.data()[i] == got.data()[i], b << " at " << i);
  }
}

// Headroom forecasts an fp16 overflow from the float64 activations: a node whose reference values
// exceed 65504 has headroom > 1 under fp16 and its fp16 output holds infinities (caught as
// non-finite), while bf16 stores the same values.
BOOST_AUTO_TEST_CASE(headroom_forecasts_fp16_overflow) {
  Mat x = {{1.0, -2.0, 3.0, 0.5}};
  text::ReferenceExecutor ref;
  for (const char* policy : {"fp16", "bf16"}) {
    CpuExecutor test(cpu::policy_by_name(policy), false);
    ShadowExecutor shadow(ref, test, nullptr, {1}, storage_max(cpu::policy_by_name(policy)));
    shadow.scale("big", x, 4e4);  // reference max 1.2e5 > 65504
    const NodeResult& n = shadow.nodes().at(0);
    BOOST_TEST_MESSAGE(policy << ": headroom " << n.headroom << ", non-finite " << n.m.nonfinite);
    if (std::string(policy) == "fp16") {
      BOOST_TEST(n.headroom > 1.0);
      BOOST_TEST(n.m.nonfinite > 0);
    } else {
      BOOST_TEST(n.headroom < 1e-30);
      BOOST_TEST(n.m.nonfinite == 0);
    }
  }
}

// Node times are the kernels' (harness/timing.hpp): the CPU executor converts a node's inputs
// once and repeats only its kernel. Repeating must not change a single bit of any output (an
// in-place kernel repeated would), every timed node must say which op it was, and an executor
// that does not time itself is still timed whole.
BOOST_AUTO_TEST_CASE(kernel_timing_changes_no_output_and_records_every_node) {
  golden::GoldenBundle bundle(kData + "26b_tiny");  // MoE: experts and router included
  const text::TextConfig& cfg = bundle.config();
  golden::CheckpointWeights weights(cfg, bundle.weights_path());
  text::ForwardOptions fo;
  fo.prefix = weights.prefix();
  using Taps = std::map<std::string, Mat>;
  const auto forward = [&](text::Executor& ex) {
    Taps taps;
    text::TextModel(cfg, weights, ex, [&](const std::string& n, const Mat& m, const std::vector<index_t>&) {
      taps.emplace(n, m);
    }, fo).forward(bundle.inputs());
    return taps;
  };
  for (const char* policy : {"fp32", "bf16", "int8", "int4-g32"}) {
    CpuExecutor plain(cpu::policy_by_name(policy), false), timed_inner(cpu::policy_by_name(policy), false);
    const Taps want = forward(plain);
    TimingExecutor timed(timed_inner, 3, 1, 4);
    const Taps got = forward(timed);
    BOOST_TEST_REQUIRE(got.size() == want.size());
    for (const auto& [name, m] : want) {
      const Mat& g = got.at(name);
      BOOST_TEST_REQUIRE(g.size() == m.size());
      BOOST_TEST(std::equal(g.begin(), g.end(), m.begin()), policy << ": tap " << name << " changed under timing");
    }
    std::set<std::string> kinds;
    for (const auto& [name, t] : timed.timings()) {
      BOOST_TEST(!t.kind.empty(), name);
      BOOST_TEST(std::isfinite(t.median_s), name);
      BOOST_TEST(t.repeats == 3);
      kinds.insert(t.kind);
    }
    for (const char* k : {"linear", "rms_norm", "rope", "attention", "gelu", "route", "experts"})
      BOOST_TEST(kinds.count(k) == 1u, policy << ": no timed " << k << " node");
    BOOST_TEST(timed.boundary_seconds() > 0.0);
  }
  text::ReferenceExecutor ref;  // not KernelTimed: timed whole, the same numbers
  TimingExecutor timed_ref(ref, 2, 8, 8);
  text::ReferenceExecutor ref2;
  BOOST_TEST(forward(timed_ref) == forward(ref2));
  BOOST_TEST(!timed_ref.timings().empty());
  BOOST_TEST(timed_ref.boundary_seconds() == 0.0);
}

// The vision tower runs on the executors too (written against the same Executor): every policy
// passes its gates on both towers' bundles, fp32 teacher-forced errors stay below 1e-6, and a
// tower attention that ignores the padding mask is caught in both modes.
BOOST_AUTO_TEST_CASE(vision_tower_through_every_policy) {
  std::vector<std::string> policies;
  for (const auto& p : cpu::policy_presets()) policies.push_back(p.name);
  for (const char* b : {"vision_small_tiny", "vision_large_tiny"}) {
    const auto runs = run_vision_golden(kData + b, policies, {true, true}, cpu_context());
    BOOST_TEST_REQUIRE(runs.size() == 2 * policies.size());
    for (const RunResult& r : runs) {
      BOOST_TEST(r.pass, r.id << " fails at " << first_failure(r));
      BOOST_TEST(r.nodes.size() > 30u, r.id);
      if (r.policy == "fp32" && r.mode == "teacher-forced")
        for (const NodeResult& n : r.nodes) BOOST_TEST(n.m.rel_l2 <= 1e-6, r.id << " " << n.tap);
    }
  }
  class MaskIgnored : public text::ReferenceExecutor {
   public:
    Mat attention(const std::string& name, const Mat& q, const Mat& k, const Mat& v,
                  const std::vector<std::uint8_t>& allowed, const ops::AttentionShape& a, Mat* probs) override {
      return ReferenceExecutor::attention(name, q, k, v, std::vector<std::uint8_t>(allowed.size(), 1), a, probs);
    }
  };
  auto ctx = context([](const std::string&, bool naive) -> std::unique_ptr<text::Executor> {
    if (naive) return std::make_unique<text::ReferenceExecutor>();
    return std::make_unique<MaskIgnored>();
  });
  for (const RunResult& r : run_vision_golden(kData + "vision_small_tiny", {"fp32"}, {true, true}, ctx)) {
    BOOST_TEST(!r.pass, r.id);
    // teacher-forced: the attention node itself; free-running: the first tap after it (o_proj)
    BOOST_TEST(first_failure(r).find("encoder.layers.0.self_attn.") != std::string::npos,
               r.id << ": " << first_failure(r));
  }
}

// The audio tower's matmuls, RMSNorms and residual adds run on the executors too: every policy
// passes its gates, fp32 teacher-forced errors stay below 1e-6, and a deliberately broken linear
// (the output of one projection scaled by 1 + 1e-3) is caught in both modes at that projection.
BOOST_AUTO_TEST_CASE(audio_tower_through_every_policy) {
  std::vector<std::string> policies;
  for (const auto& p : cpu::policy_presets()) policies.push_back(p.name);
  const auto runs = run_audio_golden(kData + "audio_tiny", policies, {true, true}, cpu_context());
  BOOST_TEST_REQUIRE(runs.size() == 2 * policies.size());
  for (const RunResult& r : runs) {
    BOOST_TEST(r.pass, r.id << " fails at " << first_failure(r));
    BOOST_TEST(r.nodes.size() > 40u, r.id);
    if (r.policy == "fp32" && r.mode == "teacher-forced")
      for (const NodeResult& n : r.nodes) BOOST_TEST(n.m.rel_l2 <= 1e-6, r.id << " " << n.tap);
  }
  class OffProjection : public text::ReferenceExecutor {
   public:
    Mat linear(const std::string& name, const Mat& x, const Mat& w) override {
      Mat y = ReferenceExecutor::linear(name, x, w);
      if (name.ends_with("layers.1.self_attn.v_proj")) y *= 1.001;
      return y;
    }
  };
  auto ctx = context([](const std::string&, bool naive) -> std::unique_ptr<text::Executor> {
    if (naive) return std::make_unique<text::ReferenceExecutor>();
    return std::make_unique<OffProjection>();
  });
  for (const RunResult& r : run_audio_golden(kData + "audio_tiny", {"fp32"}, {true, true}, ctx)) {
    BOOST_TEST(!r.pass, r.id);
    BOOST_TEST(first_failure(r).find("layers.1.self_attn.v_proj") != std::string::npos, r.id << ": " << first_failure(r));
  }
}
