// build/teesplit-enclave: the trusted worker. Started by the host (teesplit
// serve, or host/enclave_process.h), never by hand; see src/enclave/worker.h.
// It links only the enclave side: no protobuf, libonnx, gRPC, LibTorch or CUDA
// (checked by tests/enclave_line).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "enclave/worker.h"

int main(int argc, char** argv) {
  teesplit::enclave::WorkerOptions o;
  CLI::App app{
      "teesplit-enclave: the trusted worker that runs a split's front partition "
      "(started by `teesplit serve`)"};
  app.add_option("--fd", o.fd, "the host's socket (inherited)")->required();
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
  return teesplit::enclave::run_worker(o);
}
