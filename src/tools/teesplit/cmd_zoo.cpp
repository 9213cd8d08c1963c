// teesplit zoo ARCH [-o FILE] [...]: writes a zoo model (zoo/zoo.h) as ONNX.
#include <cstdio>

#include "core/file.h"
#include "tools/teesplit/cli.h"
#include "zoo/zoo.h"

namespace teesplit {
namespace {

struct ZooArgs {
  ZooOptions opts;
  bool static_batch = false;
  std::string output;
};

int zoo(ZooArgs a) {
  a.opts.dynamic_batch = !a.static_batch;
  try {
    validate_zoo_options(a.opts);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  const std::string out = a.output.empty() ? a.opts.arch + ".onnx" : a.output;
  const int64_t params = zoo_parameter_count(a.opts);
  const std::string bytes = zoo_model_bytes(a.opts);
  write_file(out, bytes);
  std::printf("%s: %s input %lldx%lldx%lld, %lld classes, %lld params, %zu bytes\n", out.c_str(),
              a.opts.arch.c_str(), static_cast<long long>(a.opts.channels),
              static_cast<long long>(a.opts.input_size), static_cast<long long>(a.opts.input_size),
              static_cast<long long>(a.opts.classes), static_cast<long long>(params), bytes.size());
  return 0;
}

}  // namespace

Subcommand add_zoo_command(CLI::App& root) {
  auto a = std::make_shared<ZooArgs>();
  CLI::App* app = root.add_subcommand(
      "zoo",
      "write VGG-16, ResNet-50 or EfficientNet-B0 (torchvision's topology, seeded "
      "weights) as ONNX");
  app->add_option("arch", a->opts.arch, "the architecture")
      ->required()
      ->check(CLI::IsMember(zoo_archs()));
  app->add_option("-o,--output", a->output, "the model file to write (default ARCH.onnx)");
  app->add_option("--input-size", a->opts.input_size, "input height = width (at least 32)")
      ->capture_default_str();
  app->add_option("--channels", a->opts.channels, "input channels")->capture_default_str();
  app->add_option("--classes", a->opts.classes, "output classes")->capture_default_str();
  app->add_option("--width", a->opts.width, "channel multiplier, (0, 16]")->capture_default_str();
  add_seed_option(app, &a->opts.seed);
  app->add_option("--opset", a->opts.opset, "ONNX opset written, 11..17")->capture_default_str();
  app->add_flag("--randomize-bn", a->opts.randomize_bn,
                "random BatchNorm statistics (so that BN folding matters)");
  app->add_flag("--static-batch", a->static_batch, "fix the batch at 1 (default: dynamic)");
  return {app, [a] { return zoo(*a); }};
}

}  // namespace teesplit
