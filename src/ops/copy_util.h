// Internal: dtype-agnostic element copies for the data-movement operators.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/shape.h"
#include "ops/broadcast.h"

namespace teesplit::ops {

// Copies elements of `elem` bytes from src to a dense row-major dst of shape
// `out`, reading src at the element offsets given by `src_strides` (one per
// dimension of `out`, e.g. permuted or broadcast strides) plus `src_base`.
inline void strided_copy(void* dst, const void* src, size_t elem, const Shape& out,
                         const std::vector<int64_t>& src_strides, int64_t src_base = 0) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  std::array<std::vector<int64_t>, 1> st = {src_strides};
  broadcast_loop<1>(out, st,
                    [&](int64_t o, const std::array<int64_t, 1>& off,
                        const std::array<int64_t, 1>& inner, int64_t len) {
                      const int64_t base = src_base + off[0];
                      if (inner[0] == 1) {
                        std::memcpy(d + static_cast<size_t>(o) * elem,
                                    s + static_cast<size_t>(base) * elem,
                                    static_cast<size_t>(len) * elem);
                        return;
                      }
                      for (int64_t i = 0; i < len; ++i)
                        std::memcpy(d + static_cast<size_t>(o + i) * elem,
                                    s + static_cast<size_t>(base + i * inner[0]) * elem, elem);
                    });
}

}  // namespace teesplit::ops
