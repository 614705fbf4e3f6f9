#pragma once
// `gemma4-harness report html R.h5 --out R.html`: a self-contained HTML page (plots embedded as
// base64 PNG) drawn by matplotlib: reports/render/plots.py, run by Debian's /usr/bin/python3
// (matplotlib + h5py; GEMMA4_PYTHON names another interpreter). The C++ side validates the report
// (read_report: schema and version), writes a small JSON of what the file does not hold (each
// source's sliding window and layer types, from the configs) and runs the script.
#include <string>

namespace g4::harness {

// The interpreter: $GEMMA4_PYTHON, else /usr/bin/python3.
std::string plot_python();

// The sidecar JSON handed to plots.py: {"sources": {source: {"variant", "sliding_window",
// "layer_types": ["sliding", "full", ...]}}} for the sources whose config can be found.
std::string plot_context_json(const std::string& report_path);

// Renders report_path into out_path. A missing interpreter or library -> g4::ConfigError naming
// what is missing (one line); a failing script -> g4::IoError with its last error line.
void render_html(const std::string& report_path, const std::string& out_path);

}  // namespace g4::harness
