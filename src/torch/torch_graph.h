// Lowering of the graph IR to LibTorch: a torch::nn::Module whose forward()
// interprets the node list with ATen operators, so that autograd can train the
// graph's weights (src/train) or differentiate through a model (white-box attacks).
//
// Weights: every float initializer read as a Conv weight/bias, Gemm B/C, MatMul
// operand or BatchNormalization scale/B is a trainable parameter (requires_grad);
// BatchNormalization mean/var are buffers that training mode updates (torch
// momentum = 1 - ONNX momentum, i.e. 0.1 for the ONNX default 0.9). Other float
// constants are non-trainable buffers. is_training() selects BatchNormalization's
// batch statistics and active Dropout; eval() gives the ONNX inference semantics.
//
// Dynamic batch: the constructor fixes the graph inputs' unknown first dimension
// to kTraceBatch and runs infer_shapes() with constant folding (no BN folding, no
// Dropout removal), so exporters' Shape/Gather/Concat chains become constant
// Reshape shapes. At run time Flatten uses the runtime shape, and a Reshape whose
// folded target contains kTraceBatch where its input had the batch in dim 0 gets
// the runtime batch there instead. Other input dimensions are fixed by the model.
// Operators whose result depends on the batch in other ways (Expand, Tile...) are
// not supported by the IR anyway.
//
// Supported operators: Conv (2-D, groups, dilations, any pads incl. asymmetric and
// auto_pad), Gemm, MatMul, Relu, LeakyRelu, Tanh, Sigmoid, HardSigmoid, HardSwish,
// Clip, Exp, Sqrt, Neg, Add, Sub, Mul, Div, MaxPool, AveragePool, GlobalAveragePool,
// GlobalMaxPool, BatchNormalization, Flatten, Reshape, Squeeze, Unsqueeze,
// Transpose, Concat, Identity, Dropout, Softmax, ReduceMean, Pad (constant mode).
// The constructor throws Error naming the first node it cannot lower; forward()
// throws Error("node 'x' (Op): ...") for a run-time problem (bad input shape).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "graph/ir.h"

namespace teesplit {

// Batch size at which the constructor folds shape chains (an unusual number, so
// that a Reshape dimension equal to it is the batch; see above).
constexpr int64_t kTraceBatch = 97;

// Copies between the engine's tensors and CPU torch tensors (F32, I64, I32, U8,
// Bool). from_torch accepts any device and layout; it copies to CPU, contiguous.
torch::Tensor to_torch(const Tensor& t);
Tensor from_torch(const torch::Tensor& t);

class TorchGraph : public torch::nn::Module {
 public:
  // Lowers a copy of g; throws Error naming the first unsupported node or input.
  explicit TorchGraph(const Graph& g);

  // Inputs in the order of Graph::inputs; outputs in the order of Graph::outputs.
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& inputs);
  // The single output of a single-input graph.
  torch::Tensor forward(const torch::Tensor& input);
  // The named values (graph outputs or any intermediate value, e.g. the feature
  // map at a cut). Stops after the last node that one of them needs.
  std::vector<torch::Tensor> forward_values(const std::vector<torch::Tensor>& inputs,
                                            const std::vector<std::string>& names);

  // Trainable parameters and BatchNormalization running statistics under their
  // ONNX initializer names, in graph order (what a trainer writes back).
  std::vector<std::pair<std::string, torch::Tensor>> named_weights() const;
  // Names of the trainable parameters only.
  std::vector<std::string> parameter_names() const;
  // The lowered graph: shapes inferred at batch kTraceBatch, shape chains folded.
  const Graph& graph() const { return g_; }

 private:
  enum class Kind { Parameter, RunningStat, Constant };
  void run_node(size_t index, std::vector<torch::Tensor>& env) const;
  torch::Tensor run_op(const Node& n, std::vector<torch::Tensor>& env) const;

  Graph g_;
  bool dynamic_batch_ = false;
  std::vector<torch::Tensor> constants_;  // by value id; undefined for non-constants
  std::vector<int> kind_;                 // by value id: -1, or a Kind
  std::vector<int> weight_order_;         // value ids of parameters and running stats
};

}  // namespace teesplit
