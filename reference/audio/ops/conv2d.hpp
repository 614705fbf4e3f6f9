#pragma once
// 2-D convolution (cross-correlation, as torch.nn.Conv2d), no bias, no dilation, one group.
//
//   y[b, o, i, j] = Σ_c Σ_{p<kh} Σ_{q<kw} w[o, c, p, q] · x[b, c, s·i + p − pad, s·j + q − pad]
//   (x is 0 outside its extent: zero padding of `pad` on each side of both spatial axes)
//
//   x  row-major [B, Cin, H, W]      (audio: H = time, W = frequency)
//   w  row-major [Cout, Cin, kh, kw]
//   y  row-major [B, Cout, Ho, Wo],  Ho = conv_output_length(H, kh, s, pad), Wo likewise
// Sums run over c, then p, then q in increasing order (torch's order differs: rounding only).
// Upstream: torch.nn.Conv2d in Gemma4AudioSubSampleConvProjectionLayer (3×3, stride 2, padding 1).
#include <vector>

#include "reference/common/check.hpp"
#include "reference/common/dims.hpp"

namespace g4::audio::ops {

// floor((n + 2·pad − k) / stride) + 1: torch's output length (dilation 1); 0 if the input is too short.
inline index_t conv_output_length(index_t n, index_t k, index_t stride, index_t pad) {
  const index_t span = n + 2 * pad - k;
  return span < 0 ? 0 : span / stride + 1;
}

struct Conv2dShape {
  index_t B, Cin, H, W, Cout, kh, kw, stride, pad;
  index_t Ho() const { return conv_output_length(H, kh, stride, pad); }
  index_t Wo() const { return conv_output_length(W, kw, stride, pad); }
};

inline std::vector<double> conv2d(const std::vector<double>& x, const std::vector<double>& w, const Conv2dShape& s) {
  G4_CHECK(index_t(x.size()) == s.B * s.Cin * s.H * s.W, ShapeError, "conv2d: input has {} values, expected [{}, {}, {}, {}]",
           x.size(), s.B, s.Cin, s.H, s.W);
  G4_CHECK(index_t(w.size()) == s.Cout * s.Cin * s.kh * s.kw, ShapeError,
           "conv2d: weight has {} values, expected [{}, {}, {}, {}]", w.size(), s.Cout, s.Cin, s.kh, s.kw);
  const index_t Ho = s.Ho(), Wo = s.Wo();
  std::vector<double> y(size_t(s.B * s.Cout * Ho * Wo), 0.0);
  for (index_t b = 0; b < s.B; ++b)
    for (index_t o = 0; o < s.Cout; ++o)
      for (index_t i = 0; i < Ho; ++i)
        for (index_t j = 0; j < Wo; ++j) {
          double acc = 0.0;
          for (index_t c = 0; c < s.Cin; ++c)
            for (index_t p = 0; p < s.kh; ++p) {
              const index_t r = s.stride * i + p - s.pad;
              if (r < 0 || r >= s.H) continue;
              for (index_t q = 0; q < s.kw; ++q) {
                const index_t col = s.stride * j + q - s.pad;
                if (col < 0 || col >= s.W) continue;
                acc += w[((o * s.Cin + c) * s.kh + p) * s.kw + q] * x[((b * s.Cin + c) * s.H + r) * s.W + col];
              }
            }
          y[((b * s.Cout + o) * Ho + i) * Wo + j] = acc;
        }
  return y;
}

}  // namespace g4::audio::ops
