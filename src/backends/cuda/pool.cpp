// MaxPool / AveragePool: cudnnPoolingForward where cuDNN's symmetric-padding,
// floor-mode windows give exactly the ONNX result, the pool2d kernel otherwise
// (asymmetric pads, ceil_mode windows, dilation).
#include "backends/cuda/exec.h"
#include "backends/cuda/kernels.h"
#include "core/error.h"

namespace teesplit::cuda {
namespace {

class PoolingDesc {
 public:
  PoolingDesc() { TS_CUDNN(cudnnCreatePoolingDescriptor(&d_)); }
  ~PoolingDesc() {
    if (d_) cudnnDestroyPoolingDescriptor(d_);
  }
  PoolingDesc(const PoolingDesc&) = delete;
  PoolingDesc& operator=(const PoolingDesc&) = delete;
  cudnnPoolingDescriptor_t get() const { return d_; }

 private:
  cudnnPoolingDescriptor_t d_ = nullptr;
};

// True when cuDNN's pooling computes exactly the ONNX windows of p.
bool cudnn_can_pool(const PoolParams& p) {
  if (p.dil_h != 1 || p.dil_w != 1) return false;
  if (p.pad_top != p.pad_bottom || p.pad_left != p.pad_right) return false;
  if (p.pad_top >= p.kh || p.pad_left >= p.kw) return false;
  const int64_t oh = (p.h + 2 * p.pad_top - p.kh) / p.stride_h + 1;
  const int64_t ow = (p.w + 2 * p.pad_left - p.kw) / p.stride_w + 1;
  return oh == p.oh && ow == p.ow && p.h + 2 * p.pad_top >= p.kh && p.w + 2 * p.pad_left >= p.kw;
}

class CudnnPool : public StepRunner {
 public:
  CudnnPool(const Step& s, const Operands& o) : x_(o.in[0]), y_(o.out) {
    const PoolParams& p = s.pool;
    xd_.set(p.n, p.c, p.h, p.w);
    yd_.set(p.n, p.c, p.oh, p.ow);
    const cudnnPoolingMode_t mode = s.pool_max ? CUDNN_POOLING_MAX
                                    : p.count_include_pad
                                        ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                        : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
    TS_CUDNN(cudnnSetPooling2dDescriptor(
        pd_.get(), mode, CUDNN_PROPAGATE_NAN, static_cast<int>(p.kh), static_cast<int>(p.kw),
        static_cast<int>(p.pad_top), static_cast<int>(p.pad_left), static_cast<int>(p.stride_h),
        static_cast<int>(p.stride_w)));
    mode_ = mode;
  }
  void run(Ctx& ctx) override {
    const float one = 1.f, zero = 0.f;
    TS_CUDNN(cudnnPoolingForward(ctx.cudnn, pd_.get(), &one, xd_.get(), x_, &zero, yd_.get(), y_));
  }
  std::string info() const override {
    return mode_ == CUDNN_POOLING_MAX ? "cudnn max" : "cudnn average";
  }

 private:
  const float* x_;
  float* y_;
  TensorDesc xd_, yd_;
  PoolingDesc pd_;
  cudnnPoolingMode_t mode_;
};

class KernelPool : public StepRunner {
 public:
  KernelPool(const Step& s, const Operands& o) : x_(o.in[0]), y_(o.out) {
    const PoolParams& p = s.pool;
    sh_.n = p.n;
    sh_.c = p.c;
    sh_.h = p.h;
    sh_.w = p.w;
    sh_.kh = p.kh;
    sh_.kw = p.kw;
    sh_.sh = p.stride_h;
    sh_.sw = p.stride_w;
    sh_.dh = p.dil_h;
    sh_.dw = p.dil_w;
    sh_.pt = p.pad_top;
    sh_.pl = p.pad_left;
    sh_.pb = p.pad_bottom;
    sh_.pr = p.pad_right;
    sh_.oh = p.oh;
    sh_.ow = p.ow;
    sh_.max = s.pool_max;
    sh_.count_include_pad = p.count_include_pad;
  }
  void run(Ctx& ctx) override { TS_CUDA(launch_pool2d(x_, y_, sh_, ctx.stream)); }
  std::string info() const override { return "pool2d kernel (window not expressible in cuDNN)"; }

 private:
  const float* x_;
  float* y_;
  Pool2dShape sh_;
};

}  // namespace

std::unique_ptr<StepRunner> make_pool_runner(const Step& s, const Operands& o, Ctx&) {
  if (cudnn_can_pool(s.pool)) return std::make_unique<CudnnPool>(s, o);
  return std::make_unique<KernelPool>(s, o);
}

}  // namespace teesplit::cuda
