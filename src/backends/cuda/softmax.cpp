// Softmax over one axis: the tensor is seen as [outer, axis, inner, 1] and
// cudnnSoftmaxForward normalises over the channel dimension.
#include "backends/cuda/exec.h"
#include "core/error.h"

namespace teesplit::cuda {
namespace {

class SoftmaxRunner : public StepRunner {
 public:
  SoftmaxRunner(const Step& s, const Operands& o) : x_(o.in[0]), y_(o.out) {
    d_.set(s.outer, s.axis_len, s.inner, 1);
  }
  void run(Ctx& ctx) override {
    const float one = 1.f, zero = 0.f;
    TS_CUDNN(cudnnSoftmaxForward(ctx.cudnn, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL,
                                 &one, d_.get(), x_, &zero, d_.get(), y_));
  }
  std::string info() const override { return "cudnn softmax (accurate, channel mode)"; }

 private:
  const float* x_;
  float* y_;
  TensorDesc d_;
};

}  // namespace

std::unique_ptr<StepRunner> make_softmax_runner(const Step& s, const Operands& o, Ctx&) {
  return std::make_unique<SoftmaxRunner>(s, o);
}

}  // namespace teesplit::cuda
