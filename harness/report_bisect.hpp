#pragma once
// `gemma4-harness report bisect`:
//
//   bisect R.h5             per free-running run, the first node in graph order where the
//                           executor leaves the reference's band: its rel_l2 exceeds the bound the
//                           run applied (min(policy ceiling, k x naive twin + floor), runner.cpp
//                           gate()) or it holds a non-finite value. Named by decoder layer and op,
//                           with the same tap's teacher-forced number beside it (large there: the
//                           op itself is wrong; small: the error accumulated upstream).
//   bisect R1.h5 R2.h5 ...  reports of successive commits, oldest first: the first report whose
//                           numbers differ at all from its predecessor, and the first one the gate
//                           (report_compare.hpp, against R1, the known-good) fails, with what moved.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "harness/report_compare.hpp"
#include "harness/run_result.hpp"

namespace g4::harness {

struct BandExit {
  std::string run_id;
  bool left = false;           // false: the run stays in its band everywhere
  std::ptrdiff_t node = -1;    // first node outside the band (left), or the closest to its edge
  std::string tap, op;         // op: the tap's part after its layer ("self_attn.o_proj")
  int layer = -1;              // -1: outside the decoder layers
  double rel_l2 = kNaN, bound = kNaN;
  std::int64_t nonfinite = 0;
  double teacher_rel_l2 = kNaN;  // the same tap in the teacher-forced run of the same source/policy
};

// One entry per free-running run of r (in report order).
std::vector<BandExit> bisect_band(const Report& r);
std::string bisect_band_text(const std::vector<BandExit>& exits);

struct SeriesStep {
  std::string path, commit;
  bool identical_to_previous = true;   // every stored number equal to the previous report's
  std::string first_difference;        // where it differs first ("run / tap / metric: a -> b")
  bool gate_pass = true;               // gate against the first report
  std::vector<Finding> failures;
};
std::vector<SeriesStep> bisect_series(const std::vector<Report>& reports, const std::vector<std::string>& paths,
                                      const GateRules& rules);
std::string bisect_series_text(const std::vector<SeriesStep>& steps);

}  // namespace g4::harness
