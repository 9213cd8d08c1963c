// Graph passes. specialize() is what every backend compiles: all shapes known,
// constants folded, no-op nodes gone, BatchNormalization folded into Conv.
// Every pass keeps the graph in standard ONNX operators, so that the reference
// backend runs exactly the graph an optimised backend runs.
#pragma once

#include <vector>

#include "graph/ir.h"

namespace teesplit {

// Copy of g with the given input shapes (one per Graph::inputs; a dimension
// that is known in g must match), then: infer_shapes (folding constants),
// remove_noops, fold_batchnorm, remove_dead. Throws Error naming the node.
Graph specialize(const Graph& g, const std::vector<Shape>& input_shapes);

// Shape and dtype of every node output from the op schemas (ops/op.h), in
// topological order. With fold, nodes whose inputs are all constant, and Shape
// and Size nodes whose input shape is known, are evaluated with the reference
// kernels and removed: their outputs become constants (this is what turns the
// Shape/Gather/Unsqueeze/Concat chains of exporters into plain Reshape shapes).
// Requires known graph input shapes. Throws Error("node 'x' (Conv): ...").
void infer_shapes(Graph& g, bool fold = true);
// Removes Identity and Dropout (inference mode) by rewiring their consumers.
void remove_noops(Graph& g);
// Folds BatchNormalization (inference) into the Conv before it when the Conv's
// output feeds only that BatchNormalization.
void fold_batchnorm(Graph& g);

// The default input shapes of g with unknown dimensions set to `batch` for the
// first dimension; throws if any other dimension is unknown.
std::vector<Shape> default_input_shapes(const Graph& g, int64_t batch = 1);

// Multiply-add FLOPs (x2) of Conv, Gemm and MatMul nodes, plus one per output
// element of the other nodes. Needs known shapes.
double graph_flops(const Graph& g);
double node_flops(const Graph& g, const Node& n);

}  // namespace teesplit
