// Split execution: a front partition and a back partition, each compiled on its
// own backend, run in sequence. Opening a split directory from disk is the
// host's job (host/split_io.h); this runs graphs already in memory.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "runtime/session.h"

namespace teesplit {

struct SplitRunOptions {
  // The front partition runs where the input is decrypted (the enclave's CPU);
  // the back partition on the accelerator when there is one (the CLI passes
  // parse_backend("auto")).
  BackendKind front_backend = BackendKind::OneDnn;
  BackendKind back_backend = BackendKind::OneDnn;
  int threads = 0;         // CPU threads (front, and a CPU back partition)
  bool tf32 = false;       // CUDA back partition: allow TF32 tensor cores
  bool batch_back = true;  // run() gives the back partition the whole batch when it can
  // The front partition's precision; the back and tail partitions stay fp32.
  Precision front_precision = Precision::F32;
};

class SplitRunner {
 public:
  // front: specialised, one input and one output (the feature map); back: one
  // input of the feature's name and dtype, specialised here. Throws Error.
  SplitRunner(Graph front, Graph back, const SplitRunOptions& opts);

  // Input [N, ...] with the front's per-sample shape ([1, ...] in the file).
  // The front runs one sample at a time (the enclave's partition is fixed at
  // batch 1); the N feature maps are stacked and the back partition runs once
  // at batch N when it can (see batched_back), else sample by sample.
  std::vector<Tensor> run(const Tensor& input);
  Tensor run_front(const Tensor& input);  // exactly the front's input shape
  std::vector<Tensor> run_back(const Tensor& feature);

  // The tail partition of split --protect-output: run after the back partition
  // on the front's backend (it runs in the enclave), one sample at a time, at
  // the batch-1 shapes it was cut with. Its one input must be the back
  // partition's one output (same name and dtype). Throws Error.
  void set_tail(Graph tail);
  bool has_tail() const { return tail_exe_ != nullptr; }
  const Graph& tail() const { return tail_; }
  // The tail on the back partition's output, exactly the tail's input shape.
  Tensor run_tail(const Tensor& back_output);

  const Graph& front() const { return front_; }
  const Graph& back() const { return back_; }
  const Shape& feature_shape() const { return front_.value(front_.outputs[0]).shape; }
  RunStats front_stats() const { return front_exe_->stats(); }
  // After a run() of batch n: whether the back partition ran once for the batch.
  bool back_ran_batched(int64_t n) const {
    auto it = batched_.find(n);
    return it != batched_.end() && it->second != nullptr;
  }
  std::string front_backend_name() const { return front_backend_->name(); }
  std::string back_backend_name() const { return back_backend_->name(); }

 private:
  Graph front_, back_, tail_;
  // The tail on each sample of the back's outputs (one output), restacked.
  std::vector<Tensor> apply_tail(std::vector<Tensor> back_out);
  // The back partition compiled for batch n, on first use, or nullptr when it
  // cannot take a batch: the file's back partition was cut from the model
  // specialised at batch 1, so a folded Reshape target may hold that 1. It is
  // used only if its output for features[0] equals the batch-1 partition's
  // within 1e-4 relative (1e-2 with TF32, where another batch size may get other
  // algorithms); `out` then receives the batched outputs.
  Executable* batched_back(const std::vector<Tensor>& features, std::vector<Tensor>* out);

  Graph back_src_;  // the back partition as given, before specialisation
  std::unique_ptr<Backend> front_backend_, back_backend_;
  std::unique_ptr<Executable> front_exe_, back_exe_, tail_exe_;
  std::map<int64_t, std::unique_ptr<Executable>> batched_;  // nullptr: not batchable
  bool batch_back_ = true;
  int threads_ = 0;
  bool tf32_ = false;
  Precision front_precision_ = Precision::F32;
};

}  // namespace teesplit
