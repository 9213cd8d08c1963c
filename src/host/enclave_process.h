// The host's side of one enclave worker: starts build/teesplit-enclave on a
// socketpair with the limits it needs (RLIMIT_MEMLOCK for memfd_secret),
// waits for its ready message, and exchanges frames with it. The host never
// sees plaintext: what it forwards for a client is the channel's ciphertext.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "channel/frame.h"
#include "enclave/messages.h"

namespace teesplit {

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
};

// The default paths: the enclave binary beside /proc/self/exe, and the
// simulated sealing root (/var/lib/teesplit/sim-seal/root.key for root, else
// under $XDG_DATA_HOME or ~/.local/share/teesplit/).
std::string default_enclave_binary();
std::string default_seal_root_path();

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
  // ErrorReply comes back as a frame of type kError; a dead worker is an Error.
  channel::Frame call(enclave::MsgType type, const std::vector<uint8_t>& payload);

  // SIGKILL, for tests and for a worker that stopped answering.
  void kill();

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  enclave::WorkerInfo info_;
  std::mutex mu_;
  std::thread stderr_pump_;
  std::string drain_stderr();
};

}  // namespace teesplit
