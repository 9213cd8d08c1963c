// Shared helpers for the test suite.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "attest/verifier.h"
#include "core/sanitizers.h"  // TEESPLIT_ASAN, TEESPLIT_TSAN
#include "core/tensor.h"
#include "data/dataset.h"
#include "graph/ir.h"
#include "host/enclave_process.h"
#include "host/split_io.h"
#include "support/skip.h"  // TS_SKIP_FOR_HARDWARE, TS_REQUIRE_ORACLE

namespace teesplit::testing {

// Built with a sanitizer: everything runs 5-15 times slower (TSan most), and
// threads start and send late. Tests whose checks rest on time windows (a
// batch window, a deadline, "all 64 arrive before the first leaves") stretch
// their windows by kSlow there, so the same ordering holds.
#if TEESPLIT_ASAN || TEESPLIT_TSAN
constexpr bool kSanitized = true;
constexpr int kSlow = 8;
#else
constexpr bool kSanitized = false;
constexpr int kSlow = 1;
#endif

// Row i of a batch [N, ...], as a batch of one [1, ...] (a copy).
Tensor batch_row(const Tensor& t, int64_t i);

// Seeded uniform random float32 tensor in [lo, hi).
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f);
// max_relative_error(a, b) (core/tensor.h), under the name the tests use:
// max|a-b| / max(max|b|, 1e-12); NaN never agrees with anything.
double rel_error(const Tensor& a, const Tensor& b);
// Directory for files that tests generate (created on demand) under the build dir.
std::string generated_dir();
// Source-tree path of a file, e.g. source_path("tests/fixtures/x.py").
std::string source_path(const std::string& rel);

// The message of the teesplit::Error that fn() throws, or "" when it throws none.
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A zoo model (random BatchNorm statistics, so that BN folding matters) parsed
// into the graph IR; the test fails (throws) if it does not import.
Graph zoo_graph(const std::string& arch, int64_t input_size, double width, int64_t classes,
                int64_t channels, uint64_t seed);

// Builds a one-node graph: inputs named in0..inN-1 (constants where `constant`
// is true at that position; an undefined tensor is an absent input), one node,
// outputs out0..outM-1.
Graph single_node_graph(const std::string& op, const Attrs& attrs,
                        const std::vector<Tensor>& inputs, const std::vector<bool>& constant,
                        int num_outputs = 1);

// A binary built beside the tests: binary_path("teesplit").
std::string binary_path(const char* name);
// Runs cmd in a shell; its stdout and stderr together, and the exit status.
std::string run_command(const std::string& cmd, int* code);

// `teesplit ARGS` (args[0] is the subcommand) in a child process, with stdout
// and stderr in DIR/NAME.out and DIR/NAME.err, until it prints "listening on
// ADDR". address() is empty when it did not come up within 60 s (log() says
// why). SIGTERM on destruction.
class ListeningProcess {
 public:
  ListeningProcess(const std::vector<std::string>& args, const std::string& dir,
                   const std::string& name);
  ~ListeningProcess();
  ListeningProcess(const ListeningProcess&) = delete;
  ListeningProcess& operator=(const ListeningProcess&) = delete;
  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  std::string log() const;
  // SIGTERM, then its wait status (-1 when it was not running).
  int stop();

 private:
  pid_t pid_ = -1;
  std::string address_, err_;
};

// `teesplit serve SPLIT` as a user starts it: one thread, `workers` workers,
// this test's own simulated root (DIR/sim-root.pem) and state (DIR/state)
// unless extra_args give --sim-root / --state-dir; logs DIR/serve.out, .err.
class ServeProcess : public ListeningProcess {
 public:
  ServeProcess(const std::string& split, const std::string& dir, int workers = 1,
               const std::vector<std::string>& extra_args = {});
};

// A split of the shipped Fashion-MNIST ResNet-50 at layer2.0 by `teesplit
// split`, in generated_dir()/GROUP/NAME/split (the folder made afresh);
// returns generated_dir()/GROUP/NAME. A failed split fails the test.
std::string make_resnet50_split(const std::string& group, const std::string& name);

// build/teesplit-enclave.
std::string worker_binary();

// A split of the shipped Fashion-MNIST ResNet-50 at a middle cut (layer2.0) in
// generated_dir()/GROUP/NAME (made afresh), measured with this build's worker,
// with the test's own simulated attestation and sealing roots. `wo` adds a key,
// --protect-output, ...; its enclave_binary defaults to worker_binary().
struct WorkerFixture {
  std::string dir, split, att_key, seal_root;
  std::string model;
  SplitManifest manifest;

  WorkerFixture(const std::string& group, const std::string& name, SplitWriteOptions wo = {});
  // The launch of a worker for this split (64 MiB of secret memory).
  EnclaveLaunch launch() const;
  // The client's policy: the manifest's measurement, this test's simulated root.
  attest::Policy policy() const;
};

// Fashion-MNIST's test split at the shipped models' 32x32. install-deps.sh
// installs it (dataset-fashion-mnist): when it is missing this throws Error
// saying so, and the test that needs it fails, never skips.
std::unique_ptr<Dataset> fashion_test();

// How many of Fashion-MNIST's 10,000 test images (at 32x32) the model at
// model_path classifies correctly, run in this process: the unsplit reference.
int64_t fashion_test_correct(const std::string& model_path);
// The line `teesplit infer --dataset` prints for that many correct answers.
std::string infer_accuracy_line(int64_t correct, int64_t total = 10000);

// The enclave worker processes of a server (its children named teesplit-enclave).
std::vector<pid_t> workers_of(pid_t server);

// A TON_IoT CSV with the real header (no real data is reachable here): `rows`
// rows alternating normal (tcp/443) and attack (udp/53, "ddos"). Returns path.
std::string write_ton_iot_csv(const std::string& path, int rows);

// How many times `what` occurs in `s` (overlapping occurrences counted).
size_t count_of(const std::string& s, const std::string& what);

}  // namespace teesplit::testing
