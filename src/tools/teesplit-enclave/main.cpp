// build/teesplit-enclave: the trusted worker. Started by the host (teesplit
// serve, or host/enclave_process.h), never by hand; see src/enclave/worker.h.
// It links only the enclave side: no protobuf, libonnx, gRPC, LibTorch or CUDA
// (checked by tests/enclave_line).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "core/error.h"
#include "enclave/host_link.h"
#include "enclave/worker.h"

int main(int argc, char** argv) {
  teesplit::enclave::WorkerOptions o;
  CLI::App app{
      "teesplit-enclave: the trusted worker that runs a split's front partition "
      "(started by `teesplit serve`)"};
  std::string connect;
  auto* fd_opt = app.add_option("--fd", o.fd, "the host's socket (inherited: a socketpair)");
  auto* connect_opt = app.add_option(
      "--connect", connect,
      "the host's loopback TCP address, HOST:PORT (under Gramine); the host's one-time token "
      "comes in the environment (TEESPLIT_CONNECT_TOKEN)");
  fd_opt->excludes(connect_opt);
  app.add_option("--split", o.split_dir, "split directory (manifest.json, front.tsf)")->required();
  app.add_option("--attestation-key", o.attestation_key, "SIMULATED attestation root (Ed25519 PEM)")
      ->required();
  app.add_option("--seal-root", o.seal_root, "SIMULATED sealing root (32 bytes, mode 0600)");
  app.add_option("--sealed-key", o.sealed_key, "the front's key sealed to this measurement");
  app.add_option("--dev-key", o.dev_key, "the front's key in clear (development only: insecure)");
  app.add_flag("--insecure", o.insecure, "run even when a lockdown step fails, and say so");
  app.add_option("--threads", o.threads, "oneDNN threads")->check(CLI::Range(1, 256));
  app.add_option("--secret-bytes", o.secret_arena_bytes, "size of the memfd_secret arena");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (connect.empty() == (o.fd < 0)) {
    std::fprintf(stderr, "teesplit-enclave: give exactly one of --fd and --connect\n");
    return 2;
  }
  if (!connect.empty()) {
    // Before anything else, and long before the lockdown (no socket or
    // connect after it): the link to the host is a loopback TCP connection.
    try {
      o.fd = teesplit::enclave::connect_to_host(connect,
                                                teesplit::enclave::take_connect_token_from_env());
    } catch (const teesplit::Error& e) {
      std::fprintf(stderr, "teesplit-enclave: %s\n", e.what());
      return 2;
    }
  }
  return teesplit::enclave::run_worker(o);
}
