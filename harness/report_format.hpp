#pragma once
// Small text helpers shared by the report subcommands (show, compare, gate, bisect): number
// formats, a fixed-width table, and where a tap sits in the decoder.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace g4::harness::fmtx {

std::string sci(double v);            // 1.234e-05, nan, inf
std::string pct(double frac);         // 12.3%, n/a
std::string ratio(double r);          // x1.00, x2.5e+03, inf, nan
std::string rate(double v);           // 123, 4.56, 0.0789, n/a

// Fixed-width text table; right[c] right-aligns column c. Each line starts with indent.
std::string table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right,
                  const std::string& indent = "");

// Markdown-safe cell text ('|' escaped, newlines flattened) and an inline code span.
std::string md(std::string_view s);
std::string code(std::string_view s);

// The decoder layer a tap belongs to: the number after "layers." in its module path
// ("model.language_model.layers.3.self_attn.q_proj" -> 3); -1 for taps outside the layers
// (embedding, PLE, final norm, LM head).
int tap_layer(std::string_view tap);
// The op part of a tap, after its layer ("self_attn.q_proj"); the whole tap outside the layers.
std::string tap_op(std::string_view tap);

}  // namespace g4::harness::fmtx
