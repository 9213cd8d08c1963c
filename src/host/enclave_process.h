// The host's side of one enclave worker: starts build/teesplit-enclave on a
// socketpair, or on loopback TCP (enclave/host_link.h: for Gramine, which
// passes no socketpair into an enclave), with the limits it needs
// (RLIMIT_MEMLOCK for memfd_secret), optionally under a loader such as
// gramine-sgx, waits for its ready message, and exchanges frames with it. The
// host never sees plaintext: what it forwards for a client is the channel's
// ciphertext.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "channel/frame.h"
#include "enclave/messages.h"

namespace teesplit {

// How the host and the worker are linked. Either way they speak the frames of
// channel/frame.h; over TCP the worker first proves it is the one the host
// started (a one-time token, enclave/host_link.h).
enum class EnclaveTransport { kSocketpair, kTcp };
// "socketpair" or "tcp"; throws Error naming the choices otherwise.
EnclaveTransport parse_enclave_transport(const std::string& name);
const char* enclave_transport_name(EnclaveTransport t);

struct EnclaveLaunch {
  std::string binary;  // "" : teesplit-enclave beside the running executable
  std::string split_dir;
  std::string attestation_key;  // "" : this machine's simulated root
  std::string seal_root;        // "" : default path (sealing.h); created if missing
  std::string sealed_key;       // the front key sealed by an earlier worker (optional)
  std::string dev_key;          // development only: the front key in clear
  bool insecure = false;
  int threads = 1;
  size_t secret_arena_bytes = size_t{256} << 20;
  // RLIMIT_MEMLOCK the worker gets: memfd_secret pages count against it.
  size_t memlock_bytes = 0;  // 0: secret_arena_bytes + 16 MiB
  std::chrono::seconds ready_timeout{120};
  // Once ready: the longest a request may take to be sent and its reply to
  // arrive (0: no limit). A worker past it is stalled (stopped, deadlocked, or
  // starved): call() fails, and the host replaces it, as it does a dead one.
  std::chrono::seconds reply_timeout{0};
  EnclaveTransport transport = EnclaveTransport::kSocketpair;
  // Over TCP: how long the host waits for the worker to connect (a loader
  // such as gramine-sgx first builds the enclave, which takes a while).
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(120)};
  // A program that runs the worker, e.g. {"gramine-sgx"}: the host executes
  // `loader... BINARY ARGS...` (loader[0] found on PATH when it has no '/'),
  // and BINARY is the loader's argument rather than a program the host checks
  // (for gramine-sgx, the manifest's name without .manifest.sgx). The worker's
  // environment then also holds the host's PATH, for the loader's own use.
  std::vector<std::string> loader;
};

// Splits a loader given as one string ("gramine-sgx", "taskset -c 2
// gramine-sgx") at spaces; no quoting.
std::vector<std::string> split_loader(const std::string& text);

// The default paths: the enclave binary beside /proc/self/exe, and the
// simulated sealing root (/var/lib/teesplit/sim-seal/root.key for root, else
// under $XDG_DATA_HOME or ~/.local/share/teesplit/).
std::string default_enclave_binary();
std::string default_seal_root_path();

// A worker that did not answer within EnclaveLaunch::reply_timeout.
class WorkerStalled : public Error {
 public:
  explicit WorkerStalled(const std::string& msg) : Error(msg) {}
};

// The reading half of EnclaveProcess::call_into on a worker link `fd`: one
// reply, a feature map of feature_shape read straight into place()'s memory
// (nullopt, *meta set) or any other reply whole. Errors as channel::read_frame.
std::optional<channel::Frame> read_reply_into(int fd, const Shape& feature_shape,
                                              const std::function<uint8_t*()>& place,
                                              enclave::FeatureView* meta);

class EnclaveProcess {
 public:
  // Starts the worker and waits for its ready message. Throws Error with the
  // worker's exit status and the last lines it wrote on stderr when it fails.
  explicit EnclaveProcess(const EnclaveLaunch& launch);
  ~EnclaveProcess();  // asks it to stop, then waits (kills after a grace period)
  EnclaveProcess(const EnclaveProcess&) = delete;
  EnclaveProcess& operator=(const EnclaveProcess&) = delete;

  const enclave::WorkerInfo& info() const { return info_; }
  pid_t pid() const { return pid_; }
  bool alive();

  // One request, one reply (serialised: the worker answers in order). An
  // ErrorReply comes back as a frame of type kError; a dead worker, or one that
  // does not answer within EnclaveLaunch::reply_timeout (WorkerStalled), is an Error.
  channel::Frame call(enclave::MsgType type, const std::vector<uint8_t>& payload);

  // call() for a request whose reply may be a feature map of feature_shape.
  // When it is one (a kFeature frame of exactly that layout, its session, dtype
  // and shape read and checked first), place() is called once for memory of
  // feature_reply_layout(feature_shape).feature_bytes, the feature map is read
  // from the socket straight into it, the rest goes to *meta (its `feature`
  // empty) and the result is nullopt. Any other reply, or place() returning
  // nullptr, comes back whole as call() returns it. place() must not throw.
  // Errors as call(); one that comes after place() leaves that memory partly
  // written (place()'s caller knows it was called).
  std::optional<channel::Frame> call_into(enclave::MsgType type,
                                          const std::vector<uint8_t>& payload,
                                          const Shape& feature_shape,
                                          const std::function<uint8_t*()>& place,
                                          enclave::FeatureView* meta);

  // SIGKILL, for tests and for a worker that stopped answering.
  void kill();

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  std::chrono::seconds reply_timeout_{0};
  enclave::WorkerInfo info_;
  std::mutex mu_;
  std::thread stderr_pump_;
  std::string drain_stderr();
  // One request and its reply, read by read() (under mu_); a failure is
  // call_failed's.
  template <class Read>
  auto exchange(enclave::MsgType type, const std::vector<uint8_t>& payload, const Read& read)
      -> decltype(read());
  // A failed write or read of a call that began at t0: WorkerStalled when
  // reply_timeout passed, else the worker is gone.
  [[noreturn]] void call_failed(const Error& e, std::chrono::steady_clock::time_point t0);
};

}  // namespace teesplit
