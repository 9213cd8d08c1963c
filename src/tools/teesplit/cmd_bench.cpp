#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "tools/teesplit/args.h"
#include "tools/teesplit/commands.h"

namespace teesplit {

namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args a(argc, argv, {"json", "tf32"}, {"batch", "threads", "warmup", "runs", "backend", "seed"});
  TS_CHECK(a.positional().size() == 1,
           "usage: teesplit bench MODEL.onnx [--batch B] [--threads N] [--warmup W] [--runs R] "
           "[--backend cpu|cuda|auto|reference] [--tf32] [--json]");
  const std::string path = a.positional()[0];
  SessionOptions so;
  so.backend = parse_backend(a.get("backend", "auto"));
  so.tf32 = a.has("tf32");
  so.threads = static_cast<int>(a.get_int("threads", 0, 0, 1024));
  const int64_t batch = a.get_int("batch", 1, 1, 4096);
  const int64_t warmup = a.get_int("warmup", 3, 0, 100000);
  const int64_t runs = a.get_int("runs", 10, 1, 100000);
  auto session = open_session(path, so);
  Tensor input = make_input(session->graph(), "", batch,
                            static_cast<uint64_t>(a.get_int("seed", 0, 0, INT64_MAX)));
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
  const double median = median_of(ms);
  // GPU backends: the device time of the computation alone (no host copies).
  const double compute_median = compute_ms.size() == ms.size() ? median_of(compute_ms) : -1;
  RunStats st = exe.stats();
  const std::string model = std::filesystem::path(path).stem().string();
  if (a.has("json")) {
    std::printf(
        "{\"peer\":\"teesplit\",\"model\":\"%s\",\"batch\":%lld,\"threads\":%d,"
        "\"backend\":\"%s\",\"times_ms\":[",
        model.c_str(), static_cast<long long>(batch), so.threads, backend_kind_name(so.backend));
    for (size_t i = 0; i < ms.size(); ++i) std::printf("%s%.4f", i ? "," : "", ms[i]);
    std::printf(
        "],\"median_ms\":%.4f,\"compute_median_ms\":%.4f,\"peak_activation_bytes\":%zu,"
        "\"weight_bytes\":%zu,\"peak_rss_bytes\":%zu}\n",
        median, compute_median, st.peak_activation_bytes, st.weight_bytes, peak_rss_bytes());
    return 0;
  }
  std::printf(
      "%s  batch %lld  threads %s  backend %s  (%lld warm-up, %lld timed runs)\n", path.c_str(),
      static_cast<long long>(batch), so.threads ? std::to_string(so.threads).c_str() : "all",
      backend_kind_name(so.backend), static_cast<long long>(warmup), static_cast<long long>(runs));
  std::printf("latency ms: median %.3f  min %.3f  max %.3f\n", median, sorted.front(),
              sorted.back());
  if (compute_median >= 0)
    std::printf("device compute ms (no host<->device copies): median %.3f\n", compute_median);
  std::printf("peak activation memory %s, weights %s, process peak RSS %s\n",
              human_bytes(double(st.peak_activation_bytes)).c_str(),
              human_bytes(double(st.weight_bytes)).c_str(),
              human_bytes(double(peak_rss_bytes())).c_str());
  return 0;
}

}  // namespace teesplit
