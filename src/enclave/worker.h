// The enclave worker: loads and warms up the front partition, locks itself
// down, then answers the host's frames on one socket (messages.h). It holds
// the only copies of the client's plaintext input, the session keys and the
// front's key and weights, all in secret memory. Started by the host
// (host/enclave_process.h) as build/teesplit-enclave.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "backends/backend.h"

namespace teesplit::enclave {

struct WorkerOptions {
  int fd = -1;                  // the host's socket (inherited)
  std::string split_dir;        // manifest.json and front.tsf; only the front is read
  std::string attestation_key;  // the simulated attestation key (Ed25519 private PEM)
  std::string seal_root;   // simulated sealing secret (32 raw bytes, readable by this user only)
  std::string sealed_key;  // the front's key sealed to this measurement (optional)
  std::string dev_key;     // the front's key in clear: development only, marks the worker insecure
  bool insecure = false;   // continue when a lockdown step fails, and say so
  int threads = 1;         // oneDNN/OpenMP threads
  size_t secret_arena_bytes = 0;  // 0: sized from the front's weights and peak memory
  std::chrono::seconds session_lifetime{3600};
  size_t max_sessions = 256;
};

// Runs the worker until the host closes the socket or asks it to stop.
// Returns the process exit status; a failure before the ready message is
// reported on stderr (no secret in it) and gives a non-zero status.
int run_worker(const WorkerOptions& opts);

// The options the worker compiles its partitions with: `threads`, and the
// oneDNN convolution tuner's cache off. The worker times its convolutions
// itself while it warms up, before the lockdown; a cache file is the host's to
// change, so it is neither read nor written.
CompileOptions worker_compile_options(int threads);

// The configuration the measurement covers, as canonical JSON: what changes
// how the front runs. `split` uses the same function to predict the measurement.
std::string measured_config(const std::string& precision, bool has_tail);

}  // namespace teesplit::enclave
