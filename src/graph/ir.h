// The graph IR: values (tensors) and nodes (operators) in topological order.
// Import fills it from ONNX; passes rewrite it; backends compile it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/attrs.h"
#include "core/tensor.h"

namespace teesplit {

struct Value {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;                     // negative dims are unknown until specialised
  std::optional<Tensor> constant;  // initializer or folded constant
  bool is_constant() const { return constant.has_value(); }
};

struct Node {
  std::string name;          // ONNX node name (made unique at import)
  std::string op;            // ONNX op_type
  std::vector<int> inputs;   // value ids; -1 for an absent optional input
  std::vector<int> outputs;  // value ids; -1 for an unused optional output
  Attrs attrs;
};

class Graph {
 public:
  std::string name;
  int64_t opset = 13;
  std::map<std::string, std::string> metadata;  // ONNX metadata_props
  std::vector<Value> values;
  std::vector<Node> nodes;  // topological order
  std::vector<int> inputs;  // non-constant graph inputs
  std::vector<int> outputs;

  int add_value(Value v);
  // Id of the value with this name, or -1.
  int find_value(const std::string& name) const;
  Value& value(int id) { return values.at(static_cast<size_t>(id)); }
  const Value& value(int id) const { return values.at(static_cast<size_t>(id)); }

  // For each value, the nodes that read it (index into nodes). Recompute after edits.
  std::vector<std::vector<int>> consumers() const;
  // For each value, the node that writes it or -1.
  std::vector<int> producers() const;
  // Checks the structural invariants (ids in range, single producer, topological
  // order, outputs defined); throws Error naming the offending node.
  void validate() const;
  // Drops nodes whose outputs nobody reads and values nothing refers to.
  void remove_dead();
  // Total bytes of constant tensors still referenced by nodes.
  size_t constant_bytes() const;

 private:
  std::map<std::string, int> by_name_;
};

}  // namespace teesplit
