// The backend interface. A backend compiles a specialised graph (every shape
// known, constants folded, see graph/passes.h) into an Executable that runs it
// many times. Primitives, weights in the backend's layout and the activation
// memory plan are created once, in compile().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "graph/ir.h"

namespace teesplit {

// Arithmetic precision of the compute-heavy nodes (graph/precision.h has the
// per-node rule). Graph inputs and outputs stay float32 in both.
enum class Precision : uint8_t { F32, BF16 };

// "fp32" or "bf16".
const char* precision_name(Precision p);
// "fp32"|"f32"|"float32" or "bf16"|"bfloat16"; throws Error naming the value otherwise.
Precision parse_precision(const std::string& name);

struct CompileOptions {
  int threads = 0;    // 0: the backend's default (all cores)
  bool tf32 = false;  // GPU backends: allow TF32 tensor cores for conv/GEMM (~1e-3 rel. error)
  // BF16: only the oneDNN backend, on a CPU with AVX512_BF16 or AMX; every other
  // backend, and oneDNN on a CPU without bf16, refuses it (never a silent fp32 run).
  Precision precision = Precision::F32;
  // oneDNN: the per-shape cache of the fp32 convolution tuner (a file under
  // the user's cache directory, docs/usage.md) may be read and written. The
  // enclave worker sets false: a host-writable file must not steer it, so it
  // times its convolutions at warm-up instead.
  bool tune_cache = true;
};

struct RunStats {
  size_t peak_activation_bytes = 0;  // planned activation arena, including outputs
  size_t weight_bytes = 0;           // weights as held by the backend
  // Device time of the last run's computation alone (no host<->device copies),
  // from GPU events; negative where the backend does not measure it (CPU).
  double last_compute_ms = -1;
  // Inputs that a GPU backend uploaded straight from page-locked host memory
  // (Backend::host_buffer), without its staging copy; counted over all runs.
  uint64_t pinned_inputs = 0;
};

class Executable {
 public:
  virtual ~Executable() = default;
  // Inputs in the order of Graph::inputs, with exactly the specialised shapes;
  // returns the outputs in the order of Graph::outputs (fresh tensors).
  virtual std::vector<Tensor> run(const std::vector<Tensor>& inputs) = 0;
  virtual RunStats stats() const = 0;
  // Forgets the per-step times a *_PROFILE switch collected so far (bench calls
  // it after the warm-up runs, whose first-run costs would skew the profile).
  virtual void reset_profile() {}
  // One line per step as compiled ("node 'c1' (Conv): convolution bf16
  // brgconv:avx512_core_amx"), for checks on the implementations chosen; empty
  // where the backend does not say.
  virtual std::vector<std::string> step_labels() const { return {}; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Empty when the backend can execute the node, else the reason it cannot.
  virtual std::string unsupported_reason(const Graph& g, const Node& n) const = 0;
  // Throws Error naming the first node it cannot compile.
  virtual std::unique_ptr<Executable> compile(const Graph& g, const CompileOptions& opts) = 0;
  // Host memory for inputs that this backend reads fastest (64-byte aligned):
  // page-locked for CUDA, whose run() then uploads it without a staging copy;
  // ordinary memory elsewhere. Throws Error when it cannot allocate.
  virtual std::shared_ptr<std::byte> host_buffer(size_t bytes);
};

// Capability (as ONNX Runtime's GetCapability): empty when `backend` can run
// every node of g, else "node 'NAME' (OP): reason" for the first it cannot.
std::string first_unsupported(const Backend& backend, const Graph& g);

// Checks run() inputs against the graph's specialised input shapes and dtypes;
// throws Error("input 'x' has shape [..], the model expects [..]").
void check_run_inputs(const Graph& g, const std::vector<Tensor>& inputs);

// Prints "<backend> profile: N steps, T ms per run in steps" and the `top`
// slowest steps (time per run, label) to stderr; for the backends' *_PROFILE
// environment switches.
void print_step_profile(const char* backend, const std::vector<std::string>& labels,
                        const std::vector<double>& total_ms, int runs, size_t top);

}  // namespace teesplit
