// Internal to the CUDA backend: the device-independent half of compile(). The
// planner turns a specialised graph into a list of steps over buffers (fusing
// conv + bias + residual add + activation, activations into GEMMs and binary
// ops, views for Flatten/Reshape/Squeeze/Unsqueeze) and plans one activation
// arena by liveness. It makes no CUDA call, so it is tested without a GPU.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "backends/cuda/act.h"
#include "backends/memory_plan.h"
#include "core/tensor.h"
#include "graph/ir.h"
#include "ops/conv.h"
#include "ops/pool.h"

namespace teesplit::cuda {

// A float32 device tensor: arena storage, a view of another buffer's storage,
// or a constant uploaded once.
struct Buf {
  std::string name;  // the graph value (or a planner temporary)
  Shape shape;
  int root = -1;              // view: the buffer whose storage this one shares
  int constant = -1;          // index into Plan::constants; -1 for activations
  int first = -1, last = -1;  // steps that touch the storage (roots only)
  size_t offset = 0;          // arena byte offset (activation roots only)
  size_t bytes() const;
};

enum class StepKind { Conv, Pad, Pool, GlobalPool, Unary, Binary, Gemm, Softmax };

// Operand order in Step::in, per kind:
//   Conv: x, w, bias (-1 if none), residual z (-1 if none)
//   Pad, Pool, GlobalPool, Unary, Softmax: x
//   Binary: a, b (b_stride/a_stride in `bin` describe the broadcast)
//   Gemm: a, b, c (-1 if none; a constant already broadcast to [m, n] and scaled by beta)
struct Step {
  StepKind kind = StepKind::Unary;
  std::string label;  // "node 'conv1' (Conv) + Relu"
  std::vector<int> in;
  int out = -1;
  ActSpec act;            // fused activation (Conv, Gemm, Binary) or the op itself (Unary)
  ConvParams conv;        // Conv (pads already zero when a Pad step precedes it); Pad uses its pads
  PoolParams pool;        // Pool
  bool pool_max = false;  // Pool, GlobalPool
  int64_t planes = 0, area = 0;  // GlobalPool
  int bin_op = 0;                // Binary: BinOp
  int bin_ndim = 0;
  int64_t bin_dims[6] = {}, bin_a_stride[6] = {}, bin_b_stride[6] = {};
  int64_t m = 0, n = 0, k = 0;  // Gemm (row-major Y[m,n] = alpha * op(A) op(B) + C)
  bool trans_a = false, trans_b = false;
  float alpha = 1.f;
  int64_t outer = 0, axis_len = 0, inner = 0;  // Softmax
  int64_t count = 0;                           // Unary: elements
};

struct Plan {
  std::vector<Buf> bufs;
  std::vector<Step> steps;
  std::vector<Tensor> constants;  // float32 host tensors to upload
  std::vector<int> inputs;        // buffer per graph input
  // Per graph output: a buffer, or (buffer -1) a constant output returned as is.
  std::vector<int> outputs;
  std::vector<Tensor> constant_outputs;  // aligned with outputs (defined where outputs[i] < 0)
  size_t arena_bytes = 0;
  size_t constant_bytes = 0;
  int root_of(int b) const {
    return bufs[static_cast<size_t>(b)].root < 0 ? b : bufs[static_cast<size_t>(b)].root;
  }
};

// Empty when the CUDA backend can run node n of specialised graph g, else why not.
std::string unsupported_reason(const Graph& g, const Node& n);

// Plans a specialised graph; throws Error naming the first node it cannot plan.
Plan make_plan(const Graph& g);

// One line per step ("conv node 'x' (Conv) + Relu: in [..] out [..]"), for
// TEESPLIT_CUDA_VERBOSE and tests.
std::string describe(const Plan& p);

}  // namespace teesplit::cuda
