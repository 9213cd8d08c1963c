#include "host/enclave_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "attest/sim_root.h"
#include "core/error.h"
#include "core/file.h"
#include "crypto/primitives.h"
#include "enclave/host_link.h"
#include "enclave/sealing.h"

namespace teesplit {

namespace fs = std::filesystem;

std::string default_enclave_binary() {
  return (fs::path(running_executable()).parent_path() / "teesplit-enclave").string();
}

std::string default_seal_root_path() {
  if (::geteuid() == 0) return "/var/lib/teesplit/sim-seal/root.key";
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x)
    return std::string(x) + "/teesplit/sim-seal/root.key";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.local/share/teesplit/sim-seal/root.key";
  fail("no place for the simulated sealing root: neither XDG_DATA_HOME nor HOME is set");
}

EnclaveTransport parse_enclave_transport(const std::string& name) {
  if (name == "socketpair") return EnclaveTransport::kSocketpair;
  if (name == "tcp") return EnclaveTransport::kTcp;
  fail("unknown enclave transport '", name, "' (choose socketpair or tcp)");
}

const char* enclave_transport_name(EnclaveTransport t) {
  return t == EnclaveTransport::kTcp ? "tcp" : "socketpair";
}

std::vector<std::string> split_loader(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ') ++j;
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

namespace {

// A loader named without a '/' is looked up on the host's PATH.
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  const std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t i = 0;
  while (i <= dirs.size()) {
    size_t j = dirs.find(':', i);
    if (j == std::string::npos) j = dirs.size();
    const std::string dir = j > i ? dirs.substr(i, j - i) : ".";
    const std::string p = dir + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
    i = j + 1;
  }
  fail("the enclave loader '", name, "' is not on PATH (", dirs, ")");
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "status " + std::to_string(status);
}

}  // namespace

EnclaveProcess::EnclaveProcess(const EnclaveLaunch& l) {
  const std::string binary = l.binary.empty() ? default_enclave_binary() : l.binary;
  const bool tcp = l.transport == EnclaveTransport::kTcp;
  std::string loader;
  if (l.loader.empty()) {
    TS_CHECK(::access(binary.c_str(), X_OK) == 0, binary, ": the enclave worker is not there (",
             std::strerror(errno), "); build the target teesplit-enclave");
  } else {
    loader = find_program(l.loader[0]);
    TS_CHECK(::access(loader.c_str(), X_OK) == 0, loader, ": the enclave loader cannot be run (",
             std::strerror(errno), ")");
  }
  const std::string seal_root = l.seal_root.empty() ? default_seal_root_path() : l.seal_root;
  enclave::ensure_seal_root(seal_root);

  // Over TCP the host listens first, and the worker learns where and the token.
  std::unique_ptr<enclave::HostListener> listener;
  crypto::Bytes32 token{};
  if (tcp) {
    listener = std::make_unique<enclave::HostListener>();
    crypto::random_bytes(token.data(), token.size());
  }
  std::vector<std::string> args;
  if (!l.loader.empty()) {
    args.push_back(loader);
    args.insert(args.end(), l.loader.begin() + 1, l.loader.end());
  }
  args.push_back(binary);
  if (tcp)
    args.insert(args.end(), {"--connect", listener->address()});
  else
    args.insert(args.end(), {"--fd", "3"});
  // Absolute: a loader may run the worker from another directory (Gramine: /).
  const std::string split_dir = fs::absolute(l.split_dir).lexically_normal().string();
  args.insert(args.end(),
              {"--split", split_dir, "--seal-root", seal_root, "--threads",
               std::to_string(l.threads), "--secret-bytes", std::to_string(l.secret_arena_bytes)});
  // SIMULATED attestation root: the host creates it once (it can read it anyway).
  const std::string att_key =
      l.attestation_key.empty() ? attest::default_sim_root_path() : l.attestation_key;
  attest::load_or_create_sim_root(att_key);
  args.insert(args.end(), {"--attestation-key", att_key});
  if (!l.sealed_key.empty()) args.insert(args.end(), {"--sealed-key", l.sealed_key});
  if (!l.dev_key.empty()) args.insert(args.end(), {"--dev-key", l.dev_key});
  if (l.insecure) args.push_back("--insecure");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The worker's environment is not the host's to choose: a fixed one, empty
  // but for the link's token and, for a loader, the PATH it runs its tools from.
  std::vector<std::string> env;
  if (tcp) env.push_back(std::string(enclave::kConnectTokenEnv) + "=" + crypto::to_hex(token));
  if (!l.loader.empty()) {
    const char* path = std::getenv("PATH");
    env.push_back(std::string("PATH=") + (path && *path ? path : "/usr/local/bin:/usr/bin:/bin"));
  }
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int sv[2] = {-1, -1}, err[2];
  TS_CHECK(tcp || ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
           "socketpair: ", std::strerror(errno));
  if (!tcp) {
    // Feature maps are megabytes: larger socket buffers mean fewer switches
    // between the two processes per frame (best effort; the kernel caps them
    // at net.core.wmem_max / rmem_max).
    const int buf = 4 << 20;
    for (int fd : sv) {
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    }
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    if (!tcp) {
      ::close(sv[0]);
      ::close(sv[1]);
    }
    fail("pipe: ", std::strerror(errno));
  }
  const rlim_t memlock = l.memlock_bytes ? l.memlock_bytes : l.secret_arena_bytes + (16u << 20);
  pid_ = ::fork();
  if (pid_ < 0) fail("fork: ", std::strerror(errno));
  if (pid_ == 0) {
    // The child: only async-signal-safe calls until exec.
    // Its own process group: a Ctrl-C at the terminal goes to the host, which
    // then stops its workers in order; they never die of it first.
    ::setpgid(0, 0);
    // The host may block SIGINT/SIGTERM (teesplit serve); the worker starts with none blocked.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!tcp) ::dup2(sv[1], 3);
    ::dup2(err[1], 2);
    struct rlimit rl = {memlock, memlock};
    if (::setrlimit(RLIMIT_MEMLOCK, &rl) != 0) {
      // Without CAP_SYS_RESOURCE the hard limit bounds us; the worker reports
      // what it got and refuses to start when it is too small.
      struct rlimit cur {};
      ::getrlimit(RLIMIT_MEMLOCK, &cur);
      cur.rlim_cur = cur.rlim_max < memlock ? cur.rlim_max : memlock;
      ::setrlimit(RLIMIT_MEMLOCK, &cur);
    }
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "teesplit-enclave: exec failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  if (!tcp) ::close(sv[1]);
  ::close(err[1]);
  fd_ = sv[0];
  stderr_fd_ = err[0];

  std::optional<channel::Frame> f;
  std::string why;
  int status = 0;
  bool reaped = false;
  if (tcp) {
    // Exactly one connection, from the worker that holds the token; a worker
    // that dies first ends the wait at once.
    try {
      fd_ = listener->accept_worker(token, l.connect_timeout, [&] {
        reaped = ::waitpid(pid_, &status, WNOHANG) == pid_;
        return !reaped;
      });
    } catch (const Error& e) {
      why = e.what();
    }
    listener.reset();
  }

  // The ready message, within the timeout.
  if (why.empty()) {
    struct pollfd p = {fd_, POLLIN, 0};
    const int ms = static_cast<int>(std::chrono::milliseconds(l.ready_timeout).count());
    const int r = ::poll(&p, 1, ms);
    if (r <= 0) {
      why = r == 0 ? "did not become ready within " + std::to_string(l.ready_timeout.count()) + " s"
                   : std::string("poll: ") + std::strerror(errno);
    } else {
      try {
        f = channel::read_frame(fd_, enclave::kMaxWorkerFrame);
        if (!f) why = "closed its socket before it was ready";
      } catch (const Error& e) {
        why = e.what();
      }
    }
  }
  if (f && f->type == uint8_t(enclave::MsgType::kReady)) {
    info_ = enclave::decode_worker_info(f->payload);
    if (l.reply_timeout.count() > 0) {
      // Reads and writes on the link give up after the timeout (EAGAIN), so
      // that a stalled worker cannot hold its request thread forever.
      reply_timeout_ = l.reply_timeout;
      const timeval tv{static_cast<time_t>(l.reply_timeout.count()), 0};
      if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
          ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        why = std::string("setsockopt(SO_RCVTIMEO/SO_SNDTIMEO): ") + std::strerror(errno);
    }
    if (why.empty()) {
      // From now on the worker's log lines go to ours, so that its pipe never fills.
      stderr_pump_ = std::thread([fd = stderr_fd_] {
        char buf[4096];
        ssize_t n;
        while ((n = ::read(fd, buf, sizeof buf)) > 0)
          (void)!::write(2, buf, static_cast<size_t>(n));
      });
      return;
    }
  }
  if (f && why.empty()) why = std::string("sent '") + enclave::msg_type_name(f->type) + "' first";
  if (!reaped) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  const std::string log = drain_stderr();
  if (fd_ >= 0) ::close(fd_);
  ::close(stderr_fd_);
  fd_ = stderr_fd_ = -1;
  fail("the enclave worker ", binary, " failed to start: ", why, " (", exit_text(status), ")",
       log.empty() ? "" : ": " + log);
}

std::string EnclaveProcess::drain_stderr() {
  std::string out;
  if (stderr_fd_ < 0) return out;
  const int flags = ::fcntl(stderr_fd_, F_GETFL);
  ::fcntl(stderr_fd_, F_SETFL, flags | O_NONBLOCK);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(stderr_fd_, buf, sizeof buf)) > 0 && out.size() < 65536) out.append(buf, n);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  // The last line or two say why.
  size_t cut = out.rfind('\n');
  if (cut != std::string::npos) cut = out.rfind('\n', cut - 1);
  return cut == std::string::npos ? out : out.substr(cut + 1);
}

bool EnclaveProcess::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

template <class Read>
auto EnclaveProcess::exchange(enclave::MsgType type, const std::vector<uint8_t>& payload,
                              const Read& read) -> decltype(read()) {
  std::lock_guard<std::mutex> lock(mu_);
  TS_CHECK(fd_ >= 0, "the enclave worker is not running");
  const auto t0 = std::chrono::steady_clock::now();
  try {
    channel::write_frame(fd_, uint8_t(type), payload);
    return read();
  } catch (const Error& e) {
    call_failed(e, t0);
  }
}

channel::Frame EnclaveProcess::call(enclave::MsgType type, const std::vector<uint8_t>& payload) {
  return exchange(type, payload, [this] {
    auto f = channel::read_frame(fd_, enclave::kMaxWorkerFrame);
    if (!f) fail("the enclave worker closed its connection");
    return std::move(*f);
  });
}

std::optional<channel::Frame> read_reply_into(int fd, const Shape& feature_shape,
                                              const std::function<uint8_t*()>& place,
                                              enclave::FeatureView* meta) {
  const auto h = channel::read_frame_header(fd, enclave::kMaxWorkerFrame);
  if (!h) fail("the enclave worker closed its connection");
  channel::Frame f;
  f.type = h->type;
  size_t have = 0;  // payload bytes already in f.payload
  const enclave::FeatureReplyLayout l = enclave::feature_reply_layout(feature_shape);
  if (h->type == uint8_t(enclave::MsgType::kFeature) && h->payload_bytes == l.total()) {
    f.payload.resize(l.prefix_bytes);
    channel::read_frame_body(fd, *h, 0, f.payload.data(), l.prefix_bytes);
    have = l.prefix_bytes;
    std::optional<enclave::FeatureView> m;
    try {
      m = enclave::decode_feature_prefix(f.payload, feature_shape);
    } catch (const Error&) {
      // Not a reply this host can place: read whole, the caller's decoder says why.
    }
    uint8_t* dst = m ? place() : nullptr;
    if (dst) {
      channel::read_frame_body(fd, *h, have, dst, l.feature_bytes);
      uint8_t trailer[enclave::kFeatureReplyTrailerBytes];
      channel::read_frame_body(fd, *h, have + l.feature_bytes, trailer, sizeof(trailer));
      enclave::decode_feature_trailer(trailer, *m);
      *meta = *m;
      return std::nullopt;
    }
  }
  f.payload.resize(h->payload_bytes);
  channel::read_frame_body(fd, *h, have, f.payload.data() + have, h->payload_bytes - have);
  return f;
}

std::optional<channel::Frame> EnclaveProcess::call_into(enclave::MsgType type,
                                                        const std::vector<uint8_t>& payload,
                                                        const Shape& feature_shape,
                                                        const std::function<uint8_t*()>& place,
                                                        enclave::FeatureView* meta) {
  return exchange(type, payload, [&] { return read_reply_into(fd_, feature_shape, place, meta); });
}

void EnclaveProcess::call_failed(const Error& e, std::chrono::steady_clock::time_point t0) {
  if (reply_timeout_.count() > 0 && std::chrono::steady_clock::now() - t0 >= reply_timeout_)
    throw WorkerStalled(detail::concat("the enclave worker (pid ", pid_, ") did not answer within ",
                                       reply_timeout_.count(),
                                       " s (--worker-timeout): ", e.what()));
  fail("the enclave worker (pid ", pid_, ") is gone: ", e.what(),
       "; retry after a new worker starts (attest again)");
}

void EnclaveProcess::kill() {
  if (pid_ > 0) ::kill(pid_, SIGKILL);
}

EnclaveProcess::~EnclaveProcess() {
  if (fd_ >= 0) {
    try {
      channel::write_frame(fd_, uint8_t(enclave::MsgType::kShutdown), {});
    } catch (...) {
    }
    ::close(fd_);
  }
  if (pid_ > 0) {
    int status = 0;
    for (int i = 0; i < 50; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  if (stderr_pump_.joinable()) stderr_pump_.join();  // EOF: the worker has exited
  if (stderr_fd_ >= 0) ::close(stderr_fd_);
}

}  // namespace teesplit
