// teesplit serve SPLIT_DIR [--listen 127.0.0.1:PORT] [--workers N] [--backend ...]
// [--user NAME] [--max-batch N --max-delay-ms D] [--max-queue N] [--deadline-ms D]:
// the untrusted host (src/serve/server.h). It prints "listening on HOST:PORT"
// once it serves, and on SIGINT or SIGTERM drains (requests in flight complete,
// new ones are refused) and stops. Started
// as root with --user, it drops to NAME before anything else (host/privileges.h).
// --back kserve://HOST:PORT/MODEL runs the back partition on a KServe v2 server.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "host/enclave_process.h"
#include "host/privileges.h"
#include "serve/server.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

struct ServeArgs {
  std::string split, listen = "127.0.0.1:50051", backend = "auto", sim_root, dev_key, state_dir;
  std::string enclave_binary, enclave_transport = "socketpair", enclave_loader, user, seal_root;
  std::string back, metrics_listen;
  int workers = 1, threads = 0, enclave_threads = 1, max_batch = 1, max_queue = 256;
  int worker_timeout_s = 60;
  double max_delay_ms = 0, deadline_ms = 0, drain_timeout_s = 30;
  bool insecure = false;
  size_t secret_mib = 256;
};

int serve_cmd(const ServeArgs& a) {
  block_stop_signals();  // before any thread starts: StopOnSignal takes them
  // First, while this is the only thread: the memlock limit, then NAME for good.
  if (!a.user.empty()) {
    const PrivilegeDrop d = drop_privileges_to(a.user, (a.secret_mib << 20) + (size_t{16} << 20));
    std::fprintf(stderr, "teesplit serve: %s\n", d.summary().c_str());
  } else if (::geteuid() == 0) {
    std::fprintf(stderr,
                 "teesplit serve: running as root: root can ptrace the workers and read their "
                 "ordinary memory; --user NAME runs the host and its workers as NAME\n");
  }
  serve::ServeOptions o;
  o.split_dir = a.split;
  o.listen = a.listen;
  o.workers = a.workers;
  o.backend = parse_backend(a.backend);
  o.back = a.back;
  o.metrics_listen = a.metrics_listen;
  o.threads = a.threads;
  o.max_batch = a.max_batch;
  o.max_delay_ms = a.max_delay_ms;
  o.max_queue = a.max_queue;
  o.deadline_ms = a.deadline_ms;
  o.drain_timeout_s = a.drain_timeout_s;
  o.state_dir = a.state_dir;
  o.worker.binary = a.enclave_binary;
  o.worker.attestation_key = a.sim_root;
  o.worker.seal_root = a.seal_root;
  o.worker.dev_key = a.dev_key;
  o.worker.insecure = a.insecure;
  o.worker.threads = a.enclave_threads;
  o.worker.secret_arena_bytes = a.secret_mib << 20;
  o.worker.reply_timeout = std::chrono::seconds(a.worker_timeout_s);
  o.worker.transport = parse_enclave_transport(a.enclave_transport);
  o.worker.loader = split_loader(a.enclave_loader);
  auto server = std::make_unique<serve::Server>(o);
  std::printf("listening on %s\n", server->address().c_str());
  if (!server->metrics_address().empty())
    std::printf("metrics on http://%s/metrics\n", server->metrics_address().c_str());
  std::fflush(stdout);
  StopOnSignal on_signal("teesplit serve", [&] { server->shutdown(); });
  server->wait();
  server->shutdown();  // returns once the signal's drain has finished
  // The workers stop while a second signal is still caught (not fatal).
  server.reset();
  return 0;
}

}  // namespace

Subcommand add_serve_command(CLI::App& root) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* app = root.add_subcommand(
      "serve", "the untrusted host: start enclave workers for a split and serve clients (gRPC)");
  app->add_option("split", a->split, "split directory (teesplit split)")->required();
  app->add_option("--listen", a->listen, "address to listen on; port 0 picks a free one")
      ->capture_default_str();
  app->add_option("--workers", a->workers, "enclave worker processes")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  add_backend_option(app, &a->backend, "the back partition's backend (without --back)");
  app->add_option("--back", a->back,
                  "run the back partition on a KServe v2 gRPC server instead: "
                  "kserve://HOST:PORT/MODEL[/VERSION] (NVIDIA Triton, or teesplit serve-back; "
                  "docs/deploy.md)");
  app->add_option("--metrics-listen", a->metrics_listen,
                  "serve Prometheus metrics at http://ADDR/metrics (HOST:PORT; port 0 picks a "
                  "free one)");
  add_threads_option(app, &a->threads)
      ->description(
          "the back partition's CPU threads (0: the cores the enclave workers leave, at least 1)");
  app->add_option("--max-batch", a->max_batch,
                  "dynamic batching: run the back partition on up to this many requests' feature "
                  "maps at once")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app->add_option("--max-delay-ms", a->max_delay_ms,
                  "dynamic batching: the longest a feature map waits for others to fill its batch")
      ->check(CLI::Range(0.0, 10000.0))
      ->capture_default_str();
  app->add_option("--max-queue", a->max_queue,
                  "the most calls held at once (waiting or running); more are refused at once "
                  "with RESOURCE_EXHAUSTED")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app->add_option("--deadline-ms", a->deadline_ms,
                  "a request's deadline when its client sets none (0: none); a request past its "
                  "deadline is answered DEADLINE_EXCEEDED and not computed")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app->add_option("--worker-timeout", a->worker_timeout_s,
                  "seconds an enclave worker may take to answer one request before it counts as "
                  "stalled and is replaced, as a dead one is (0: wait for ever)")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  app->add_option("--drain-timeout", a->drain_timeout_s,
                  "on SIGTERM or SIGINT: seconds that requests in flight get to complete (new ones "
                  "are refused)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app->add_option("--enclave-threads", a->enclave_threads, "oneDNN threads in each worker")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app->add_option("--sim-root", a->sim_root,
                  "SIMULATED attestation key (Ed25519 PEM); default: this machine's");
  app->add_option("--dev-key", a->dev_key,
                  "the front's key in clear, for development (the workers say they are insecure)");
  app->add_flag("--insecure", a->insecure, "run workers whose lockdown fails (reported in quotes)");
  app->add_option("--state-dir", a->state_dir,
                  "where the sealed front key is kept (default SPLIT/.teesplit-state)");
  app->add_option("--enclave-binary", a->enclave_binary,
                  "the worker (default: teesplit-enclave beside teesplit)");
  app->add_option("--enclave-transport", a->enclave_transport,
                  "how host and workers are linked: socketpair, or tcp (loopback, with a one-time "
                  "token; what Gramine needs)")
      ->check(CLI::IsMember({"socketpair", "tcp"}))
      ->capture_default_str();
  app->add_option("--enclave-loader", a->enclave_loader,
                  "run each worker under this program, e.g. \"gramine-sgx\" (with "
                  "--enclave-transport tcp); --enclave-binary is then its argument "
                  "(deploy/gramine/README.md)");
  app->add_option("--user", a->user,
                  "started as root: raise the workers' memlock limit, then run the host and its "
                  "workers as this user (it must read the split and the simulated keys)");
  app->add_option("--seal-root", a->seal_root,
                  "SIMULATED sealing root (32 bytes, mode 0600); default: this user's");
  app->add_option("--secret-mib", a->secret_mib, "memfd_secret arena per worker, MiB")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  return {app, [a] { return serve_cmd(*a); }};
}

}  // namespace teesplit
