// Cut points: where a specialised graph (graph/passes.h: specialize) can be split
// into a front partition (run in the enclave) and a back partition (run on the
// accelerator) with exactly one tensor, the feature map, between them.
//
// Cut k follows node k (index into Graph::nodes, topological order). It is valid
// when exactly one non-constant tensor is produced by nodes [0..k] or is a graph
// input, and is read by a node in (k..end] or is a graph output; that tensor must
// be produced by a front node (the graph input itself is never the feature map),
// and the back must keep at least one node. Residual and squeeze-excitation
// branches therefore cannot be cut through.
#pragma once

#include <string>
#include <vector>

#include "graph/ir.h"

namespace teesplit {

struct Cut {
  int index = -1;    // the node the cut follows
  std::string name;  // readable, stable name (see cut_name)
  int feature = -1;  // value id of the feature map in the graph the cut was found in
};

// All valid cuts of g, in order. g must be specialised (shapes known).
std::vector<Cut> enumerate_cuts(const Graph& g);

// Empty when cut k is valid, else why not, e.g. "2 tensors cross: 'a' and 'b'
// (inside a residual block that joins at node '/layer1/layer1.0/Add')".
std::string explain_cut(const Graph& g, int k);

// Readable name of the cut after node k, derived from the scope path of the
// node's name as PyTorch's exporter writes it: "/features/features.4/MaxPool" ->
// "features.4", "/layer2/layer2.1/relu_2/Relu" -> "layer2.1" (the largest module
// that ends at node k; a container of numbered children names its last child).
// Falls back to the ONNX node name when the name has no scope or is ambiguous.
// Names of the cuts of one graph are unique; only valid cuts are named.
std::string cut_name(const Graph& g, int k);

// Finds a cut by index ("12") or by name ("layer2.1"); throws Error with the
// reason when the position is not a valid cut or the name is unknown.
Cut resolve_cut(const Graph& g, const std::string& spec);

// The front partition of a valid cut: nodes [0..k], the graph's inputs, one
// output (the feature map). Only referenced values are kept; ids are renumbered.
Graph front_partition(const Graph& g, const Cut& cut);
// The back partition: nodes (k..end], one input (the feature map, under its own
// name), the graph's outputs. With `end` (a later cut: split --protect-output),
// nodes (k..end.index] and one output, end's feature map; the nodes after `end`
// are the tail partition, back_partition(g, end).
Graph back_partition(const Graph& g, const Cut& cut, const Cut* end = nullptr);

// The cut that starts the tail partition of split --protect-output: the last
// valid cut before the graph's last Gemm or MatMul, so that the tail holds at
// least the classifier and everything after it (Softmax, ...). It must follow
// `front` with at least one node between them for the back partition; throws
// Error saying why not (no Gemm/MatMul, or the front cut is too late).
Cut tail_cut(const Graph& g, const Cut& front);

// --shard "I/N" (take every N-th selected cut, from the I-th) with 0 <= I < N;
// throws Error otherwise.
void parse_shard(const std::string& spec, int* index, int* count);
// Whether the selected cut at `position` belongs to shard index/count.
inline bool in_shard(size_t position, int index, int count) {
  return static_cast<int>(position % static_cast<size_t>(count)) == index;
}

// The cuts a --cuts spec selects on g = specialize_for_cuts(model), in graph order:
//  all     every valid cut;
//  blocks  the first valid cut at or after the first Conv (the first conv's
//          output), then the last valid cut before each change of the feature
//          map's spatial size (the end of each stage), then the last valid cut
//          whose feature map still has a spatial extent (rank 4), then the last
//          valid cut of the model; duplicates removed;
//  LIST    comma-separated names or indices (resolve_cut), put in graph order.
// Throws Error naming an unknown cut.
std::vector<Cut> select_cuts(const Graph& g, const std::string& spec);

// Statistics of one cut on a specialised graph.
struct CutStats {
  Shape feature_shape;
  size_t feature_bytes = 0;
  double front_flops = 0;
  double back_flops = 0;
  size_t front_param_bytes = 0;  // constant tensors the front nodes read
};
CutStats cut_stats(const Graph& g, const Cut& cut);

// Cuts of a model are those of its graph specialised at batch 1.
Graph specialize_for_cuts(const Graph& model);

// The back partition of cut (found in g1 = specialize_for_cuts(model)) with a
// dynamic batch where that is provably safe: the model is specialised a second
// time at batch 97, and the two back partitions may differ only in dimension 0
// (1 vs 97) and in Reshape targets [1, ...] vs [97, ...] whose input has the
// batch in dimension 0 (written as [0, ...]: copy the input's batch). Otherwise,
// or when the model's batch is fixed, the batch-1 partition unchanged. With
// `end`, the back partition up to that cut (back_partition).
Graph batchable_back_partition(const Graph& model, const Graph& g1, const Cut& cut,
                               const Cut* end = nullptr);

}  // namespace teesplit
