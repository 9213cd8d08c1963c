// teesplit train --arch A --dataset SPEC -o MODEL.onnx [...] (docs/training.md).
// The training itself runs in the LibTorch plugin (torch_plugin.h); without it
// the command still parses and answers --help, and running it says what is
// missing.
#include <cstdio>
#include <string>
#include <thread>

#include "tools/teesplit/cli.h"
#include "tools/teesplit/torch_plugin.h"
#include "zoo/zoo.h"

namespace teesplit {
namespace {

struct TrainArgs {
  std::string arch, dataset = "fashion-mnist", output, optimizer = "sgd", target = "binary";
  int64_t input_size = 32, epochs = 10, batch = 128, train_limit = 0, test_limit = 0, crop_pad = -1,
          side = 8;
  double width = 0.25, lr = 0, weight_decay = -1, warmup = 0.5;
  uint64_t seed = 0;
  int threads = 0;
  bool no_augment = false, augment = false, no_progress = false;
};

int train(const TrainArgs& a) {
  if (a.augment && a.no_augment) throw UsageError("--augment and --no-augment exclude each other");
  TrainOptions o;
  o.arch = a.arch;
  o.dataset = a.dataset;
  o.output = a.output;
  o.input_size = a.input_size;
  o.width = a.width;
  o.epochs = a.epochs;
  o.batch = a.batch;
  o.lr = a.lr;
  o.optimizer = a.optimizer;
  o.weight_decay = a.weight_decay;
  o.warmup_epochs = a.warmup;
  o.seed = a.seed;
  o.threads =
      a.threads ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.train_limit = a.train_limit;
  o.test_limit = a.test_limit;
  o.crop_pad = a.crop_pad;
  if (a.no_augment) o.augment = 0;
  if (a.augment) o.augment = 1;
  o.progress = !a.no_progress;
  o.data.tabular_side = a.side;
  o.data.target = a.target;
  TrainResult r;
  std::string error;
  if (!torch_plugin().train(o, &r, &error)) fail(error);
  return r.engine_checked > 0 && r.engine_agree < r.engine_checked * 99 / 100 ? 1 : 0;
}

}  // namespace

Subcommand add_train_command(CLI::App& root) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* app =
      root.add_subcommand("train",
                          "train a zoo model on a data set with LibTorch and write it as ONNX "
                          "(docs/training.md)");
  app->add_option("--arch", a->arch, "the architecture")
      ->required()
      ->check(CLI::IsMember(zoo_archs()));
  app->add_option("--dataset", a->dataset, "a data set spec (teesplit data --help)")
      ->capture_default_str();
  app->add_option("-o,--output", a->output, "the trained model to write")->required();
  app->add_option("--input-size", a->input_size, "input side")
      ->check(CLI::Range(int64_t{32}, int64_t{4096}))
      ->capture_default_str();
  app->add_option("--width", a->width, "channel multiplier")
      ->check(CLI::Range(1e-3, 16.0))
      ->capture_default_str();
  app->add_option("--epochs", a->epochs)
      ->check(CLI::Range(int64_t{1}, int64_t{10000}))
      ->capture_default_str();
  app->add_option("--batch", a->batch)
      ->check(CLI::Range(int64_t{2}, int64_t{65536}))
      ->capture_default_str();
  app->add_option("--lr", a->lr, "learning rate (0: 0.05 for sgd, 1e-3 for adam)")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
  app->add_option("--optimizer", a->optimizer)
      ->check(CLI::IsMember({"sgd", "adam"}))
      ->capture_default_str();
  app->add_option("--weight-decay", a->weight_decay, "(< 0: 5e-4 for sgd, 0 for adam)")
      ->check(CLI::Range(-1.0, 1.0))
      ->capture_default_str();
  app->add_option("--warmup", a->warmup, "warm-up epochs (then cosine decay)")
      ->check(CLI::Range(0.0, 1000.0))
      ->capture_default_str();
  add_seed_option(app, &a->seed);
  add_threads_option(app, &a->threads);
  app->add_flag("--no-augment", a->no_augment, "no random crop and flip");
  app->add_flag("--augment", a->augment, "augment tabular data too");
  app->add_option("--crop-pad", a->crop_pad, "random-crop padding (< 0: input-size / 16)")
      ->check(CLI::Range(int64_t{-1}, int64_t{1024}))
      ->capture_default_str();
  app->add_option("--train-limit", a->train_limit, "use the first N training samples (0: all)")
      ->check(CLI::Range(int64_t{0}, INT64_MAX));
  app->add_option("--test-limit", a->test_limit, "evaluate on the first N test samples (0: all)")
      ->check(CLI::Range(int64_t{0}, INT64_MAX));
  app->add_flag("--no-progress", a->no_progress, "no progress bar on stderr");
  app->add_option("--side", a->side, "TON_IoT: image side of the encoded row")
      ->check(CLI::IsMember({8, 16}))
      ->capture_default_str();
  app->add_option("--target", a->target, "TON_IoT: binary or type")
      ->check(CLI::IsMember({"binary", "type"}))
      ->capture_default_str();
  return {app, [a] { return train(*a); }};
}

}  // namespace teesplit
