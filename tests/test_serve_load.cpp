// teesplit serve under load with 64 concurrent clients, as separate processes
// over loopback: dynamic batching gives every client its own, correct answer;
// a killed enclave worker is replaced and every request completes or fails
// with a retryable error; a full queue refuses at once; a request past its
// deadline is not computed; SIGTERM drains. /metrics counts what each test did.
// Bounded in requests and time.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "attest/sim_root.h"
#include "client/client.h"
#include "data/dataset.h"
#include "host/model.h"
#include "serve/remote.h"
#include "support/metrics_scrape.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

using namespace std::chrono_literals;
using testing::ServeProcess;
using SteadyClock = std::chrono::steady_clock;
using testing::kSanitized;
using testing::kSlow;
// A window of ms milliseconds as a serve argument, stretched under a sanitizer.
std::string window_ms(int ms) {
  return std::to_string(ms * kSlow);
}

attest::Policy policy_of(const std::string& dir) {
  attest::Policy p = client::policy_from_manifest(dir + "/split/manifest.json", std::nullopt);
  p.simulated_root = attest::sim_root_public_key(dir + "/sim-root.pem");
  p.allow_simulated = true;
  return p;
}

// What the clients saw: Infer and Attest calls by outcome ("OK" or the gRPC code).
struct Tally {
  std::mutex mu;
  std::map<std::string, int> infer, attest;
  std::string first_error;
  void add(std::map<std::string, int>& m, const std::string& code, const std::string& what = "") {
    std::lock_guard<std::mutex> lock(mu);
    ++m[code];
    if (code != "OK" && first_error.empty()) first_error = what;
  }
  int infer_calls() {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (const auto& [code, k] : infer) n += k;
    return n;
  }
};

// A client: its own connection and session.
struct Client {
  serve::RemoteEnclave remote;
  attest::Policy policy;
  std::unique_ptr<client::Attestation> session;
  Tally& tally;
  Client(const std::string& address, attest::Policy p, Tally& t)
      : remote(address), policy(std::move(p)), tally(t) {}
  bool attest() {
    session = std::make_unique<client::Attestation>();
    try {
      const bool ok = remote.attest(*session, policy).accepted;
      tally.add(tally.attest, ok ? "OK" : "REJECTED", "attestation rejected");
      return ok;
    } catch (const serve::RemoteError& e) {
      tally.add(tally.attest, e.code(), e.what());
      return false;
    }
  }
  // One Infer call: its outcome's code, and the output when "OK".
  std::string infer(const Tensor& x, Tensor* out) {
    try {
      *out = remote.infer(*session, x);
      tally.add(tally.infer, "OK");
      return "OK";
    } catch (const serve::RemoteError& e) {
      tally.add(tally.infer, e.code(), e.what());
      return e.code();
    }
  }
};

struct Reference {
  Batch batch;
  Tensor want;  // the unsplit model's outputs
  explicit Reference(int64_t n) {
    auto whole = open_model_session(testing::source_path("models/fashion-mnist-resnet50.onnx"), {});
    EXPECT_TRUE(whole.ok()) << whole.error();
    batch = testing::fashion_test()->get_batch(0, n);
    want = (*whole)->run({batch.images})[0];
  }
};

// 64 clients against 4 workers with the back partition batched; one worker is
// killed a quarter of the way in. Every request completes with the unsplit
// model's answer: the only failures are retryable (UNAVAILABLE), after which
// the client attests again and retries.
TEST(ServeLoad, SixtyFourClientsWithBatchingSurviveAKilledWorker) {
  const std::string dir = testing::make_resnet50_split("serve-load", "kill");
  ServeProcess server(
      dir + "/split", dir, 4,
      {"--max-batch", "8", "--max-delay-ms", "5", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_FALSE(server.address().empty()) << server.log();
  ASSERT_EQ(testing::workers_of(server.pid()).size(), 4u);
  constexpr int kClients = 64, kRequests = 6;
  const Reference ref(kClients);
  Tally tally;
  std::atomic<int> completed{0}, gave_up{0}, wrong{0}, started{0}, not_retryable{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c)
    threads.emplace_back([&, c] {
      Client cl(server.address(), policy_of(dir), tally);
      cl.remote.set_infer_deadline(60s * kSlow);  // a hung request would fail, not stall the test
      bool attested = false;
      for (int k = 0; k < 5 && !(attested = cl.attest()); ++k) std::this_thread::sleep_for(50ms);
      if (!attested) {
        gave_up += kRequests;
        return;
      }
      for (int i = 0; i < kRequests; ++i) {
        const int64_t j = (c + i) % kClients;
        ++started;
        for (int attempt = 0;; ++attempt) {
          Tensor out;
          const std::string code = cl.infer(testing::batch_row(ref.batch.images, j), &out);
          if (code == "OK") {
            if (max_relative_error(out, testing::batch_row(ref.want, j)) > 1e-4) ++wrong;
            ++completed;
            break;
          }
          if (code != "UNAVAILABLE") ++not_retryable;
          if (attempt >= 5 || code != "UNAVAILABLE") {
            ++gave_up;
            break;
          }
          while (!cl.attest() && attempt++ < 5) std::this_thread::sleep_for(50ms);
        }
      }
    });
  // A quarter of the requests under way (bounded: a server that died early fails below).
  for (int i = 0; i < 60000 && started < kClients * kRequests / 4; ++i)
    std::this_thread::sleep_for(1ms);
  const std::vector<pid_t> before = testing::workers_of(server.pid());
  ASSERT_EQ(before.size(), 4u);
  ::kill(before[1], SIGKILL);
  for (auto& t : threads) t.join();

  std::printf("64 clients x %d requests, 4 workers, one killed: infer calls", kRequests);
  for (const auto& [code, n] : tally.infer) std::printf(" %s=%d", code.c_str(), n);
  std::printf("; attest calls");
  for (const auto& [code, n] : tally.attest) std::printf(" %s=%d", code.c_str(), n);
  std::printf("\n");
  EXPECT_EQ(completed, kClients * kRequests) << tally.first_error;
  EXPECT_EQ(gave_up, 0) << tally.first_error;
  EXPECT_EQ(not_retryable, 0) << tally.first_error;
  EXPECT_EQ(wrong, 0);
  EXPECT_GE(tally.infer["UNAVAILABLE"], 1) << "no request met the killed worker";
  const std::vector<pid_t> after = testing::workers_of(server.pid());
  EXPECT_EQ(after.size(), 4u);
  EXPECT_EQ(std::find(after.begin(), after.end(), before[1]), after.end());

  // /metrics counts exactly what the clients saw.
  std::string body;
  auto m = testing::scrape_metrics(testing::metrics_endpoint(dir + "/serve.out"), &body);
  ASSERT_FALSE(m.empty()) << "no /metrics";
  EXPECT_EQ(m["teesplit_requests_total{rpc=\"Infer\"}"], tally.infer_calls()) << body;
  EXPECT_EQ(m["teesplit_errors_total{rpc=\"Infer\",kind=\"UNAVAILABLE\"}"],
            tally.infer["UNAVAILABLE"]);
  int attest_calls = 0;
  for (const auto& [code, n] : tally.attest) attest_calls += n;
  EXPECT_EQ(m["teesplit_requests_total{rpc=\"Attest\"}"], attest_calls);
  EXPECT_EQ(m["teesplit_enclave_restarts_total"], 1);
  EXPECT_EQ(m["teesplit_stage_seconds_count{stage=\"back\"}"], kClients * kRequests);
  EXPECT_EQ(m["teesplit_back_batch_size_sum"], kClients * kRequests);
  // Batching happened: fewer calls of the back partition than requests.
  const double calls = m["teesplit_back_batch_size_count"];
  std::printf("back partition: %.0f calls for %d requests (%.2f per call)\n", calls,
              kClients * kRequests, kClients * kRequests / calls);
  EXPECT_LT(calls, kClients * kRequests);
  EXPECT_EQ(m["teesplit_queue_depth"], 0);
  EXPECT_EQ(m["teesplit_back_queue_depth"], 0);
  EXPECT_EQ(m["teesplit_requests_in_flight"], 0);
}

// --max-queue 4: of 64 requests sent at once, those beyond what the server
// holds are refused at once with RESOURCE_EXHAUSTED (the admitted ones sit in
// a 600 ms batch window, the refused ones come back long before), and a
// refused client that attests again is served.
TEST(ServeLoad, AFullQueueRefusesAtOnce) {
  const std::string dir = testing::make_resnet50_split("serve-load", "queue");
  ServeProcess server(dir + "/split", dir, 1,
                      {"--max-queue", "4", "--max-batch", "64", "--max-delay-ms", window_ms(600),
                       "--metrics-listen", "127.0.0.1:0"});
  ASSERT_FALSE(server.address().empty()) << server.log();
  constexpr int kClients = 64;
  const Reference ref(kClients);
  Tally tally;
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < kClients; ++c) {  // one at a time: attesting is not refused
    clients.push_back(std::make_unique<Client>(server.address(), policy_of(dir), tally));
    ASSERT_TRUE(clients.back()->attest()) << tally.first_error;
  }
  std::vector<std::string> code(kClients);
  std::vector<double> ms(kClients);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c)
    threads.emplace_back([&, c] {
      ++ready;
      while (ready < kClients) std::this_thread::yield();
      const auto t0 = SteadyClock::now();
      Tensor out;
      code[c] = clients[c]->infer(testing::batch_row(ref.batch.images, c), &out);
      ms[c] = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
    });
  for (auto& t : threads) t.join();
  int ok = 0, refused = 0;
  double slowest_refusal = 0, fastest_ok = 1e9;
  for (int c = 0; c < kClients; ++c) {
    if (code[c] == "OK") {
      ++ok;
      fastest_ok = std::min(fastest_ok, ms[c]);
    } else if (code[c] == "RESOURCE_EXHAUSTED") {
      ++refused;
      slowest_refusal = std::max(slowest_refusal, ms[c]);
    }
  }
  std::printf(
      "64 requests at once, --max-queue 4: %d served (fastest %.0f ms), %d refused "
      "(slowest refusal %.0f ms)\n",
      ok, fastest_ok, refused, slowest_refusal);
  EXPECT_EQ(ok + refused, kClients) << tally.first_error;
  EXPECT_GE(ok, 1);
  EXPECT_LE(ok, 4 * 2) << "more requests held than --max-queue allows";
  EXPECT_GE(refused, kClients - 4 * 2);
  EXPECT_GE(fastest_ok, 500) << "the admitted requests did not wait for their batch";
  // Under a sanitizer 64 instrumented client threads take seconds just to send:
  // the latency says nothing there, the counts above still do.
  if (!kSanitized) {
    EXPECT_LT(slowest_refusal, 400) << "a refusal waited";
  }

  auto m = testing::scrape_metrics(testing::metrics_endpoint(dir + "/serve.out"));
  EXPECT_EQ(m["teesplit_refused_total{reason=\"queue_full\"}"], refused);
  EXPECT_EQ(m["teesplit_errors_total{rpc=\"Infer\",kind=\"RESOURCE_EXHAUSTED\"}"], refused);

  // Retryable: a refused client attests again (its session's count moved on) and is served.
  for (int c = 0; c < kClients; ++c)
    if (code[c] == "RESOURCE_EXHAUSTED") {
      ASSERT_TRUE(clients[c]->attest());
      Tensor out;
      ASSERT_EQ(clients[c]->infer(testing::batch_row(ref.batch.images, c), &out), "OK")
          << tally.first_error;
      EXPECT_LE(max_relative_error(out, testing::batch_row(ref.want, c)), 1e-4);
      break;
    }
}

// A request whose deadline passes while it waits for its enclave worker is
// answered DEADLINE_EXCEEDED and its front never runs; a request with a near
// deadline does not wait out its batch window (the batch closes early) and is
// served. (A deadline that passes in the batch queue, behind a busy back
// partition: Batcher.ARequestPastItsDeadlineIsNotComputed.)
TEST(ServeLoad, ARequestPastItsDeadlineIsNotComputed) {
  const std::string dir = testing::make_resnet50_split("serve-load", "deadline");
  // The batch window, and the last request's deadline a third of it. Under a
  // sanitizer 9 s, not 3 s * kSlow: serve's --max-delay-ms takes at most 10 s.
  const auto window = std::chrono::milliseconds(kSanitized ? 9000 : 3000);
  const auto near_deadline = window / 3;
  ServeProcess server(dir + "/split", dir, 1,
                      {"--max-batch", "64", "--max-delay-ms", std::to_string(window.count()),
                       "--metrics-listen", "127.0.0.1:0"});
  ASSERT_FALSE(server.address().empty()) << server.log();
  const testing::MetricsEndpoint endpoint = testing::metrics_endpoint(dir + "/serve.out");
  const Reference ref(2);
  Tally tally;
  constexpr int kLate = 8;
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < kLate + 2; ++c) {
    clients.push_back(std::make_unique<Client>(server.address(), policy_of(dir), tally));
    ASSERT_TRUE(clients.back()->attest());
  }
  const Tensor x = testing::batch_row(ref.batch.images, 0);
  const std::vector<pid_t> workers = testing::workers_of(server.pid());
  ASSERT_EQ(workers.size(), 1u);

  // The worker is stopped, so the first request holds it; 8 more with 200 ms
  // to live wait behind it and time out there, never reaching the enclave.
  ::kill(workers[0], SIGSTOP);
  std::string first_code;
  Tensor first_out;
  std::thread first([&] { first_code = clients[0]->infer(x, &first_out); });
  auto in_flight = [&] { return testing::scrape_metrics(endpoint)["teesplit_requests_in_flight"]; };
  for (int i = 0; i < 2000 && in_flight() < 1; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(in_flight(), 1) << server.log();
  std::vector<std::thread> late;
  for (int c = 1; c <= kLate; ++c)
    late.emplace_back([&, c] {
      clients[c]->remote.set_infer_deadline(200ms * kSlow);
      Tensor out;
      clients[c]->infer(x, &out);
    });
  for (auto& t : late) t.join();
  // The server's own answers (the clients stopped waiting at 200 ms too).
  for (int i = 0; i < 200 * kSlow &&
                  testing::scrape_metrics(
                      endpoint)["teesplit_deadline_exceeded_total{stage=\"front\"}"] < kLate;
       ++i)
    std::this_thread::sleep_for(10ms);
  ::kill(workers[0], SIGCONT);
  first.join();
  EXPECT_EQ(first_code, "OK") << tally.first_error;
  EXPECT_LE(max_relative_error(first_out, testing::batch_row(ref.want, 0)), 1e-4);
  EXPECT_EQ(tally.infer["DEADLINE_EXCEEDED"], kLate) << tally.first_error;

  // One more with 1 s to live in a 3 s batch window: the batch closes early,
  // before its deadline as the client counts it (the server's copy of it comes
  // rounded up by gRPC), and it is served.
  clients[kLate + 1]->remote.set_infer_deadline(near_deadline);
  Tensor out;
  const auto t0 = SteadyClock::now();
  EXPECT_EQ(clients[kLate + 1]->infer(x, &out), "OK") << tally.first_error;
  EXPECT_LT(SteadyClock::now() - t0, window) << "the batch window was waited out";
  EXPECT_LE(max_relative_error(out, testing::batch_row(ref.want, 0)), 1e-4);
  std::map<std::string, double> m;
  for (int i = 0; i < 200 * kSlow; ++i, std::this_thread::sleep_for(10ms)) {
    m = testing::scrape_metrics(endpoint);
    if (m["teesplit_back_batch_size_sum"] >= 2) break;
  }
  std::printf(
      "deadlines: %g passed waiting for the worker, %g waiting for the batch; fronts "
      "run %g, back partition samples %g\n",
      m["teesplit_deadline_exceeded_total{stage=\"front\"}"],
      m["teesplit_deadline_exceeded_total{stage=\"back\"}"],
      m["teesplit_stage_seconds_count{stage=\"front\"}"], m["teesplit_back_batch_size_sum"]);
  EXPECT_EQ(m["teesplit_deadline_exceeded_total{stage=\"front\"}"], kLate);
  EXPECT_EQ(m["teesplit_deadline_exceeded_total{stage=\"back\"}"], 0);
  EXPECT_EQ(m["teesplit_stage_seconds_count{stage=\"front\"}"], 2);  // the first and the last
  EXPECT_EQ(m["teesplit_back_batch_size_sum"], 2);                   // the same two
  EXPECT_EQ(m["teesplit_errors_total{rpc=\"Infer\",kind=\"DEADLINE_EXCEEDED\"}"], kLate);
}

// SIGTERM while 16 requests wait in a 1 s batch window: they all complete,
// requests sent after the signal are refused (UNAVAILABLE, draining), and the
// server exits 0 once drained.
TEST(ServeLoad, SigtermDrains) {
  const std::string dir = testing::make_resnet50_split("serve-load", "drain");
  ServeProcess server(
      dir + "/split", dir, 2,
      {"--max-batch", "64", "--max-delay-ms", window_ms(1000), "--metrics-listen", "127.0.0.1:0"});
  ASSERT_FALSE(server.address().empty()) << server.log();
  const testing::MetricsEndpoint endpoint = testing::metrics_endpoint(dir + "/serve.out");
  constexpr int kInFlight = 16, kLate = 8;
  const Reference ref(kInFlight);
  Tally tally;
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < kInFlight + kLate; ++c) {
    clients.push_back(std::make_unique<Client>(server.address(), policy_of(dir), tally));
    ASSERT_TRUE(clients.back()->attest());
  }
  std::vector<std::string> code(kInFlight + kLate);
  std::vector<Tensor> out(kInFlight);
  std::vector<std::thread> threads;
  for (int c = 0; c < kInFlight; ++c)
    threads.emplace_back(
        [&, c] { code[c] = clients[c]->infer(testing::batch_row(ref.batch.images, c), &out[c]); });
  // Once all 16 wait for the back partition, the signal.
  for (int i = 0; i < 500 * kSlow; ++i, std::this_thread::sleep_for(5ms))
    if (testing::scrape_metrics(endpoint)["teesplit_back_queue_depth"] >= kInFlight) break;
  ASSERT_EQ(testing::scrape_metrics(endpoint)["teesplit_back_queue_depth"], kInFlight);
  ::kill(server.pid(), SIGTERM);
  std::this_thread::sleep_for(50ms * kSlow);
  for (int c = kInFlight; c < kInFlight + kLate; ++c) {
    Tensor late;
    code[c] = clients[c]->infer(testing::batch_row(ref.batch.images, 0), &late);
  }
  for (auto& t : threads) t.join();
  const int st = server.stop();
  for (int c = 0; c < kInFlight; ++c) {
    EXPECT_EQ(code[c], "OK") << "request " << c << " in flight: " << tally.first_error;
    if (code[c] == "OK") {
      EXPECT_LE(max_relative_error(out[c], testing::batch_row(ref.want, c)), 1e-4);
    }
  }
  for (int c = kInFlight; c < kInFlight + kLate; ++c)
    EXPECT_EQ(code[c], "UNAVAILABLE") << "request " << c << " sent while draining";
  std::printf("SIGTERM with %d in flight: %d completed; %d sent after it refused\n", kInFlight,
              tally.infer["OK"], tally.infer["UNAVAILABLE"]);
  ASSERT_TRUE(WIFEXITED(st)) << server.log();
  EXPECT_EQ(WEXITSTATUS(st), 0) << server.log();
  EXPECT_NE(server.log().find("draining: 16 request(s) in flight"), std::string::npos)
      << server.log();
}

// The host's session table is bounded like the worker's (256 per worker):
// after 300 attestations the host itself has forgotten the oldest session
// (its own answer, not the worker's), and the newest still works.
TEST(ServeLoad, TheHostsSessionTableIsBounded) {
  const std::string dir = testing::make_resnet50_split("serve-load", "sessions");
  ServeProcess server(dir + "/split", dir, 1);
  ASSERT_FALSE(server.address().empty()) << server.log();
  serve::RemoteEnclave remote(server.address());
  const attest::Policy policy = policy_of(dir);
  std::vector<client::Attestation> sessions(300);
  for (auto& a : sessions) ASSERT_TRUE(remote.attest(a, policy).accepted);
  const Tensor x = testing::random_tensor({1, 1, 32, 32}, 3);
  try {
    remote.infer(sessions.front(), x);
    FAIL() << "the oldest of 300 sessions was still served";
  } catch (const serve::RemoteError& e) {
    EXPECT_EQ(e.code(), "FAILED_PRECONDITION") << e.what();
    EXPECT_NE(std::string(e.what()).find("unknown session: attest first"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(remote.infer(sessions.back(), x).shape(), (Shape{1, 10}));
}

// A worker that stops answering (here SIGSTOP; a deadlock or a starved
// process alike) is replaced after --worker-timeout, as a dead one is: its
// request is answered UNAVAILABLE (retryable) instead of hanging, and after
// attesting again the client is served by the new worker.
TEST(ServeLoad, AStalledWorkerIsReplacedAfterTheWorkerTimeout) {
  const std::string dir = testing::make_resnet50_split("serve-load", "stalled");
  const int timeout_s = kSanitized ? 8 : 2;
  ServeProcess server(
      dir + "/split", dir, 1,
      {"--worker-timeout", std::to_string(timeout_s), "--metrics-listen", "127.0.0.1:0"});
  ASSERT_FALSE(server.address().empty()) << server.log();
  const Reference ref(1);
  Tally tally;
  Client client(server.address(), policy_of(dir), tally);
  ASSERT_TRUE(client.attest());
  const Tensor x = testing::batch_row(ref.batch.images, 0);
  const std::vector<pid_t> before = testing::workers_of(server.pid());
  ASSERT_EQ(before.size(), 1u);
  ::kill(before[0], SIGSTOP);
  Tensor out;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string code = client.infer(x, &out);
  const auto waited = std::chrono::steady_clock::now() - t0;
  ::kill(before[0], SIGCONT);  // if it was not replaced, let the rest of the test go on
  EXPECT_EQ(code, "UNAVAILABLE") << tally.first_error;
  EXPECT_NE(tally.first_error.find("did not answer within --worker-timeout"), std::string::npos)
      << tally.first_error;
  EXPECT_NE(server.log().find("did not answer within " + std::to_string(timeout_s) + " s"),
            std::string::npos)
      << server.log();
  EXPECT_GE(waited, std::chrono::seconds(timeout_s));
  EXPECT_LT(waited, std::chrono::seconds(timeout_s + 30));
  const std::vector<pid_t> after = testing::workers_of(server.pid());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0], before[0]) << "the stalled worker was not replaced";
  ASSERT_TRUE(client.attest());
  ASSERT_EQ(client.infer(x, &out), "OK") << tally.first_error;
  EXPECT_LE(max_relative_error(out, testing::batch_row(ref.want, 0)), 1e-4);
  auto m = testing::scrape_metrics(testing::metrics_endpoint(dir + "/serve.out"));
  EXPECT_EQ(m["teesplit_enclave_restarts_total"], 1);
}

}  // namespace
}  // namespace teesplit
