// Internal helpers shared by the reference kernels: input access and validation
// with messages that name the operator. Not part of the public API.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "core/attrs.h"
#include "core/error.h"
#include "core/tensor.h"
#include "ops/op.h"

namespace teesplit::ops {

// True when input i exists and is present.
inline bool has_input(const std::vector<ValueInfo>& in, size_t i) {
  return i < in.size() && in[i].present;
}

// Input i, which must be present; `name` is the ONNX input name for the message.
const ValueInfo& required(const char* op, const std::vector<ValueInfo>& in, size_t i,
                          const char* name);

// Throws unless info.dtype is one of `allowed`.
void expect_dtype(const char* op, const char* name, const ValueInfo& info,
                  std::initializer_list<DType> allowed);
// Throws unless the shape has exactly `rank` dimensions (or, with max_rank >= 0,
// between rank and max_rank).
void expect_rank(const char* op, const char* name, const ValueInfo& info, int64_t rank,
                 int64_t max_rank = -1);
// Throws unless every dimension is known and non-negative.
void expect_known(const char* op, const char* name, const ValueInfo& info);

// The integer values of a constant input (I64 or I32, at most limits::kMaxShapeList
// of them: shapes, axes, pads); throws a clear error when the input is not a constant.
std::vector<int64_t> const_ints(const char* op, const char* name, const ValueInfo& info);

// ValueInfos for concrete tensors (nullptr is an absent input); value points at
// the tensor so that shape inference sees every input as a constant.
std::vector<ValueInfo> infos_of(const std::vector<const Tensor*>& in);

// Normalises axis for `rank` with an error naming the operator.
int64_t norm_axis(const char* op, int64_t axis, int64_t rank);

// Product of dims [begin, end).
int64_t dims_product(const Shape& s, size_t begin, size_t end);

// Row-major strides of a shape, in elements.
std::vector<int64_t> strides_of(const Shape& s);

}  // namespace teesplit::ops

namespace teesplit::ops {

// Sliding-window geometry along the two spatial axes (H, W) of Conv and pooling.
struct Window2d {
  int64_t stride[2] = {1, 1};
  int64_t dil[2] = {1, 1};
  int64_t pad_begin[2] = {0, 0};
  int64_t pad_end[2] = {0, 0};
  int64_t out[2] = {0, 0};
};

// Copies a resolved window into ConvParams / PoolParams (same field names).
template <class Params>
void apply_window(Params& p, const Window2d& win) {
  p.stride_h = win.stride[0];
  p.stride_w = win.stride[1];
  p.dil_h = win.dil[0];
  p.dil_w = win.dil[1];
  p.pad_top = win.pad_begin[0];
  p.pad_left = win.pad_begin[1];
  p.pad_bottom = win.pad_end[0];
  p.pad_right = win.pad_end[1];
  p.oh = win.out[0];
  p.ow = win.out[1];
}

// Reads strides, dilations, pads ([top, left, bottom, right]) and auto_pad
// (NOTSET, SAME_UPPER, SAME_LOWER, VALID) for an input of in_h x in_w and a
// kernel of k_h x k_w, and computes the output size (rounded up with
// ceil_mode, where a last window that would start in the end padding is
// dropped, as PyTorch and ONNX Runtime do). Throws on bad values or a
// non-positive output size.
Window2d resolve_window(const char* op, const Attrs& attrs, int64_t in_h, int64_t in_w, int64_t k_h,
                        int64_t k_w, bool ceil_mode);

}  // namespace teesplit::ops
