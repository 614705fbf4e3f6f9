#pragma once
// `gemma4-harness report show R.h5 [--markdown]`: one screen per report. Per variant, policy and
// mode: the worst taps, the drift per decoder layer, throughput and the roofline fraction. The
// markdown form is for a pull-request comment. Everything is computed from the stored fields
// (reports/SCHEMA.md), nothing is re-measured.
#include <string>
#include <vector>

#include "harness/run_result.hpp"

namespace g4::harness {

// Drift of one run per decoder layer: the largest rel_l2 over the layer's ranked nodes (nodes
// with error numbers of their own, expert ids excluded). Nodes outside the layers form two
// pseudo-layers, "in" (embedding, per-layer inputs: before the first layer in graph order) and
// "out" (final norm, LM head: after it).
struct LayerDrift {
  std::string label;     // "in", "0", "1", ..., "out"
  int layer = -1;        // decoder layer, -1 for "in" / "out"
  double max_rel_l2 = kNaN;
  std::string worst_tap;
  bool pass = true;      // every node of the layer met its bound
};
std::vector<LayerDrift> layer_drift(const RunResult& run);

std::string report_show_text(const Report& r);
std::string report_show_markdown(const Report& r);

}  // namespace g4::harness
