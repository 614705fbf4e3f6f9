#pragma once
// Position-based average pooling of the vision pooler, per image.
//
//   k  = floor(sqrt(Np / Nt))   (Np patches incl. padding, Nt = output length); k²·Nt must be Np
//   W  = max over patches of max(pos_x, 0) + 1          (the patch-grid width)
//   slot(n) = floor(max(pos_x,0) / k) + floor(W / k) · floor(max(pos_y,0) / k)
//   pooled[slot] = Σ_{n in slot} h[n] · (1/k²)          (padding rows of h are zero beforehand)
//   valid[slot]  = some patch (padding included, at slot 0) maps to it
//
//   h  row-major [Np, Hv] one image;  returns pooled [Nt, Hv] and valid [Nt]
// Padding patches (pos −1 clamped to 0) land in slot 0 with zero rows: they add nothing, and
// slot 0 is valid anyway. If Np == Nt the pooler skips this (Gemma4VisionPooler.forward).
// Upstream: modeling_gemma4.py Gemma4VisionPooler._avg_pool_by_positions (one-hot weights / k²
// times h; float32 there, float64 here — the exporter patches it).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/tensor.hpp"

namespace g4::vision {

inline Mat avg_pool_by_positions(const Mat& h, const std::vector<index_t>& pos_x, const std::vector<index_t>& pos_y,
                                 index_t Nt, std::vector<std::uint8_t>* valid) {
  const index_t Np = rows(h), Hv = cols(h);
  const index_t k = static_cast<index_t>(std::sqrt(static_cast<double>(Np / Nt)));  // int((Np // Nt) ** 0.5)
  G4_CHECK(k * k * Nt == Np, ShapeError, "pool: cannot pool {} patches to {} tokens (k = {}: k² · {} must be {})", Np,
           Nt, k, Nt, Np);
  index_t W = 0;
  for (index_t n = 0; n < Np; ++n) W = std::max(W, std::max<index_t>(pos_x[n], 0) + 1);
  const double w = 1.0 / static_cast<double>(k * k);
  Mat out = xt::zeros<double>({static_cast<size_t>(Nt), static_cast<size_t>(Hv)});
  if (valid) valid->assign(static_cast<size_t>(Nt), 0);
  for (index_t n = 0; n < Np; ++n) {
    const index_t slot = std::max<index_t>(pos_x[n], 0) / k + (W / k) * (std::max<index_t>(pos_y[n], 0) / k);
    G4_CHECK(slot >= 0 && slot < Nt, ShapeError, "pool: patch {} at ({}, {}) falls in slot {} of {}", n, pos_x[n],
             pos_y[n], slot, Nt);
    for (index_t d = 0; d < Hv; ++d) out(slot, d) += w * h(n, d);
    if (valid) (*valid)[slot] = 1;
  }
  return out;
}

}  // namespace g4::vision
