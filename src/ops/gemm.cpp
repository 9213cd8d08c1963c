// Gemm: Y = alpha * A' * B' + beta * C, with A' = transA ? A^T : A and
// B' = transB ? B^T : B, and C unidirectionally broadcast to [M, N].
#include <algorithm>
#include <array>
#include <vector>

#include "ops/broadcast.h"
#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {

namespace {

// sum_k a[k] * b[k]: float partial sums of kBlock terms, flushed into double.
// Compiled for AVX-512, AVX2 and the baseline ISA, picked at load time.
__attribute__((target_clones("avx512f", "avx2", "default"))) double dot_blocked(const float* a,
                                                                                const float* b,
                                                                                int64_t k) {
  constexpr int64_t kBlock = 256;
  double sum = 0;
  for (int64_t k0 = 0; k0 < k; k0 += kBlock) {
    const int64_t k1 = std::min(k, k0 + kBlock);
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t kk = k0; kk < k1; ++kk) s += a[kk] * b[kk];
    sum += s;
  }
  return sum;
}

}  // namespace

void gemm_nt(int64_t m, int64_t n, int64_t k, const float* a, const float* bt, float* y) {
#pragma omp parallel for collapse(2) schedule(static) if (m * n * k > 32768)
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      y[i * n + j] = static_cast<float>(dot_blocked(a + i * k, bt + j * k, k));
}

namespace {

// Row-major transpose of a rows x cols matrix.
std::vector<float> transposed(const float* src, int64_t rows, int64_t cols) {
  std::vector<float> t(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[static_cast<size_t>(c * rows + r)] = src[r * cols + c];
  return t;
}

struct GemmDims {
  int64_t m, n, k;
};

GemmDims gemm_dims(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& a = ops::required("Gemm", in, 0, "A");
  const ValueInfo& b = ops::required("Gemm", in, 1, "B");
  ops::expect_dtype("Gemm", "A", a, {DType::F32});
  ops::expect_dtype("Gemm", "B", b, {DType::F32});
  ops::expect_rank("Gemm", "A", a, 2);
  ops::expect_rank("Gemm", "B", b, 2);
  const bool ta = attrs.get_int("transA", 0) != 0, tb = attrs.get_int("transB", 0) != 0;
  GemmDims d;
  d.m = ta ? a.shape[1] : a.shape[0];
  const int64_t ka = ta ? a.shape[0] : a.shape[1];
  const int64_t kb = tb ? b.shape[1] : b.shape[0];
  d.n = tb ? b.shape[0] : b.shape[1];
  TS_CHECK(ka == kb, "Gemm: A is ", shape_str(a.shape), " (transA ", ta, ") and B is ",
           shape_str(b.shape), " (transB ", tb, "): inner dimensions ", ka, " and ", kb, " differ");
  d.k = ka;
  return d;
}

}  // namespace

std::vector<TensorInfo> infer_gemm(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  GemmDims d = gemm_dims(attrs, in);
  if (ops::has_input(in, 2)) {
    ops::expect_dtype("Gemm", "C", in[2], {DType::F32});
    broadcast_strides(in[2].shape, {d.m, d.n}, "Gemm (C)");
  }
  return {{DType::F32, {d.m, d.n}}};
}

std::vector<Tensor> run_gemm(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  auto infos = ops::infos_of(in);
  infer_gemm(attrs, infos);
  const GemmDims d = gemm_dims(attrs, infos);
  const bool ta = attrs.get_int("transA", 0) != 0, tb = attrs.get_int("transB", 0) != 0;
  const float alpha = attrs.get_float("alpha", 1.f), beta = attrs.get_float("beta", 1.f);
  const float* a = in[0]->data<float>();
  const float* b = in[1]->data<float>();
  std::vector<float> at, bt;
  if (ta) {
    at = transposed(a, d.k, d.m);
    a = at.data();
  }
  if (!tb) {
    bt = transposed(b, d.k, d.n);
    b = bt.data();
  }
  Tensor out(DType::F32, {d.m, d.n});
  float* y = out.data<float>();
  gemm_nt(d.m, d.n, d.k, a, b, y);
  if (alpha != 1.f)
    for (int64_t i = 0; i < out.numel(); ++i) y[i] *= alpha;
  if (in.size() > 2 && in[2] && beta != 0.f) {
    const float* c = in[2]->data<float>();
    std::array<std::vector<int64_t>, 1> st = {
        broadcast_strides(in[2]->shape(), {d.m, d.n}, "Gemm")};
    broadcast_loop<1>(out.shape(), st,
                      [&](int64_t o, const std::array<int64_t, 1>& off,
                          const std::array<int64_t, 1>& inner, int64_t len) {
                        for (int64_t i = 0; i < len; ++i)
                          y[o + i] += beta * c[off[0] + i * inner[0]];
                      });
  }
  return {out};
}

}  // namespace teesplit
