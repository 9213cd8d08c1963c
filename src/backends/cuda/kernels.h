// Launchers of the hand-written CUDA kernels (one operator family per .cu file).
// Every launcher only enqueues work on `stream` and returns the launch status
// (cudaGetLastError()); the caller checks it. Tensors are dense NCHW float32 in
// device memory; sizes were validated by the planner.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/act.h"

namespace teesplit::cuda {

// elementwise.cu: y[i] = act(x[i]) for i < n (x may equal y).
cudaError_t launch_activation(const float* x, float* y, int64_t n, ActSpec act,
                              cudaStream_t stream);
// elementwise.cu: conv epilogue over y [n, c, inner]:
//   y = act(y + bias[c] + z), bias and z optional (nullptr); z has y's shape.
cudaError_t launch_bias_act(float* y, const float* bias, const float* z, int64_t n, int64_t c,
                            int64_t inner, ActSpec act, cudaStream_t stream);

// binary.cu: y = act(a OP b) with numpy broadcasting expressed as strides over
// the (collapsed) output dims; a stride of 0 broadcasts. y may equal a or b when
// that operand is not broadcast.
enum class BinOp : int { Add, Sub, Mul, Div };
constexpr int kMaxBinaryDims = 6;
struct BinaryShape {
  int ndim = 0;
  int64_t dims[kMaxBinaryDims] = {};
  int64_t a_stride[kMaxBinaryDims] = {};
  int64_t b_stride[kMaxBinaryDims] = {};
};
cudaError_t launch_binary(const float* a, const float* b, float* y, const BinaryShape& shape,
                          BinOp op, ActSpec act, cudaStream_t stream);

// pool.cu: global average / max over `area` contiguous values for each of `planes`.
cudaError_t launch_global_pool(const float* x, float* y, int64_t planes, int64_t area, bool max,
                               cudaStream_t stream);
// pool.cu: 2-D max / average pooling with ONNX semantics (asymmetric pads,
// dilation, ceil_mode windows, count_include_pad) for the cases cuDNN cannot express.
struct Pool2dShape {
  int64_t n = 0, c = 0, h = 0, w = 0, kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0, oh = 0, ow = 0;
  bool max = true, count_include_pad = false;
};
cudaError_t launch_pool2d(const float* x, float* y, const Pool2dShape& p, cudaStream_t stream);

// pad.cu: y [n, c, h+pt+pb, w+pl+pr] = x zero-padded (for asymmetric conv pads).
cudaError_t launch_pad2d(const float* x, float* y, int64_t n, int64_t c, int64_t h, int64_t w,
                         int64_t pt, int64_t pl, int64_t pb, int64_t pr, cudaStream_t stream);

}  // namespace teesplit::cuda
