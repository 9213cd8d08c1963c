// The reference backend: runs a specialised graph node by node with the plain
// C++ kernels of src/ops. Slow and simple; the oracle for the other backends.
#pragma once

#include <memory>

#include "backends/backend.h"

namespace teesplit {

std::unique_ptr<Backend> make_reference_backend();

// Runs every node of a specialised graph with the reference kernels and returns
// all values (index = value id); used by constant folding and tests.
std::vector<Tensor> run_reference_all(const Graph& g, const std::vector<Tensor>& inputs);

}  // namespace teesplit
