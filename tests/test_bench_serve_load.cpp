// build/bench/serve_load (the serving benchmark's load generator) against a
// real `teesplit serve` with 2 workers: its JSON counts add up in the closed
// and the open loop, the requests that carry the reference input agree with the
// unsplit model, and a wrong reference is caught (exit status 1), so that the
// benchmark's tool cannot rot. A handful of requests on the shipped
// Fashion-MNIST ResNet-50 (32x32), split at layer2.0.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "host/model.h"
#include "io/npy.h"
#include "partition/split_dir.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

using testing::binary_path;
using testing::run_command;

// The JSON report: the last output line that starts with '{'.
nlohmann::json report_of(const std::string& out) {
  std::istringstream in(out);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '{') last = line;
  EXPECT_FALSE(last.empty()) << out;
  return last.empty() ? nlohmann::json::object() : nlohmann::json::parse(last);
}

TEST(ServeLoadBench, CountsAddUpAndResultsAreChecked) {
  const std::string dir = testing::make_resnet50_split("bench_serve_load", "counts");
  testing::ServeProcess server(dir + "/split", dir, 2);
  ASSERT_FALSE(server.address().empty()) << server.log();

  // The reference: the unsplit model's output on a random input, in this process.
  const Shape in_shape = read_split_files(dir + "/split", false).manifest.input_shape;
  const Tensor x = testing::random_tensor(in_shape, 7, 0.f, 1.f);
  auto whole = open_model_session(testing::source_path("models/fashion-mnist-resnet50.onnx"), {});
  ASSERT_TRUE(whole.ok()) << whole.error();
  Tensor want = (*whole)->run({x})[0];
  write_npy(dir + "/ref-in.npy", x);
  write_npy(dir + "/ref-out.npy", want);

  const std::string base = binary_path("bench/serve_load") + " run " + server.address() +
                           " --expect-manifest " + dir + "/split/manifest.json --sim-root " + dir +
                           "/sim-root.pem --allow-simulated --server-pid " +
                           std::to_string(server.pid()) + " --reference-input " + dir +
                           "/ref-in.npy --check-every 3 --duration 60";
  int code = 0;
  std::string out = run_command(
      base + " --reference-output " + dir + "/ref-out.npy --clients 3 --requests 24", &code);
  EXPECT_EQ(code, 0) << out;
  nlohmann::json j = report_of(out);
  EXPECT_EQ(j.value("mode", ""), "closed") << out;
  EXPECT_EQ(j.value("sent", -1), 24) << out;
  EXPECT_EQ(j.value("completed", -1), 24) << out;
  EXPECT_EQ(j.value("failed_total", -1), 0) << out;
  EXPECT_EQ(j.value("wrong", -1), 0) << out;
  EXPECT_EQ(j.value("dropped", -1), 0) << out;
  EXPECT_GE(j.value("checked_against_reference", 0), 3) << out;
  EXPECT_GT(j["latency_ms"].value("p50", 0.0), 0.0) << out;
  EXPECT_GE(j["latency_ms"].value("p99", 0.0), j["latency_ms"].value("p50", 1.0)) << out;
  EXPECT_GT(j.value("throughput_rps", 0.0), 0.0) << out;
  EXPECT_GT(j.value("server_cpu_s", 0.0), 0.0) << out;

  // Open loop, evenly spaced arrivals: each request is sent or dropped, and
  // every one sent completes.
  out = run_command(base + " --reference-output " + dir +
                        "/ref-out.npy --clients 2 --rate 100 --arrivals fixed --requests 20",
                    &code);
  EXPECT_EQ(code, 0) << out;
  j = report_of(out);
  EXPECT_EQ(j.value("mode", ""), "open") << out;
  EXPECT_EQ(j.value("sent", -1) + j.value("dropped", -1), 20) << out;
  EXPECT_GE(j.value("sent", -1), 2) << out;
  EXPECT_EQ(j.value("completed", -1), j.value("sent", -2)) << out;
  EXPECT_EQ(j.value("failed_total", -1), 0) << out;
  EXPECT_EQ(j.value("wrong", -1), 0) << out;

  // A reference output that is not the model's: the results are noticed as wrong.
  float* w = want.data<float>();
  for (int64_t i = 0; i < want.numel(); ++i) w[i] = w[i] * 2.f + 1.f;
  write_npy(dir + "/ref-bad.npy", want);
  out = run_command(base + " --reference-output " + dir + "/ref-bad.npy --clients 1 --requests 4",
                    &code);
  EXPECT_EQ(code, 1) << out;
  j = report_of(out);
  EXPECT_GE(j.value("wrong", 0), 1) << out;
  EXPECT_NE(j.value("first_wrong", "").find("differs from --reference-output"), std::string::npos)
      << out;
}

// bench/run_serve_load.py, the driver of docs/benchmarks.md's serving tables and
// of the device check's serving section: one short config with --metrics. Its
// results carry the server's counters over the closed loop (batches, mean batch,
// stage times), and its tables print them.
TEST(ServeLoadBench, DriverReadsTheServersMetrics) {
  const std::string dir = testing::make_resnet50_split("bench_serve_load", "driver");
  const std::string teesplit = binary_path("teesplit");
  const std::string build = teesplit.substr(0, teesplit.rfind('/'));
  int code = 0;
  const std::string out = run_command(
      "/usr/bin/python3 " + testing::source_path("bench/run_serve_load.py") +
          " --no-build --build-dir " + build + " --model resnet50 --size 32 --workers 1" +
          " --sat-clients 3 --sat-duration 2 --levels '' --compute-runs 2 --metrics" +
          " --config 'b4=--max-batch 4 --max-delay-ms 5' --work-dir " + dir + "/work 2>&1",
      &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("| config | closed-loop clients | mean back batch |"), std::string::npos)
      << out;
  std::ifstream results(dir + "/work/results.jsonl");
  std::string line;
  int saturation_rows = 0;
  while (std::getline(results, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.value("kind", "") != "saturation") continue;
    ++saturation_rows;
    ASSERT_TRUE(j.contains("server_metrics")) << line;
    const nlohmann::json& m = j["server_metrics"];
    EXPECT_GT(m.value("batches", 0.0), 0.0) << line;
    EXPECT_GE(m.value("mean_batch", 0.0), 1.0) << line;
    EXPECT_LE(m.value("mean_batch", 99.0), 4.0) << line;
    // The warm-up requests are counted too: at least the timed ones.
    EXPECT_GE(m.value("requests", 0.0), j.value("completed", 1e9)) << line;
    EXPECT_EQ(m.value("errors", -1.0), 0.0) << line;
    for (const char* stage : {"front", "batch_wait", "back"})
      EXPECT_GT(m["stage_mean_ms"].value(stage, 0.0), 0.0) << stage << ": " << line;
  }
  EXPECT_EQ(saturation_rows, 1) << out;
}

}  // namespace
}  // namespace teesplit
