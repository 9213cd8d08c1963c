// Steps that run the hand-written kernels: Pad, GlobalPool, Unary, Binary.
#include "backends/cuda/exec.h"
#include "backends/cuda/kernels.h"
#include "core/error.h"

namespace teesplit::cuda {
namespace {

class PadRunner : public StepRunner {
 public:
  PadRunner(const Step& s, const Operands& o) : p_(s.conv), x_(o.in[0]), y_(o.out) {}
  void run(Ctx& ctx) override {
    TS_CUDA(launch_pad2d(x_, y_, p_.n, p_.c, p_.h, p_.w, p_.pad_top, p_.pad_left, p_.pad_bottom,
                         p_.pad_right, ctx.stream));
  }

 private:
  ConvParams p_;
  const float* x_;
  float* y_;
};

class GlobalPoolRunner : public StepRunner {
 public:
  GlobalPoolRunner(const Step& s, const Operands& o)
      : planes_(s.planes), area_(s.area), max_(s.pool_max), x_(o.in[0]), y_(o.out) {}
  void run(Ctx& ctx) override {
    TS_CUDA(launch_global_pool(x_, y_, planes_, area_, max_, ctx.stream));
  }

 private:
  int64_t planes_, area_;
  bool max_;
  const float* x_;
  float* y_;
};

class UnaryRunner : public StepRunner {
 public:
  UnaryRunner(const Step& s, const Operands& o, int64_t n)
      : act_(s.act), n_(n), x_(o.in[0]), y_(o.out) {}
  void run(Ctx& ctx) override { TS_CUDA(launch_activation(x_, y_, n_, act_, ctx.stream)); }

 private:
  ActSpec act_;
  int64_t n_;
  const float* x_;
  float* y_;
};

class BinaryRunner : public StepRunner {
 public:
  BinaryRunner(const Step& s, const Operands& o)
      : op_(static_cast<BinOp>(s.bin_op)), act_(s.act), a_(o.in[0]), b_(o.in[1]), y_(o.out) {
    TS_CHECK(s.bin_ndim >= 1 && s.bin_ndim <= kMaxBinaryDims, "cuda: binary step of rank ",
             s.bin_ndim);
    shape_.ndim = s.bin_ndim;
    for (int d = 0; d < s.bin_ndim; ++d) {
      shape_.dims[d] = s.bin_dims[d];
      shape_.a_stride[d] = s.bin_a_stride[d];
      shape_.b_stride[d] = s.bin_b_stride[d];
    }
  }
  void run(Ctx& ctx) override { TS_CUDA(launch_binary(a_, b_, y_, shape_, op_, act_, ctx.stream)); }

 private:
  BinOp op_;
  ActSpec act_;
  const float *a_, *b_;
  float* y_;
  BinaryShape shape_;
};

}  // namespace

std::unique_ptr<StepRunner> make_kernel_runner(const Step& s, const Operands& o, Ctx&) {
  switch (s.kind) {
    case StepKind::Pad:
      return std::make_unique<PadRunner>(s, o);
    case StepKind::GlobalPool:
      return std::make_unique<GlobalPoolRunner>(s, o);
    case StepKind::Binary:
      return std::make_unique<BinaryRunner>(s, o);
    case StepKind::Unary:
      return std::make_unique<UnaryRunner>(s, o, s.count);
    default:
      break;
  }
  fail("cuda: no kernel runner for step '", s.label, "'");
}

}  // namespace teesplit::cuda
