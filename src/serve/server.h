// teesplit serve: the untrusted host. It starts the enclave workers (one
// process each, host/enclave_process.h), serves clients over gRPC
// (proto/teesplit/v1/serving.proto), forwards their ciphertext to the worker
// that holds their session, and runs the back partition on the feature maps.
// A request: admission (at most max_queue held, else RESOURCE_EXHAUSTED at
// once) -> its worker, waited for until the request's deadline -> the front ->
// the batching stage (serve/batcher.h: its own thread, so the back partition
// runs while the workers compute the next fronts) -> the back on the batch ->
// (the enclave's tail) -> the reply. shutdown() drains.
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
  // Dynamic batching of the back partition (serve/batcher.h): up to max_batch
  // feature maps per call, the oldest waiting at most max_delay_ms for company.
  int max_batch = 1;
  double max_delay_ms = 0;
  // The most Attest, Provision and Infer calls the server holds at once
  // (waiting or computing); one more is refused at once with RESOURCE_EXHAUSTED.
  int max_queue = 256;
  // A request's deadline when its client sets none (0: none). A request whose
  // deadline has passed is answered DEADLINE_EXCEEDED and not computed.
  double deadline_ms = 0;
  // On shutdown(): how long requests in flight may take to complete.
  double drain_timeout_s = 30;
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
  // Drains: new calls are refused (UNAVAILABLE, "draining"), calls in flight
  // complete (for at most drain_timeout_s), then the server stops. Idempotent;
  // returns once drained.
  void shutdown();
  // For tests: the workers' process ids (to kill one).
  std::vector<pid_t> worker_pids() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace teesplit::serve
