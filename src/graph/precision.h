// The per-node precision rule of `--precision bf16` (docs/usage.md, "Precision").
//
// A node computes in bf16 exactly when it is a Conv, Gemm or MatMul with
// constant float32 weights whose reduction length K (the number of products
// summed per output: (C / group) * kh * kw for a Conv, the inner dimension for
// a Gemm/MatMul) is at least kBf16MinReduction. Every other node keeps fp32
// arithmetic (element-wise ops, pooling and post-ops run in the data type of
// their input, with fp32 math inside oneDNN).
//
// Why K: AMX multiplies tiles whose rows hold 32 bf16 values along K, and
// AVX512_BF16's dot product pairs K values; a layer with K < 32 (depthwise
// convolutions, K = 9 or 25; a stem on a 1-channel image, K = 9) fills a
// fraction of each tile, is bound by memory rather than arithmetic, and has no
// AMX kernel in oneDNN 2.6, so bf16 buys it no speed while each of its few
// products carries a full bf16 rounding of its input and weight.
#pragma once

#include <cstdint>

#include "graph/ir.h"

namespace teesplit {

inline constexpr int64_t kBf16MinReduction = 32;

// The reduction length K of a Conv (4-D constant weights) or a Gemm / MatMul
// (2-D constant right-hand side); 0 when n is none of these or its weights
// are not a float32 constant of that rank.
int64_t reduction_length(const Graph& g, const Node& n);

// True when the bf16 rule puts node n in bf16 (reduction_length >= 32).
bool computes_in_bf16(const Graph& g, const Node& n);

// The value id of n's weights (input 1) when computes_in_bf16(g, n), else -1.
int bf16_weight_value(const Graph& g, const Node& n);

}  // namespace teesplit
