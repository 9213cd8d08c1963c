// teesplit serve and teesplit infer as separate processes over loopback, as a
// user runs them: the whole Fashion-MNIST test set through the enclave agrees
// with the unsplit model, and the client's plaintext input is found neither
// in the host's memory nor in the worker's readable memory.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "attest/sim_root.h"
#include "client/client.h"
#include "core/file.h"
#include "data/dataset.h"
#include "host/model.h"
#include "io/npy.h"
#include "serve/remote.h"
#include "support/test_support.h"

#include <atomic>
#include <mutex>

namespace teesplit {
namespace {

namespace fs = std::filesystem;

using testing::binary_path;
using testing::run_command;
using testing::ServeProcess;
using testing::workers_of;

std::string make_split(const std::string& name) {
  return testing::make_resnet50_split("serve", name);
}

// Whether `needle` occurs in any readable mapping of process pid; regions
// that cannot be read (memfd_secret pages: EIO) are counted in *unreadable.
bool memory_holds(pid_t pid, const std::string& needle, int* unreadable) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  std::string line;
  bool found = false;
  while (!found && std::getline(maps, line)) {
    unsigned long lo, hi;
    char perms[5];
    if (sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, perms) != 3 || perms[0] != 'r') continue;
    if (line.find("[vvar]") != std::string::npos || line.find("[vsyscall]") != std::string::npos)
      continue;
    std::string region(hi - lo, '\0');
    const ssize_t n = pread(fd, region.data(), region.size(), static_cast<off_t>(lo));
    if (n <= 0) {
      ++*unreadable;
      continue;
    }
    region.resize(static_cast<size_t>(n));
    found = region.find(needle) != std::string::npos;
  }
  ::close(fd);
  return found;
}

TEST(Serve, WholeTestSetThroughTheEnclaveMatchesTheUnsplitModel) {
  const std::string dir = make_split("accuracy");
  ServeProcess server(dir + "/split", dir);
  ASSERT_FALSE(server.address().empty()) << server.log();
  int code = 0;
  const std::string out =
      run_command(binary_path("teesplit") + " infer " + server.address() +
                      " --dataset fashion-mnist --allow-simulated --sim-root " + dir +
                      "/sim-root.pem --expect-manifest " + dir + "/split/manifest.json",
                  &code);
  ASSERT_EQ(code, 0) << out;
  // The unsplit model on the same 10,000 images, in this process.
  const std::string want = testing::infer_accuracy_line(
      testing::fashion_test_correct(testing::source_path("models/fashion-mnist-resnet50.onnx")));
  EXPECT_NE(out.find(want), std::string::npos) << "want: " << want << "\n" << out;
  EXPECT_NE(out.find("p99"), std::string::npos) << out;
}

// SIGTERM (and SIGINT) shut the host down in order: it says so, stops its
// workers and exits 0, rather than dying of the signal (exit 143).
TEST(Serve, SigtermShutsDownCleanly) {
  const std::string dir = make_split("sigterm");
  ServeProcess server(dir + "/split", dir, 2);
  ASSERT_FALSE(server.address().empty()) << server.log();
  const std::vector<pid_t> workers = workers_of(server.pid());
  ASSERT_EQ(workers.size(), 2u);
  const int st = server.stop();
  ASSERT_TRUE(WIFEXITED(st)) << "killed by signal " << (WIFSIGNALED(st) ? WTERMSIG(st) : 0) << "\n"
                             << server.log();
  EXPECT_EQ(WEXITSTATUS(st), 0) << server.log();
  EXPECT_NE(server.log().find("teesplit serve: Terminated: shutting down"), std::string::npos)
      << server.log();
  // Its workers are gone with it (reaped by the host, so no zombie either).
  for (pid_t w : workers) EXPECT_NE(::kill(w, 0), 0) << "worker " << w << " outlived its host";
}

// 8 clients at once against 2 workers; one worker is killed mid-run. Every
// request completes with the unsplit model's output: those in flight on the
// dead worker fail with a retryable error, the host starts a fresh worker, and
// the clients attest again and retry. Bounded: 8 x 40 requests, loopback only.
TEST(Serve, EightClientsSurviveAKilledWorker) {
  const std::string dir = make_split("load");
  ServeProcess server(dir + "/split", dir, 2);
  ASSERT_FALSE(server.address().empty()) << server.log();
  ASSERT_EQ(workers_of(server.pid()).size(), 2u);
  attest::Policy policy = client::policy_from_manifest(dir + "/split/manifest.json", std::nullopt);
  policy.simulated_root = attest::sim_root_public_key(dir + "/sim-root.pem");
  policy.allow_simulated = true;

  auto whole = open_model_session(testing::source_path("models/fashion-mnist-resnet50.onnx"), {});
  ASSERT_TRUE(whole.ok()) << whole.error();
  auto data = testing::fashion_test();
  constexpr int kClients = 8, kRequests = 40;
  const Batch batch = data->get_batch(0, kRequests);
  const Tensor want = (*whole)->run({batch.images})[0];

  std::atomic<int> sent{0}, completed{0}, failed{0}, retried{0}, wrong{0}, started{0};
  std::mutex err_mu;
  std::string first_error;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      serve::RemoteEnclave remote(server.address());
      auto a = std::make_unique<client::Attestation>();
      if (!remote.attest(*a, policy).accepted) {
        failed += kRequests;
        return;
      }
      for (int i = 0; i < kRequests; ++i) {
        const Tensor x = testing::batch_row(batch.images, (i + c) % kRequests);
        ++sent;
        ++started;
        for (int attempt = 0;; ++attempt) {
          try {
            const Tensor got = remote.infer(*a, x);
            const Tensor ref = testing::batch_row(want, (i + c) % kRequests);
            if (max_relative_error(got, ref) > 1e-4) ++wrong;
            ++completed;
            break;
          } catch (const serve::RemoteError& e) {
            if (!e.retryable() || attempt >= 5) {
              ++failed;
              std::lock_guard<std::mutex> lock(err_mu);
              if (first_error.empty()) first_error = e.what();
              break;
            }
            ++retried;
            a = std::make_unique<client::Attestation>();
            if (!remote.attest(*a, policy).accepted) {
              ++failed;
              break;
            }
          }
        }
      }
    });
  // Kill one worker once a quarter of the requests are under way.
  while (started < kClients * kRequests / 4)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::vector<pid_t> before = workers_of(server.pid());
  ASSERT_FALSE(before.empty());
  kill(before[0], SIGKILL);
  for (auto& t : clients) t.join();
  std::printf("load: sent %d, completed %d, failed %d, retried %d (one of 2 workers killed)\n",
              sent.load(), completed.load(), failed.load(), retried.load());
  EXPECT_EQ(completed, kClients * kRequests) << first_error;
  EXPECT_EQ(failed, 0) << first_error;
  EXPECT_EQ(wrong, 0);
  EXPECT_GE(retried, 1) << "no request met the killed worker";
  const std::vector<pid_t> after = workers_of(server.pid());
  EXPECT_EQ(after.size(), 2u);
  EXPECT_EQ(std::find(after.begin(), after.end(), before[0]), after.end());
  EXPECT_NE(server.log().find("restarting it"), std::string::npos) << server.log();
}

TEST(Serve, PlaintextInputNeverReachesTheHost) {
  ASSERT_EQ(geteuid(), 0u) << "reads other processes' memory: run as root (CI does)";
  const std::string dir = make_split("plaintext");
  ServeProcess server(dir + "/split", dir);
  ASSERT_FALSE(server.address().empty()) << server.log();
  // A distinctive input: 1024 floats from a fixed stream; its middle 64 bytes
  // are the pattern searched for.
  Tensor x(DType::F32, {1, 1, 32, 32});
  std::mt19937 rng(20261203);
  std::uniform_real_distribution<float> u(-3.f, 3.f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
  const std::string input = dir + "/secret-input.npy";
  write_npy(input, x);
  const std::string pattern(static_cast<const char*>(x.raw()) + 2048, 64);
  int code = 0;
  const std::string out =
      run_command(binary_path("teesplit") + " infer " + server.address() + " --input " + input +
                      " --allow-simulated --sim-root " + dir + "/sim-root.pem --expect-manifest " +
                      dir + "/split/manifest.json",
                  &code);
  ASSERT_EQ(code, 0) << out;

  int unreadable = 0;
  EXPECT_FALSE(memory_holds(server.pid(), pattern, &unreadable)) << "the host holds the input";
  // The worker: its plaintext lives in memfd_secret pages, which even root
  // cannot read; everything readable must be free of it.
  const std::vector<pid_t> workers = workers_of(server.pid());
  ASSERT_EQ(workers.size(), 1u) << "no worker process under the server";
  unreadable = 0;
  EXPECT_FALSE(memory_holds(workers[0], pattern, &unreadable))
      << "the worker holds the input in readable memory";
  EXPECT_GE(unreadable, 1) << "no unreadable (memfd_secret) region in the worker";
  // The scan's control: this process holds the input, and the scan finds it.
  int own_unreadable = 0;
  EXPECT_TRUE(memory_holds(getpid(), pattern, &own_unreadable)) << "the scan cannot see";
}

}  // namespace
}  // namespace teesplit
