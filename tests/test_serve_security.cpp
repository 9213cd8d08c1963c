// What the host and the wire can see of a client's secrets (issue 11, "The
// plaintext never reaches the host"), with `teesplit serve` as a separate
// process and the real gRPC client:
//   - the bytes on the wire, recorded by a loopback TCP relay between client
//     and server, hold no piece of the plaintext input;
//   - a live session's keys (derived here from a handshake whose private key
//     the test holds), the input and the sealing root are in none of the
//     worker's readable memory, even to root, and its memfd_secret pages are
//     unreadable;
//   - a host that runs as an unprivileged user (`--user`, or the launcher in a
//     process that dropped root) can neither ptrace its worker nor read its
//     memory, while it can do both to another process of its own.
// Each check has a control that shows it can fail. Run as root (CI does).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "attest/report_data.h"
#include "attest/sim_root.h"
#include "attest/verifier.h"
#include "channel/secure_channel.h"
#include "client/client.h"
#include "core/bytes.h"
#include "core/file.h"
#include "crypto/x25519.h"
#include "enclave/messages.h"
#include "enclave/sealing.h"
#include "host/enclave_process.h"
#include "host/model.h"
#include "host/privileges.h"
#include "io/npy.h"
#include "serve/remote.h"
#include "support/test_support.h"
#include "teesplit/v1/serving.grpc.pb.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
namespace pb = ::teesplit::v1;

constexpr uid_t kNobody = 65534;

using testing::run_command;
using testing::workers_of;

std::string bin(const char* name) {
  return testing::binary_path(name);
}

std::string str(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// The value of "Key:" in /proc/PID/status ("" when absent).
std::string status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

// ---- a loopback TCP relay that records every byte, both ways ----

class TcpRelay {
 public:
  // target: "127.0.0.1:PORT" of the server.
  explicit TcpRelay(const std::string& target) {
    target_port_ = std::stoi(target.substr(target.rfind(':') + 1));
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(listen_fd_, 0) << std::strerror(errno);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::pipe2(stop_, O_CLOEXEC), 0);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TcpRelay() {
    (void)!::write(stop_[1], "x", 1);
    acceptor_.join();
    for (auto& t : pumps_) t.join();
    ::close(listen_fd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string to_server() const {
    std::lock_guard<std::mutex> l(mu_);
    return to_server_;
  }
  std::string to_client() const {
    std::lock_guard<std::mutex> l(mu_);
    return to_client_;
  }
  int connections() const { return connections_; }

 private:
  void accept_loop() {
    while (true) {
      pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno == EINTR) continue;
      if (p[1].revents) return;
      const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(target_port_));
      if (s < 0 || ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(c);
        if (s >= 0) ::close(s);
        continue;
      }
      ++connections_;
      pumps_.emplace_back([this, c, s] { pump(c, s); });
    }
  }
  // Forwards client <-> server until both sides closed (or the relay stops).
  void pump(int c, int s) {
    bool c_open = true, s_open = true;
    char buf[65536];
    while (c_open || s_open) {
      pollfd p[3] = {
          {c_open ? c : -1, POLLIN, 0}, {s_open ? s : -1, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 3, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (p[2].revents) break;
      for (int side = 0; side < 2; ++side) {
        if (!(p[side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const int from = side == 0 ? c : s, to = side == 0 ? s : c;
        const ssize_t n = ::read(from, buf, sizeof buf);
        if (n <= 0) {
          (side == 0 ? c_open : s_open) = false;
          ::shutdown(to, SHUT_WR);
          continue;
        }
        {
          std::lock_guard<std::mutex> l(mu_);
          (side == 0 ? to_server_ : to_client_).append(buf, static_cast<size_t>(n));
        }
        for (ssize_t off = 0; off < n;) {
          const ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
          if (w <= 0) break;
          off += w;
        }
      }
    }
    ::close(c);
    ::close(s);
  }

  int listen_fd_ = -1, stop_[2] = {-1, -1};
  int port_ = 0, target_port_ = 0;
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // touched by the acceptor only, until it is joined
  mutable std::mutex mu_;
  std::string to_server_, to_client_;
};

// ---- scanning another process's memory (/proc/PID/maps + /proc/PID/mem) ----

struct Needle {
  std::string name, bytes;
  bool found = false;
};

struct MemScan {
  uint64_t readable = 0, unreadable = 0;  // bytes of 'r' mappings read / refused
  int unreadable_regions = 0;
  uint64_t secretmem = 0, secretmem_read = 0;  // bytes in memfd_secret mappings; of them read
  int secretmem_regions = 0;
  int open_errno = 0;  // /proc/PID/mem or maps could not be opened
  std::string text() const {
    std::ostringstream o;
    o << readable << " bytes readable, " << unreadable << " bytes unreadable in "
      << unreadable_regions << " regions; memfd_secret: " << secretmem_regions << " regions, "
      << secretmem << " bytes, " << secretmem_read << " of them read";
    return o.str();
  }
};

// Reads every readable mapping of pid in 4 MiB chunks and marks the needles
// found anywhere in it. Chunks that cannot be read (memfd_secret pages: EIO)
// are counted as unreadable.
MemScan scan_memory(pid_t pid, std::vector<Needle>& needles) {
  MemScan m;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || !maps) {
    m.open_errno = fd < 0 ? errno : EIO;
    if (fd >= 0) ::close(fd);
    return m;
  }
  size_t longest = 1;
  for (const Needle& n : needles) longest = std::max(longest, n.bytes.size());
  constexpr size_t kChunk = size_t{4} << 20;
  std::string chunk;
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long lo, hi;
    char perms[5];
    if (sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, perms) != 3 || perms[0] != 'r') continue;
    if (line.find("[vvar") != std::string::npos || line.find("[vsyscall]") != std::string::npos)
      continue;
    const bool secret = line.find("secretmem") != std::string::npos;
    if (secret) {
      ++m.secretmem_regions;
      m.secretmem += hi - lo;
    }
    bool refused = false;
    for (unsigned long at = lo; at < hi;) {
      // Each chunk starts longest-1 bytes back, so that no needle falls between two.
      const unsigned long from = at == lo ? at : at - (longest - 1);
      const size_t want = std::min<unsigned long>(kChunk, hi - from);
      chunk.resize(want);
      const ssize_t n = pread(fd, chunk.data(), want, static_cast<off_t>(from));
      const unsigned long end = n > 0 ? from + static_cast<unsigned long>(n) : from;
      if (n <= 0 || end <= at) {
        // This chunk is refused: count it and go on with the next one.
        const unsigned long skip = std::min<unsigned long>(kChunk, hi - at);
        m.unreadable += skip;
        refused = true;
        at += skip;
        continue;
      }
      chunk.resize(static_cast<size_t>(n));
      m.readable += end - at;
      if (secret) m.secretmem_read += end - at;
      for (Needle& nd : needles)
        if (!nd.found && chunk.find(nd.bytes) != std::string::npos) nd.found = true;
      at = end;
    }
    m.unreadable_regions += refused;
  }
  ::close(fd);
  return m;
}

std::string found_names(const std::vector<Needle>& needles) {
  std::string s;
  for (const Needle& n : needles)
    if (n.found) s += (s.empty() ? "" : ", ") + n.name;
  return s.empty() ? "none" : s;
}

// ---- the split and the input ----

std::string make_split(const std::string& name) {
  const std::string dir = testing::generated_dir() + "/serve-security/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  int code = 0;
  const std::string out = run_command(
      bin("teesplit") + " split " + testing::source_path("models/fashion-mnist-resnet50.onnx") +
          " --at layer2.0 -o " + dir + "/split",
      &code);
  EXPECT_EQ(code, 0) << out;
  return dir;
}

// A distinctive input: 1024 floats from a fixed stream.
Tensor distinctive_input() {
  Tensor x(DType::F32, {1, 1, 32, 32});
  std::mt19937 rng(20261204);
  std::uniform_real_distribution<float> u(-3.f, 3.f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
  return x;
}

// Its bytes as 16-byte pieces (a piece on the wire would reveal part of it).
std::vector<std::string> pieces(const Tensor& x, size_t size) {
  std::vector<std::string> out;
  const char* p = static_cast<const char*>(x.raw());
  for (size_t at = 0; at + size <= x.nbytes(); at += size) out.emplace_back(p + at, size);
  return out;
}

Tensor whole_model_output(const Tensor& x) {
  auto whole = open_model_session(testing::source_path("models/fashion-mnist-resnet50.onnx"), {});
  EXPECT_TRUE(whole.ok()) << whole.error();
  return (*whole)->run({x})[0];
}

attest::Policy policy_for(const std::string& dir) {
  attest::Policy p = client::policy_from_manifest(dir + "/split/manifest.json", std::nullopt);
  p.simulated_root = attest::sim_root_public_key(dir + "/sim-root.pem");
  p.allow_simulated = true;
  return p;
}

// ---- 1. the bytes on the wire ----

TEST(ServeSecurity, PlaintextInputIsNotOnTheWire) {
  const std::string dir = make_split("wire");
  testing::ServeProcess server(
      dir + "/split", dir, 1, {"--sim-root", dir + "/sim-root.pem", "--state-dir", dir + "/state"});
  ASSERT_FALSE(server.address().empty()) << server.log();
  TcpRelay relay(server.address());
  const Tensor x = distinctive_input();
  ByteWriter w;
  enclave::write_tensor(w, x);
  const size_t sealed_bytes = w.data().size() + channel::kMessageOverhead;

  // The real client SDK, given only the relay's address.
  serve::RemoteEnclave remote(relay.address());
  client::Attestation a;
  const crypto::Bytes32 client_public = a.request().client_public;
  const attest::Verdict v = remote.attest(a, policy_for(dir));
  ASSERT_TRUE(v.accepted) << v.to_text();
  const Tensor got = remote.infer(a, x);
  EXPECT_LE(max_relative_error(got, whole_model_output(x)), 1e-4);

  const std::string up = relay.to_server(), down = relay.to_client();
  std::printf(
      "wire: %d connection(s) through the relay, %zu bytes to the server, %zu to the client; "
      "the sealed input is %zu bytes\n",
      relay.connections(), up.size(), down.size(), sealed_bytes);
  // The traffic went through the relay: all of the sealed input, and the
  // attest request's client key (sent in clear), which the search finds.
  ASSERT_GE(relay.connections(), 1);
  EXPECT_GT(up.size(), sealed_bytes);
  EXPECT_NE(up.find(str(client_public)), std::string::npos)
      << "control: the client's public key is not in the recorded stream";
  int in_up = 0, in_down = 0;
  const std::vector<std::string> ps = pieces(x, 16);
  for (const std::string& p : ps) {
    in_up += up.find(p) != std::string::npos;
    in_down += down.find(p) != std::string::npos;
  }
  EXPECT_EQ(in_up, 0) << "16-byte pieces of the input on the wire to the server";
  EXPECT_EQ(in_down, 0) << "16-byte pieces of the input on the wire to the client";
  std::printf("wire: %zu 16-byte pieces of the input searched: %d found upstream, %d downstream\n",
              ps.size(), in_up, in_down);
}

// ---- 2. a live session's keys, the input and the sealing root vs. root ----

TEST(ServeSecurity, SessionKeysAndInputAreNotInTheWorkersReadableMemory) {
  ASSERT_EQ(geteuid(), 0u) << "reads other processes' memory: run as root (CI does)";
  const std::string dir = make_split("keys");
  const std::string seal_root_path = dir + "/seal-root.key";
  testing::ServeProcess server(dir + "/split", dir, 1,
                               {"--sim-root", dir + "/sim-root.pem", "--state-dir", dir + "/state",
                                "--seal-root", seal_root_path});
  ASSERT_FALSE(server.address().empty()) << server.log();
  TcpRelay relay(server.address());
  auto stub = pb::Enclave::NewStub(
      grpc::CreateChannel(relay.address(), grpc::InsecureChannelCredentials()));

  // The client's handshake, with a private key this test keeps: the session
  // keys come from the channel's public derivation, not from the product.
  crypto::X25519KeyPair kp = crypto::X25519KeyPair::generate();
  const SecretBytes client_private = kp.private_key;
  const crypto::Bytes32 client_public = kp.public_key;
  crypto::Bytes32 nonce;
  crypto::random_bytes(nonce.data(), nonce.size());
  channel::ClientHandshake hs(std::move(kp), nonce);

  pb::AttestRequest q;
  q.set_nonce(str(nonce));
  q.set_client_public_key(str(client_public));
  pb::AttestReply r;
  {
    grpc::ClientContext ctx;
    const grpc::Status s = stub->Attest(&ctx, q, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_EQ(r.enclave_public_key().size(), 32u);
  crypto::Bytes32 enclave_public;
  std::memcpy(enclave_public.data(), r.enclave_public_key().data(), 32);
  attest::Policy policy = policy_for(dir);
  attest::ReportBinding b;
  b.enclave_public_key = enclave_public;
  b.nonce = nonce;
  b.protocol_version = channel::ProtocolVersion;
  policy.binding = b;
  const attest::Verdict v = attest::verify_quote(
      {reinterpret_cast<const uint8_t*>(r.quote().data()), r.quote().size()}, policy);
  ASSERT_TRUE(v.accepted) << v.to_text();

  const SecretBytes shared = crypto::x25519(client_private, enclave_public);
  channel::SessionKeys keys =
      channel::derive_session_keys(shared, client_public, enclave_public, nonce);
  const std::string c2e = str(keys.client_to_enclave), e2c = str(keys.enclave_to_client);
  ASSERT_EQ(c2e.size(), 32u);
  ASSERT_EQ(e2c.size(), 32u);
  channel::Limits limits;
  limits.max_message_bytes = enclave::kMaxWorkerFrame;
  // These are the client SDK's keys: its handshake and ours understand each other.
  channel::SecureChannel sdk = hs.finish(enclave_public, limits);
  channel::SecureChannel mine(std::move(keys), channel::Role::client, limits);
  channel::SecureChannel as_enclave(channel::SessionKeys{SecretBytes(c2e.begin(), c2e.end()),
                                                         SecretBytes(e2c.begin(), e2c.end())},
                                    channel::Role::enclave, limits);
  const uint8_t probe[5] = {1, 2, 3, 4, 5};
  EXPECT_EQ(str(sdk.open(as_enclave.seal(probe))), str(probe));
  EXPECT_EQ(str(as_enclave.open(sdk.seal(probe))), str(probe));

  // The input, sealed under our client-to-enclave key: the worker opening it
  // proves that key is the live session's.
  const Tensor x = distinctive_input();
  const std::string pattern(static_cast<const char*>(x.raw()) + 2048, 64);
  ByteWriter w;
  enclave::write_tensor(w, x);
  pb::SealedMessage m;
  m.set_session(r.session());
  const std::vector<uint8_t> sealed =
      mine.seal(w.data(), enclave::channel_aad("input", r.session()));
  m.set_message(str(sealed));
  pb::InferReply out;
  {
    grpc::ClientContext ctx;
    const grpc::Status s = stub->Infer(&ctx, m, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  Tensor got(DType::F32, {1, 10});
  ASSERT_EQ(out.output().size(), got.nbytes());
  std::memcpy(got.raw(), out.output().data(), got.nbytes());
  EXPECT_LE(max_relative_error(got, whole_model_output(x)), 1e-4);

  const std::string seal_root = read_file(seal_root_path, 64);
  ASSERT_EQ(seal_root.size(), enclave::kSealRootBytes);
  auto needles = [&] {
    return std::vector<Needle>{{"client-to-enclave key", c2e},
                               {"enclave-to-client key", e2c},
                               {"X25519 shared secret", str(shared)},
                               {"input pattern", pattern},
                               {"sealing root", seal_root}};
  };

  // The worker, as root: nothing readable holds any of them.
  const std::vector<pid_t> workers = workers_of(server.pid());
  ASSERT_EQ(workers.size(), 1u) << "no worker process under the server";
  std::vector<Needle> in_worker = needles();
  const MemScan ws = scan_memory(workers[0], in_worker);
  std::printf("worker %d: %s; found: %s\n", int(workers[0]), ws.text().c_str(),
              found_names(in_worker).c_str());
  ASSERT_EQ(ws.open_errno, 0) << std::strerror(ws.open_errno);
  for (const Needle& n : in_worker)
    EXPECT_FALSE(n.found) << "the worker's readable memory holds the " << n.name;
  EXPECT_GE(ws.secretmem_regions, 1) << "no memfd_secret mapping in the worker";
  EXPECT_EQ(ws.secretmem_read, 0u) << "root read memfd_secret pages";
  EXPECT_GE(ws.unreadable, ws.secretmem);
  EXPECT_GT(ws.readable, uint64_t{1} << 20) << "the scan read almost nothing";
  // The worker is locked down (seccomp filter mode, no new privileges).
  EXPECT_EQ(status_field(workers[0], "Seccomp"), "2");
  EXPECT_EQ(status_field(workers[0], "NoNewPrivs"), "1");

  // The host never holds them either (the sealing root it may: it created it).
  std::vector<Needle> in_host = needles();
  in_host.pop_back();
  const MemScan hs_scan = scan_memory(server.pid(), in_host);
  std::printf("host %d: %s; found: %s\n", int(server.pid()), hs_scan.text().c_str(),
              found_names(in_host).c_str());
  for (const Needle& n : in_host) EXPECT_FALSE(n.found) << "the host's memory holds the " << n.name;

  // On the wire: exactly the sealed message, never the pattern.
  const std::string up = relay.to_server();
  EXPECT_NE(up.find(str(sealed)), std::string::npos) << "the relay did not see the sealed input";
  EXPECT_EQ(up.find(pattern), std::string::npos);

  // Control: a process holding the same bytes in ordinary memory (a forked
  // copy of this one) is found to hold every one of them by the same scan.
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t holder = fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    close(go[1]);
    char c;
    while (read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(go[0]);
  std::vector<Needle> in_holder = needles();
  const MemScan cs = scan_memory(holder, in_holder);
  close(go[1]);
  int st;
  waitpid(holder, &st, 0);
  std::printf("control %d: %s; found: %s\n", int(holder), cs.text().c_str(),
              found_names(in_holder).c_str());
  for (const Needle& n : in_holder)
    EXPECT_TRUE(n.found) << "control: the scan misses the " << n.name;
}

// ---- 3. an unprivileged host against its own worker ----

// A directory that only `uid` can enter, holding what the worker needs (a
// split, the simulated keys, a copy of the worker binary), all owned by uid.
struct PrivateDir {
  std::string path, split, binary, att_key, seal_root;
  explicit PrivateDir(uid_t uid) {
    char tmpl[] = "/tmp/teesplit-unpriv-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
    path = tmpl;
    binary = path + "/teesplit-enclave";
    fs::copy_file(bin("teesplit-enclave"), binary);
    split = path + "/split";
    att_key = path + "/sim-root.pem";
    seal_root = path + "/seal-root.key";
    // By the CLI, so that this process starts no (OpenMP) thread before it
    // forks the host: ThreadSanitizer does not support threads after a
    // multi-threaded fork. The copy of the worker has the same bytes, hence the
    // measurement split records.
    int code = 0;
    const std::string out = run_command(
        bin("teesplit") + " split " + testing::source_path("models/fashion-mnist-resnet50.onnx") +
            " --at layer2.0 -o " + split,
        &code);
    EXPECT_EQ(code, 0) << out;
    attest::load_or_create_sim_root(att_key);
    enclave::ensure_seal_root(seal_root);
    EXPECT_EQ(::chown(path.c_str(), uid, uid), 0);
    for (const auto& e : fs::recursive_directory_iterator(path))
      EXPECT_EQ(::lchown(e.path().c_str(), uid, uid), 0) << e.path();
  }
  ~PrivateDir() { fs::remove_all(path); }
};

struct Attempt {
  int attach = -1, seize = -1;  // 0 or errno
  int mem_open = -1;            // 0 or errno
  int mem_read = -1;            // 0 (read the bytes) or errno
};

// ptrace and /proc/PID/mem against target, from this process.
Attempt try_attack(pid_t target) {
  Attempt a;
  if (ptrace(PTRACE_ATTACH, target, nullptr, nullptr) == 0) {
    a.attach = 0;
    int st;
    waitpid(target, &st, __WALL);
    ptrace(PTRACE_DETACH, target, nullptr, nullptr);
  } else {
    a.attach = errno;
  }
  if (ptrace(PTRACE_SEIZE, target, nullptr, nullptr) == 0) {
    a.seize = 0;
    ptrace(PTRACE_INTERRUPT, target, nullptr, nullptr);
    int st;
    waitpid(target, &st, __WALL);
    ptrace(PTRACE_DETACH, target, nullptr, nullptr);
  } else {
    a.seize = errno;
  }
  const std::string proc = "/proc/" + std::to_string(target);
  const int fd = ::open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  a.mem_open = fd < 0 ? errno : 0;
  if (fd >= 0) {
    // The first readable mapping (maps itself may be refused).
    unsigned long lo = 0, hi = 0;
    std::ifstream maps(proc + "/maps");
    std::string line;
    while (std::getline(maps, line)) {
      char perms[5];
      if (sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, perms) == 3 && perms[0] == 'r') break;
      lo = 0;
    }
    char buf[64];
    if (lo == 0) {
      a.mem_read = ENOENT;  // no readable mapping listed
    } else {
      const ssize_t n = pread(fd, buf, sizeof buf, static_cast<off_t>(lo));
      a.mem_read = n == ssize_t(sizeof buf) ? 0 : n < 0 ? errno : EIO;
    }
    ::close(fd);
  }
  return a;
}

std::string attempt_text(const Attempt& a) {
  auto e = [](int v) { return v == 0 ? std::string("ok") : std::string(strerrorname_np(v)); };
  return "PTRACE_ATTACH " + e(a.attach) + ", PTRACE_SEIZE " + e(a.seize) + ", open mem " +
         e(a.mem_open) + (a.mem_open == 0 ? ", pread " + e(a.mem_read) : "");
}

struct UnprivReport {
  int stage = 0;  // 0: finished; else where it stopped
  uid_t uid = 0;
  bool kept_ipc_lock = false;
  pid_t worker = 0;
  char worker_uid[64] = {}, worker_cap_eff[32] = {}, worker_seccomp[8] = {};
  Attempt on_worker, on_control;
  char error[512] = {};
};

TEST(ServeSecurity, UnprivilegedHostCannotPtraceOrReadItsWorker) {
  ASSERT_EQ(geteuid(), 0u) << "drops from root to uid 65534: run as root (CI does)";
  struct passwd* nobody = getpwuid(kNobody);
  ASSERT_NE(nobody, nullptr) << "no user with uid 65534";
  const std::string user = nobody->pw_name;
  PrivateDir d(kNobody);

  int rep[2];
  ASSERT_EQ(pipe(rep), 0);
  const pid_t host = fork();
  ASSERT_GE(host, 0);
  if (host == 0) {
    close(rep[0]);
    UnprivReport u;
    try {
      u.stage = 1;
      const size_t arena = size_t{64} << 20;
      const PrivilegeDrop drop = drop_privileges_to(user, arena + (size_t{16} << 20));
      u.uid = getuid();
      u.kept_ipc_lock = drop.kept_ipc_lock;
      u.stage = 2;
      EnclaveLaunch l;
      l.binary = d.binary;
      l.split_dir = d.split;
      l.attestation_key = d.att_key;
      l.seal_root = d.seal_root;
      l.secret_arena_bytes = arena;
      EnclaveProcess w(l);  // returns once the worker has locked itself down
      u.worker = w.pid();
      std::snprintf(u.worker_uid, sizeof u.worker_uid, "%s", status_field(w.pid(), "Uid").c_str());
      std::snprintf(u.worker_cap_eff, sizeof u.worker_cap_eff, "%s",
                    status_field(w.pid(), "CapEff").c_str());
      std::snprintf(u.worker_seccomp, sizeof u.worker_seccomp, "%s",
                    status_field(w.pid(), "Seccomp").c_str());
      u.stage = 3;
      u.on_worker = try_attack(w.pid());
      // Control: a process of the same user started the same way (fork, exec)
      // but not locked down.
      u.stage = 4;
      const pid_t control = fork();
      if (control == 0) {
        execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
        _exit(127);
      }
      for (int i = 0; i < 200; ++i) {  // until the exec happened
        std::ifstream comm("/proc/" + std::to_string(control) + "/comm");
        std::string c;
        if (comm >> c && c == "sleep") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      u.on_control = try_attack(control);
      kill(control, SIGKILL);
      int st;
      waitpid(control, &st, 0);
      u.stage = 0;
    } catch (const std::exception& e) {
      std::snprintf(u.error, sizeof u.error, "%s", e.what());
    }
    (void)!write(rep[1], &u, sizeof u);
    _exit(0);
  }
  close(rep[1]);
  UnprivReport u;
  const ssize_t n = read(rep[0], &u, sizeof u);
  close(rep[0]);
  int st;
  waitpid(host, &st, 0);
  ASSERT_EQ(n, ssize_t(sizeof u)) << "the host child died";
  ASSERT_EQ(u.stage, 0) << "stopped at stage " << u.stage << ": " << u.error;
  std::printf("host uid %u (%s), worker %d: Uid %s, CapEff %s, Seccomp %s\n", u.uid,
              u.kept_ipc_lock ? "kept CAP_IPC_LOCK only" : "no capabilities", int(u.worker),
              u.worker_uid, u.worker_cap_eff, u.worker_seccomp);
  std::printf("against its worker:  %s\n", attempt_text(u.on_worker).c_str());
  std::printf("against the control: %s\n", attempt_text(u.on_control).c_str());
  EXPECT_EQ(u.uid, kNobody);
  EXPECT_EQ(std::string(u.worker_uid), "65534\t65534\t65534\t65534");
  EXPECT_EQ(std::string(u.worker_seccomp), "2");
  EXPECT_EQ(u.on_worker.attach, EPERM);
  EXPECT_EQ(u.on_worker.seize, EPERM);
  EXPECT_EQ(u.on_worker.mem_open, EACCES);
  // The control shows the same attempts work on a process that is not locked down.
  EXPECT_EQ(u.on_control.attach, 0) << attempt_text(u.on_control);
  EXPECT_EQ(u.on_control.seize, 0) << attempt_text(u.on_control);
  EXPECT_EQ(u.on_control.mem_open, 0) << attempt_text(u.on_control);
  EXPECT_EQ(u.on_control.mem_read, 0) << attempt_text(u.on_control);
}

// ---- 4. teesplit serve --user ----

TEST(ServeSecurity, ServeAsAnotherUserRunsHostAndWorkersAsThatUser) {
  ASSERT_EQ(geteuid(), 0u) << "serve --user needs root: run as root (CI does)";
  struct passwd* nobody = getpwuid(kNobody);
  ASSERT_NE(nobody, nullptr) << "no user with uid 65534";
  const std::string user = nobody->pw_name;
  PrivateDir d(kNobody);
  // The state directory and the simulated keys: the user's, 0600.
  const std::string state = d.path + "/state";
  testing::ServeProcess server(
      d.split, d.path, 1,
      {"--user", user, "--sim-root", d.att_key, "--seal-root", d.seal_root, "--state-dir", state,
       "--enclave-binary", d.binary, "--secret-mib", "64"});
  ASSERT_FALSE(server.address().empty()) << server.log();
  EXPECT_NE(server.log().find("running as user " + user), std::string::npos) << server.log();
  EXPECT_EQ(status_field(server.pid(), "Uid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(status_field(server.pid(), "Gid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(status_field(server.pid(), "Groups"), "");
  const std::string host_caps = status_field(server.pid(), "CapEff");
  EXPECT_TRUE(host_caps == "0000000000000000" || host_caps == "0000000000004000") << host_caps;
  const std::vector<pid_t> workers = workers_of(server.pid());
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(status_field(workers[0], "Uid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(status_field(workers[0], "Seccomp"), "2");
  std::printf("serve --user %s: host CapEff %s, worker %d Uid %s\n", user.c_str(),
              host_caps.c_str(), int(workers[0]), status_field(workers[0], "Uid").c_str());

  attest::Policy policy = client::policy_from_manifest(d.split + "/manifest.json", std::nullopt);
  policy.simulated_root = attest::sim_root_public_key(d.att_key);
  policy.allow_simulated = true;
  serve::RemoteEnclave remote(server.address());
  client::Attestation a;
  const attest::Verdict v = remote.attest(a, policy);
  ASSERT_TRUE(v.accepted) << v.to_text();
  const Tensor x = distinctive_input();
  EXPECT_LE(max_relative_error(remote.infer(a, x), whole_model_output(x)), 1e-4);

  for (const std::string& f : {d.att_key, d.seal_root}) {
    struct stat s {};
    ASSERT_EQ(::stat(f.c_str(), &s), 0) << f;
    EXPECT_EQ(s.st_uid, kNobody) << f;
    EXPECT_EQ(s.st_mode & 0777, 0600u) << f;
  }
}

TEST(ServeSecurity, ServeRefusesAnUnknownUserOrRoot) {
  ASSERT_EQ(geteuid(), 0u) << "serve --user needs root: run as root (CI does)";
  const std::string dir = testing::generated_dir() + "/serve-security/users";
  fs::create_directories(dir);
  for (const char* u : {"teesplit-no-such-user", "root"}) {
    int code = 0;
    const std::string out = run_command(
        bin("teesplit") + " serve " + dir + " --user " + u + " --listen 127.0.0.1:0", &code);
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find(std::string("--user ") + u), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace teesplit
