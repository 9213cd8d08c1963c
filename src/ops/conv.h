// Conv parameters shared by the reference kernel and the optimized backends.
#pragma once

#include "core/attrs.h"
#include "core/shape.h"

namespace teesplit {

// 2-D convolution (NCHW input, OIHW weights with I = C / group).
struct ConvParams {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t oc = 0, kh = 0, kw = 0;      // weights [oc, c/group, kh, kw]
  int64_t group = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dil_h = 1, dil_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t oh = 0, ow = 0;  // output
  Shape out_shape() const { return {n, oc, oh, ow}; }
  double flops() const { return 2.0 * n * oc * oh * ow * (c / group) * kh * kw; }
};

// Resolves Conv attributes (kernel_shape, strides, dilations, pads, auto_pad,
// group) against the input and weight shapes; throws Error on any mismatch.
ConvParams conv_params(const Attrs& attrs, const Shape& x, const Shape& w);

}  // namespace teesplit
