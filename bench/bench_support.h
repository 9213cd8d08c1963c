// What the benchmark programs that run teesplit's own pipeline share
// (bench_privacy, serve_load): zoo models written once into a work folder, the
// cuts they measure, seeded inputs, and the worker binary beside the build.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "graph/cuts.h"
#include "graph/ir.h"

namespace teesplit::bench {

// WORK_DIR/ARCH_SIZE.onnx, written (zoo/zoo.h, default seed) unless it exists.
std::string ensure_zoo_model(const std::string& work_dir, const std::string& arch, int64_t size);

// Three cuts spread over the model: the valid cuts before the tail's (the
// classifier's, graph/cuts.h: tail_cut), at a quarter, a half and three
// quarters of the list. g is specialised (specialize_for_cuts).
std::vector<Cut> spread_cuts(const Graph& g);

// A float32 tensor of `shape` in [0, 1), the same for the same seed.
Tensor seeded_input(const Shape& shape, uint64_t seed);

// build/teesplit-enclave, for a program in build/bench/.
std::string worker_beside_build();

}  // namespace teesplit::bench
