// Prometheus metrics of `teesplit serve` (serve/metrics.h): the text format
// against hand-written expectations, and /metrics of a running server, scraped
// over HTTP, against what the test did to it (requests, errors by kind, a
// restarted worker, stage latencies, batch sizes).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "attest/sim_root.h"
#include "client/client.h"
#include "core/file.h"
#include "data/dataset.h"
#include "host/model.h"
#include "serve/metrics.h"
#include "serve/remote.h"
#include "support/metrics_scrape.h"
#include "support/test_support.h"
#include "teesplit/v1/serving.grpc.pb.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using testing::binary_path;
using testing::run_command;

using testing::metric_samples;

TEST(Metrics, TextFormat) {
  serve::Metrics m;
  m.answered("Infer", "OK");
  m.answered("Infer", "OK");
  m.answered("Infer", "UNAVAILABLE");
  m.answered("Attest", "PERMISSION_DENIED");
  m.enclave_restarted();
  m.stage("front", 0.003);
  m.stage("front", 20.0);
  m.stage("back", 0.0005);  // on a bound: counted in it (le)
  m.back_batch(3);
  m.back_batch(1);
  m.deadline_passed("front");
  m.deadline_passed("front");
  m.deadline_passed("back");
  m.refused("queue_full");
  m.back_queue(+3);
  m.back_queue(-1);
  m.stage("batch_wait", 0.001);
  const std::string text = m.render();
  auto s = metric_samples(text);
  EXPECT_EQ(s["teesplit_requests_total{rpc=\"Infer\"}"], 3);
  EXPECT_EQ(s["teesplit_requests_total{rpc=\"Attest\"}"], 1);
  EXPECT_EQ(s["teesplit_errors_total{rpc=\"Infer\",kind=\"UNAVAILABLE\"}"], 1);
  EXPECT_EQ(s["teesplit_errors_total{rpc=\"Attest\",kind=\"PERMISSION_DENIED\"}"], 1);
  EXPECT_EQ(s.count("teesplit_errors_total{rpc=\"Infer\",kind=\"OK\"}"), 0u);
  EXPECT_EQ(s["teesplit_enclave_restarts_total"], 1);
  EXPECT_EQ(s["teesplit_queue_depth"], 0);
  EXPECT_EQ(s["teesplit_stage_seconds_bucket{stage=\"front\",le=\"0.0025\"}"], 0);
  EXPECT_EQ(s["teesplit_stage_seconds_bucket{stage=\"front\",le=\"0.005\"}"], 1);
  EXPECT_EQ(s["teesplit_stage_seconds_bucket{stage=\"front\",le=\"10\"}"], 1);
  EXPECT_EQ(s["teesplit_stage_seconds_bucket{stage=\"front\",le=\"+Inf\"}"], 2);
  EXPECT_DOUBLE_EQ(s["teesplit_stage_seconds_sum{stage=\"front\"}"], 20.003);
  EXPECT_EQ(s["teesplit_stage_seconds_count{stage=\"front\"}"], 2);
  EXPECT_EQ(s["teesplit_stage_seconds_bucket{stage=\"back\",le=\"0.0005\"}"], 1);
  EXPECT_EQ(s["teesplit_stage_seconds_count{stage=\"tail\"}"], 0);
  EXPECT_EQ(s["teesplit_back_batch_size_bucket{le=\"1\"}"], 1);
  EXPECT_EQ(s["teesplit_back_batch_size_bucket{le=\"2\"}"], 1);
  EXPECT_EQ(s["teesplit_back_batch_size_bucket{le=\"4\"}"], 2);
  EXPECT_EQ(s["teesplit_back_batch_size_sum"], 4);
  EXPECT_EQ(s["teesplit_back_batch_size_count"], 2);
  EXPECT_EQ(s["teesplit_deadline_exceeded_total{stage=\"front\"}"], 2);
  EXPECT_EQ(s["teesplit_deadline_exceeded_total{stage=\"back\"}"], 1);
  EXPECT_EQ(s["teesplit_refused_total{reason=\"queue_full\"}"], 1);
  EXPECT_EQ(s.count("teesplit_refused_total{reason=\"draining\"}"), 0u);
  EXPECT_EQ(s["teesplit_back_queue_depth"], 2);
  EXPECT_EQ(s["teesplit_stage_seconds_count{stage=\"batch_wait\"}"], 1);
  EXPECT_EQ(s["teesplit_draining"], 0);
  m.set_draining();
  EXPECT_EQ(metric_samples(m.render())["teesplit_draining"], 1);
  {
    auto q = m.queued();
    EXPECT_EQ(metric_samples(m.render())["teesplit_queue_depth"], 1);
  }
  EXPECT_EQ(metric_samples(m.render())["teesplit_queue_depth"], 0);

  // Every sample line is NAME{LABELS} VALUE, every family has its HELP and
  // TYPE lines before its samples, and its samples are one group.
  const std::regex line_re(R"(^([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eInf]+$)");
  std::set<std::string> typed, closed;
  std::string current;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) continue;
    std::smatch mt;
    ASSERT_TRUE(std::regex_match(line, mt, line_re)) << line;
    std::string family = mt[1].str();
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (!typed.count(family) && family.size() > strlen(suffix) &&
          family.compare(family.size() - strlen(suffix), strlen(suffix), suffix) == 0)
        family.resize(family.size() - strlen(suffix));
    EXPECT_TRUE(typed.count(family)) << "no TYPE line before " << line;
    // One group per family: once another family's samples begin, it is done.
    if (family != current) {
      EXPECT_FALSE(closed.count(family)) << family << " is split into two groups";
      closed.insert(current);
      current = family;
    }
  }
  EXPECT_EQ(serve::escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(Metrics, ServeCountsWhatTheTestDid) {
  const std::string dir = testing::make_resnet50_split("metrics", "serve");
  testing::ServeProcess server(dir + "/split", dir, 1, {"--metrics-listen", "127.0.0.1:0"});
  ASSERT_FALSE(server.address().empty()) << server.log();
  // "metrics on http://HOST:PORT/metrics", the second line of its output.
  const testing::MetricsEndpoint endpoint = testing::metrics_endpoint(dir + "/serve.out");
  ASSERT_GT(endpoint.port, 0) << read_file(dir + "/serve.out");

  attest::Policy policy = client::policy_from_manifest(dir + "/split/manifest.json", std::nullopt);
  policy.simulated_root = attest::sim_root_public_key(dir + "/sim-root.pem");
  policy.allow_simulated = true;
  serve::RemoteEnclave remote(server.address());
  const serve::RemoteInfo info = remote.info();  // Info: 1
  client::Attestation a;
  ASSERT_TRUE(remote.attest(a, policy).accepted);  // Attest: 1
  const Tensor x = testing::random_tensor(info.input_shape, 5);
  constexpr int kOk = 5, kUnknownSession = 2;
  for (int i = 0; i < kOk; ++i) remote.infer(a, x);  // Infer: 5 OK
  {
    auto stub = ::teesplit::v1::Enclave::NewStub(
        grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
    for (int i = 0; i < kUnknownSession; ++i) {  // Infer: 2 FAILED_PRECONDITION
      ::teesplit::v1::SealedMessage q;
      q.set_session(0xdeadbeef);
      q.set_message("not a session");
      ::teesplit::v1::InferReply r;
      grpc::ClientContext c;
      EXPECT_EQ(stub->Infer(&c, q, &r).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    }
  }
  // The worker dies; the next request restarts it and fails: Infer UNAVAILABLE 1.
  const std::vector<pid_t> workers = testing::workers_of(server.pid());
  ASSERT_EQ(workers.size(), 1u);
  kill(workers[0], SIGKILL);
  for (int i = 0; i < 100 && fs::exists("/proc/" + std::to_string(workers[0]) + "/exe"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  try {
    remote.infer(a, x);
    FAIL() << "a request reached a killed worker";
  } catch (const serve::RemoteError& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
  }

  httplib::Client http(endpoint.host, endpoint.port);
  const auto res = http.Get("/metrics");
  ASSERT_TRUE(res) << "no answer from /metrics";
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  auto s = metric_samples(res->body);
  EXPECT_EQ(s["teesplit_requests_total{rpc=\"Info\"}"], 1) << res->body;
  EXPECT_EQ(s["teesplit_requests_total{rpc=\"Attest\"}"], 1);
  EXPECT_EQ(s["teesplit_requests_total{rpc=\"Infer\"}"], kOk + kUnknownSession + 1);
  EXPECT_EQ(s["teesplit_errors_total{rpc=\"Infer\",kind=\"FAILED_PRECONDITION\"}"],
            kUnknownSession);
  EXPECT_EQ(s["teesplit_errors_total{rpc=\"Infer\",kind=\"UNAVAILABLE\"}"], 1);
  EXPECT_EQ(s.count("teesplit_errors_total{rpc=\"Attest\",kind=\"UNAVAILABLE\"}"), 0u);
  EXPECT_EQ(s["teesplit_enclave_restarts_total"], 1);
  EXPECT_EQ(s["teesplit_stage_seconds_count{stage=\"front\"}"], kOk);
  EXPECT_EQ(s["teesplit_stage_seconds_count{stage=\"back\"}"], kOk);
  // Read from the worker's socket straight into their batch rows (--worker-timeout
  // is on by default), none copied.
  EXPECT_EQ(s["teesplit_feature_maps_total{into=\"row\"}"], kOk);
  EXPECT_EQ(s["teesplit_feature_maps_total{into=\"copy\"}"], 0);
  EXPECT_EQ(s["teesplit_stage_seconds_count{stage=\"tail\"}"], 0);
  EXPECT_GT(s["teesplit_stage_seconds_sum{stage=\"front\"}"], 0);
  EXPECT_EQ(s["teesplit_back_batch_size_count"], kOk);
  EXPECT_EQ(s["teesplit_back_batch_size_sum"], kOk);  // --max-batch 1: one sample per call
  EXPECT_EQ(s["teesplit_queue_depth"], 0);
  EXPECT_EQ(s["teesplit_requests_in_flight"], 0);
  EXPECT_EQ(http.Get("/other")->status, 404);
}

// Both ways a feature map reaches its batch row give the whole model's output:
// read straight from the worker's socket (the default), and copied from the
// whole reply with --worker-timeout 0 (reads without a limit, which no batch
// may wait on); /metrics says which way each went.
TEST(Metrics, FeatureMapsReadIntoTheirRowsOrCopiedGiveTheSameOutputs) {
  auto whole = open_model_session(testing::source_path("models/fashion-mnist-resnet50.onnx"), {});
  ASSERT_TRUE(whole.ok()) << whole.error();
  auto data = testing::fashion_test();
  for (const bool in_place : {true, false}) {
    const std::string dir =
        testing::make_resnet50_split("metrics", in_place ? "into-row" : "copied");
    std::vector<std::string> args = {"--metrics-listen", "127.0.0.1:0", "--max-batch", "3",
                                     "--max-delay-ms",   "20"};
    if (!in_place) args.insert(args.end(), {"--worker-timeout", "0"});
    testing::ServeProcess server(dir + "/split", dir, 1, args);
    ASSERT_FALSE(server.address().empty()) << server.log();
    const testing::MetricsEndpoint endpoint = testing::metrics_endpoint(dir + "/serve.out");
    attest::Policy policy =
        client::policy_from_manifest(dir + "/split/manifest.json", std::nullopt);
    policy.simulated_root = attest::sim_root_public_key(dir + "/sim-root.pem");
    policy.allow_simulated = true;
    serve::RemoteEnclave remote(server.address());
    client::Attestation a;
    ASSERT_TRUE(remote.attest(a, policy).accepted);
    for (int64_t i = 0; i < 3; ++i) {
      const Batch b = data->get_batch(i, 1);
      const Tensor want = (*whole)->run({b.images})[0];
      EXPECT_LE(max_relative_error(remote.infer(a, b.images), want), 1e-4)
          << (in_place ? "read into its row" : "copied") << ", image " << i;
    }
    httplib::Client http(endpoint.host, endpoint.port);
    const auto res = http.Get("/metrics");
    ASSERT_TRUE(res);
    auto s = metric_samples(res->body);
    EXPECT_EQ(s["teesplit_feature_maps_total{into=\"row\"}"], in_place ? 3 : 0) << res->body;
    EXPECT_EQ(s["teesplit_feature_maps_total{into=\"copy\"}"], in_place ? 0 : 3);
  }
}

TEST(Metrics, ABadListenAddressIsRefused) {
  serve::Metrics m;
  for (const char* bad : {"nohost", "127.0.0.1:x", "127.0.0.1:70000"}) {
    const std::string e = testing::error_of([&] { serve::MetricsHttpServer s(bad, m); });
    EXPECT_NE(e.find("--metrics-listen"), std::string::npos) << bad << ": " << e;
  }
}

}  // namespace
}  // namespace teesplit
