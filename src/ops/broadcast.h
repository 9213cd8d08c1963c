// Multidirectional (numpy) broadcasting: the result shape and a loop that walks
// the output in row-major order with the matching offset of every input.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/shape.h"

namespace teesplit {

// numpy broadcast of a and b: dims are aligned on the right, and each pair must
// be equal or contain a 1. Throws Error("<op>: shapes [..] and [..] cannot be
// broadcast (dimension k: 3 vs 4)").
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Element strides of `in` seen as a tensor of shape `out` (in right-aligned,
// stride 0 along broadcast dims); the result has out.size() entries. Throws if
// `in` cannot be broadcast to `out` (unidirectional broadcast).
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out, const char* op);

// Walks `out` in row-major order in runs along the last dimension and calls
// fn(out_offset, offsets, inner_strides, run_length) for each run, where
// offsets[k] is input k's element offset at the start of the run and
// inner_strides[k] its stride along the last dimension (0 or 1 when the input
// is contiguous). `strides[k]` comes from broadcast_strides.
template <size_t K, class F>
void broadcast_loop(const Shape& out, const std::array<std::vector<int64_t>, K>& strides, F&& fn) {
  const size_t rank = out.size();
  for (int64_t d : out)
    if (d == 0) return;
  std::array<int64_t, K> inner{};
  for (size_t k = 0; k < K; ++k) inner[k] = rank ? strides[k][rank - 1] : 0;
  const int64_t run = rank ? out[rank - 1] : 1;
  std::vector<int64_t> idx(rank, 0);
  std::array<int64_t, K> off{};
  int64_t out_off = 0;
  while (true) {
    fn(out_off, off, inner, run);
    out_off += run;
    // Advance the odometer over dims [0, rank-1).
    size_t d = rank > 0 ? rank - 1 : 0;
    while (d > 0) {
      --d;
      ++idx[d];
      for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
      if (idx[d] < out[d]) break;
      for (size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * out[d];
      idx[d] = 0;
      if (d == 0) return;
    }
    if (rank <= 1) return;
  }
}

}  // namespace teesplit
