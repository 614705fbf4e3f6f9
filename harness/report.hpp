#pragma once
// Reports (DESIGN.md section 7): a Report (run_result.hpp) to and from one HDF5 file, and the two
// human summaries made from it: markdown for a pull request, fixed-width text for the console.
//
// The file layout is documented path by path in reports/SCHEMA.md; change both together and bump
// kReportSchemaVersion when a path, dtype or meaning changes. read_report() refuses any other
// schema name or version with one line naming the file, rather than guessing.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "harness/run_result.hpp"

namespace g4::harness {

inline constexpr const char* kReportSchema = "gemma4-harness-report";
inline constexpr std::int64_t kReportSchemaVersion = 1;

// Writes r to path atomically: to "<path>.tmp.<pid>", renamed onto path by the last step, so an
// interrupted write leaves no file at path (and a previous report there survives untouched); the
// temp file is removed on any exception. A report that cannot be written faithfully is refused
// before anything is created: g4::ConfigError for an empty, duplicate or unusable run id ('/',
// ".", "..") or a string with an embedded NUL, g4::ShapeError for a negative dimension.
// HDF5 failures are g4::IoError naming the file and the path.
void write_report(const Report& r, const std::string& path);

// Reads a file written by write_report back exactly (NaN and ±inf included; runs in their
// original order). A file that is not HDF5, not a report (root attribute schema missing or
// different), another schema_version, truncated, or missing/mis-typed/mis-sized dataset or
// attribute -> g4::IoError, one line naming the file, the HDF5 path/field and what was expected.
Report read_report(const std::string& path);

// Markdown summary for a pull request: verdict, provenance, machine ceilings, one table per
// source (policies x modes), the 10 worst nodes overall, and per-run throughput.
std::string report_markdown(const Report& r);

// The same for a terminal, fixed-width, one line per run.
std::string report_terminal(const Report& r);

// --- Pieces the summaries (and a gate) are made of ------------------------------------------

// The node of a run with the largest rel_l2. NaN ranks above +inf (a NaN means the comparison
// itself broke), ties go to the earlier node. index -1 (rel_l2 NaN, tap "") for a run with no
// nodes. The same rule fills /index/worst_rel_l2 and /index/worst_tap.
struct WorstNode {
  std::ptrdiff_t index = -1;
  double rel_l2 = kNaN;
  std::string tap;
};
WorstNode worst_node(const RunResult& run);

// The ceiling a policy's GEMMs run against, chosen from its name: "fp64"/"f64"/"float64" ->
// dgemm; "int8" (W8A8; not "int8-w8a16") -> int8; "bf16", "fp16", "fp8-*", "*-w8a16" -> the
// bf16 matrix-unit peak; anything else (fp32, int4-g*: dequantised to fp32) -> sgemm.
enum class Ceiling { dgemm, sgemm, bf16, int8 };
Ceiling ceiling_for_policy(std::string_view policy);
std::string_view ceiling_name(Ceiling c);                       // "dgemm", "sgemm", "bf16", "int8"
double ceiling_value(const MachineCeilings& m, Ceiling c);       // GFLOP/s (GOP/s for int8)

// Throughput of one run over its timed nodes (time_median_s finite and >= 0).
struct Throughput {
  std::int64_t timed_nodes = 0;
  double seconds = 0;          // sum of the timed nodes' median times
  double flops = 0, bytes = 0; // sums over the timed nodes
  double gflops = kNaN;        // flops / seconds / 1e9 (NaN when nothing was timed)
  double gbs = kNaN;           // bytes / seconds / 1e9
  Ceiling ceiling = Ceiling::sgemm;
  double ceiling_fraction = kNaN;  // gflops / the policy's compute ceiling
  double stream_fraction = kNaN;   // gbs / stream_read_gbs
  // Σ max(flops / compute ceiling, bytes / stream bandwidth) / seconds: how close the run is to
  // its roofline, compute- and memory-bound nodes alike. NaN when a ceiling was not measured.
  double roofline_fraction = kNaN;
  // The same over the matmul nodes alone (kind linear or experts): prefill matmul efficiency
  // (matmul_ceiling_fraction) and decode weight streaming (matmul_stream_fraction).
  std::int64_t matmul_nodes = 0;
  double matmul_seconds = 0, matmul_flops = 0, matmul_bytes = 0;
  double matmul_gflops = kNaN, matmul_gbs = kNaN;
  double matmul_ceiling_fraction = kNaN, matmul_stream_fraction = kNaN;
};
Throughput run_throughput(const RunResult& run, const MachineCeilings& m);

namespace detail {
// For tests of the atomic write: the same as write_report, calling after_run(run id) once each
// run's group is in the temp file (before commit). An exception from the hook propagates; the
// temp file is removed and nothing appears at path.
using AfterRunHook = std::function<void(const std::string& run_id)>;
void write_report(const Report& r, const std::string& path, const AfterRunHook& after_run);
}  // namespace detail

}  // namespace g4::harness
