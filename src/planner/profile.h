// `teesplit profile`: per cut of a model, what the split costs when it runs
// through the real sandboxed enclave worker: the front partition's latency in
// the worker, the back partition's on the host's backend, the feature map's
// transfer and the crypto, end to end (p50 and p99), the front's peak memory
// and the enclave's whole footprint. Written as profile.json for `teesplit
// plan` (docs/planning.md has the format).
//
// Enclave slowdown: the worker here is a sandboxed process, not SGX. A factor F
// (--enclave-slowdown, or the median ratio of front latencies between a profile
// measured under Gramine-SGX and this one) multiplies the time spent inside the
// enclave (decryption, front, tail, sealing) in the adjusted end-to-end figures
// that planning uses; the measured figures are kept beside them. The default is
// no slowdown, and profile.json says so.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/shape.h"
#include "runtime/session.h"

namespace teesplit::planner {

struct Percentiles {
  double p50 = 0, p99 = 0;
};

struct CutTiming {
  std::string name;
  int index = -1;
  double depth = 0;  // fraction of the model's FLOPs before the cut
  Shape feature_shape;
  size_t feature_bytes = 0;
  // Milliseconds, measured (no slowdown applied).
  Percentiles front, back, transfer, crypto, tail, end_to_end;
  // End to end with the enclave slowdown applied: what planning uses.
  Percentiles end_to_end_adjusted;
  double front_inprocess_ms = 0;  // the front alone in the host process (median)
  // Bytes: the front's (and the tail's) weights and planned activations as the
  // oneDNN backend holds them; the worker's mapped files (its binary and
  // libraries); the enclave's footprint = mapped files + weights + activations;
  // and the worker's peak resident memory as the kernel saw it (a cross-check).
  size_t front_weight_bytes = 0, front_activation_bytes = 0;
  double mapped_file_bytes = 0, enclave_footprint_bytes = 0, worker_peak_rss_bytes = 0;
};

struct ModelProfile;

struct ProfileOptions {
  std::string model_path;
  std::string cuts = "all";  // "all", or a comma-separated list of cut names or indices
  BackendKind back = BackendKind::OneDnn;
  int threads = 1;
  int runs = 20, warmup = 3;
  bool protect_output = false;  // profile the split of split --protect-output
  double enclave_slowdown = 1.0;
  std::string slowdown_source;  // how the factor was obtained ("" : none)
  // A profile of the same model measured under Gramine-SGX: the slowdown is
  // then slowdown_from_profiles(*sgx_reference, this profile), replacing
  // enclave_slowdown.
  const ModelProfile* sgx_reference = nullptr;
  std::string sgx_reference_path;  // for the record
  std::string work_dir;            // splits and the simulated roots go here (created)
  std::string enclave_binary;      // "": teesplit-enclave beside the running executable
  std::string command;             // recorded in profile.json
  // Called before each cut is measured (i of n), for a progress line.
  std::function<void(size_t i, size_t n, const std::string& cut)> progress;
};

struct ModelProfile {
  std::string model_path, model_sha256, backend, command;
  std::string enclave_runtime;  // "simulated (sandboxed process)" or "gramine-sgx"
  int threads = 1, runs = 0;
  bool protect_output = false;
  double enclave_slowdown = 1.0;
  std::string slowdown_source;
  double whole_model_ms = 0;  // the unsplit model on the host backend (median)
  // The machine while it was measured: its CPU count and the 1-minute load
  // average (/proc/loadavg) before and after; -1 when unknown. A load above
  // the CPU count makes every latency noisy.
  int cpus = 0;
  double load_before = -1, load_after = -1;
  std::vector<CutTiming> cuts;
};

// The 1-minute load average from /proc/loadavg, or -1 when it cannot be read.
double load_average_1min();

// Measures every requested cut (in graph order) as described above; throws
// Error naming the cut when one cannot be split or run. Every cut's result is
// checked against the unsplit model (max relative error 1e-4).
ModelProfile profile_model(const ProfileOptions& opts);

// profile.json: format "teesplit-profile", version 1.
std::string profile_to_json(const ModelProfile& p);
// Parses profile.json; throws Error naming the field that is missing or wrong.
ModelProfile profile_from_json(const std::string& text);

// The median ratio of front latencies (p50) of an SGX profile to this one over
// the cuts both hold; the SGX profile must say enclave_runtime "gramine-sgx".
double slowdown_from_profiles(const ModelProfile& sgx, const ModelProfile& here);

// The table `teesplit profile` prints.
void print_profile_table(std::FILE* out, const ModelProfile& p);

}  // namespace teesplit::planner
