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
int cmd_cuts(int argc, char** argv);
int cmd_split(int argc, char** argv);
#ifdef TEESPLIT_HAVE_TORCH
int cmd_train(int argc, char** argv);  // LibTorch builds only (cmd_train.cpp)
#endif
// `run --split DIR`: front.tsf then back.onnx from DIR (hashes checked against
// its manifest and the model), on the backend of `opts`.
std::vector<Tensor> run_split(const std::string& dir, const std::string& model_path,
                              const std::string& key_file, const SessionOptions& opts,
                              const Tensor& input);

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
