// The teesplit subcommands. Each returns the process exit code and reports its
// errors as one line on stderr (main() catches teesplit::Error).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/session.h"

namespace teesplit {

int cmd_run(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_demo(int argc, char** argv);

// Shared by the subcommands.
std::unique_ptr<Session> open_session(const std::string& path, const SessionOptions& opts);
// The model's input for `batch`: from a .npy file, a PNG/JPEG image (ImageNet
// preprocessing, resized to the model's input size), or seeded random values.
Tensor make_input(const Graph& g, const std::string& file, int64_t batch, uint64_t seed);
// Prints the top-k classes of each row of a [N, classes] output.
void print_top_classes(const Tensor& out, int k);
size_t peak_rss_bytes();
std::string human_bytes(double bytes);

}  // namespace teesplit
