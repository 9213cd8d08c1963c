// Pooling parameters shared by the reference kernel and the optimized backends.
#pragma once

#include "core/attrs.h"
#include "core/shape.h"

namespace teesplit {

// MaxPool / AveragePool over NCHW.
struct PoolParams {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dil_h = 1, dil_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool ceil_mode = false;
  bool count_include_pad = false;  // AveragePool only
  int64_t oh = 0, ow = 0;
  Shape out_shape() const { return {n, c, oh, ow}; }
};

// Resolves pooling attributes (kernel_shape, strides, dilations, pads, auto_pad,
// ceil_mode, count_include_pad) for a 4-D input; throws Error on bad values.
PoolParams pool_params(const Attrs& attrs, const Shape& x);

}  // namespace teesplit
