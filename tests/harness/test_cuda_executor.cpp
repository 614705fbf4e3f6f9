// The CUDA executor (harness/cuda_executor.hpp) in the simulator, through the same runner and
// gates as the CPU executor: `run --executor cuda-sim` passes every gate on the dense (e2b_tiny)
// and MoE (26b_tiny) bundles under fp32, bf16 and fp16, and under the quantised policies (int8 W8A8,
// int8-w8a16, int4-g32, int4-g128, fp8-e4m3: the quantised GEMM kernels), in both modes, reports
// no timing, refuses what it cannot run with exit 2, and a deliberately broken kernel launch (softcap dropped, sliding
// window one key wider) fails the gate at that node.
#define BOOST_TEST_MODULE test_cuda_executor
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "golden/bundle.hpp"
#include "harness/cpu_executor.hpp"
#include "harness/cuda_executor.hpp"
#include "harness/report.hpp"
#include "harness/runner.hpp"
#include "optimized/cpu/policy.hpp"

using namespace g4;
using namespace g4::harness;
namespace fs = std::filesystem;

namespace {

const std::string kSrc = GEMMA4_SOURCE_DIR;
const std::string kCli = GEMMA4_CLI;

struct Cli {
  int code;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the CLI with `args`; the report (if any) goes to dir/run.h5.
Cli cli(const std::string& args, const fs::path& dir) {
  fs::create_directories(dir);
  const std::string cmd = kCli + " " + args + " >" + (dir / "out").string() + " 2>" + (dir / "err").string();
  const int st = std::system(cmd.c_str());
  return Cli{WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(dir / "out"), slurp(dir / "err")};
}

struct TempDir {
  fs::path dir = fs::temp_directory_path() / ("g4cuda_exec." + std::to_string(getpid()));
  TempDir() { fs::remove_all(dir); }
  ~TempDir() { fs::remove_all(dir); }
};

// Every gate passed, every policy in both modes present, and no node timed (the simulator) or
// every node of the teacher-forced runs timed (the GPU).
void check_report(const std::string& path, const std::string& bundle, std::size_t policies = 2, bool gpu = false) {
  const Report r = read_report(path);
  BOOST_TEST_REQUIRE(r.runs.size() == 2 * policies);  // policies × teacher-forced, free-running
  for (const RunResult& run : r.runs) {
    BOOST_TEST_CONTEXT(run.id) {
      BOOST_TEST(run.pass);
      BOOST_TEST(run.nodes.size() > 10u);
      double worst = 0;
      std::string worst_tap;
      for (const NodeResult& n : run.nodes) {
        BOOST_TEST(n.pass, n.tap << " rel_l2 " << n.m.rel_l2 << " > bound " << n.bound);
        if (!gpu) BOOST_TEST(std::isnan(n.time_median_s), n.tap << ": simulated time reported as " << n.time_median_s);
        else if (run.mode == "teacher-forced" && !n.kind.empty())
          BOOST_TEST(n.time_median_s > 0, n.tap << ": not timed on the GPU");
        if (n.op != "indices" && n.m.rel_l2 > worst) worst = n.m.rel_l2, worst_tap = n.tap;
      }
      BOOST_TEST_MESSAGE(bundle << " " << run.policy << " " << run.mode << ": worst rel_l2 " << worst << " at "
                                << worst_tap);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(cuda_sim_passes_every_gate_on_the_dense_and_moe_bundles) {
  TempDir t;
  for (const std::string bundle : {"e2b_tiny", "26b_tiny"}) {
    const std::string out = (t.dir / (bundle + ".h5")).string();
    const Cli c = cli("run --executor cuda-sim --no-real --golden " + kSrc + "/golden/data/" + bundle +
                          " --policies fp32,bf16,fp16 --quiet --out " + out,
                      t.dir);
    BOOST_TEST_REQUIRE(c.code == 0, bundle << ": exit " << c.code << "\n" << c.out << c.err);
    check_report(out, bundle, 3);
  }
}

// The quantised policies: weights quantised as the CPU's pack_weight, activations per token on
// the device, the W8A8 s8 mma and the decode-to-bf16 GEMMs (dense linears and the MoE experts).
BOOST_AUTO_TEST_CASE(cuda_sim_passes_every_gate_under_the_quantised_policies) {
  TempDir t;
  for (const std::string bundle : {"e2b_tiny", "26b_tiny"}) {
    const std::string out = (t.dir / (bundle + ".h5")).string();
    const Cli c = cli("run --executor cuda-sim --no-real --golden " + kSrc + "/golden/data/" + bundle +
                          " --policies int8,int8-w8a16,int4-g32,int4-g128,fp8-e4m3 --quiet --out " + out,
                      t.dir);
    BOOST_TEST_REQUIRE(c.code == 0, bundle << ": exit " << c.code << "\n" << c.out << c.err);
    check_report(out, bundle, 5);
  }
}

BOOST_AUTO_TEST_CASE(what_the_cuda_executors_cannot_run_is_bad_input) {
  TempDir t;
  const std::string golden = " --golden " + kSrc + "/golden/data/e2b_tiny --quiet --out " + (t.dir / "x.h5").string();
  struct Case {
    std::string args, says;
  };
  for (const Case& k : {Case{"run --executor cuda-sim --no-real --policies int3" + golden, "int3"},
                        Case{"run --executor cuda-sim" + golden, "--no-real"},
                        Case{"run --executor tpu --no-real" + golden, "unknown executor 'tpu'"}}) {
    const Cli c = cli(k.args, t.dir);
    BOOST_TEST(c.code == 2, k.args << ": exit " << c.code);
    BOOST_TEST(c.err.find(k.says) != std::string::npos, k.args << ": " << c.err);
    BOOST_TEST(!fs::exists(t.dir / "x.h5"));
  }
  BOOST_CHECK_NO_THROW(make_cuda_sim_executor("fp16"));
  BOOST_CHECK_NO_THROW(make_cuda_sim_executor("int4-g128"));
  // The default policies of `run --executor cuda-sim`: every preset.
  std::vector<std::string> presets;
  for (const cpu::Policy& p : cpu::policy_presets()) presets.push_back(p.name);
  BOOST_TEST(cuda_policies() == presets, boost::test_tools::per_element());
  // What the kernels do not implement: asymmetric int4 (no zero points), int4 groups that are
  // not a multiple of 32 (one k tile per group), fp32 storage under quantised weights.
  cpu::Policy asym = cpu::policy_by_name("int4-g128");
  asym.weight_asym = true;
  cpu::Policy g16 = cpu::policy_by_name("int4-g32");
  g16.weight_group = 16;
  cpu::Policy f32_int8 = cpu::policy_by_name("int8");
  f32_int8.storage = f32_int8.kv = cpu::Fmt::kF32;
  for (const cpu::Policy& p : {asym, g16, f32_int8}) BOOST_TEST(!cuda_supports(p));
  BOOST_CHECK_THROW(make_cuda_sim_executor("no-such-policy"), ConfigError);
}

// `run --executor cuda`: on a machine with a GPU (and the nvcc build), every gate passes on the
// dense and MoE bundles under every policy the kernels implement, with every node timed by CUDA
// events and the GPU's ceilings in the report; without one, one line naming why (no device, or
// no GPU build) and exit 2, before anything is written.
BOOST_AUTO_TEST_CASE(executor_cuda_runs_on_the_gpu_or_says_why_not_in_one_line) {
  TempDir t;
  bool gpu = false;
  try {
    BOOST_TEST_MESSAGE("GPU: " << cuda_gpu_device());
    gpu = true;
  } catch (const ConfigError& e) {
    BOOST_TEST_MESSAGE("no GPU run: " << e.what());
  }
  if (!gpu) {
    const std::string out = (t.dir / "x.h5").string();
    const Cli c = cli("run --executor cuda --no-real --golden " + kSrc + "/golden/data/e2b_tiny --quiet --out " + out,
                      t.dir);
    BOOST_TEST(c.code == 2, "exit " << c.code);
    BOOST_TEST(std::count(c.err.begin(), c.err.end(), '\n') == 1, c.err);
    BOOST_TEST(c.err.find("--executor cuda: ") != std::string::npos, c.err);
    const std::string why = cuda_gpu_built() ? "no usable CUDA device" : "no GPU executor";
    BOOST_TEST(c.err.find(why) != std::string::npos, c.err);
    BOOST_TEST(!fs::exists(out));
    BOOST_CHECK_THROW(make_cuda_gpu_executor("bf16"), ConfigError);
    return;
  }
  for (const std::string bundle : {"e2b_tiny", "26b_tiny"}) {
    const std::string out = (t.dir / (bundle + ".h5")).string();
    const Cli c = cli("run --executor cuda --no-real --golden " + kSrc + "/golden/data/" + bundle + " --quiet --out " + out,
                      t.dir);
    BOOST_TEST_REQUIRE(c.code == 0, bundle << ": exit " << c.code << "\n" << c.out << c.err);
    check_report(out, bundle, cuda_policies().size(), true);
    const Report r = read_report(out);
    BOOST_TEST(!r.machine.device.empty());
    BOOST_TEST(r.machine.bf16_gflops > 0);
    BOOST_TEST(r.machine.stream_read_gbs > 0);
  }
}

namespace {

// Teacher-forced (and free-running) runs of e2b_tiny through a CUDA executor with `faults`.
std::vector<RunResult> run_faulty(const std::string& policy, const CudaFaults& faults) {
  RunnerContext ctx;
  ctx.tolerances = Tolerances::load(kSrc + "/harness/tolerances.json");
  ctx.repeats = 0;
  ctx.make_executor = [faults](const std::string& p, bool naive) -> std::unique_ptr<text::Executor> {
    if (naive) return std::make_unique<CpuExecutor>(cpu::policy_by_name(p), true);
    return make_cuda_sim_executor(p, faults);
  };
  ctx.storage_max = [](const std::string& p) { return storage_max(cpu::policy_by_name(p)); };
  ctx.weight_bytes = [](const std::string& p) { return weight_bytes(cpu::policy_by_name(p)); };
  ctx.act_bytes = [](const std::string& p) { return act_bytes(cpu::policy_by_name(p)); };
  return run_golden(kSrc + "/golden/data/e2b_tiny", {policy}, Modes{true, false}, ctx);
}

// The failing nodes' taps.
std::vector<std::string> failures(const RunResult& r) {
  std::vector<std::string> out;
  for (const NodeResult& n : r.nodes)
    if (!n.pass) out.push_back(n.tap);
  return out;
}

}  // namespace

// Softcap dropped: logits ~ O(1) differ from 30·tanh(x/30) by ~x³/2700 relative ~1e-4, far above
// the fp32 bound (2·naive + 8·2⁻²⁴ ≈ 5e-7); only the softcap node fails (teacher forcing hands
// every later node the reference's inputs).
BOOST_AUTO_TEST_CASE(dropped_softcap_is_caught_at_the_softcap_node) {
  CudaFaults f;
  f.drop_softcap = true;
  const auto runs = run_faulty("fp32", f);
  BOOST_TEST_REQUIRE(runs.size() == 1u);
  BOOST_TEST(!runs[0].pass);
  const auto bad = failures(runs[0]);
  BOOST_TEST_REQUIRE(bad.size() == 1u);
  BOOST_TEST(bad[0] == "logits");
}

// The window one key wider: only sliding layers' attention nodes fail (full attention is causal:
// the extra key is already visible; padded keys stay hidden),
// in fp32 and in bf16 (an extra key in the softmax moves outputs by O(1/window), far above
// bf16's 2⁻⁸ roundoff).
BOOST_AUTO_TEST_CASE(off_by_one_window_is_caught_at_the_sliding_attention_nodes) {
  CudaFaults f;
  f.widen_window = true;
  const golden::GoldenBundle bundle(kSrc + "/golden/data/e2b_tiny");
  const text::TextConfig& cfg = bundle.config();
  for (const std::string policy : {"fp32", "bf16"}) {
    const auto runs = run_faulty(policy, f);
    BOOST_TEST_REQUIRE(runs.size() == 1u);
    BOOST_TEST(!runs[0].pass, policy);
    const auto bad = failures(runs[0]);
    BOOST_TEST(!bad.empty(), policy);
    for (const std::string& tap : bad) {
      const auto at = tap.find("layers.");
      BOOST_TEST_REQUIRE(at != std::string::npos, policy << ": unexpected failure at " << tap);
      const auto layer = std::stoul(tap.substr(at + 7));
      BOOST_TEST((tap.ends_with(".attn_out") && cfg.layers.at(layer).type == text::LayerType::kSliding),
                 policy << ": unexpected failure at " << tap);
    }
  }
}
