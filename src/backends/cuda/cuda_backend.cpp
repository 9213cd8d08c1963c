// The CUDA backend: plan (plan.cpp), then on the device: one stream with its
// cuDNN and cuBLAS handles, one allocation for the weights, one for the
// activation arena, one for the largest workspace, pinned host staging buffers,
// and the step runners (conv.cpp, pool.cpp, gemm.cpp, softmax.cpp, kernel_steps.cpp).
#include "backends/cuda/cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

#include "backends/cuda/exec.h"
#include "backends/cuda/plan.h"
#include "core/error.h"

namespace teesplit {
namespace cuda {
namespace {

bool env_flag(const char* name, bool def) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  return !(v[0] == '0' || v[0] == 'n' || v[0] == 'N' || v[0] == 'f' || v[0] == 'F');
}

// The stream, events and library handles of one executable, destroyed last.
struct Handles {
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  cudaEvent_t compute_begin = nullptr, compute_end = nullptr;
  Handles() = default;
  Handles(const Handles&) = delete;
  Handles& operator=(const Handles&) = delete;
  ~Handles() {
    if (compute_end) cudaEventDestroy(compute_end);
    if (compute_begin) cudaEventDestroy(compute_begin);
    if (cublas) cublasDestroy(cublas);
    if (cudnn) cudnnDestroy(cudnn);
    if (stream) cudaStreamDestroy(stream);
  }
};

// Host-to-device copy through a pinned staging buffer in chunks, so that the
// memcpy of one chunk into the staging buffer overlaps the DMA of the last.
void staged_upload(float* dst, const void* src, std::byte* staging, size_t bytes,
                   cudaStream_t stream) {
  constexpr size_t kChunk = size_t{4} << 20;
  for (size_t off = 0; off < bytes; off += kChunk) {
    const size_t len = std::min(kChunk, bytes - off);
    std::memcpy(staging + off, static_cast<const std::byte*>(src) + off, len);
    TS_CUDA(cudaMemcpyAsync(reinterpret_cast<std::byte*>(dst) + off, staging + off, len,
                            cudaMemcpyHostToDevice, stream));
  }
}

// Whether [p, p + bytes) lies in page-locked memory the CUDA runtime knows
// (cudaHostAlloc, cudaHostRegister), which a DMA can read without staging.
bool is_pinned(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();  // ordinary memory on older runtimes: not an error to keep
    return false;
  }
  return a.type == cudaMemoryTypeHost;
}

class CudaExecutable : public Executable {
 public:
  // Declaration order is destruction order reversed: runners (descriptors)
  // go first, the handles and stream last.
  Handles h;
  Ctx ctx;
  Plan plan;
  DeviceMemory constants, arena, workspace;
  PinnedMemory pinned_in, pinned_out;
  std::vector<size_t> in_offsets, out_offsets;  // into the pinned buffers
  std::vector<std::unique_ptr<StepRunner>> runners;
  RunStats st;
  // TEESPLIT_CUDA_PROFILE: one event before each step and one after the last;
  // per-step device times accumulated over the runs, printed at destruction.
  std::vector<cudaEvent_t> step_events;
  std::vector<double> step_ms;
  int profiled_runs = 0;

  void reset_profile() override {
    std::fill(step_ms.begin(), step_ms.end(), 0.0);
    profiled_runs = 0;
  }

  ~CudaExecutable() override {
    if (profiled_runs > 0) print_profile();
    for (cudaEvent_t e : step_events) cudaEventDestroy(e);
  }

  void print_profile() const {
    std::vector<std::string> labels;
    for (size_t i = 0; i < runners.size(); ++i)
      labels.push_back(plan.steps[i].label + "  [" + runners[i]->info() + "]");
    print_step_profile("cuda", labels, step_ms, profiled_runs, 30);
  }

  float* ptr(int b) const {
    if (b < 0) return nullptr;
    const Buf& r = plan.bufs[static_cast<size_t>(plan.root_of(b))];
    std::byte* base = r.constant >= 0 ? constants.bytes_ptr() : arena.bytes_ptr();
    return reinterpret_cast<float*>(base + r.offset);
  }

  void run_steps() {
    const bool profile = !step_events.empty();
    for (size_t k = 0; k < runners.size(); ++k) {
      try {
        if (profile) TS_CUDA(cudaEventRecord(step_events[k], ctx.stream));
        runners[k]->run(ctx);
      } catch (const Error& e) {
        fail("cuda: ", plan.steps[k].label, ": ", e.what());
      }
    }
    if (profile) TS_CUDA(cudaEventRecord(step_events.back(), ctx.stream));
  }

  // After a synchronised run: adds each step's device time.
  void collect_profile() {
    if (step_events.empty()) return;
    for (size_t k = 0; k + 1 < step_events.size(); ++k) {
      float ms = 0;
      TS_CUDA(cudaEventElapsedTime(&ms, step_events[k], step_events[k + 1]));
      step_ms[k] += ms;
    }
    ++profiled_runs;
  }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override {
    TS_CHECK(inputs.size() == plan.inputs.size(), "the model takes ", plan.inputs.size(),
             " input(s), got ", inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Buf& b = plan.bufs[static_cast<size_t>(plan.inputs[i])];
      TS_CHECK(inputs[i].dtype() == DType::F32, "input '", b.name, "' has type ",
               dtype_name(inputs[i].dtype()), ", the model expects float32");
      TS_CHECK(inputs[i].shape() == b.shape, "input '", b.name, "' has shape ",
               shape_str(inputs[i].shape()), ", the model expects ", shape_str(b.shape));
      // Page-locked input (Backend::host_buffer): one DMA, no staging copy.
      if (is_pinned(inputs[i].raw())) {
        TS_CUDA(cudaMemcpyAsync(ptr(plan.inputs[i]), inputs[i].raw(), inputs[i].nbytes(),
                                cudaMemcpyHostToDevice, ctx.stream));
        ++st.pinned_inputs;
      } else {
        staged_upload(ptr(plan.inputs[i]), inputs[i].raw(), pinned_in.get() + in_offsets[i],
                      inputs[i].nbytes(), ctx.stream);
      }
    }
    TS_CUDA(cudaEventRecord(h.compute_begin, ctx.stream));
    run_steps();
    TS_CUDA(cudaEventRecord(h.compute_end, ctx.stream));
    for (size_t i = 0; i < plan.outputs.size(); ++i) {
      const int b = plan.outputs[i];
      if (b < 0) continue;
      TS_CUDA(cudaMemcpyAsync(pinned_out.get() + out_offsets[i], ptr(b),
                              plan.bufs[static_cast<size_t>(b)].bytes(), cudaMemcpyDeviceToHost,
                              ctx.stream));
    }
    const cudaError_t e = cudaStreamSynchronize(ctx.stream);
    if (e != cudaSuccess)
      fail("cuda: the step list failed on the device (an asynchronous error from one of ",
           runners.size(),
           " steps; run with CUDA_LAUNCH_BLOCKING=1 to locate it): ", cudaGetErrorString(e), " (",
           cudaGetErrorName(e), ")");
    float ms = 0;
    TS_CUDA(cudaEventElapsedTime(&ms, h.compute_begin, h.compute_end));
    st.last_compute_ms = ms;
    collect_profile();
    std::vector<Tensor> out;
    out.reserve(plan.outputs.size());
    for (size_t i = 0; i < plan.outputs.size(); ++i) {
      const int b = plan.outputs[i];
      if (b < 0) {
        out.push_back(plan.constant_outputs[i].clone());
        continue;
      }
      Tensor t(DType::F32, plan.bufs[static_cast<size_t>(b)].shape);
      std::memcpy(t.raw(), pinned_out.get() + out_offsets[i], t.nbytes());
      out.push_back(std::move(t));
    }
    return out;
  }

  RunStats stats() const override { return st; }
};

size_t align_up(size_t v) {
  return (v + 255) / 256 * 256;
}

std::unique_ptr<Executable> compile_plan(Plan plan, const CompileOptions& opts) {
  std::string why;
  TS_CHECK(cuda_backend_device_available(&why), "cuda: no usable CUDA device: ", why);
  auto exe = std::make_unique<CudaExecutable>();
  Ctx& ctx = exe->ctx;
  ctx.tf32 = opts.tf32 || env_flag("TEESPLIT_CUDA_TF32", false);
  const char* algo = std::getenv("TEESPLIT_CUDA_ALGO");
  ctx.find = !(algo && std::string(algo) == "heuristic");
  ctx.verbose = env_flag("TEESPLIT_CUDA_VERBOSE", false);
  TS_CUDA(cudaGetDevice(&ctx.device));
  Handles& h = exe->h;
  TS_CUDA(cudaStreamCreateWithFlags(&h.stream, cudaStreamNonBlocking));
  TS_CUDA(cudaEventCreate(&h.compute_begin));
  TS_CUDA(cudaEventCreate(&h.compute_end));
  TS_CUDNN(cudnnCreate(&h.cudnn));
  TS_CUDNN(cudnnSetStream(h.cudnn, h.stream));
  TS_CUBLAS(cublasCreate(&h.cublas));
  TS_CUBLAS(cublasSetStream(h.cublas, h.stream));
  TS_CUBLAS(
      cublasSetMathMode(h.cublas, ctx.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  ctx.stream = h.stream;
  ctx.cudnn = h.cudnn;
  ctx.cublas = h.cublas;

  exe->plan = std::move(plan);
  Plan& p = exe->plan;
  // Weights: one allocation, uploaded once.
  exe->constants = DeviceMemory(p.constant_bytes, "the weights");
  for (const Buf& b : p.bufs) {
    if (b.constant < 0 || b.root >= 0) continue;
    const Tensor& t = p.constants[static_cast<size_t>(b.constant)];
    TS_CHECK(t.dtype() == DType::F32 && t.nbytes() == b.bytes(), "cuda: constant '", b.name,
             "' does not match its buffer");
    TS_CUDA(cudaMemcpy(exe->constants.bytes_ptr() + b.offset, t.raw(), t.nbytes(),
                       cudaMemcpyHostToDevice));
  }
  exe->arena = DeviceMemory(p.arena_bytes, "the activation arena");
  if (p.arena_bytes > 0) TS_CUDA(cudaMemsetAsync(exe->arena.get(), 0, p.arena_bytes, h.stream));

  // Step runners (conv algorithm search happens here).
  size_t ws = 0;
  for (const Step& s : p.steps) {
    Operands o;
    for (size_t i = 0; i < s.in.size() && i < 4; ++i) o.in[i] = exe->ptr(s.in[i]);
    o.out = exe->ptr(s.out);
    std::unique_ptr<StepRunner> r;
    try {
      switch (s.kind) {
        case StepKind::Conv:
          r = make_conv_runner(s, o, ctx);
          break;
        case StepKind::Pool:
          r = make_pool_runner(s, o, ctx);
          break;
        case StepKind::Gemm:
          r = make_gemm_runner(s, o, ctx);
          break;
        case StepKind::Softmax:
          r = make_softmax_runner(s, o, ctx);
          break;
        default:
          r = make_kernel_runner(s, o, ctx);
          break;
      }
    } catch (const Error& e) {
      fail("cuda: ", s.label, ": ", e.what());
    }
    ws = std::max(ws, r->workspace_bytes);
    exe->runners.push_back(std::move(r));
  }
  exe->workspace = DeviceMemory(ws, "the cuDNN workspace");
  ctx.workspace = exe->workspace.get();
  ctx.workspace_bytes = ws;

  // Pinned staging buffers for the inputs and outputs.
  size_t in_bytes = 0, out_bytes = 0;
  for (int b : p.inputs) {
    exe->in_offsets.push_back(in_bytes);
    in_bytes += align_up(p.bufs[static_cast<size_t>(b)].bytes());
  }
  for (int b : p.outputs) {
    exe->out_offsets.push_back(out_bytes);
    if (b >= 0) out_bytes += align_up(p.bufs[static_cast<size_t>(b)].bytes());
  }
  exe->pinned_in = PinnedMemory(in_bytes, "the inputs");
  exe->pinned_out = PinnedMemory(out_bytes, "the outputs");

  // One run on the zeroed arena: settles the fused-conv fallbacks and surfaces
  // any launch problem at compile time rather than on the first request.
  exe->run_steps();
  TS_CUDA(cudaStreamSynchronize(h.stream));
  if (env_flag("TEESPLIT_CUDA_PROFILE", false)) {  // from the first timed run on
    exe->step_events.resize(exe->runners.size() + 1, nullptr);
    for (cudaEvent_t& e : exe->step_events) TS_CUDA(cudaEventCreate(&e));
    exe->step_ms.assign(exe->runners.size(), 0.0);
  }
  if (ctx.verbose) {
    std::cerr << "cuda: plan\n" << describe(p);
    for (size_t k = 0; k < p.steps.size(); ++k) {
      const std::string info = exe->runners[k]->info();
      if (!info.empty()) std::cerr << "cuda: " << p.steps[k].label << ": " << info << "\n";
    }
    std::cerr << "cuda: workspace " << human_bytes(ws) << "\n";
  }
  exe->st.peak_activation_bytes = p.arena_bytes + ws;
  exe->st.weight_bytes = p.constant_bytes;
  return exe;
}

class CudaBackend : public Backend {
 public:
  std::string name() const override { return "cuda"; }
  std::string unsupported_reason(const Graph& g, const Node& n) const override {
    return cuda::unsupported_reason(g, n);
  }
  std::unique_ptr<Executable> compile(const Graph& g, const CompileOptions& opts) override {
    TS_CHECK(opts.precision == Precision::F32, "cuda: precision ", precision_name(opts.precision),
             " is not implemented on the GPU backend (fp32, optionally --tf32)");
    return compile_plan(make_plan(g), opts);
  }
  std::shared_ptr<std::byte> host_buffer(size_t bytes) override {
    auto held = std::make_shared<PinnedMemory>(std::max<size_t>(bytes, 64), "an input batch");
    return std::shared_ptr<std::byte>(held, held->get());  // owns `held`, points at its bytes
  }
};

}  // namespace
}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend() {
  return std::make_unique<cuda::CudaBackend>();
}

bool cuda_backend_device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why)
      *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e) + " (" +
             cudaGetErrorName(e) + ")";
    return false;
  }
  if (n <= 0) {
    if (why) *why = "cudaGetDeviceCount found no CUDA device";
    return false;
  }
  return true;
}

}  // namespace teesplit
