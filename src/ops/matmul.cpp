// MatMul with numpy semantics: 1-D operands are promoted (A to a row, B to a
// column) and the promoted dimension is dropped from the result; leading batch
// dimensions broadcast.
#include <array>
#include <vector>

#include "ops/broadcast.h"
#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {
namespace {

struct MatMulDims {
  Shape batch;  // broadcast batch shape
  Shape a_batch, b_batch;
  int64_t m = 1, n = 1, k = 1;
  Shape out;
};

MatMulDims matmul_dims(const std::vector<ValueInfo>& in) {
  const ValueInfo& a = ops::required("MatMul", in, 0, "A");
  const ValueInfo& b = ops::required("MatMul", in, 1, "B");
  ops::expect_dtype("MatMul", "A", a, {DType::F32});
  ops::expect_dtype("MatMul", "B", b, {DType::F32});
  TS_CHECK(!a.shape.empty() && !b.shape.empty(), "MatMul: operands must have rank >= 1, got ",
           shape_str(a.shape), " and ", shape_str(b.shape));
  ops::expect_known("MatMul", "A", a);
  ops::expect_known("MatMul", "B", b);
  Shape as = a.shape, bs = b.shape;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  MatMulDims d;
  d.m = as[as.size() - 2];
  d.k = as[as.size() - 1];
  d.n = bs[bs.size() - 1];
  TS_CHECK(bs[bs.size() - 2] == d.k, "MatMul: A ", shape_str(a.shape), " and B ",
           shape_str(b.shape), " have mismatched inner dimensions ", d.k, " and ",
           bs[bs.size() - 2]);
  d.a_batch.assign(as.begin(), as.end() - 2);
  d.b_batch.assign(bs.begin(), bs.end() - 2);
  d.batch = broadcast_shapes(d.a_batch, d.b_batch, "MatMul");
  d.out = d.batch;
  if (a.shape.size() > 1) d.out.push_back(d.m);
  if (b.shape.size() > 1) d.out.push_back(d.n);
  return d;
}

}  // namespace

std::vector<TensorInfo> infer_matmul(const Attrs&, const std::vector<ValueInfo>& in) {
  return {{DType::F32, matmul_dims(in).out}};
}

std::vector<Tensor> run_matmul(const Attrs&, const std::vector<const Tensor*>& in) {
  const MatMulDims d = matmul_dims(ops::infos_of(in));
  const float* a = in[0]->data<float>();
  const float* b = in[1]->data<float>();
  const int64_t mk = d.m * d.k, kn = d.k * d.n, mn = d.m * d.n;
  // Every B matrix transposed to [n, k] for gemm_nt.
  const int64_t nb = shape_numel(d.b_batch);
  std::vector<float> bt(static_cast<size_t>(nb * kn));
  for (int64_t q = 0; q < nb; ++q)
    for (int64_t r = 0; r < d.k; ++r)
      for (int64_t c = 0; c < d.n; ++c)
        bt[static_cast<size_t>(q * kn + c * d.k + r)] = b[q * kn + r * d.n + c];

  Tensor out(DType::F32, d.out);
  float* y = out.data<float>();
  std::array<std::vector<int64_t>, 2> st = {broadcast_strides(d.a_batch, d.batch, "MatMul"),
                                            broadcast_strides(d.b_batch, d.batch, "MatMul")};
  broadcast_loop<2>(d.batch, st,
                    [&](int64_t o, const std::array<int64_t, 2>& off,
                        const std::array<int64_t, 2>& inner, int64_t len) {
                      for (int64_t i = 0; i < len; ++i)
                        gemm_nt(d.m, d.n, d.k, a + (off[0] + i * inner[0]) * mk,
                                bt.data() + (off[1] + i * inner[1]) * kn, y + (o + i) * mn);
                    });
  return {out};
}

}  // namespace teesplit
