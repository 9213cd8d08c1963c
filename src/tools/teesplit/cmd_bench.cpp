#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "tools/teesplit/cli.h"
#include "tools/teesplit/commands.h"

namespace teesplit {

namespace {

struct BenchArgs {
  std::string model, backend, precision;
  int threads = 0;
  int64_t batch = 1, warmup = 3, runs = 10;
  uint64_t seed = 0;
  bool json = false, tf32 = false;
};

int bench(const BenchArgs& a) {
  const std::string& path = a.model;
  SessionOptions so;
  so.backend = parse_backend(a.backend);
  so.tf32 = a.tf32;
  so.threads = a.threads;
  so.precision = parse_precision(a.precision);
  const int64_t batch = a.batch, warmup = a.warmup, runs = a.runs;
  auto session = open_session(path, so);
  Tensor input = make_input(session->graph(), "", batch, a.seed);
  Executable& exe = session->executable({input.shape()});
  for (int64_t i = 0; i < warmup; ++i) exe.run({input});
  exe.reset_profile();  // TEESPLIT_*_PROFILE: timed runs only
  std::vector<double> ms, compute_ms;
  for (int64_t i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    exe.run({input});
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    const double c = exe.stats().last_compute_ms;
    if (c >= 0) compute_ms.push_back(c);
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median_ms = median(ms);
  // GPU backends: the device time of the computation alone (no host copies).
  const double compute_median = compute_ms.size() == ms.size() ? median(compute_ms) : -1;
  RunStats st = exe.stats();
  const std::string model = std::filesystem::path(path).stem().string();
  if (a.json) {
    std::printf(
        "{\"peer\":\"teesplit\",\"model\":\"%s\",\"batch\":%lld,\"threads\":%d,"
        "\"backend\":\"%s\",\"precision\":\"%s\",\"times_ms\":[",
        model.c_str(), static_cast<long long>(batch), so.threads, backend_kind_name(so.backend),
        precision_name(so.precision));
    for (size_t i = 0; i < ms.size(); ++i) std::printf("%s%.4f", i ? "," : "", ms[i]);
    std::printf(
        "],\"median_ms\":%.4f,\"compute_median_ms\":%.4f,\"peak_activation_bytes\":%zu,"
        "\"weight_bytes\":%zu,\"peak_rss_bytes\":%zu}\n",
        median_ms, compute_median, st.peak_activation_bytes, st.weight_bytes, peak_rss_bytes());
    return 0;
  }
  std::printf(
      "%s  batch %lld  threads %s  backend %s  precision %s  (%lld warm-up, %lld timed runs)\n",
      path.c_str(), static_cast<long long>(batch),
      so.threads ? std::to_string(so.threads).c_str() : "all", backend_kind_name(so.backend),
      precision_name(so.precision), static_cast<long long>(warmup), static_cast<long long>(runs));
  std::printf("latency ms: median %.3f  min %.3f  max %.3f\n", median_ms, sorted.front(),
              sorted.back());
  if (compute_median >= 0)
    std::printf("device compute ms (no host<->device copies): median %.3f\n", compute_median);
  std::printf("peak activation memory %s, weights %s, process peak RSS %s\n",
              human_bytes(double(st.peak_activation_bytes)).c_str(),
              human_bytes(double(st.weight_bytes)).c_str(),
              human_bytes(double(peak_rss_bytes())).c_str());
  return 0;
}

}  // namespace

Subcommand add_bench_command(CLI::App& root) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* app = root.add_subcommand("bench", "time a model: median latency, memory");
  app->add_option("model", a->model, "ONNX model")->required();
  app->add_option("--batch", a->batch, "batch size")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  add_threads_option(app, &a->threads);
  add_precision_option(app, &a->precision,
                       "bf16: convolutions and GEMMs in bf16 on oneDNN (AMX / AVX512_BF16)");
  app->add_option("--warmup", a->warmup, "untimed runs first")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}))
      ->capture_default_str();
  app->add_option("--runs", a->runs, "timed runs")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  add_backend_option(app, &a->backend, "where the model runs");
  add_seed_option(app, &a->seed);
  app->add_flag("--tf32", a->tf32, "CUDA: allow TF32 tensor cores");
  app->add_flag("--json", a->json, "one JSON object on stdout (for bench/run_benchmarks.py)");
  return {app, [a] { return bench(*a); }};
}

}  // namespace teesplit
