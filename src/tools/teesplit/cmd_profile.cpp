// teesplit profile MODEL.onnx [--cuts all|blocks|LIST] [--backend B] [--threads N] [--runs N]
//                  [--protect-output] [--enclave-slowdown F | --sgx-profile FILE]
//                  [-o profile.json]
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "core/file.h"
#include "core/progress.h"
#include "planner/profile.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

struct ProfileArgs {
  std::string model, cuts = "all", backend, output = "profile.json", work_dir, sgx_profile;
  int threads = 0, runs = 20, warmup = 3;
  double slowdown = 1.0;
  bool protect_output = false;
};

int profile(const ProfileArgs& a) {
  planner::ProfileOptions o;
  o.model_path = a.model;
  o.cuts = a.cuts;
  o.back = parse_backend(a.backend);
  o.threads = a.threads > 0 ? a.threads : static_cast<int>(std::thread::hardware_concurrency());
  o.runs = a.runs;
  o.warmup = a.warmup;
  o.protect_output = a.protect_output;
  o.enclave_slowdown = a.slowdown;
  if (a.slowdown != 1.0) o.slowdown_source = "--enclave-slowdown " + std::to_string(a.slowdown);
  o.work_dir = a.work_dir.empty() ? (std::filesystem::temp_directory_path() /
                                     ("teesplit-profile-" + std::to_string(::getpid())))
                                        .string()
                                  : a.work_dir;
  o.command = "teesplit profile " + a.model + " --cuts " + a.cuts + " --backend " +
              backend_kind_name(o.back) + " --threads " + std::to_string(o.threads) + " --runs " +
              std::to_string(a.runs) + (a.protect_output ? " --protect-output" : "");
  std::optional<planner::ModelProfile> sgx;
  if (!a.sgx_profile.empty()) {
    sgx = planner::profile_from_json(read_file(a.sgx_profile, size_t{64} << 20));
    if (sgx->enclave_runtime != "gramine-sgx")
      throw UsageError("--sgx-profile " + a.sgx_profile +
                       " was not measured under Gramine-SGX (enclave_runtime '" +
                       sgx->enclave_runtime + "')");
  }
  if (sgx) {
    o.sgx_reference = &*sgx;
    o.sgx_reference_path = a.sgx_profile;
  }
  const auto t0 = std::chrono::steady_clock::now();
  // One line per cut in a log (forced); one line rewritten in place on a terminal.
  ProgressLine progress(true, 80);
  o.progress = [&](size_t i, size_t n, const std::string& cut) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double eta = i > 0 ? s / double(i) * double(n - i) : 0;
    char line[160];
    std::snprintf(line, sizeof line, "profile: cut %zu/%zu %-24s elapsed %5.0f s  ETA %5.0f s",
                  i + 1, n, cut.c_str(), s, eta);
    progress.update(line, true);
  };
  const bool own_work_dir = a.work_dir.empty();
  planner::ModelProfile p;
  try {
    p = planner::profile_model(o);
  } catch (...) {
    progress.clear();
    if (own_work_dir) std::filesystem::remove_all(o.work_dir);
    throw;
  }
  progress.clear();
  if (own_work_dir) std::filesystem::remove_all(o.work_dir);
  planner::print_profile_table(stdout, p);
  write_file(a.output, planner::profile_to_json(p));
  std::printf("wrote %s\n", a.output.c_str());
  return 0;
}

}  // namespace

Subcommand add_profile_command(CLI::App& root) {
  auto a = std::make_shared<ProfileArgs>();
  CLI::App* app = root.add_subcommand(
      "profile",
      "measure each cut through the sandboxed enclave worker: front, back, transfer and crypto "
      "latency (p50, p99), the front's memory and the enclave's footprint");
  app->add_option("model", a->model, "ONNX model")->required()->check(CLI::ExistingFile);
  app->add_option(
         "--cuts", a->cuts,
         "all, blocks (as teesplit attack --cuts) or a comma-separated list of cut names or "
         "indices")
      ->capture_default_str();
  add_backend_option(app, &a->backend, "the backend of the back partition (the host's)");
  add_threads_option(app, &a->threads);
  app->add_option("--runs", a->runs, "timed requests per cut")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app->add_option("--warmup", a->warmup, "untimed requests per cut first")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  app->add_flag("--protect-output", a->protect_output,
                "profile the split of split --protect-output (the tail in the enclave)");
  auto* f = app->add_option("--enclave-slowdown", a->slowdown,
                            "multiply the time spent in the enclave by F in the adjusted "
                            "latencies (default 1: none; the simulated enclave is a process)")
                ->check(CLI::Range(1.0, 1000.0))
                ->capture_default_str();
  app->add_option("--sgx-profile", a->sgx_profile,
                  "a profile of the same model measured under Gramine-SGX: its median ratio of "
                  "front latencies to this machine's is the enclave slowdown")
      ->check(CLI::ExistingFile)
      ->excludes(f);
  app->add_option("--work-dir", a->work_dir,
                  "where the per-cut splits are written (default: a temporary directory, "
                  "removed afterwards)");
  app->add_option("-o,--output", a->output, "profile.json to write")->capture_default_str();
  return {app, [a] { return profile(*a); }};
}

}  // namespace teesplit
