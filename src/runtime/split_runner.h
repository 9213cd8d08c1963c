// Split execution: write a model's front partition (front.tsf), back partition
// (back.onnx) and manifest.json for a cut, and run the two in sequence on any
// backend. Cut profiling (FLOPs, bytes, front peak memory as the runtime
// allocates it) for `teesplit cuts`.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "graph/cuts.h"
#include "partition/front_file.h"
#include "runtime/session.h"

namespace teesplit {

// What manifest.json records (docs/front-file-format.md, "The split directory").
struct SplitManifest {
  int cut_index = -1;
  std::string cut_name;
  std::string cut_node;  // the ONNX node the cut follows
  std::string input_name;
  Shape input_shape;  // of the front partition (batch 1)
  std::string feature_name;
  Shape feature_shape;
  std::string model_file;  // as given to split (informational)
  std::string model_sha256, front_sha256, back_sha256;
  bool encrypted = false;
  uint32_t front_format_version = kFrontFormatVersion;
};

std::string manifest_to_json(const SplitManifest& m);
// Throws Error naming the missing or malformed field.
SplitManifest manifest_from_json(const std::string& text);

// Cuts of a model are those of its graph specialised at batch 1.
Graph specialize_for_cuts(const Graph& model);

// The back partition of cut (found in g1 = specialize_for_cuts(model)) with a
// dynamic batch where that is provably safe: the model is specialised a second
// time at batch 97, and the two back partitions may differ only in dimension 0
// (1 vs 97) and in Reshape targets [1, ...] vs [97, ...] whose input has the
// batch in dimension 0 (written as [0, ...]: copy the input's batch). Otherwise,
// or when the model's batch is fixed, the batch-1 partition unchanged.
Graph batchable_back_partition(const Graph& model, const Graph& g1, const Cut& cut);

// Writes DIR/front.tsf, DIR/back.onnx and DIR/manifest.json for the cut named
// by `cut_spec` (index or name) of the ONNX model at model_path; creates DIR.
// Throws Error with the reason when the cut is not valid.
SplitManifest write_split(const std::string& model_path, const std::string& cut_spec,
                          const std::string& out_dir, const FrontKey* key = nullptr);

struct SplitRunOptions {
  // The front partition runs where the input is decrypted (the enclave's CPU);
  // the back partition on the accelerator when there is one (the CLI passes
  // parse_backend("auto")).
  BackendKind front_backend = BackendKind::OneDnn;
  BackendKind back_backend = BackendKind::OneDnn;
  int threads = 0;                // CPU threads (front, and a CPU back partition)
  bool tf32 = false;              // CUDA back partition: allow TF32 tensor cores
  bool batch_back = true;         // run() gives the back partition the whole batch when it can
  const FrontKey* key = nullptr;  // for an encrypted front.tsf
  std::string model_path;         // when set, its SHA-256 must match the manifest
};

class SplitRunner {
 public:
  // Reads DIR/manifest.json, checks the SHA-256 of front.tsf and back.onnx
  // (and of the model when opts.model_path is set) against it, loads both parts
  // and compiles them. Errors name the file at fault.
  static Result<std::unique_ptr<SplitRunner>> open(const std::string& dir,
                                                   const SplitRunOptions& opts);
  // From graphs already in memory (front: specialised; back: any, specialised here).
  SplitRunner(Graph front, Graph back, const SplitRunOptions& opts);

  // Input [N, ...] with the front's per-sample shape ([1, ...] in the file).
  // The front runs one sample at a time (the enclave's partition is fixed at
  // batch 1); the N feature maps are stacked and the back partition runs once
  // at batch N when it can (see batched_back), else sample by sample.
  std::vector<Tensor> run(const Tensor& input);
  Tensor run_front(const Tensor& input);  // exactly the front's input shape
  std::vector<Tensor> run_back(const Tensor& feature);

  const Graph& front() const { return front_; }
  const Graph& back() const { return back_; }
  const SplitManifest& manifest() const { return manifest_; }
  RunStats front_stats() const { return front_exe_->stats(); }
  // After a run() of batch n: whether the back partition ran once for the batch.
  bool back_ran_batched(int64_t n) const {
    auto it = batched_.find(n);
    return it != batched_.end() && it->second != nullptr;
  }
  std::string front_backend_name() const { return front_backend_->name(); }
  std::string back_backend_name() const { return back_backend_->name(); }

 private:
  Graph front_, back_;
  SplitManifest manifest_;
  // The back partition compiled for batch n, on first use, or nullptr when it
  // cannot take a batch: the file's back partition was cut from the model
  // specialised at batch 1, so a folded Reshape target may hold that 1. It is
  // used only if its output for features[0] equals the batch-1 partition's
  // within 1e-4 relative (1e-2 with TF32, where another batch size may get other
  // algorithms); `out` then receives the batched outputs.
  Executable* batched_back(const std::vector<Tensor>& features, std::vector<Tensor>* out);

  Graph back_src_;  // the back partition as given, before specialisation
  std::unique_ptr<Backend> front_backend_, back_backend_;
  std::unique_ptr<Executable> front_exe_, back_exe_;
  std::map<int64_t, std::unique_ptr<Executable>> batched_;  // nullptr: not batchable
  bool batch_back_ = true;
  int threads_ = 0;
  bool tf32_ = false;
};

// One row of `teesplit cuts`.
struct CutProfile {
  Cut cut;
  CutStats stats;
  size_t front_weight_bytes = 0;      // weights as the backend holds them
  size_t front_activation_bytes = 0;  // the backend's planned activation memory
  size_t front_peak_bytes() const { return front_weight_bytes + front_activation_bytes; }
};

// Profiles every valid cut of a specialised graph: the front partition is
// compiled on `backend` and its RunStats give the peak memory, exactly what
// SplitRunner allocates for that front.
std::vector<CutProfile> profile_cuts(const Graph& specialized, BackendKind backend,
                                     int threads = 0);

}  // namespace teesplit
