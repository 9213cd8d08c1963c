// Gemm / MatMul on cublasSgemm. cuBLAS is column-major: a row-major Y[m,n] is a
// column-major Y^T[n,m], so Y = op(A) op(B) is computed as Y^T = op(B)^T op(A)^T
// by passing B first. C (already beta-scaled and broadcast to [m,n] by the
// planner) is copied into Y and accumulated with beta = 1.
#include "backends/cuda/exec.h"
#include "backends/cuda/kernels.h"
#include "core/error.h"

namespace teesplit::cuda {
namespace {

class GemmRunner : public StepRunner {
 public:
  GemmRunner(const Step& s, const Operands& o)
      : a_(o.in[0]), b_(o.in[1]), c_(o.in[2]), y_(o.out), act_(s.act), alpha_(s.alpha) {
    m_ = static_cast<int>(s.m);
    n_ = static_cast<int>(s.n);
    k_ = static_cast<int>(s.k);
    op_a_ = s.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    op_b_ = s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    lda_ = s.trans_a ? m_ : k_;  // A row-major: [m,k] (ld k) or [k,m] (ld m)
    ldb_ = s.trans_b ? k_ : n_;  // B row-major: [k,n] (ld n) or [n,k] (ld k)
  }
  void run(Ctx& ctx) override {
    float beta = 0.f;
    if (c_) {
      TS_CUDA(cudaMemcpyAsync(y_, c_, static_cast<size_t>(m_) * static_cast<size_t>(n_) * 4,
                              cudaMemcpyDeviceToDevice, ctx.stream));
      beta = 1.f;
    }
    TS_CUBLAS(cublasSgemm(ctx.cublas, op_b_, op_a_, n_, m_, k_, &alpha_, b_, ldb_, a_, lda_, &beta,
                          y_, n_));
    if (act_.kind != Act::None)
      TS_CUDA(launch_activation(y_, y_, static_cast<int64_t>(m_) * n_, act_, ctx.stream));
  }
  std::string info() const override {
    return detail::concat("cublasSgemm ", m_, "x", n_, "x", k_, c_ ? " + C" : "");
  }

 private:
  const float *a_, *b_, *c_;
  float* y_;
  ActSpec act_;
  float alpha_;
  int m_ = 0, n_ = 0, k_ = 0, lda_ = 0, ldb_ = 0;
  cublasOperation_t op_a_ = CUBLAS_OP_N, op_b_ = CUBLAS_OP_N;
};

}  // namespace

std::unique_ptr<StepRunner> make_gemm_runner(const Step& s, const Operands& o, Ctx&) {
  return std::make_unique<GemmRunner>(s, o);
}

}  // namespace teesplit::cuda
