// teesplit train --arch vgg16|resnet50|efficientnet_b0 --dataset SPEC -o MODEL.onnx [...]
// Built only with LibTorch (TEESPLIT_HAVE_TORCH); see docs/training.md.
#ifdef TEESPLIT_HAVE_TORCH

#include <cstdio>
#include <string>

#include "tools/teesplit/args.h"
#include "tools/teesplit/commands.h"
#include "train/train.h"

namespace teesplit {

int cmd_train(int argc, char** argv) {
  static const char* kUsage =
      "usage: teesplit train --arch vgg16|resnet50|efficientnet_b0 --dataset SPEC -o MODEL.onnx\n"
      "    [--input-size S] [--width W] [--epochs E] [--batch B] [--lr LR]\n"
      "    [--optimizer sgd|adam] [--weight-decay WD] [--warmup EPOCHS] [--seed N]\n"
      "    [--threads N] [--no-augment] [--crop-pad P] [--train-limit N] [--test-limit N]\n"
      "    [--no-progress]\n"
      "    TON_IoT: [--side 8|16] [--target binary|type]";
  Args a(argc, argv, {"no-augment", "augment", "no-progress", "help"},
         {"arch", "dataset", "input-size", "width", "epochs", "batch", "lr", "optimizer",
          "weight-decay", "warmup", "crop-pad", "seed", "threads", "train-limit", "test-limit",
          "output", "side", "target"});
  if (a.has("help")) {
    std::printf("%s\n", kUsage);
    return 0;
  }
  if (!a.positional().empty() || !a.has("arch") || !a.has("output")) {
    std::fprintf(stderr, "teesplit train: %s\n", kUsage);
    return 2;
  }
  TrainOptions o;
  o.arch = a.get("arch", o.arch);
  o.dataset = a.get("dataset", o.dataset);
  o.output = a.get("output", "");
  o.input_size = a.get_int("input-size", o.input_size, 32, 4096);
  o.width = a.get_double("width", o.width, 1e-3, 16);
  o.epochs = a.get_int("epochs", o.epochs, 1, 10000);
  o.batch = a.get_int("batch", o.batch, 2, 65536);
  o.lr = a.get_double("lr", 0, 0, 10);
  o.optimizer = a.get("optimizer", o.optimizer);
  o.weight_decay = a.get_double("weight-decay", -1, -1, 1);
  o.warmup_epochs = a.get_double("warmup", o.warmup_epochs, 0, 1000);
  o.seed = static_cast<uint64_t>(a.get_int("seed", 0, 0, INT64_MAX));
  o.threads = static_cast<int>(a.get_int("threads", 2, 1, 1024));
  o.train_limit = a.get_int("train-limit", 0, 0, INT64_MAX);
  o.test_limit = a.get_int("test-limit", 0, 0, INT64_MAX);
  o.crop_pad = a.get_int("crop-pad", -1, -1, 1024);
  if (a.has("no-augment")) o.augment = 0;
  if (a.has("augment")) o.augment = 1;
  o.progress = !a.has("no-progress");
  o.data.tabular_side = a.get_int("side", o.data.tabular_side, 8, 16);
  o.data.target = a.get("target", o.data.target);
  const TrainResult r = train_model(o);
  return r.engine_checked > 0 && r.engine_agree < r.engine_checked * 99 / 100 ? 1 : 0;
}

}  // namespace teesplit

#endif  // TEESPLIT_HAVE_TORCH
