// One request's trip through the secure path, stage by stage, with the real
// sandboxed enclave worker: what `teesplit profile` measures per cut and what
// build/bench/bench_privacy reports. The probe starts build/teesplit-enclave on
// a split directory (as `teesplit serve` does), attests it as a client would
// (simulated root), opens the host's back partition, and times:
//
//   the client's sealing of the input, its decryption in the worker, the front
//   partition in the worker, the feature map's transfer to the host, the back
//   partition on the host's backend, and with a tail (split --protect-output)
//   the transfer back to the worker, the tail, the result's sealing in the
//   worker and the client's opening of it.
//
// The worker reports its own crypto and compute times (enclave::StageTimes);
// a transfer is the round trip the host sees less what the worker reports.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "core/tensor.h"
#include "partition/manifest.h"
#include "runtime/session.h"

namespace teesplit::planner {

// Milliseconds per stage of one request. Without a tail, transfer_tail, tail,
// seal and client_open are 0 and the result is the back partition's output.
struct StageSample {
  double client_seal = 0, decrypt = 0, front = 0, transfer_in = 0, back = 0, transfer_tail = 0,
         tail = 0, seal = 0, client_open = 0, end_to_end = 0;
  double compute() const { return front + back + tail; }
  // Everything the secure path adds to the partitions' compute.
  double secure() const { return end_to_end - compute(); }
  double crypto() const { return client_seal + decrypt + seal + client_open; }
  double transfer() const { return transfer_in + transfer_tail; }
  // The time spent inside the enclave (what an enclave slowdown multiplies).
  double in_enclave() const { return decrypt + front + tail + seal; }
};

struct ProbeOptions {
  std::string split_dir;        // written by write_split (front not sealed, or provisioned)
  std::string enclave_binary;   // "": teesplit-enclave beside the running executable
  std::string attestation_key;  // the simulated root's private key; created if missing
  std::string seal_root;        // the simulated sealing root; created if missing
  int threads = 1;              // the worker's and the back partition's threads
  BackendKind back = BackendKind::OneDnn;
  size_t secret_arena_bytes = size_t{256} << 20;
};

class SecurePathProbe {
 public:
  // Starts and attests the worker and opens the back partition; throws Error
  // (with the worker's own message when it refused to start).
  explicit SecurePathProbe(const ProbeOptions& opts);
  ~SecurePathProbe();
  SecurePathProbe(const SecurePathProbe&) = delete;
  SecurePathProbe& operator=(const SecurePathProbe&) = delete;

  // A fresh attestation (a new session); returns its wall time in ms.
  double attest();
  // One request; the model's output (the tail's, opened by the client, or the
  // back partition's) goes to *result when given.
  StageSample run(const Tensor& input, Tensor* result = nullptr);

  const SplitManifest& manifest() const;
  pid_t worker_pid() const;
  bool worker_gramine() const;  // the worker runs under Gramine (SGX isolation)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A field of /proc/PID/status in bytes ("VmHWM", "VmRSS"), or 0 when absent.
double process_status_bytes(pid_t pid, const std::string& key);
// The total size of the files a process maps: its binary and shared libraries.
double mapped_file_bytes(pid_t pid);

}  // namespace teesplit::planner
