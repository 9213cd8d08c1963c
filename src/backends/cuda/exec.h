// Internal to the CUDA backend: what a compiled step needs at run time, and the
// per-operator factories (conv.cpp, pool.cpp, gemm.cpp, softmax.cpp, kernel_steps.cpp).
#pragma once

#include <memory>
#include <string>

#include "backends/cuda/check.h"
#include "backends/cuda/plan.h"

namespace teesplit::cuda {

// Shared by all steps of one executable; bound to its stream.
struct Ctx {
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  void* workspace = nullptr;  // one allocation, the largest any step asked for
  size_t workspace_bytes = 0;
  bool tf32 = false;
  bool find = true;  // time the conv algorithms (else cuDNN's heuristics)
  bool verbose = false;
  int device = 0;
};

// One step of the list run() executes. run() only enqueues work on ctx.stream.
class StepRunner {
 public:
  virtual ~StepRunner() = default;
  virtual void run(Ctx& ctx) = 0;
  // What was chosen ("algo IMPLICIT_PRECOMP_GEMM, fused bias+relu"), for verbose output.
  virtual std::string info() const { return {}; }
  size_t workspace_bytes = 0;  // needed in ctx.workspace
};

// Device pointers of a step's operands, resolved from the plan (nullptr for -1).
struct Operands {
  const float* in[4] = {nullptr, nullptr, nullptr, nullptr};
  float* out = nullptr;
};

std::unique_ptr<StepRunner> make_conv_runner(const Step& s, const Operands& o, Ctx& ctx);
std::unique_ptr<StepRunner> make_pool_runner(const Step& s, const Operands& o, Ctx& ctx);
std::unique_ptr<StepRunner> make_gemm_runner(const Step& s, const Operands& o, Ctx& ctx);
std::unique_ptr<StepRunner> make_softmax_runner(const Step& s, const Operands& o, Ctx& ctx);
// Pad, GlobalPool, Unary, Binary: the hand-written kernels.
std::unique_ptr<StepRunner> make_kernel_runner(const Step& s, const Operands& o, Ctx& ctx);

}  // namespace teesplit::cuda
