// Convolution on cuDNN's legacy API (still in cuDNN 9, cudnn_cnn.h):
// cudnnConvolutionBiasActivationForward for conv + bias (+ residual z) + ReLU,
// otherwise cudnnConvolutionForward followed by one epilogue kernel for bias,
// residual and any other activation. Algorithms are chosen once per conv shape
// (timed with cudnnFindConvolutionForwardAlgorithmEx, or cuDNN's heuristics) and
// cached for the whole process.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>

#include "backends/cuda/exec.h"
#include "backends/cuda/kernels.h"
#include "core/error.h"

namespace teesplit::cuda {
namespace {

struct AlgoChoice {
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  cudnnMathType_t math = CUDNN_FMA_MATH;
  size_t workspace = 0;
};

std::mutex g_cache_mu;
std::map<std::string, AlgoChoice>& cache() {
  static std::map<std::string, AlgoChoice> m;
  return m;
}

const char* algo_name(cudnnConvolutionFwdAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
      return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
      return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
      return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
      return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
      return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
      return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
      return "WINOGRAD_NONFUSED";
    default:
      return "?";
  }
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH:
      return "default";
    case CUDNN_TENSOR_OP_MATH:
      return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION:
      return "tensor-op-conversion";
    case CUDNN_FMA_MATH:
      return "fma";
    default:
      return "?";
  }
}

class FilterDesc {
 public:
  FilterDesc() { TS_CUDNN(cudnnCreateFilterDescriptor(&d_)); }
  ~FilterDesc() {
    if (d_) cudnnDestroyFilterDescriptor(d_);
  }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  cudnnFilterDescriptor_t get() const { return d_; }

 private:
  cudnnFilterDescriptor_t d_ = nullptr;
};

class ConvDesc {
 public:
  ConvDesc() { TS_CUDNN(cudnnCreateConvolutionDescriptor(&d_)); }
  ~ConvDesc() {
    if (d_) cudnnDestroyConvolutionDescriptor(d_);
  }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  cudnnConvolutionDescriptor_t get() const { return d_; }

 private:
  cudnnConvolutionDescriptor_t d_ = nullptr;
};

class ActDesc {
 public:
  ActDesc() { TS_CUDNN(cudnnCreateActivationDescriptor(&d_)); }
  ~ActDesc() {
    if (d_) cudnnDestroyActivationDescriptor(d_);
  }
  ActDesc(const ActDesc&) = delete;
  ActDesc& operator=(const ActDesc&) = delete;
  cudnnActivationDescriptor_t get() const { return d_; }

 private:
  cudnnActivationDescriptor_t d_ = nullptr;
};

bool math_allowed(cudnnMathType_t m, bool tf32) {
  if (tf32) return true;
  return m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH;
}

// Largest workspace an algorithm may use: a quarter of the free device memory,
// at most 1 GiB.
size_t workspace_limit() {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return size_t{64} << 20;
  }
  return std::min<size_t>(free_b / 4, size_t{1} << 30);
}

class ConvRunner : public StepRunner {
 public:
  ConvRunner(const Step& s, const Operands& o, Ctx& ctx)
      : p_(s.conv), act_(s.act), x_(o.in[0]), w_(o.in[1]), bias_(o.in[2]), z_(o.in[3]), y_(o.out) {
    const ConvParams& p = p_;
    TS_CHECK(p.pad_top == p.pad_bottom && p.pad_left == p.pad_right,
             "cuda: conv pads must be symmetric here (the planner pads first)");
    xd_.set(p.n, p.c, p.h, p.w);
    yd_.set(p.n, p.oc, p.oh, p.ow);
    bd_.set(1, p.oc, 1, 1);
    TS_CUDNN(cudnnSetFilter4dDescriptor(wd_.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                        static_cast<int>(p.oc), static_cast<int>(p.c / p.group),
                                        static_cast<int>(p.kh), static_cast<int>(p.kw)));
    TS_CUDNN(cudnnSetConvolution2dDescriptor(
        cd_.get(), static_cast<int>(p.pad_top), static_cast<int>(p.pad_left),
        static_cast<int>(p.stride_h), static_cast<int>(p.stride_w), static_cast<int>(p.dil_h),
        static_cast<int>(p.dil_w), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    TS_CUDNN(cudnnSetConvolutionGroupCount(cd_.get(), static_cast<int>(p.group)));
    TS_CUDNN(
        cudnnSetConvolutionMathType(cd_.get(), ctx.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
    int on = 0, oc = 0, oh = 0, ow = 0;
    TS_CUDNN(
        cudnnGetConvolution2dForwardOutputDim(cd_.get(), xd_.get(), wd_.get(), &on, &oc, &oh, &ow));
    TS_CHECK(on == p.n && oc == p.oc && oh == p.oh && ow == p.ow,
             "cuda: cuDNN computes conv output [", on, ",", oc, ",", oh, ",", ow,
             "], the graph says ", shape_str(p.out_shape()));
    choose_algo(ctx);
    TS_CUDNN(cudnnSetConvolutionMathType(cd_.get(), choice_.math));
    workspace_bytes = choice_.workspace;
    fused_ = act_.kind == Act::Relu;
    if (fused_) {
      TS_CUDNN(cudnnSetActivationDescriptor(ad_.get(), CUDNN_ACTIVATION_RELU,
                                            CUDNN_NOT_PROPAGATE_NAN, 0.0));
      if (!bias_) {  // the fused call needs a bias
        zero_bias_ = DeviceMemory(static_cast<size_t>(p.oc) * sizeof(float), "a zero conv bias");
        TS_CUDA(cudaMemset(zero_bias_.get(), 0, zero_bias_.size()));
      }
    }
  }

  void run(Ctx& ctx) override {
    const float one = 1.f, zero = 0.f;
    if (fused_) {
      const float alpha2 = z_ ? 1.f : 0.f;
      const float* bias = bias_ ? bias_ : static_cast<const float*>(zero_bias_.get());
      const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
          ctx.cudnn, &one, xd_.get(), x_, wd_.get(), w_, cd_.get(), choice_.algo, ctx.workspace,
          ctx.workspace_bytes, &alpha2, yd_.get(), z_ ? z_ : y_, bd_.get(), bias, ad_.get(),
          yd_.get(), y_);
      if (st == CUDNN_STATUS_SUCCESS) {
        probed_ = true;
        return;
      }
      if (probed_) fail_cudnn(st, "cudnnConvolutionBiasActivationForward(...)", __FILE__, __LINE__);
      // The first (compile-time) call failed: this algorithm or configuration has
      // no fused kernel. Use conv + epilogue from now on.
      fused_ = false;
      fused_failure_ = cudnnGetErrorString(st);
      if (ctx.verbose)
        std::cerr << "cuda: fused conv+bias+relu failed (" << fused_failure_ << "), unfused\n";
    }
    probed_ = true;
    TS_CUDNN(cudnnConvolutionForward(ctx.cudnn, &one, xd_.get(), x_, wd_.get(), w_, cd_.get(),
                                     choice_.algo, ctx.workspace, ctx.workspace_bytes, &zero,
                                     yd_.get(), y_));
    if (bias_ || z_ || act_.kind != Act::None)
      TS_CUDA(launch_bias_act(y_, bias_, z_, p_.n, p_.oc, p_.oh * p_.ow, act_, ctx.stream));
  }

  std::string info() const override {
    return detail::concat("algo ", algo_name(choice_.algo), ", math ", math_name(choice_.math),
                          ", workspace ", human_bytes(choice_.workspace),
                          fused_ ? ", fused bias+relu" : "",
                          fused_failure_.empty() ? "" : ", unfused after " + fused_failure_);
  }

 private:
  std::string key(const Ctx& ctx) const {
    const ConvParams& p = p_;
    return detail::concat("dev", ctx.device, " x", p.n, "x", p.c, "x", p.h, "x", p.w, " w", p.oc,
                          "x", p.kh, "x", p.kw, " g", p.group, " s", p.stride_h, "x", p.stride_w,
                          " p", p.pad_top, "x", p.pad_left, " d", p.dil_h, "x", p.dil_w,
                          ctx.tf32 ? " tf32" : " fp32", ctx.find ? " find" : " heur");
  }

  // Sets choice_ from the cache, or searches and caches.
  void choose_algo(Ctx& ctx) {
    const std::string k = key(ctx);
    {
      std::lock_guard<std::mutex> lock(g_cache_mu);
      auto it = cache().find(k);
      if (it != cache().end()) {
        choice_ = it->second;
        return;
      }
    }
    int max_count = 0;
    TS_CUDNN(cudnnGetConvolutionForwardAlgorithmMaxCount(ctx.cudnn, &max_count));
    max_count = std::max(max_count, 1);
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(max_count));
    int returned = 0;
    const size_t limit = workspace_limit();
    bool found = false;
    if (ctx.find) {
      // Timed search with a temporary workspace as large as any algorithm may
      // use (the large-workspace FFT and Winograd algorithms are often the
      // fastest for big early layers at large batches); falls back to
      // heuristics when it cannot be allocated.
      size_t ws_bytes = limit;
      void* ws = nullptr;
      if (cudaMalloc(&ws, ws_bytes) != cudaSuccess) {
        cudaGetLastError();
        ws = nullptr;
        ws_bytes = 0;
      }
      const cudnnStatus_t st = cudnnFindConvolutionForwardAlgorithmEx(
          ctx.cudnn, xd_.get(), x_, wd_.get(), w_, cd_.get(), yd_.get(), y_, max_count, &returned,
          perf.data(), ws, ws_bytes);
      if (ws) cudaFree(ws);
      if (st == CUDNN_STATUS_SUCCESS)
        found = pick(perf, returned, ctx, ws_bytes);
      else if (ctx.verbose)
        std::cerr << "cuda: cudnnFindConvolutionForwardAlgorithmEx: " << cudnnGetErrorString(st)
                  << "; using heuristics\n";
    }
    if (!found) {
      TS_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(ctx.cudnn, xd_.get(), wd_.get(), cd_.get(),
                                                      yd_.get(), max_count, &returned,
                                                      perf.data()));
      found = pick(perf, returned, ctx, limit);
    }
    TS_CHECK(found, "cuda: cuDNN offers no usable ", ctx.tf32 ? "" : "strict-fp32 ",
             "algorithm for the convolution ", k);
    std::lock_guard<std::mutex> lock(g_cache_mu);
    cache()[k] = choice_;
  }

  // First result (they come best first) that succeeded, is allowed in this math
  // mode and fits the workspace limit.
  bool pick(const std::vector<cudnnConvolutionFwdAlgoPerf_t>& perf, int returned, Ctx& ctx,
            size_t limit) {
    for (int i = 0; i < returned && i < static_cast<int>(perf.size()); ++i) {
      const cudnnConvolutionFwdAlgoPerf_t& r = perf[static_cast<size_t>(i)];
      if (r.status != CUDNN_STATUS_SUCCESS || !math_allowed(r.mathType, ctx.tf32)) continue;
      const cudnnMathType_t math = ctx.tf32 ? r.mathType : CUDNN_FMA_MATH;
      if (cudnnSetConvolutionMathType(cd_.get(), math) != CUDNN_STATUS_SUCCESS) continue;
      size_t ws = 0;
      if (cudnnGetConvolutionForwardWorkspaceSize(ctx.cudnn, xd_.get(), wd_.get(), cd_.get(),
                                                  yd_.get(), r.algo, &ws) != CUDNN_STATUS_SUCCESS)
        continue;
      if (ws > limit) continue;
      choice_.algo = r.algo;
      choice_.math = math;
      choice_.workspace = ws;
      return true;
    }
    return false;
  }

  ConvParams p_;
  ActSpec act_;
  const float *x_, *w_, *bias_, *z_;
  float* y_;
  TensorDesc xd_, yd_, bd_;
  FilterDesc wd_;
  ConvDesc cd_;
  ActDesc ad_;
  AlgoChoice choice_;
  DeviceMemory zero_bias_;
  bool fused_ = false;
  bool probed_ = false;  // the fused call has run once (fallback only before that)
  std::string fused_failure_;
};

}  // namespace

std::unique_ptr<StepRunner> make_conv_runner(const Step& s, const Operands& o, Ctx& ctx) {
  return std::make_unique<ConvRunner>(s, o, ctx);
}

}  // namespace teesplit::cuda
