// teesplit serve: the untrusted host. It starts the enclave workers (one
// process each, host/enclave_process.h), serves clients over gRPC
// (proto/teesplit/v1/serving.proto), forwards their ciphertext to the worker
// that holds their session, and runs the back partition on the feature maps.
#pragma once

#include <memory>
#include <string>

#include "host/enclave_process.h"
#include "runtime/session.h"

namespace teesplit::serve {

struct ServeOptions {
  std::string split_dir;
  std::string listen = "127.0.0.1:50051";  // port 0: any free port (printed)
  int workers = 1;
  BackendKind backend = BackendKind::OneDnn;  // the back partition's
  int threads = 0;                            // the back partition's (0: all cores)
  EnclaveLaunch worker;                       // binary, keys, arena; split_dir is filled in
  // Where the sealed front key is kept (it is ciphertext bound to the
  // measurement); default: SPLIT_DIR/.teesplit-state.
  std::string state_dir;
  // Where the back partition runs: "" in this process on `backend`;
  // kserve://HOST:PORT/MODEL on a KServe v2 server (Triton, teesplit serve-back;
  // serve/kserve.h), and `backend` and `threads` are not used.
  std::string back;
  // HOST:PORT for GET /metrics (Prometheus text format; serve/metrics.h); "": none.
  std::string metrics_listen;
};

class Server {
 public:
  explicit Server(const ServeOptions& opts);  // starts the workers and listens
  ~Server();
  // "127.0.0.1:PORT" as bound.
  const std::string& address() const;
  // "HOST:PORT" of /metrics as bound, or "" without ServeOptions::metrics_listen.
  std::string metrics_address() const;
  // Blocks until shutdown() (from another thread or a signal handler's thread).
  void wait();
  void shutdown();
  // For tests: the workers' process ids (to kill one).
  std::vector<pid_t> worker_pids() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace teesplit::serve
