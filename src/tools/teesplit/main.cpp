// teesplit: one CLI, one subcommand per job.
#include <cstdio>
#include <cstring>
#include <string>

#include "core/error.h"
#include "data/data_cli.h"
#include "tools/teesplit/commands.h"
#include "zoo/zoo.h"

namespace {

void usage() {
  std::printf(
      "teesplit: private DNN inference split between a TEE and an accelerator\n\n"
      "usage: teesplit [COMMAND] [ARGS]\n\n"
      "  (no command)   the main job: write a ResNet-50 zoo model, run it on oneDNN,\n"
      "                 check it against the reference kernels and time it\n"
      "  run MODEL.onnx [--input FILE] [--output OUT.npy] [--threads N] [--batch B]\n"
      "      [--split DIR [--key KEYFILE]]   run front.tsf then back.onnx\n"
      "  bench MODEL.onnx [--batch B] [--threads N] [--warmup W] [--runs R] [--json]\n"
      "  info MODEL.onnx [--batch B]\n"
      "  cuts MODEL.onnx [--json] [--backend cpu|reference]   valid cut points\n"
      "  split MODEL.onnx --at CUT -o DIR [--encrypt-with KEYFILE]\n"
      "  zoo vgg16|resnet50|efficientnet_b0 [-o FILE] [--input-size S] [--channels C]\n"
      "      [--classes K] [--width W] [--seed N]\n"
      "  data SPEC [--head N]   (SPEC: fashion-mnist, imagenet:DIR, ton-iot:CSV)\n"
      "  demo [--arch A] [--out DIR]   the main job with options\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace teesplit;
  const std::string cmd = argc > 1 ? argv[1] : "demo";
  try {
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      usage();
      return 0;
    }
    // Subcommands see their own arguments (argv[2..]); zoo/data get argv[1..].
    if (cmd == "run") return cmd_run(argc - 2, argv + 2);
    if (cmd == "bench") return cmd_bench(argc - 2, argv + 2);
    if (cmd == "info") return cmd_info(argc - 2, argv + 2);
    if (cmd == "cuts") return cmd_cuts(argc - 2, argv + 2);
    if (cmd == "split") return cmd_split(argc - 2, argv + 2);
#ifdef TEESPLIT_HAVE_TORCH
    if (cmd == "train") return cmd_train(argc - 2, argv + 2);
#endif
    if (cmd == "demo") return cmd_demo(argc > 1 ? argc - 2 : 0, argv + 2);
    if (cmd == "zoo") return zoo_main(argc - 1, argv + 1);
    if (cmd == "data") return data_main(argc - 1, argv + 1);
    std::fprintf(stderr, "teesplit: unknown command '%s' (try teesplit --help)\n", cmd.c_str());
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "teesplit %s: error: %s\n", cmd.c_str(), e.what());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "teesplit %s: error: out of memory\n", cmd.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "teesplit %s: error: %s\n", cmd.c_str(), e.what());
  }
  return 1;
}
