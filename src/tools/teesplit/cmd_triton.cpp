// teesplit triton-repo SPLIT_DIR -o REPO [--model-name back] [--max-batch 32]
// [--max-queue-delay-us 1000] [--instance-kind gpu|cpu] [--instances 1]: a
// Triton model repository for the split's back partition (serve/triton.h;
// deploy/triton/README.md).
#include <cstdio>

#include "serve/triton.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

int triton_repo_cmd(const serve::TritonRepoOptions& o, const std::string& repo) {
  const serve::TritonModelConfig c = serve::write_triton_repository(o, repo);
  std::printf("wrote %s/%s/config.pbtxt and %s/%s/1/model.onnx (input '%s', output '%s')\n",
              repo.c_str(), o.model_name.c_str(), repo.c_str(), o.model_name.c_str(),
              c.input_name.c_str(), c.output_name.c_str());
  return 0;
}

}  // namespace

Subcommand add_triton_repo_command(CLI::App& root) {
  auto o = std::make_shared<serve::TritonRepoOptions>();
  auto repo = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand(
      "triton-repo",
      "write a Triton model repository (config.pbtxt, model.onnx) for a split's back partition");
  app->add_option("split", o->split_dir, "split directory (teesplit split)")->required();
  app->add_option("-o,--output", *repo, "the model repository to write into")->required();
  app->add_option("--model-name", o->model_name, "the model's name (serve --back .../NAME)")
      ->capture_default_str();
  app->add_option("--max-batch", o->max_batch, "max_batch_size")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app->add_option("--max-queue-delay-us", o->max_queue_delay_us,
                  "dynamic batching's max_queue_delay_microseconds (0: no dynamic batching)")
      ->check(CLI::Range(0, 10000000))
      ->capture_default_str();
  app->add_option("--instance-kind", o->instance_kind, "where Triton runs the model")
      ->check(CLI::IsMember({"gpu", "cpu"}))
      ->capture_default_str();
  app->add_option("--instances", o->instance_count, "model instances")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  return {app, [o, repo] { return triton_repo_cmd(*o, *repo); }};
}

}  // namespace teesplit
