#pragma once
// Softmax over one row: p_i = exp(z_i − max z) / Σ_j exp(z_j − max z).
// Entries with allowed[i] == 0 get probability exactly 0 (a masked logit, −∞ in exact
// arithmetic). A row with nothing allowed returns all zeros (transformers' eager attention
// returns a meaningless uniform row there; such rows only occur at padding queries, which the
// harness never compares).
// Upstream: torch.nn.functional.softmax.
#include <cmath>
#include <cstdint>
#include <limits>

#include "reference/common/dims.hpp"

namespace g4::ops {

inline void softmax_row(const double* z, const std::uint8_t* allowed, double* p, index_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (index_t i = 0; i < n; ++i)
    if (!allowed || allowed[i]) m = std::max(m, z[i]);
  if (m == -std::numeric_limits<double>::infinity()) {
    for (index_t i = 0; i < n; ++i) p[i] = 0.0;
    return;
  }
  double sum = 0.0;
  for (index_t i = 0; i < n; ++i) {
    p[i] = (!allowed || allowed[i]) ? std::exp(z[i] - m) : 0.0;
    sum += p[i];
  }
  for (index_t i = 0; i < n; ++i) p[i] /= sum;
}

}  // namespace g4::ops
