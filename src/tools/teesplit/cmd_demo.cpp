// The main job on its embedded default: write a zoo model, run it on the oneDNN
// backend and on the reference kernels, check that they agree, and time it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "tools/teesplit/cli.h"
#include "tools/teesplit/commands.h"
#include "zoo/zoo.h"

namespace teesplit {

namespace {

struct DemoArgs {
  std::string arch = "resnet50", output = "teesplit-out";
  int threads = 0;
  int64_t runs = 10;
};

int demo(const DemoArgs& a) {
  const std::string& arch = a.arch;
  const std::filesystem::path dir = a.output;
  const int threads = a.threads;
  const int64_t runs = a.runs;
  std::filesystem::create_directories(dir);
  const std::string model = (dir / (arch + ".onnx")).string();

  std::printf("[1/4] writing zoo model %s (224x224, 1000 classes, seeded He weights)\n",
              model.c_str());
  ZooOptions zo;
  zo.arch = arch;
  write_zoo_model(zo, model);

  std::printf("[2/4] loading and compiling on the oneDNN backend\n");
  SessionOptions so;
  so.threads = threads;
  auto fast = open_session(model, so);
  Tensor input = make_input(fast->graph(), "", 1, 42);
  auto t0 = std::chrono::steady_clock::now();
  Tensor out = fast->run({input})[0];
  auto t1 = std::chrono::steady_clock::now();
  std::printf("      first run %.1f ms (includes compilation)\n",
              std::chrono::duration<double, std::milli>(t1 - t0).count());
  print_top_classes(out, 5);

  std::printf("[3/4] checking against the reference kernels\n");
  so.backend = BackendKind::Reference;
  auto ref = open_session(model, so);
  Tensor expect = ref->run({input})[0];
  const double rel = max_relative_error(out, expect);
  std::printf("      max relative difference %.2e (limit 1e-4): %s\n", rel,
              rel <= 1e-4 ? "agree" : "DISAGREE");

  std::printf("[4/4] timing %lld runs at batch 1\n", static_cast<long long>(runs));
  Executable& exe = fast->executable({input.shape()});
  std::vector<double> ms;
  for (int64_t i = 0; i < runs; ++i) {
    auto s = std::chrono::steady_clock::now();
    exe.run({input});
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
  }
  std::sort(ms.begin(), ms.end());
  RunStats st = exe.stats();
  std::printf("      median %.2f ms, min %.2f ms; peak activation memory %s, weights %s\n",
              median(ms), ms.front(), human_bytes(double(st.peak_activation_bytes)).c_str(),
              human_bytes(double(st.weight_bytes)).c_str());
  return rel <= 1e-4 ? 0 : 1;
}

}  // namespace

Subcommand add_demo_command(CLI::App& root) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* app = root.add_subcommand(
      "demo",
      "the main job (also what teesplit runs with no command): write a zoo model, run "
      "it on oneDNN, check it against the reference kernels, time it");
  app->add_option("--arch", a->arch, "the zoo architecture")
      ->check(CLI::IsMember(zoo_archs()))
      ->capture_default_str();
  app->add_option("-o,--output,--out", a->output, "the folder to write into")
      ->capture_default_str();
  add_threads_option(app, &a->threads);
  app->add_option("--runs", a->runs, "timed runs")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}))
      ->capture_default_str();
  return {app, [a] { return demo(*a); }};
}

}  // namespace teesplit
