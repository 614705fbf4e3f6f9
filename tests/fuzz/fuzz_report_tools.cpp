// Fuzz target: the report subcommands' readers over a (fuzzed) report file -- `report show`,
// `report compare`, `report gate` and `report bisect` (harness/report_*.cpp) -- after read_report.
// The report is compared and gated against itself with the committed gate rules.
#include <cstddef>
#include <cstdint>

#include "golden/limits.hpp"
#include "harness/report.hpp"
#include "harness/report_bisect.hpp"
#include "harness/report_compare.hpp"
#include "harness/report_show.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const g4::harness::GateRules rules = [] {
    g4::golden::set_read_limit(std::uint64_t{64} << 20);
    return g4::harness::GateRules::load(g4::harness::default_gate_rules_path());
  }();
  const auto path = g4::fuzz::scratch() / "report.h5";
  g4::fuzz::write_file(path, data, size);
  G4_FUZZ_BODY({
    const auto r = g4::harness::read_report(path.string());
    (void)g4::harness::report_show_text(r);
    (void)g4::harness::report_show_markdown(r);
    const auto c = g4::harness::compare_reports(r, r);
    (void)g4::harness::comparison_text(c, 0);
    const auto g = g4::harness::gate_reports(r, r, rules);
    (void)g4::harness::gate_text(g, rules);
    (void)g4::harness::gate_json(g, rules, "base.h5", "new.h5");
    (void)g4::harness::gate_junit(g, "base.h5", "new.h5");
    (void)g4::harness::bisect_band_text(g4::harness::bisect_band(r));
    (void)g4::harness::bisect_series_text(g4::harness::bisect_series({r, r}, {"a.h5", "b.h5"}, rules));
  });
  return 0;
}
