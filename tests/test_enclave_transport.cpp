// The host<->worker link over loopback TCP (enclave/host_link.h), the transport
// Gramine needs: the same attestation and inference as over a socketpair,
// with the worker as a separate, locked-down process; connections that race
// the worker (wrong token, garbage, silence, a closed socket) refused without
// stopping the host; the accept timeout and a worker that dies before it
// connects reported clearly; a loader prefix (--enclave-loader).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "attest/sim_root.h"
#include "channel/frame.h"
#include "client/client.h"
#include "crypto/primitives.h"
#include "data/dataset.h"
#include "enclave/host_link.h"
#include "enclave/messages.h"
#include "host/enclave_process.h"
#include "host/model.h"
#include "host/split_io.h"
#include "partition/split_dir.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using enclave::MsgType;

using testing::worker_binary;

// One small split per test (a middle cut of the shipped Fashion-MNIST
// ResNet-50), with its own simulated roots.
struct Fixture : testing::WorkerFixture {
  explicit Fixture(const std::string& name) : WorkerFixture("enclave-transport", name) {}
  EnclaveLaunch launch(EnclaveTransport t) const {
    EnclaveLaunch l = WorkerFixture::launch();
    l.transport = t;
    return l;
  }
  // An executable shell script in this test's directory.
  std::string script(const std::string& name, const std::string& body) const {
    const std::string path = dir + "/" + name;
    std::ofstream(path) << "#!/bin/bash\n" << body;
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }
};

// Attests, then runs `n` test images through the worker; returns the features.
std::vector<Tensor> attest_and_infer(EnclaveProcess& w, const Fixture& fx, int64_t n) {
  client::Attestation a;
  const channel::Frame r = w.call(MsgType::kAttest, enclave::encode(a.request()));
  EXPECT_EQ(r.type, uint8_t(MsgType::kAttestReply));
  const attest::Verdict v = a.finish(enclave::decode_attest_reply(r.payload), fx.policy());
  EXPECT_TRUE(v.accepted) << v.to_text();
  if (!v.accepted) return {};
  auto data = testing::fashion_test();
  EXPECT_TRUE(data);
  std::vector<Tensor> out;
  for (int64_t i = 0; i < n; ++i) {
    const Batch b = data->get_batch(i, 1);
    const channel::Frame f =
        w.call(MsgType::kInfer, enclave::encode(client::seal_input(a, b.images)));
    EXPECT_EQ(f.type, uint8_t(MsgType::kFeature)) << enclave::msg_type_name(f.type);
    if (f.type != uint8_t(MsgType::kFeature)) return {};
    out.push_back(enclave::decode_feature_reply(f.payload, fx.manifest.feature_shape).feature);
  }
  return out;
}

TEST(EnclaveTransport, TcpGivesTheSameAttestationAndFeaturesAsSocketpair) {
  Fixture fx("same");
  EnclaveProcess pair(fx.launch(EnclaveTransport::kSocketpair));
  EnclaveProcess tcp(fx.launch(EnclaveTransport::kTcp));
  // Locked down (seccomp, Landlock) before it served a frame over TCP: the
  // allow-list covers I/O on the connected socket.
  EXPECT_FALSE(tcp.info().insecure) << tcp.info().lockdown;
  EXPECT_NE(tcp.info().lockdown.find("seccomp"), std::string::npos) << tcp.info().lockdown;
  EXPECT_NE(tcp.info().lockdown.find("landlock"), std::string::npos) << tcp.info().lockdown;
  EXPECT_EQ(tcp.info().measurement, pair.info().measurement);
  EXPECT_EQ(crypto::to_hex(tcp.info().measurement), *fx.manifest.enclave_measurement);

  const auto via_pair = attest_and_infer(pair, fx, 6);
  const auto via_tcp = attest_and_infer(tcp, fx, 6);
  ASSERT_EQ(via_pair.size(), 6u);
  ASSERT_EQ(via_tcp.size(), 6u);
  auto back = open_split_back(fx.split, SessionOptions{});
  ASSERT_TRUE(back.ok()) << back.error();
  auto whole = open_model_session(testing::source_path("models/fashion-mnist-resnet50.onnx"),
                                  SessionOptions{});
  auto data = testing::fashion_test();
  for (size_t i = 0; i < via_tcp.size(); ++i) {
    // The same worker code on the same input: the same features, bit for bit.
    ASSERT_EQ(via_tcp[i].shape(), via_pair[i].shape());
    EXPECT_EQ(max_relative_error(via_tcp[i], via_pair[i]), 0.0) << "image " << i;
    const Tensor got = back->session->run({via_tcp[i]})[0];
    const Tensor want = (*whole)->run({data->get_batch(int64_t(i), 1).images})[0];
    EXPECT_LE(max_relative_error(got, want), 1e-4) << "image " << i;
  }
}

TEST(EnclaveTransport, ConnectionsWithoutTheTokenAreRefusedAndTheWorkerStillGetsIn) {
  Fixture fx("stray");
  // Before the real worker starts, four other connections reach the host's
  // port: a hello with a wrong token, garbage announcing a huge frame, one
  // that closes at once and one that stays silent (kept open, so the host
  // waits out its hello timeout on it).
  EnclaveLaunch l = fx.launch(EnclaveTransport::kTcp);
  l.binary = fx.script("racer.sh", R"(set -e
addr=""
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = --connect ]; then j=$((i + 1)); addr=${!j}; fi
done
host=${addr%:*}; port=${addr##*:}
exec 5<>/dev/tcp/$host/$port
printf '\x21\x00\x00\x00\x7e' >&5
head -c 32 /dev/zero >&5
exec 5>&-
exec 6<>/dev/tcp/$host/$port
printf '\xff\xff\xff\xff\x01garbage' >&6
exec 6>&-
exec 7<>/dev/tcp/$host/$port
exec 7>&-
exec 8<>/dev/tcp/$host/$port
exec )" + worker_binary() + R"( "$@"
)");
  ::testing::internal::CaptureStderr();
  std::unique_ptr<EnclaveProcess> w;
  const std::string err = testing::error_of([&] { w = std::make_unique<EnclaveProcess>(l); });
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(err, "") << log;
  EXPECT_NE(log.find("wrong token"), std::string::npos) << log;
  EXPECT_NE(log.find("exceeds the limit"), std::string::npos) << log;
  EXPECT_NE(log.find("closed without a hello"), std::string::npos) << log;
  EXPECT_NE(log.find("timed out"), std::string::npos) << log;
  const auto features = attest_and_infer(*w, fx, 2);
  EXPECT_EQ(features.size(), 2u);
}

TEST(EnclaveTransport, AcceptTimeoutAndEarlyExitAreClearErrors) {
  Fixture fx("timeout");
  EnclaveLaunch l = fx.launch(EnclaveTransport::kTcp);
  l.binary = fx.script("silent.sh", "exec sleep 30\n");
  l.connect_timeout = std::chrono::milliseconds(1500);
  auto t0 = std::chrono::steady_clock::now();
  std::string err = testing::error_of([&] { EnclaveProcess w(l); });
  EXPECT_NE(err.find("did not connect to 127.0.0.1:"), std::string::npos) << err;
  EXPECT_NE(err.find("within 1 s"), std::string::npos) << err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));

  // A worker that exits first is reported at once, with its status and words.
  l.binary = fx.script("dies.sh", "echo 'no enclave here' >&2\nexit 7\n");
  l.connect_timeout = std::chrono::seconds(60);
  t0 = std::chrono::steady_clock::now();
  err = testing::error_of([&] { EnclaveProcess w(l); });
  EXPECT_NE(err.find("exited before it connected"), std::string::npos) << err;
  EXPECT_NE(err.find("exit status 7"), std::string::npos) << err;
  EXPECT_NE(err.find("no enclave here"), std::string::npos) << err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(EnclaveTransport, ALoaderPrefixRunsTheWorker) {
  Fixture fx("loader");
  // `env` as the loader: found on PATH, given the worker binary and its
  // arguments, and passing the environment (the token) on, as gramine-sgx does.
  EnclaveLaunch l = fx.launch(EnclaveTransport::kTcp);
  l.loader = split_loader("  env  ");
  ASSERT_EQ(l.loader, std::vector<std::string>{"env"});
  EnclaveProcess w(l);
  EXPECT_EQ(attest_and_infer(w, fx, 1).size(), 1u);

  l.loader = {"teesplit-no-such-loader"};
  EXPECT_NE(testing::error_of([&] { EnclaveProcess x(l); }).find("is not on PATH"),
            std::string::npos);
  EXPECT_EQ(split_loader("taskset -c 1 gramine-sgx"),
            (std::vector<std::string>{"taskset", "-c", "1", "gramine-sgx"}));
  EXPECT_EQ(parse_enclave_transport("tcp"), EnclaveTransport::kTcp);
  EXPECT_NE(testing::error_of([] { parse_enclave_transport("unix"); }).find("socketpair or tcp"),
            std::string::npos);
}

// The listener alone, in process: racing connections first, then the right one.
TEST(EnclaveTransport, ListenerAcceptsOnlyTheToken) {
  enclave::HostListener listener;
  crypto::Bytes32 token{}, other{};
  crypto::random_bytes(token.data(), token.size());
  other = token;
  other[31] ^= 1;  // one bit off
  std::thread peers([&, port = listener.port()] {
    const auto dial = [port] {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(port);
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
      return fd;
    };
    int a = dial();
    channel::write_frame(a, enclave::kHelloFrameType, other, 32);
    int b = dial();
    channel::write_frame(b, 0x01, token, 32);  // the right bytes, the wrong type
    ::close(a);
    ::close(b);
    const int c = enclave::connect_to_host(listener.address(), token);
    channel::write_frame(c, 0x42, std::vector<uint8_t>{1, 2, 3});
    ::close(c);
  });
  ::testing::internal::CaptureStderr();
  const int fd = listener.accept_worker(token, std::chrono::seconds(20));
  const std::string log = ::testing::internal::GetCapturedStderr();
  peers.join();
  EXPECT_EQ(listener.refused(), 2) << log;
  EXPECT_NE(log.find("wrong token"), std::string::npos) << log;
  EXPECT_NE(log.find("not a hello"), std::string::npos) << log;
  const auto f = channel::read_frame(fd, 16);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x42);
  EXPECT_EQ(f->payload, (std::vector<uint8_t>{1, 2, 3}));
  ::close(fd);
  // Exactly one worker per listener.
  EXPECT_NE(testing::error_of([&] {
              listener.accept_worker(token, std::chrono::seconds(1));
            }).find("accepts one worker"),
            std::string::npos);
}

TEST(EnclaveTransport, WorkerSideRefusesBadAddressesAndTokens) {
  crypto::Bytes32 token{};
  EXPECT_NE(testing::error_of([&] {
              enclave::connect_to_host("10.1.2.3:4000", token);
            }).find("stay on this machine"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              enclave::connect_to_host("127.0.0.1:70000", token);
            }).find("port must be"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              enclave::connect_to_host("localhost:4000", token);
            }).find("IPv4 address"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] { enclave::connect_to_host("4000", token); }).find("HOST:PORT"),
            std::string::npos);

  ::unsetenv(enclave::kConnectTokenEnv);
  EXPECT_NE(
      testing::error_of([] { enclave::take_connect_token_from_env(); }).find("one-time token"),
      std::string::npos);
  ::setenv(enclave::kConnectTokenEnv, "abcd", 1);
  EXPECT_NE(testing::error_of([] { enclave::take_connect_token_from_env(); }).find("64 hex"),
            std::string::npos);
  EXPECT_EQ(std::getenv(enclave::kConnectTokenEnv), nullptr);  // taken, even when malformed
  const std::string hex(64, 'a');
  ::setenv(enclave::kConnectTokenEnv, hex.c_str(), 1);
  const crypto::Bytes32 t = enclave::take_connect_token_from_env();
  EXPECT_EQ(crypto::to_hex(t), hex);
  EXPECT_EQ(std::getenv(enclave::kConnectTokenEnv), nullptr);
}

}  // namespace
}  // namespace teesplit
