// Activations as the backends' planners see them, in one place: which node
// computes which activation with which parameters, and which nodes after a
// value form one activation that can be fused into the step that writes it (a
// single activation node, or SiLU written as Mul(x, Sigmoid(x))). Each backend
// maps an Activation to its own kernels (oneDNN eltwise algorithms, the CUDA
// ActSpec) and keeps its own policy (chains, what it can run).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "graph/ir.h"

namespace teesplit {

enum class ActKind : uint8_t {
  Relu,
  LeakyRelu,  // alpha: slope below zero (ONNX default 0.01)
  Sigmoid,
  HardSigmoid,  // max(0, min(1, alpha * x + beta)) (defaults 0.2, 0.5)
  HardSwish,
  Tanh,
  Exp,
  Sqrt,
  Neg,
  Clip,  // min(max(x, min), max)
  SiLU,  // x * sigmoid(x): only from the Mul(x, Sigmoid(x)) pattern
};

// One activation with the node's parameters (ONNX defaults filled in).
struct Activation {
  ActKind kind = ActKind::Relu;
  float alpha = 0.f, beta = 0.f;  // LeakyRelu, HardSigmoid
  // Clip: the bound the node gives, from the attribute (opset < 11) or from a
  // constant input (which wins); absent means unbounded on that side.
  std::optional<float> min, max;
};

// The activation node n computes from its first input; nullopt when n is not
// one of the above, its first input is absent, or a Clip bound is an input that
// is not a float32 constant of one element.
std::optional<Activation> activation_of(const Graph& g, const Node& n);

// Who reads each value, as a planner sees it while it lowers the nodes in order.
struct Readers {
  const Graph& g;
  const std::vector<std::vector<int>>& of;  // Graph::consumers(): a node once per input it reads
  const std::vector<char>& is_output;       // per value: a graph output
  const std::vector<char>& consumed;        // per node: lowered already, or fused into a step

  // The node that reads v, when v is no graph output and exactly one input of
  // one unconsumed node reads it; else -1.
  int sole_reader(int v) const;
  // True when v is no graph output and its readers are exactly nodes a and b
  // (a != b), one input each.
  bool read_only_by(int v, int a, int b) const;
};

// SiLU around Sigmoid node s (x its input): the unconsumed Mul that computes
// Mul(x, Sigmoid(x)) or Mul(Sigmoid(x), x), with x's shape, and is the only
// reader of the sigmoid's output (no graph output); -1 when there is none.
// Says nothing about x's other readers: a standalone SiLU still reads x.
int silu_mul(const Readers& r, int s);

// The activation that reads v and can be computed in its place, so that v is
// never stored: v is no graph output, and its readers are either one
// unconsumed activation node that reads v once as its first input, or exactly
// an unconsumed Sigmoid s and the Mul silu_mul(r, s) (SiLU).
struct ActivationMatch {
  Activation act;
  int node = -1;  // the activation node, or SiLU's Sigmoid
  int mul = -1;   // SiLU: its Mul; -1 otherwise
  int out = -1;   // the value the activation writes
};
std::optional<ActivationMatch> fusable_activation(const Readers& r, int v);

}  // namespace teesplit
