// The batching stage of `teesplit serve` alone (serve/batcher.h): how many
// feature maps a second it can hand a back partition that costs no host CPU,
// as a GPU does not. The back sleeps --back-ms per batch (the device's time),
// so what limits the rate is the host's own work per batch: assembling the
// batch from the workers' replies (feature maps of --feature bytes) and giving
// each request its row. Clients are threads that call BackBatcher::run in a
// closed loop, as serve's request threads do.
//
//   build/bench/bench_batcher [--clients 64] [--max-batch 32] [--back-ms 5]
//       [--feature-shape 1,1024,14,14] [--seconds 5] [--rounds 3]
//
// Prints one line per round and the median as JSON (docs/benchmarks.md,
// "The batching stage").
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "core/numbers.h"
#include "serve/batcher.h"

namespace teesplit::serve {
namespace {

// Sleeps the device's time; answers one float per row (the row's first value).
class SleepingBack final : public BackEndpoint {
 public:
  explicit SleepingBack(std::chrono::microseconds t) : t_(t) {}
  Tensor run(const Tensor& f) override {
    std::this_thread::sleep_for(t_);
    Tensor out(DType::F32, {f.shape()[0], 1});
    const size_t row = f.nbytes() / static_cast<size_t>(f.shape()[0]) / sizeof(float);
    for (int64_t i = 0; i < f.shape()[0]; ++i)
      out.data<float>()[i] = f.data<float>()[static_cast<size_t>(i) * row];
    batches_.fetch_add(1);
    return out;
  }
  std::string describe() const override { return "sleeping"; }
  uint64_t batches() const { return batches_.load(); }

 private:
  std::chrono::microseconds t_;
  std::atomic<uint64_t> batches_{0};
};

struct Round {
  double rps = 0, mean_batch = 0;
  uint64_t wrong = 0;
};

Round run_round(const Shape& shape, int clients, int max_batch, double back_ms, double seconds) {
  SleepingBack back(std::chrono::microseconds(static_cast<int64_t>(back_ms * 1000)));
  BackBatcher b(back, shape, {max_batch, std::chrono::milliseconds(2)}, nullptr);
  const size_t n = static_cast<size_t>(shape_numel(shape));
  std::atomic<bool> go{true};
  std::atomic<uint64_t> done{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      // A worker's reply: the feature map, kept alive by `keep`.
      auto keep = std::make_shared<std::vector<float>>(n, static_cast<float>(c));
      const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(keep->data()),
                                           n * sizeof(float));
      while (go.load()) {
        const Tensor out = b.run(bytes, keep, Clock::time_point::max());
        if (out.data<float>()[0] != static_cast<float>(c)) wrong.fetch_add(1);
        done.fetch_add(1);
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // warm-up
  const uint64_t d0 = done.load(), b0 = back.batches();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const uint64_t d1 = done.load(), b1 = back.batches();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  go = false;
  for (auto& t : threads) t.join();
  Round r;
  r.rps = static_cast<double>(d1 - d0) / s;
  r.mean_batch = b1 > b0 ? static_cast<double>(d1 - d0) / static_cast<double>(b1 - b0) : 0;
  r.wrong = wrong.load();
  return r;
}

}  // namespace
}  // namespace teesplit::serve

int main(int argc, char** argv) {
  using namespace teesplit;
  CLI::App app{"bench_batcher: the batching stage of teesplit serve alone (docs/benchmarks.md)"};
  int clients = 64, max_batch = 32, rounds = 3;
  double back_ms = 5, seconds = 5;
  std::vector<int64_t> dims{1, 1024, 14, 14};
  app.add_option("--clients", clients, "request threads")->check(CLI::Range(1, 1024));
  app.add_option("--max-batch", max_batch, "serve --max-batch")->check(CLI::Range(1, 4096));
  app.add_option("--back-ms", back_ms, "the back partition's time per batch, slept")
      ->check(CLI::Range(0.0, 10000.0));
  app.add_option("--feature-shape", dims, "one request's feature map, batch dimension 1")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--seconds", seconds, "measured seconds per round")->check(CLI::Range(0.1, 600.0));
  app.add_option("--rounds", rounds, "rounds; the median is reported")->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  const Shape shape(dims.begin(), dims.end());
  if (shape.empty() || shape[0] != 1 || shape_numel(shape) > (int64_t{1} << 28)) {
    std::fprintf(stderr,
                 "bench_batcher: --feature-shape: batch dimension 1 first, at most 2^28 "
                 "elements\n");
    return 2;
  }
  std::vector<double> rps, batch;
  uint64_t wrong = 0;
  for (int i = 0; i < rounds; ++i) {
    const serve::Round r = serve::run_round(shape, clients, max_batch, back_ms, seconds);
    std::fprintf(stderr, "round %d: %.1f feature maps/s, mean batch %.2f\n", i + 1, r.rps,
                 r.mean_batch);
    rps.push_back(r.rps);
    batch.push_back(r.mean_batch);
    wrong += r.wrong;
  }
  std::printf(
      "{\"clients\": %d, \"max_batch\": %d, \"back_ms\": %g, \"feature_bytes\": %lld, "
      "\"rounds\": %d, \"median_rps\": %.1f, \"median_mean_batch\": %.2f, \"wrong\": %llu}\n",
      clients, max_batch, back_ms, static_cast<long long>(shape_numel(shape) * 4), rounds,
      median(rps), median(batch), static_cast<unsigned long long>(wrong));
  return wrong == 0 ? 0 : 1;
}
