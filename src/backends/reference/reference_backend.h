// The reference backend: runs a specialised graph node by node with the plain
// C++ kernels of src/ops. Slow and simple; the oracle for the other backends.
#pragma once

#include <memory>

#include "backends/backend.h"

namespace teesplit {

std::unique_ptr<Backend> make_reference_backend();

// Runs every node of a specialised graph with the reference kernels and returns
// all values (index = value id), intermediate ones included; tests use it to
// inspect them. (Constant folding runs the kernels itself, graph/passes.cpp.)
std::vector<Tensor> run_reference_all(const Graph& g, const std::vector<Tensor>& inputs);

}  // namespace teesplit
