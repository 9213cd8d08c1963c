// Helpers shared by the teesplit subcommands (cmd_*.cpp); the subcommands
// themselves are registered through cli.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/numbers.h"
#include "core/tensor.h"
#include "runtime/session.h"

namespace teesplit {

// Loads an ONNX model into a session on opts.backend; throws Error naming the file.
std::unique_ptr<Session> open_session(const std::string& path, const SessionOptions& opts);
// An input for `batch` samples of a model input declared as `declared` (a
// negative dimension 0 is the batch): from a .npy file, a PNG/JPEG image
// (ImageNet preprocessing, resized to the input size), or seeded N(0,1) values.
Tensor make_input(const Shape& declared, const std::string& file, int64_t batch, uint64_t seed);
// The same for the single input of g.
Tensor make_input(const Graph& g, const std::string& file, int64_t batch, uint64_t seed);
// Prints the top-k classes of each row of a [N, classes] output.
void print_top_classes(const Tensor& out, int k);
size_t peak_rss_bytes();

}  // namespace teesplit
