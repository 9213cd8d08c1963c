// What a model file may make teesplit allocate or compute before it runs: the
// bounds that shape inference and constant folding (graph/passes.h: infer_shapes,
// specialize) enforce, in one place. A model is untrusted input; a few hundred
// bytes must not be able to ask for gigabytes or minutes. docs/usage.md
// ("Limits on model files") states the rule for users.
//
//  1. Shapes. No inferred tensor (graph inputs included) has more than kMaxRank
//     dimensions or an extent above kMaxElements. The extent is the product of the
//     dimensions with zeros counted as 1, so a shape [0, 2^40] is refused as well:
//     kernels size per-dimension tables by the dimensions, not by the element count.
//  2. Constant inputs that shape inference reads as lists (Reshape's shape, the
//     axes, pads, starts, ends and steps inputs) hold at most kMaxShapeList values.
//  3. Folded constants. Constant folding creates constants whose extents, charged
//     kFoldBytesPerElement bytes each whatever their type, add up to at most
//         max(kFoldFloorBytes, kFoldPerModelByte x the model's bytes),
//     where the model's bytes are those of its constants (initializers, external
//     data included) and attribute payloads as loaded. The kernels' largest
//     temporaries (Pad's index tables, ReduceMean's accumulators) take at most
//     as much again.
//  4. Folding work. The elements that folding reads and writes (times the rank:
//     kernels step one index per dimension), plus the multiply-adds of
//     Conv/Gemm/MatMul and the window elements of pooling, add up to at most
//     max(kFoldFloorWork, kFoldPerModelByte x the model's bytes).
//     Shape inference's own full reads of constants (Gather's index check) count
//     against the same budget.
// With a model file of at most 1 MB (at most ~8 MB of decoded constants: a one-
// byte varint can become an 8-byte int64), folding therefore holds at most
// 256 MiB plus the kernels' temporaries and does about 2^26 element operations at
// most: `teesplit info` stays well under 1 GB and 5 s (measured: docs/testing.md).
// Real models fold only shape chains and a few weight transforms, far below both.
#pragma once

#include <cstdint>

#include "core/shape.h"

namespace teesplit::limits {

inline constexpr int64_t kMaxRank = 64;
inline constexpr int64_t kMaxElements = int64_t{1} << 34;  // 64 GiB of float32
inline constexpr int64_t kMaxShapeList = 2 * kMaxRank;
inline constexpr int64_t kFoldBytesPerElement = 8;
inline constexpr int64_t kFoldFloorBytes = int64_t{256} << 20;
inline constexpr int64_t kFoldFloorWork = int64_t{1} << 26;
inline constexpr int64_t kFoldPerModelByte = 8;

// Product of the dimensions with zeros (and unknown, negative ones) counted as 1,
// saturating at INT64_MAX: the size every per-dimension table a kernel builds is
// bounded by.
inline int64_t shape_extent(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d <= 1) continue;
    if (n > INT64_MAX / d) return INT64_MAX;
    n *= d;
  }
  return n;
}

}  // namespace teesplit::limits
